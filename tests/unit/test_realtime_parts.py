"""Turn detection, protocol parsing and paced playout, each on its own."""

from __future__ import annotations

import asyncio
import base64
import contextlib

import numpy as np
import pytest

from vocable.audio.convert import float_to_pcm16, pcm16_to_float
from vocable.realtime.client import (
    Conversation,
    Received,
    first_heard,
    first_loud,
    playback_gaps,
)
from vocable.realtime.inbox import Inbox
from vocable.realtime.playout import Playout, fade_in, trim_lead
from vocable.realtime.protocol import (
    ProtocolError,
    SessionConfig,
    decode_audio,
    error_event,
    parse_client_event,
)
from vocable.realtime.turns import Ending, TurnDetector, TurnEvent, ending_of


@pytest.mark.parametrize(
    ("text", "complete"),
    [
        ("What is the capital of France?", True),
        ("Turn off the lights.", True),
        ("What is the capital of", False),
        ("I want to go and", False),
        ("Um.", False),
        ("so, well,", False),
        ("I was thinking...", False),
        ("hello there", False),
        ("", False),
    ],
)
def test_only_a_finished_sentence_is_complete(text: str, complete: bool) -> None:
    assert (ending_of(text) is Ending.COMPLETE) is complete


@pytest.mark.parametrize(
    ("text", "ending"),
    [
        ("Who wrote Romeo and Juliet?", Ending.COMPLETE),
        ("how many days are in the week,", Ending.UNCERTAIN),  # Whisper's stray comma
        ("hello there", Ending.UNCERTAIN),
        ("What do?", Ending.UNCERTAIN),  # tiny.en closing "What do | bees make?" at the pause
        ("What is it?", Ending.UNCERTAIN),  # and "What is | two plus two?"
        ("Who are you?", Ending.UNCERTAIN),  # the cost: a real short question waits too
        ("What is 2 plus 2?", Ending.COMPLETE),  # numerals are words
        ("What time is it?", Ending.COMPLETE),
        ("Thank you.", Ending.COMPLETE),
        ("What is the capital of", Ending.UNFINISHED),
        ("I was thinking...", Ending.UNFINISHED),
        ("Um.", Ending.UNFINISHED),
        ("", Ending.UNFINISHED),
    ],
)
def test_ending_of(text: str, ending: Ending) -> None:
    assert ending_of(text) is ending


@pytest.mark.parametrize(
    ("text", "speech_s", "ending"),
    [
        ("What do you want to do?", 0.4, Ending.UNCERTAIN),  # tiny.en filling in "What do…"
        ("What is it?", 0.35, Ending.UNCERTAIN),  # "What is…"
        ("What is it now?", 0.5, Ending.UNCERTAIN),
        ("What is it now?", 0.8, Ending.COMPLETE),
        ("How many days are in a week?", 1.35, Ending.COMPLETE),  # flite's fastest, 5.2 words/s
        ("Thank you.", 0.3, Ending.COMPLETE),
        ("What is the capital of", 0.2, Ending.UNFINISHED),
    ],
)
def test_more_words_than_the_speech_can_hold_is_not_a_finished_sentence(
    text: str, speech_s: float, ending: Ending
) -> None:
    assert ending_of(text, speech_s) is ending


def test_an_uncertain_ending_waits_the_middle_silence() -> None:
    d = TurnDetector(frame_ms=32, speculative_pause_ms=128)
    run(d, "####" + "." * 5)
    d.ending = Ending.UNCERTAIN
    assert d.required_silence_frames == round(800 / 32)
    assert run(d, "." * 18) == []  # 23 frames (736 ms) so far
    assert run(d, "..") == [(29, TurnEvent.END)]  # the 25th silent frame: 800 ms


def run(detector: TurnDetector, pattern: str) -> list[tuple[int, TurnEvent]]:
    """Feed '#' (speech) and '.' (silence) frames; return (frame, event) pairs."""
    out = []
    for ch in pattern:
        event = detector.step(0.9 if ch == "#" else 0.1)
        if event is not None:
            out.append((detector.frames, event))
    return out


def test_turn_detector_adapts_the_endpoint_to_the_transcript() -> None:
    d = TurnDetector(frame_ms=32, min_speech_ms=96, speculative_pause_ms=128)
    events = run(d, "..####" + "." * 5)
    assert events == [(5, TurnEvent.START), (10, TurnEvent.PAUSE)]
    d.ending = Ending.COMPLETE  # the speculative transcript reads as finished
    assert d.required_silence_frames == round(300 / 32)
    assert not d.check_end()
    assert run(d, "." * 5) == [(15, TurnEvent.END)]
    assert d.ms(d.last_speech) == 6 * 32 and d.utterance_start == 2


def test_unfinished_speech_waits_and_resumes() -> None:
    d = TurnDetector(frame_ms=32, speculative_pause_ms=128)
    run(d, "####" + "." * 6)
    d.ending = Ending.UNFINISHED
    assert run(d, "." * 20) == []  # 1000 ms needed; 26 frames of silence is 832 ms
    assert run(d, "##")[0][1] is TurnEvent.RESUME
    assert d.ending is None
    assert run(d, "." * 40)[-1][1] is TurnEvent.END  # unknown completeness: the long wait


def test_a_very_short_pause_starts_transcription_before_the_speculative_one() -> None:
    d = TurnDetector(frame_ms=32, speculative_pause_ms=128, transcribe_pause_ms=64)
    assert run(d, "####" + "." * 4) == [
        (3, TurnEvent.START),
        (6, TurnEvent.QUIET),
        (8, TurnEvent.PAUSE),
    ]
    assert run(d, "#") == [(9, TurnEvent.RESUME)]
    # A gap between words: speech after the quiet frames drops the early pass, and the next
    # pause raises both events again.
    assert run(d, "#..#") == [(12, TurnEvent.QUIET), (13, TurnEvent.RESUME)]
    assert run(d, "....") == [(15, TurnEvent.QUIET), (17, TurnEvent.PAUSE)]


@pytest.mark.parametrize("transcribe_ms", [0, 128, 500])
def test_no_early_transcription_unless_its_pause_is_the_shorter(transcribe_ms: int) -> None:
    d = TurnDetector(frame_ms=32, speculative_pause_ms=128, transcribe_pause_ms=transcribe_ms)
    events = run(d, "####" + "." * 20 + "#")
    assert events == [(3, TurnEvent.START), (8, TurnEvent.PAUSE), (25, TurnEvent.RESUME)]


@pytest.mark.parametrize(("quiet_db", "pause_at"), [(30.0, 10), (0.0, 13)])
def test_silence_counts_from_the_last_loud_frame(quiet_db: float, pause_at: int) -> None:
    """Silero still says speech for frames 7-9, but they are 40 dB down: the end of speech."""
    d = TurnDetector(frame_ms=32, speculative_pause_ms=128, quiet_db=quiet_db)
    frames = [(0.9, 0.3)] * 4 + [(0.9, 0.03), (0.9, 0.3)] + [(0.9, 0.003)] * 3 + [(0.1, 0.0)] * 4
    events = [(i, e) for i, (p, rms) in enumerate(frames, 1) if (e := d.step(p, rms))]
    assert events == [(3, TurnEvent.START), (pause_at, TurnEvent.PAUSE)]
    assert d.last_speech == (6 if quiet_db else 9)  # the -20 dB frame 5 was still speech
    assert d.step(0.9, 0.3) is TurnEvent.RESUME  # loud speech again
    assert d.step(0.9) is None and d.last_speech == d.frames  # no level: the VAD alone


def test_a_fixed_endpoint_ignores_the_transcript() -> None:
    d = TurnDetector(frame_ms=20, fixed_endpoint_ms=700, eagerness="high")
    d.ending = Ending.COMPLETE
    assert d.required_silence_frames == 35


def test_blips_do_not_start_a_turn() -> None:
    d = TurnDetector(frame_ms=32, min_speech_ms=96)
    assert run(d, "##.##.#..") == []


def test_client_events_parse_and_fail_with_codes() -> None:
    assert parse_client_event('{"type": "transcription_session.update"}')["type"] == (
        "session.update"
    )
    for bad, code in [
        ("nope", "invalid_json"),
        ("[1]", "invalid_event"),
        ('{"type": "x.y"}', "unknown_event"),
    ]:
        with pytest.raises(ProtocolError) as err:
            parse_client_event(bad)
        assert err.value.code == code
    pcm = float_to_pcm16(np.zeros(4, np.float32))
    assert decode_audio({"audio": base64.b64encode(pcm).decode()}) == pcm
    for event, code in [
        ({}, "invalid_audio"),
        ({"audio": "!!"}, "invalid_audio"),
        ({"audio": base64.b64encode(b"abc").decode()}, "invalid_audio_length"),
    ]:
        with pytest.raises(ProtocolError) as err:
            decode_audio(event)
        assert err.value.code == code
    event = error_event("invalid_json", "bad", event_id="e1")
    assert event["error"] == {
        "type": "invalid_request_error",
        "code": "invalid_json",
        "message": "bad",
        "event_id": "e1",
    }


def test_session_update_in_ga_and_beta_shapes() -> None:
    cfg = SessionConfig()
    cfg.update(
        {
            "type": "realtime",
            "instructions": "be brief",
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 16000},
                    "turn_detection": {"type": "semantic_vad", "eagerness": "high"},
                },
                "output": {"format": {"type": "audio/pcm", "rate": 22050}, "voice": "joe"},
            },
        }
    )
    assert (cfg.input_rate, cfg.output_rate, cfg.eagerness, cfg.voice) == (
        16000,
        22050,
        "high",
        "joe",
    )
    beta = SessionConfig()
    beta.update(
        {"input_audio_format": "pcm16", "turn_detection": {"eagerness": "low"}, "voice": "x"}
    )
    assert (beta.input_rate, beta.eagerness, beta.voice) == (24000, "low", "x")
    announced = cfg.as_session("sess_1")
    assert announced["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 22050}
    for bad in [
        {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 8000}}}},
        {"audio": {"input": {"format": {"type": "audio/pcmu"}}}},
        {"input_audio_format": "g711_ulaw"},
        {"turn_detection": {"eagerness": "extreme"}},
        "not an object",
    ]:
        with pytest.raises(ProtocolError):
            SessionConfig().update(bad)


async def test_playout_is_paced_gated_and_knows_what_was_heard() -> None:
    rate = 16000
    sent: list[tuple[float, int]] = []
    loop = asyncio.get_running_loop()

    async def send(pcm: bytes, index: int) -> None:
        sent.append((loop.time(), index))

    done: list[tuple[int, str]] = []
    playout = Playout(send, rate, lead_s=0.05, on_sentence_sent=lambda i, t: done.append((i, t)))
    chunk = float_to_pcm16(np.full(1600, 0.5, np.float32))  # 100 ms
    for index, text in [(0, "one two"), (1, "three four five six")]:
        for _ in range(3):
            playout.put_audio(chunk, index, text)
    playout.finish()
    task = asyncio.create_task(playout.run())
    await asyncio.sleep(0.05)
    assert sent == []  # held until released
    playout.release()
    await asyncio.sleep(0.12)
    playout.pause()
    paused_count = len(sent)
    await asyncio.sleep(0.15)
    assert len(sent) == paused_count  # nothing goes out while paused
    heard = playout.heard_text()
    playout.resume()
    await asyncio.wait_for(task, 2)
    span = sent[-1][0] - sent[0][0]
    assert 0.35 < span < 0.9  # 600 ms of audio, sent at real-time pace (plus the pause)
    assert [i for _, i in sent] == [0, 0, 0, 1, 1, 1]
    assert done == [(0, "one two"), (1, "three four five six")]
    assert heard in ("one", "one two")
    assert playout.heard_text(playout.sent_s) == "one two three four five six"
    assert playout.heard_text(0.45) == "one two three"


def test_fade_in_and_client_metrics() -> None:
    pcm = float_to_pcm16(np.full(480, 0.5, np.float32))
    faded = pcm16_to_float(fade_in(pcm, 16000))
    assert faded[0] == 0.0 and faded[40] == pytest.approx(0.25, abs=1e-3)
    assert faded[80] == pytest.approx(0.5, abs=1e-3)  # 5 ms at 16 kHz
    assert fade_in(b"", 16000) == b""
    quiet, loud = float_to_pcm16(np.zeros(480, np.float32)), pcm
    # 30 ms chunks: playing runs to 0.19 s, then the last one comes 310 ms late.
    chunks = [
        Received(t, audio=a) for t, a in [(0.1, quiet), (0.12, loud), (0.13, loud), (0.5, loud)]
    ]
    assert first_loud(chunks, 16000) == 0.12
    assert playback_gaps(chunks, 16000) == 1
    assert first_loud([Received(0.1, audio=quiet)], 16000) is None
    # Heard: the quiet chunk plays first (0.10-0.13 s), so the loud one, which came at 0.12 s,
    # is heard at 0.13 s; and sound 10 ms into a chunk is heard 10 ms after it starts.
    assert first_heard(chunks, 16000) == pytest.approx(0.13)
    late_sound = float_to_pcm16(np.concatenate([np.zeros(160, np.float32), np.full(320, 0.5)]))
    assert first_heard([Received(0.2, audio=late_sound)], 16000) == pytest.approx(0.21)
    assert first_heard([Received(0.1, audio=quiet)], 16000) is None


async def played(rate: int, chunks: list[tuple[bytes, int]]) -> tuple[Playout, list[int]]:
    """Play `chunks` (pcm, sentence index) through a released Playout; the sizes sent."""
    sent: list[int] = []

    async def send(pcm: bytes, index: int) -> None:
        sent.append(len(pcm) // 2)

    playout = Playout(send, rate)
    for pcm, index in chunks:
        playout.put_audio(pcm, index, "word")
    playout.finish()
    playout.release()
    await asyncio.wait_for(playout.run(), 2)
    return playout, sent


async def test_the_reply_starts_at_its_first_sound() -> None:
    rate = 16000
    silence = float_to_pcm16(np.zeros(800, np.float32))  # 50 ms
    sound = float_to_pcm16(np.concatenate([np.zeros(400, np.float32), np.full(800, 0.5)]))
    playout, sent = await played(rate, [(silence, 0), (sound, 0), (silence, 1), (sound, 1)])
    # The all-silent chunk is dropped and the next starts 5 ms (80 samples) before its sound;
    # silence later in the reply (between sentences) is kept as it is.
    assert sent == [880, 800, 1200]
    assert playout.sent_s == pytest.approx((880 + 800 + 1200) / rate)
    assert trim_lead(silence, rate, 800) == b""
    assert len(trim_lead(silence, rate, 300)) == 2 * 500  # never more than the limit


async def test_a_quiet_reply_loses_at_most_its_first_600_ms() -> None:
    silence = float_to_pcm16(np.zeros(1600, np.float32))  # 100 ms each
    _, sent = await played(16000, [(silence, 0)] * 8)
    assert sent == [1600, 1600]  # 800 ms less 600


async def test_a_long_lead_in_is_cut_too() -> None:
    # Piper at times opens a sentence with 300-450 ms of silence (a random duration).
    rate = 16000
    silence = float_to_pcm16(np.zeros(800, np.float32))  # 50 ms
    sound = float_to_pcm16(np.concatenate([np.zeros(400, np.float32), np.full(800, 0.5)]))
    _, sent = await played(rate, [(silence, 0)] * 9 + [(sound, 0)])
    assert sent == [880]


async def test_injected_audio_starts_where_it_was_injected() -> None:
    """Audio injected after the original ran out starts at the injection, not inside it."""
    import json as _json

    import websockets

    from vocable.realtime.client import converse

    got: list[np.ndarray] = []

    async def handler(ws: websockets.ServerConnection) -> None:
        await ws.recv()
        await ws.send(_json.dumps({"type": "session.updated"}))
        async for message in ws:
            got.append(pcm16_to_float(base64.b64decode(_json.loads(message)["audio"])))

    first = np.zeros(4800, np.float32)  # 0.2 s, shorter than where the injection lands
    second = np.concatenate([np.zeros(9600, np.float32), np.full(24000, 0.3, np.float32)])
    injected: list[int] = []

    def inject(conv: Conversation, t: float) -> np.ndarray | None:
        if injected or t < 0.5:
            return None
        injected.append(len(conv.sent_at))
        return second

    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        conv = await converse(
            f"ws://127.0.0.1:{port}", first, inject=inject, stop_when=lambda c, t: t > 1.6
        )
    loud = next(i for i, g in enumerate(got) if float(np.abs(g).max()) > 0.1)
    assert loud == injected[0] + 20  # after the injected 400 ms of silence, to the frame
    assert len(conv.sent_at) == len(got)


async def test_a_client_that_gives_up_looks_first_and_says_what_it_got() -> None:
    import json as _json

    import websockets

    from vocable.realtime.client import converse

    open_when_looked: list[bool] = []

    async def handler(ws: websockets.ServerConnection) -> None:
        await ws.recv()
        await ws.send(_json.dumps({"type": "session.updated"}))
        await ws.send(_json.dumps({"type": "response.created", "response": {"id": "r1"}}))
        delta = base64.b64encode(float_to_pcm16(np.zeros(2400, np.float32))).decode()
        await ws.send(
            _json.dumps(
                {"type": "response.output_audio.delta", "response_id": "r1", "delta": delta}
            )
        )
        with contextlib.suppress(websockets.ConnectionClosed):
            async for _ in ws:  # and never a response.done
                pass

    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]

        async def look() -> None:
            open_when_looked.append(bool(server.connections))

        with pytest.raises(TimeoutError) as caught:
            await converse(f"ws://127.0.0.1:{port}", np.zeros(2400), timeout_s=0.5, on_timeout=look)
    assert open_when_looked == [True]  # the server was looked at with the client still there
    message = str(caught.value)
    assert message.startswith("no end after 0.5 s; 1 events")
    assert "['response.created']" in message and "0.1 s of reply audio" in message


async def test_the_inbox_resamples_bounds_and_follows_a_rate_change() -> None:
    inbox = Inbox(16000, max_s=1.0)
    second = float_to_pcm16(np.zeros(24000, np.float32))
    assert inbox.push(second[:12000], 24000) == 0.0  # 0.25 s at 24 kHz
    assert inbox.push(float_to_pcm16(np.zeros(8000, np.float32)), 16000) == 0.0  # 0.5 s as is
    assert inbox.push(second, 24000) == pytest.approx(1.0, abs=0.01)  # over the bound: dropped
    assert inbox.dropped_s == pytest.approx(1.0, abs=0.01)
    taken = await asyncio.wait_for(inbox.take(), 1)
    # 0.75 s at 16 kHz, less the few ms the resampler holds back from its first chunk
    assert 11000 < sum(len(c) for c in taken) <= 12000
    with pytest.raises(TimeoutError):  # nothing waits any more
        await asyncio.wait_for(inbox.take(), 0.05)
