"""The realtime session driven directly, with recording fakes for the engines.

The real engines over a real WebSocket are in tests/e2e/test_realtime.py.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import numpy as np
import pytest

from tests.fakes import FakeLLM, FakeSTT, FakeTTS, ThresholdVAD
from vocable.audio.convert import float_to_pcm16, pcm16_to_float
from vocable.config import Settings
from vocable.engines.llm.base import ChatMessage
from vocable.engines.loader import Engines
from vocable.errors import EngineError
from vocable.frames import AudioChunk, Transcript
from vocable.realtime.announce import say
from vocable.realtime.session import RealtimeSession

RATE = 16000
FRAME = 320  # 20 ms


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


class ScriptedSTT(FakeSTT):
    """Answers each call with the next text of a script (the last one repeats)."""

    def __init__(self, *texts: str) -> None:
        super().__init__(texts[0])
        self.script = list(texts)

    async def transcribe(self, audio: np.ndarray, *, thorough: bool = False):  # type: ignore[no-untyped-def,override]
        if not thorough:  # a second opinion hears the same utterance again
            self.text = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return await super().transcribe(audio, thorough=thorough)


class Client:
    """Feeds a session as a WebSocket would, in real time, and records what it sends."""

    def __init__(self, settings: Settings, stt: FakeSTT, llm: FakeLLM, tts: FakeTTS) -> None:
        engines = Engines(vad=ThresholdVAD(), stt=stt, llm=llm, tts=tts)  # type: ignore[arg-type]
        self.sent: list[dict[str, Any]] = []
        self.audio = 0
        self.audio_samples = 0
        self.changed = asyncio.Condition()
        self.inbox: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.session = RealtimeSession(settings, engines, ThresholdVAD(), self._json, self._bytes)

    async def _json(self, event: dict[str, Any]) -> None:
        if event["type"] == "response.output_audio.delta":
            self.audio += 1
            self.audio_samples += len(base64.b64decode(event["delta"])) // 2
        self.sent.append(event)
        async with self.changed:
            self.changed.notify_all()

    async def _bytes(self, data: bytes) -> None:
        self.audio += 1
        async with self.changed:
            self.changed.notify_all()

    async def until(self, predicate: Any, limit_s: float = 10) -> None:
        async with asyncio.timeout(limit_s), self.changed:
            await self.changed.wait_for(predicate)

    def types(self) -> list[str]:
        return [e["type"] for e in self.sent if e["type"] != "response.output_audio.delta"]

    async def messages(self) -> AsyncIterator[str | bytes]:
        while (item := await self.inbox.get()) is not None:
            yield item

    def send(self, event: dict[str, Any] | bytes | str) -> None:
        self.inbox.put_nowait(event if isinstance(event, str | bytes) else json.dumps(event))

    def configure(self) -> None:
        self.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {"input": {"format": {"type": "audio/pcm", "rate": RATE}}},
                },
            }
        )

    async def speak(self, audio: np.ndarray, pace: float = 1.0) -> None:
        for i in range(0, len(audio), FRAME):
            pcm = float_to_pcm16(audio[i : i + FRAME])
            self.send(
                {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}
            )
            await asyncio.sleep(FRAME / RATE / pace)

    async def wait_for(self, kind: str, count: int = 1, limit_s: float = 10) -> None:
        await self.until(lambda: self.types().count(kind) >= count, limit_s)


@pytest.fixture
def settings_rt(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"realtime": settings.realtime.model_copy(update={"playout_lead_ms": 60})}
    )


def task_stacks() -> str:
    """Where every task of the loop is waiting, for a failure message."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        task.print_stack(file=out)
    return out.getvalue()


async def run(client: Client, script: Any) -> None:
    """Run the session while `script` plays the client, then disconnect and wait for its end.

    A session that does not end fails the test with every task's stack (`wait_for` would wait,
    without a limit, for a task that swallows its cancellation).
    """
    task = asyncio.create_task(client.session.run(client.messages()))
    try:
        await script()
    finally:
        client.inbox.put_nowait(None)
        done, _ = await asyncio.wait({task}, timeout=10)
        if not done:
            stacks = task_stacks()
            task.cancel()
            raise AssertionError(f"the session did not end 10 s after the client left:\n{stacks}")
        task.result()


async def one_turn(client: Client, *parts: np.ndarray) -> None:
    """Configure, speak `parts` in real time and wait for the reply to finish."""

    async def script() -> None:
        client.configure()
        await client.speak(np.concatenate(parts))
        await client.wait_for("response.done")

    await run(client, script)


async def test_a_spoken_turn_gets_a_spoken_reply(settings_rt: Settings) -> None:
    llm = FakeLLM(["Paris is ", "the capital. ", "It is lovely."])
    client = Client(settings_rt, ScriptedSTT("What is the capital of France?"), llm, FakeTTS())

    await one_turn(client, silence(0.3), tone(1.0), silence(0.6))
    types = client.types()
    assert types[:2] == ["session.created", "session.updated"]
    order = [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "conversation.item.input_audio_transcription.completed",
        "response.created",
        "response.output_text.delta",
        "response.output_audio.done",
        "response.done",
    ]
    assert [t for t in types if t in order] == sorted(
        [t for t in types if t in order], key=order.index
    )
    assert client.audio > 0
    # Every sample, resampled from 16 to 24 kHz: 10 ms a character of the two sentences; the
    # resampler's last samples are flushed, not left behind.
    assert client.audio_samples == len("Paris is the capital.It is lovely.") * 240
    done = [e for e in client.sent if e["type"] == "response.done"][0]
    assert done["response"]["status"] == "completed"
    assert all("turn_id" in e and e["server_ts_ms"] > 0 for e in client.sent)
    assert [m.role for m in client.session.conversation.messages] == ["user", "assistant"]
    assert client.session.conversation.messages[1].content == "Paris is the capital. It is lovely."


async def test_speech_without_words_ends_with_an_empty_transcript_and_no_reply(
    settings_rt: Settings,
) -> None:
    client = Client(settings_rt, ScriptedSTT(""), FakeLLM(["Hi."]), FakeTTS())

    async def script() -> None:
        client.configure()
        await client.speak(np.concatenate([silence(0.3), tone(1.0), silence(1.3)]))
        await client.wait_for("conversation.item.input_audio_transcription.completed")

    await run(client, script)
    done = [
        e
        for e in client.sent
        if e["type"] == "conversation.item.input_audio_transcription.completed"
    ]
    assert [e["transcript"] for e in done] == [""]
    assert "response.created" not in client.types() and client.audio == 0
    assert client.session.conversation.messages == []


async def test_a_tts_rate_change_mid_reply_keeps_the_audio_in_order(settings_rt: Settings) -> None:
    class SwitchesRate(FakeTTS):
        """The first sentence at 16 kHz and level 0.25, the rest at 24 kHz and 0.5: as after a
        fallback to another engine."""

        async def synthesize(self, text: str, voice: str | None = None):  # type: ignore[no-untyped-def,override]
            rate, level = (16000, 0.25) if not self.spoken else (24000, 0.5)
            self.spoken.append(text)
            yield AudioChunk(float_to_pcm16(np.full(len(text) * 160, level)), rate)

    llm = FakeLLM(["Paris is ", "the capital. ", "It is lovely."])
    stt = ScriptedSTT("What is the capital of France?")
    client = Client(settings_rt, stt, llm, SwitchesRate())
    await one_turn(client, silence(0.3), tone(1.0), silence(0.6))
    audio = np.concatenate(
        [
            pcm16_to_float(base64.b64decode(e["delta"]))
            for e in client.sent
            if e["type"] == "response.output_audio.delta"
        ]
    )
    # The first sentence resampled to 24 kHz, its resampler's tail flushed when the rate
    # changed (not lost, and not after the second sentence), then the second as it is.
    assert len(audio) == 21 * 240 + 13 * 160
    assert audio[-13 * 160 + 200 :] == pytest.approx(0.5, abs=1e-3)  # after its fade-in
    assert audio[1000 : 21 * 240 - 100] == pytest.approx(0.25, abs=1e-2)


async def test_a_pause_mid_sentence_does_not_end_the_turn(settings_rt: Settings) -> None:
    stt = ScriptedSTT("What is the capital of", "What is the capital of France?")
    llm = FakeLLM(["Paris."])
    client = Client(settings_rt, stt, llm, FakeTTS())

    await one_turn(client, silence(0.3), tone(0.8), silence(0.5), tone(0.5), silence(0.6))
    assert client.types().count("input_audio_buffer.speech_stopped") == 1  # one turn, not two
    transcript = [
        e
        for e in client.sent
        if e["type"] == "conversation.item.input_audio_transcription.completed"
    ]
    assert transcript[0]["transcript"] == "What is the capital of France?"
    assert llm.prompts[-1][-1].content == "What is the capital of France?"


async def test_transcription_starts_at_a_very_short_pause_and_a_gap_drops_it(
    settings_rt: Settings,
) -> None:
    # A 110 ms gap between words is long enough to start a pass (32 ms) but not the reply
    # (120 ms); the pass at the end of the utterance is the one the reply uses.
    stt = ScriptedSTT("What is", "What is the time?")
    stt.delay_s = 0.05
    client = Client(settings_rt, stt, FakeLLM(["Noon."]), FakeTTS())

    await one_turn(client, silence(0.3), tone(0.6), silence(0.11), tone(0.5), silence(0.6))
    assert len(stt.received) == 2  # the dropped early pass, then one pass for the turn
    assert stt.received[1] > (0.6 + 0.5) * RATE > stt.received[0]
    assert client.session.conversation.messages[0].content == "What is the time?"


class ReadingLLM(FakeLLM):
    """A fake model with a cache to read ahead into (`Prefills`): records what it read."""

    def __init__(self, pieces: list[str]) -> None:
        super().__init__(pieces)
        self.read: list[list[ChatMessage]] = []

    async def prefill(self, messages: Sequence[ChatMessage]) -> int:
        self.read.append(list(messages))
        return 1


async def test_the_words_before_a_gap_are_read_ahead_while_the_user_goes_on(
    settings_rt: Settings,
) -> None:
    # As the turn starts, the history is read (up to the user's first word). A 110 ms gap starts
    # a pass but not the reply; its words, less the last one, which the pass may have heard only
    # in part, are read into the model too while the user goes on.
    gap = (silence(0.3), tone(0.6), silence(0.11), tone(0.5), silence(0.6))
    for read_ahead, read in ((True, ["", "What is"]), (False, [])):
        realtime = settings_rt.realtime.model_copy(update={"read_ahead": read_ahead})
        stt = ScriptedSTT("What is the", "What is the time?")
        stt.delay_s = 0.05
        llm = ReadingLLM(["Noon."])
        client = Client(settings_rt.model_copy(update={"realtime": realtime}), stt, llm, FakeTTS())
        await one_turn(client, *gap)
        assert [p[-1].content for p in llm.read] == read
        assert all(p[0].role == "system" for p in llm.read)
        assert llm.prompts[-1][-1].content == "What is the time?"


async def test_no_read_ahead_after_the_speculative_pause_or_for_a_turn_that_ended(
    settings_rt: Settings,
) -> None:
    # After a 500 ms pause the speculative reply has read the words already.
    stt = ScriptedSTT("What is the capital of", "What is the capital of France?")
    llm = ReadingLLM(["Paris."])
    client = Client(settings_rt, stt, llm, FakeTTS())
    await one_turn(client, silence(0.3), tone(0.8), silence(0.5), tone(0.5), silence(0.6))
    assert [p[-1].content for p in llm.read] == [""] and len(llm.prompts) == 2
    llm.read.clear()

    replies = client.session.replies
    heard = FakeSTT("What is the time").transcribe(silence(0.5))
    await replies.read_ahead(heard, lambda: False)  # the turn is over: nothing to gain

    async def failed() -> Transcript:
        raise EngineError("the pass failed", code="stt.failed")

    await replies.read_ahead(failed(), lambda: True)  # logged, not raised
    assert llm.read == []


async def test_a_turn_reads_the_history_ahead_unless_it_talks_over_the_reply(
    settings_rt: Settings,
) -> None:
    stt = ScriptedSTT("Tell me a long story.", "Stop, tell me something else.", "Thanks.")
    llm = ReadingLLM([f"word{i} " for i in range(40)] + ["end."])
    client = Client(settings_rt, stt, llm, FakeTTS(chunks_per_sentence=20))
    reads: list[list[str]] = []

    async def script() -> None:
        client.configure()
        await client.speak(np.concatenate([silence(0.3), tone(0.8), silence(0.5)]))
        await client.wait_for("response.created")
        await client.until(lambda: client.audio >= 5)
        await client.speak(np.concatenate([tone(1.2), silence(0.6)]))  # over the story
        await client.wait_for("response.done", 2, limit_s=20)
        reads.extend([m.content for m in p] for p in llm.read)
        llm.read.clear()
        await client.speak(np.concatenate([tone(0.8), silence(0.6)]))  # after the reply
        await client.wait_for("response.done", 3, limit_s=20)

    await run(client, script)
    assert reads == [[settings_rt.llm.system_prompt, ""]]  # the first turn only
    history = [(m.role, m.content) for m in client.session.conversation.messages[:4]]
    assert [(m.role, m.content) for m in llm.read[0]] == [
        ("system", settings_rt.llm.system_prompt),
        *history,
        ("user", ""),
    ]


async def test_a_turn_that_ends_before_the_speculative_pause_uses_the_early_pass(
    settings_rt: Settings,
) -> None:
    realtime = settings_rt.realtime.model_copy(update={"fixed_endpoint_ms": 96})
    stt = FakeSTT("What is the time?", delay_s=0.05)
    client = Client(
        settings_rt.model_copy(update={"realtime": realtime}), stt, FakeLLM(["Noon."]), FakeTTS()
    )

    await one_turn(client, silence(0.3), tone(0.8), silence(0.5))
    assert len(stt.received) == 1  # the early pass is the turn's transcript
    assert client.session.conversation.messages[0].content == "What is the time?"


async def test_a_transcript_too_long_for_its_speech_does_not_end_the_turn(
    settings_rt: Settings,
) -> None:
    # tiny.en hears a finished question in 0.3 s of "What do…"; the pause is 0.5 s.
    stt = ScriptedSTT("What do you want to do?", "What do bees make?")
    client = Client(settings_rt, stt, FakeLLM(["Honey."]), FakeTTS())

    await one_turn(client, silence(0.3), tone(0.3), silence(0.5), tone(0.6), silence(0.6))
    assert client.types().count("input_audio_buffer.speech_stopped") == 1
    assert client.session.conversation.messages[0].content == "What do bees make?"


class SurerSTT(ScriptedSTT):
    """Its thorough pass (the full window) hears `surer`."""

    def __init__(self, text: str, surer: str) -> None:
        super().__init__(text)
        self.surer = surer

    async def transcribe(self, audio: np.ndarray, *, thorough: bool = False):  # type: ignore[no-untyped-def,override]
        heard = await super().transcribe(audio, thorough=thorough)
        return Transcript(self.surer) if thorough else heard


def endpoint_wait_s(client: Client) -> float:
    """Seconds from the start of speech to when the server ended the turn."""
    started, stopped = (
        next(e for e in client.sent if e["type"] == f"input_audio_buffer.speech_{kind}")
        for kind in ("started", "stopped")
    )
    return float(stopped["server_ts_ms"] - started["server_ts_ms"]) / 1000


@pytest.mark.parametrize(
    ("surer", "sooner"),
    [
        ("You wrote Romeo and Juliet.", True),  # the same words, ended: the sentence is over
        ("You wrote Romeo and Juliet", False),  # still no final mark
        ("He wrote Romeo and Juliet.", False),  # other words: the two passes disagree
        ("You wrote Romeo and...", False),  # fewer words, unfinished
    ],
)
async def test_a_second_opinion_ends_an_unpunctuated_turn_at_the_short_silence(
    settings_rt: Settings, surer: str, sooner: bool
) -> None:
    stt = SurerSTT("You wrote Romeo and Juliet", surer)
    client = Client(settings_rt, stt, FakeLLM(["Shakespeare did."]), FakeTTS())

    await one_turn(client, silence(0.3), tone(1.0), silence(1.2))
    assert stt.thorough_calls == 1
    # 1 s of speech, then the complete silence (300 ms) or the uncertain one (800 ms)
    assert (endpoint_wait_s(client) < 1.55) is sooner, endpoint_wait_s(client)
    assert client.session.conversation.messages[0].content == "You wrote Romeo and Juliet"


async def test_no_second_opinion_for_a_punctuated_transcript_or_when_off(
    settings_rt: Settings,
) -> None:
    stt = SurerSTT("Who wrote Romeo and Juliet?", "Who wrote Romeo and Juliet?")
    client = Client(settings_rt, stt, FakeLLM(["Shakespeare."]), FakeTTS())
    await one_turn(client, silence(0.3), tone(1.0), silence(0.6))
    assert stt.thorough_calls == 0
    realtime = settings_rt.realtime.model_copy(update={"second_opinion": False})
    off = settings_rt.model_copy(update={"realtime": realtime})
    stt = SurerSTT("You wrote Romeo and Juliet", "You wrote Romeo and Juliet.")
    client = Client(off, stt, FakeLLM(["Shakespeare."]), FakeTTS())
    await one_turn(client, silence(0.3), tone(1.0), silence(1.2))
    assert stt.thorough_calls == 0 and endpoint_wait_s(client) > 1.7


class JudgingLLM(FakeLLM):
    """A fake model that judges endings (`JudgesEndings`) with a fixed chance; records asks."""

    def __init__(self, pieces: list[str], chance: float | None, delay_s: float = 0.0) -> None:
        super().__init__(pieces)
        self.chance = chance
        self.judge_delay_s = delay_s
        self.judged: list[str] = []

    async def judge_ending(self, messages: Sequence[ChatMessage]) -> float | None:
        self.judged.append(messages[-1].content)
        await asyncio.sleep(self.judge_delay_s)
        return self.chance


def with_realtime(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update={"realtime": settings.realtime.model_copy(update=changes)})


@pytest.mark.parametrize(
    ("chance", "delay_s", "sooner"),
    [
        (0.55, 0.0, True),  # the model sees a finished sentence
        (0.2, 0.0, True),  # at the threshold
        (0.06, 0.0, False),  # "what is the tallest mountain": it goes on
        (None, 0.0, False),  # the model cannot say
        (0.9, 0.5, False),  # too slow (over JUDGE_LIMIT_S): the uncertain silence
    ],
)
async def test_the_model_judges_an_unpunctuated_ending(
    settings_rt: Settings, chance: float | None, delay_s: float, sooner: bool
) -> None:
    cfg = with_realtime(settings_rt, second_opinion=False)
    llm = JudgingLLM(["Ice."], chance, delay_s)
    client = Client(cfg, ScriptedSTT("what is frozen water called"), llm, FakeTTS())
    await one_turn(client, silence(0.3), tone(1.0), silence(1.2))
    assert llm.judged == ["what is frozen water called"]
    # 1 s of speech, then the complete silence (300 ms) or the uncertain one (800 ms)
    assert (endpoint_wait_s(client) < 1.55) is sooner, endpoint_wait_s(client)
    assert llm.prompts[-1][-1].content == "what is frozen water called"


@pytest.mark.parametrize(
    ("text", "judge"),
    [
        ("What is frozen water called?", 0.2),  # punctuated: complete without asking
        ("What is the", 0.2),  # unfinished: no chance of an end
        ("What is it", 0.2),  # a short question waits whatever its mark
        ("what is frozen water called", 0.0),  # the judge is off
    ],
)
async def test_the_model_is_asked_only_about_a_missing_mark(
    settings_rt: Settings, text: str, judge: float
) -> None:
    cfg = with_realtime(settings_rt, second_opinion=False, ending_judge=judge)
    llm = JudgingLLM(["Ice."], 0.99)
    client = Client(cfg, ScriptedSTT(text), llm, FakeTTS())
    await one_turn(client, silence(0.3), tone(1.0), silence(1.4))
    assert llm.judged == []


async def test_the_model_is_not_asked_while_the_user_talks_over_a_reply(
    settings_rt: Settings,
) -> None:
    cfg = with_realtime(settings_rt, second_opinion=False)
    llm = JudgingLLM([f"w{i} " for i in range(200)], 0.99)
    llm.delay_s = 0.01
    stt = ScriptedSTT("Tell me a story.", "wait a moment")
    client = Client(cfg, stt, llm, FakeTTS())

    async def script() -> None:
        client.configure()
        await client.speak(np.concatenate([silence(0.3), tone(0.8), silence(0.5)]))
        await client.wait_for("response.created")
        # Shorter than a barge-in (700 ms), so the reply plays on while the words are heard.
        await client.speak(np.concatenate([tone(0.5), silence(1.2)]))
        await client.wait_for("conversation.item.input_audio_transcription.completed", 2)

    await run(client, script)
    assert llm.judged == []
    heard = [e["transcript"] for e in client.sent if e["type"].endswith("transcription.completed")]
    assert heard == ["Tell me a story.", "wait a moment"]


async def test_speech_after_the_pause_drops_the_second_opinion(settings_rt: Settings) -> None:
    stt = SurerSTT("You wrote Romeo", "You wrote Romeo.")
    stt.script = ["You wrote Romeo", "You wrote Romeo and Juliet."]
    stt.delay_s = 0.25  # the thorough pass is still running when the user goes on
    client = Client(settings_rt, stt, FakeLLM(["Shakespeare."]), FakeTTS())

    await one_turn(client, silence(0.3), tone(0.8), silence(0.2), tone(0.5), silence(0.8))
    assert client.types().count("input_audio_buffer.speech_stopped") == 1
    assert client.session.conversation.messages[0].content == "You wrote Romeo and Juliet."


async def talk_over_a_story(
    client: Client, interruption: np.ndarray, *, after: int, also: str = "", dones: int = 1
) -> None:
    """Ask for a story, speak `interruption` once `after` audio chunks of the reply went out,
    then wait for the `also` event (if any) and `dones` response.done events."""

    async def script() -> None:
        client.configure()
        await client.speak(np.concatenate([silence(0.3), tone(0.8), silence(0.5)]))
        await client.wait_for("response.created")
        await client.until(lambda: client.audio >= after)
        await client.speak(interruption)
        if also:
            await client.wait_for(also)
        await client.wait_for("response.done", dones, limit_s=20)

    await run(client, script)


def story(words: int) -> FakeLLM:
    """A reply of `words` words and "end.", in one sentence."""
    return FakeLLM([f"word{i} " for i in range(words)] + ["end."])


async def test_barge_in_stops_the_reply_and_keeps_what_was_heard(settings_rt: Settings) -> None:
    stt = ScriptedSTT("Tell me a long story.", "Stop, tell me something else.")
    client = Client(settings_rt, stt, story(40), FakeTTS(chunks_per_sentence=20))
    await talk_over_a_story(client, np.concatenate([tone(1.2), silence(0.6)]), after=5, dones=2)
    dones = [e for e in client.sent if e["type"] == "response.done"]
    assert dones[0]["response"]["status"] == "cancelled"
    assert dones[0]["response"]["status_details"]["reason"] == "barge_in"
    heard = client.session.conversation.messages[1].content
    assert heard and "end." not in heard  # truncated where playback stopped
    assert len(heard.split()) < 41


async def test_a_backchannel_does_not_cancel_the_reply(settings_rt: Settings) -> None:
    stt = ScriptedSTT("Tell me a story.", "mm-hm")
    client = Client(settings_rt, stt, story(30), FakeTTS(chunks_per_sentence=20))
    await talk_over_a_story(client, np.concatenate([tone(0.3), silence(0.6)]), after=3)
    dones = [e for e in client.sent if e["type"] == "response.done"]
    assert [d["response"]["status"] for d in dones] == ["completed"]
    assert client.session.conversation.messages[-1].content.endswith("end.")


async def test_an_announcement_stops_when_the_user_talks_over_it(settings_rt: Settings) -> None:
    stt = ScriptedSTT("Wait, what time is it?")
    client = Client(settings_rt, stt, FakeLLM(["It is noon."]), FakeTTS(chunks_per_sentence=20))
    announcement = " ".join(f"word{i}" for i in range(60)) + " end."  # 4 s of audio

    async def script() -> None:
        client.configure()
        await client.wait_for("session.updated")
        speaking = asyncio.create_task(say(client.session, announcement))
        await client.wait_for("response.created")
        await client.until(lambda: client.audio >= 5)
        await client.speak(np.concatenate([tone(1.2), silence(0.6)]))
        await speaking
        await client.wait_for("response.done", 2)

    await run(client, script)
    dones = [e for e in client.sent if e["type"] == "response.done"]
    assert dones[0]["response"]["status"] == "cancelled"
    assert dones[0]["response"]["status_details"]["reason"] == "barge_in"
    assert dones[1]["response"]["status"] == "completed"  # the user's question was answered
    heard, question, answer = client.session.conversation.messages
    assert heard.role == "assistant" and 0 < len(heard.content.split()) < 61
    assert (question.content, answer.content) == ("Wait, what time is it?", "It is noon.")


async def test_bad_input_gets_error_codes_and_the_session_survives(settings_rt: Settings) -> None:
    client = Client(settings_rt, ScriptedSTT("hi"), FakeLLM(["Hi."]), FakeTTS())

    async def script() -> None:
        client.send({"type": "input_audio_buffer.append", "audio": "AAAA"})  # before update
        client.send("{not json")
        client.send({"type": "nonsense.event"})
        client.send({"no": "type"})
        client.configure()
        client.send({"type": "input_audio_buffer.append", "audio": "###"})
        client.send(
            {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"abc").decode()}
        )
        client.send(b"\x00\x01\x02")
        client.send(
            {
                "type": "session.update",
                "session": {"audio": {"input": {"format": {"type": "audio/pcm", "rate": 44100}}}},
            }
        )
        client.send({"type": "response.create"})
        client.send({"type": "conversation.item.truncate", "audio_end_ms": -1})
        await client.wait_for("error", 10)
        client.configure()
        await client.wait_for("session.updated", 2)

    await run(client, script)
    codes = [e["error"]["code"] for e in client.sent if e["type"] == "error"]
    assert codes == [
        "session_not_configured",
        "invalid_json",
        "unknown_event",
        "invalid_event",
        "invalid_audio",
        "invalid_audio_length",
        "invalid_audio_length",
        "invalid_value",
        "not_supported",
        "invalid_value",
    ]


async def test_a_flood_of_audio_is_bounded_and_counted(settings_rt: Settings) -> None:
    cfg = settings_rt.model_copy(
        update={"realtime": settings_rt.realtime.model_copy(update={"max_input_buffer_s": 0.5})}
    )
    client = Client(cfg, ScriptedSTT("hi"), FakeLLM(["Hi."]), FakeTTS())

    async def script() -> None:
        client.configure()
        await client.wait_for("session.updated")
        pcm = base64.b64encode(float_to_pcm16(silence(0.1))).decode()
        for _ in range(200):  # 20 s of audio at once
            client.send({"type": "input_audio_buffer.append", "audio": pcm})
        await asyncio.sleep(0.5)

    await run(client, script)
    assert client.session.inbox.dropped_s > 10


async def test_disconnect_mid_reply_leaves_no_task(settings_rt: Settings) -> None:
    llm = FakeLLM([f"w{i} " for i in range(500)], delay_s=0.01)
    client = Client(settings_rt, ScriptedSTT("Talk."), llm, FakeTTS())
    baseline = len(asyncio.all_tasks())

    async def script() -> None:
        client.configure()
        await client.speak(np.concatenate([silence(0.3), tone(0.8), silence(0.5)]))
        await client.wait_for("response.created")
        await asyncio.sleep(0.1)

    await run(client, script)  # the client goes away while the reply streams
    await asyncio.sleep(0)
    assert len(asyncio.all_tasks()) == baseline
    assert llm.closed_early


class StuckSTT(FakeSTT):
    """Its first pass never ends unless cancelled; later ones answer at once."""

    def __init__(self) -> None:
        super().__init__("Talk.")
        self.calls = 0

    async def transcribe(self, audio: np.ndarray, *, thorough: bool = False):  # type: ignore[no-untyped-def,override]
        self.calls += 1
        if self.calls == 1:
            await asyncio.Event().wait()
        return await super().transcribe(audio, thorough=thorough)


async def test_disconnect_while_the_turn_waits_for_its_transcript_ends_the_session(
    settings_rt: Settings,
) -> None:
    """The audio loop, cancelled while it waits for the speculative pass, stops.

    It used to read that cancellation as "the pass was dropped", transcribe again, start a reply
    and wait for more audio, so the session never ended.
    """
    stt = StuckSTT()
    client = Client(settings_rt, stt, FakeLLM(["Hi."]), FakeTTS())
    baseline = len(asyncio.all_tasks())

    async def script() -> None:
        client.configure()
        await client.speak(np.concatenate([silence(0.3), tone(0.8), silence(1.5)]))
        await client.wait_for("input_audio_buffer.speech_stopped")

    await run(client, script)
    await asyncio.sleep(0)
    assert len(asyncio.all_tasks()) == baseline
    assert stt.calls == 1
    assert "response.created" not in client.types()


async def test_idle_sessions_are_closed(settings_rt: Settings) -> None:
    cfg = settings_rt.model_copy(
        update={"realtime": settings_rt.realtime.model_copy(update={"idle_timeout_s": 0.2})}
    )
    client = Client(cfg, ScriptedSTT("hi"), FakeLLM(["Hi."]), FakeTTS())
    await asyncio.wait_for(client.session.run(client.messages()), 5)
    assert [e["error"]["code"] for e in client.sent if e["type"] == "error"] == ["idle_timeout"]


class PitchSTT(FakeSTT):
    """Names the tone it hears, so two sessions sharing one engine get different transcripts."""

    async def transcribe(self, audio: np.ndarray, *, thorough: bool = False):  # type: ignore[no-untyped-def,override]
        self.received.append(len(audio))
        await asyncio.sleep(0.01)  # let the other session's call interleave
        loud = audio[np.abs(audio) > 0.05]
        crossings = int(np.sum(np.diff(np.signbit(loud)))) if len(loud) else 0
        hz = crossings / 2 / max(len(loud) / RATE, 1e-9)
        word = "low" if hz < 300 else "high"
        return Transcript(f"Tell me about the {word} tone.")


class EchoLLM(FakeLLM):
    """Replies with the last user message, after a delay that makes the two sessions overlap."""

    async def stream(self, messages):  # type: ignore[no-untyped-def,override]
        self.prompts.append(list(messages))
        await asyncio.sleep(0.05)
        yield f"You asked: {messages[-1].content}"


def pitched(hz: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


async def test_two_sessions_at_once_do_not_share_state(settings_rt: Settings) -> None:
    stt, llm, tts = PitchSTT(), EchoLLM([]), FakeTTS()
    # One set of engine objects for both, as the server shares them.
    low, high = Client(settings_rt, stt, llm, tts), Client(settings_rt, stt, llm, tts)

    async def talk(client: Client, hz: float) -> None:
        async def script() -> None:
            client.configure()
            await client.speak(np.concatenate([silence(0.3), pitched(hz, 1.0), silence(0.7)]))
            await client.wait_for("response.done", limit_s=30)  # two sessions on a busy CI box

        await run(client, script)

    await asyncio.gather(talk(low, 220), talk(high, 440))
    assert low.session.id != high.session.id
    for client, word in ((low, "low"), (high, "high")):
        heard = [
            e["transcript"]
            for e in client.sent
            if e["type"] == "conversation.item.input_audio_transcription.completed"
        ]
        assert heard == [f"Tell me about the {word} tone."]
        texts = "".join(
            e["delta"] for e in client.sent if e["type"] == "response.output_text.delta"
        )
        assert texts == f"You asked: Tell me about the {word} tone."
        assert [m.content for m in client.session.conversation.messages] == [
            f"Tell me about the {word} tone.",
            f"You asked: Tell me about the {word} tone.",
        ]
        assert {e["type"] for e in client.sent} >= {"response.done"}
        assert all(e.get("event_id") for e in client.sent)
    low_ids = {e["event_id"] for e in low.sent}
    assert low_ids.isdisjoint(e["event_id"] for e in high.sent)


def chirp(f0_start: float, f0_end: float, seconds: float) -> np.ndarray:
    """A voiced sound (five harmonics) whose pitch glides from `f0_start` to `f0_end`."""
    f0 = np.linspace(f0_start, f0_end, int(seconds * RATE))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    return (0.3 * sum(np.sin(k * phase) / k for k in range(1, 6))).astype(np.float32)


@pytest.mark.parametrize(("f0_end", "turns"), [(260.0, 1), (90.0, 2)], ids=["rising", "falling"])
async def test_a_statement_on_a_rising_tone_waits(
    settings_rt: Settings, f0_end: float, turns: int
) -> None:
    stt = ScriptedSTT("I went to the shop.", "I went to the shop.", "And then home.")
    client = Client(settings_rt, stt, FakeLLM(["Nice."]), FakeTTS())

    async def script() -> None:
        client.configure()
        pause = silence(0.55)  # longer than the 300 ms of a finished sentence, under 800 ms
        await client.speak(np.concatenate([silence(0.3), chirp(150, f0_end, 1.0), pause]))
        await client.speak(np.concatenate([tone(0.6), silence(1.2)]))
        await client.wait_for("input_audio_buffer.speech_stopped", turns)

    await run(client, script)
    assert client.types().count("input_audio_buffer.speech_stopped") == turns


class FailingOnceSTT(ScriptedSTT):
    """Fails its first call, as a model that errors on one utterance would."""

    failed = False

    async def transcribe(self, audio: np.ndarray, *, thorough: bool = False):  # type: ignore[no-untyped-def]
        if not self.failed:
            self.failed = True
            raise EngineError("faster-whisper failed: boom", code="stt.failed")
        return await super().transcribe(audio, thorough=thorough)


async def test_a_failed_turn_is_reported_and_the_next_turn_is_answered(
    settings_rt: Settings,
) -> None:
    client = Client(settings_rt, FailingOnceSTT("Hello there."), FakeLLM(["Hi."]), FakeTTS())

    async def script() -> None:
        client.configure()
        await client.speak(np.concatenate([silence(0.3), tone(1.0), silence(1.3)]))
        await client.wait_for("error")
        await client.speak(np.concatenate([tone(1.0), silence(0.6)]))
        await client.wait_for("response.done")

    await run(client, script)
    error = next(e for e in client.sent if e["type"] == "error")["error"]
    assert (error["type"], error["code"]) == ("server_error", "stt.failed")
    assert "boom" in error["message"]
    assert client.types().count("response.created") == 1
    assert [m.content for m in client.session.conversation.messages] == ["Hello there.", "Hi."]


async def test_a_failed_turn_over_a_reply_lets_the_reply_play_on(settings_rt: Settings) -> None:
    class FailsAfterFirst(ScriptedSTT):
        async def transcribe(self, audio: np.ndarray, *, thorough: bool = False):  # type: ignore[no-untyped-def]
            if self.received:
                raise EngineError("faster-whisper failed: boom", code="stt.failed")
            return await super().transcribe(audio, thorough=thorough)

    stt = FailsAfterFirst("Tell me a story.")
    client = Client(settings_rt, stt, story(30), FakeTTS(chunks_per_sentence=20))
    # The reply pauses while the user speaks, then the transcription of what they said fails.
    await talk_over_a_story(
        client, np.concatenate([tone(0.3), silence(1.2)]), after=3, also="error"
    )
    dones = [e for e in client.sent if e["type"] == "response.done"]
    assert [d["response"]["status"] for d in dones] == ["completed"]
    assert client.session.conversation.messages[-1].content.endswith("end.")
