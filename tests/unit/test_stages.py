"""Each stage alone, through the `run_stage` harness, with recording fakes."""

import numpy as np
import pytest

from tests.fakes import FakeLLM, FakeSTT, FakeTTS, ThresholdVAD
from vocable.audio.convert import float_to_pcm16
from vocable.config import Settings
from vocable.frames import (
    AudioChunk,
    AudioFrame,
    ErrorFrame,
    LLMDone,
    LLMToken,
    PipelineEventType,
    Sentence,
    SpeechStarted,
    SpeechStopped,
    Transcript,
    UserTurn,
)
from vocable.metrics.timings import turn_timings
from vocable.pipeline import FakeClock, StageContext
from vocable.pipeline.testing import run_stage
from vocable.stages.respond import Conversation, Respond
from vocable.stages.synthesize import Synthesize
from vocable.stages.transcribe import Transcribe
from vocable.stages.turn import CollectTurn
from vocable.stages.vad import DetectSpeech

RATE = 16000


def tone(seconds: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


def frames(audio: np.ndarray, size: int = 320, rate: int = RATE) -> list[AudioFrame]:
    return [
        AudioFrame(float_to_pcm16(audio[i : i + size]), rate) for i in range(0, len(audio), size)
    ]


@pytest.fixture
def ctx(settings: Settings) -> StageContext:
    return StageContext.for_settings(settings, clock=FakeClock())


async def test_vad_marks_each_utterance_with_a_new_turn(ctx: StageContext) -> None:
    audio = np.concatenate([silence(0.5), tone(1.0), silence(1.0), tone(0.6), silence(1.0)])
    vad = ThresholdVAD()
    out = await run_stage(DetectSpeech(ctx, vad), frames(audio), bus=ctx.bus)
    marks = [f for f in out if isinstance(f, SpeechStarted | SpeechStopped)]
    assert [type(m).__name__ for m in marks] == [
        "SpeechStarted",
        "SpeechStopped",
        "SpeechStarted",
        "SpeechStopped",
    ]
    assert [m.turn_id for m in marks] == [1, 1, 2, 2]
    assert marks[0].audio_time_s == pytest.approx(0.5, abs=0.04)
    assert marks[1].audio_time_s == pytest.approx(1.5, abs=0.04)
    assert marks[2].audio_time_s == pytest.approx(2.5, abs=0.04)
    audio_out = [f for f in out if isinstance(f, AudioFrame)]
    assert sum(f.num_samples for f in audio_out) == len(audio)  # all audio forwarded
    assert vad.frames == len(audio) // 512 and vad.resets == 1
    kinds = [e.kind for e in ctx.bus.log]
    assert kinds.count(PipelineEventType.SPEECH_STARTED) == 2


async def test_vad_stops_speech_at_end_of_input_and_resamples(ctx: StageContext) -> None:
    audio_8k = tone(1.0)[::2]  # 1 s at 8 kHz
    out = await run_stage(DetectSpeech(ctx, ThresholdVAD()), frames(audio_8k, 160, 8000))
    stops = [f for f in out if isinstance(f, SpeechStopped)]
    assert len(stops) == 1 and stops[0].audio_time_s == pytest.approx(1.0, abs=0.04)
    forwarded = [f for f in out if isinstance(f, AudioFrame)]
    assert {f.sample_rate for f in forwarded} == {RATE}
    assert sum(f.num_samples for f in forwarded) == pytest.approx(RATE, abs=400)


async def test_boundaries_follow_the_audio_they_were_found_in(ctx: StageContext) -> None:
    audio = np.concatenate([silence(0.3), tone(0.5), silence(0.7)])
    out = await run_stage(DetectSpeech(ctx, ThresholdVAD()), frames(audio, size=len(audio)))
    assert [type(f).__name__ for f in out] == ["AudioFrame", "SpeechStarted", "SpeechStopped"]
    turn_out = await run_stage(CollectTurn(ctx), out)
    (turn,) = [f for f in turn_out if isinstance(f, UserTurn)]
    assert turn.duration_s == pytest.approx(0.16 + 0.5 + 0.16, abs=0.04)


async def test_vad_ignores_blips_shorter_than_min_speech(ctx: StageContext) -> None:
    audio = np.concatenate([silence(0.5), tone(0.04), silence(0.5)])
    out = await run_stage(DetectSpeech(ctx, ThresholdVAD()), frames(audio))
    assert not any(isinstance(f, SpeechStarted) for f in out)


async def test_turn_collects_speech_with_preroll(ctx: StageContext) -> None:
    audio = np.concatenate([silence(0.5), tone(1.0), silence(1.0), tone(0.5), silence(1.0)])
    stages_out = await run_stage(DetectSpeech(ctx, ThresholdVAD()), frames(audio))
    out = await run_stage(CollectTurn(ctx), stages_out, bus=ctx.bus)
    turns = [f for f in out if isinstance(f, UserTurn)]
    assert [t.turn_id for t in turns] == [1, 2]
    pad = ctx.settings.vad.pad_ms / 1000
    assert turns[0].duration_s == pytest.approx(pad + 1.0 + pad, abs=0.04)
    assert turns[1].duration_s == pytest.approx(pad + 0.5 + pad, abs=0.04)
    assert not any(isinstance(f, AudioFrame) for f in out)  # raw audio stops here
    started = [e for e in ctx.bus.log if e.kind is PipelineEventType.TURN_STARTED]
    assert [e.turn_id for e in started] == [1, 2]


async def test_whole_input_turn_spans_pauses(ctx: StageContext) -> None:
    audio = np.concatenate([silence(0.3), tone(0.5), silence(1.0), tone(0.5), silence(0.2)])
    marked = await run_stage(DetectSpeech(ctx, ThresholdVAD()), frames(audio))
    out = await run_stage(CollectTurn(ctx, whole_input=True), marked)
    turns = [f for f in out if isinstance(f, UserTurn)]
    assert len(turns) == 1 and turns[0].turn_id == 1
    assert turns[0].duration_s == pytest.approx(0.16 + 2.2, abs=0.04)  # ends with the input


async def test_turn_is_capped_at_the_input_limit(settings: Settings) -> None:
    ctx = StageContext.for_settings(
        settings.model_copy(
            update={"audio": settings.audio.model_copy(update={"max_input_seconds": 1.0})}
        )
    )
    marked = await run_stage(DetectSpeech(ctx, ThresholdVAD()), frames(tone(3.0)))
    out = await run_stage(CollectTurn(ctx), marked)
    (turn,) = [f for f in out if isinstance(f, UserTurn)]
    assert turn.duration_s == pytest.approx(1.0)


async def test_transcribe_emits_text_and_times_it(ctx: StageContext) -> None:
    stt = FakeSTT("  hello there  ")
    turn = UserTurn(audio=tone(1.0), sample_rate=RATE, turn_id=4)
    out = await run_stage(Transcribe(ctx, stt), [turn, LLMToken("passes")], bus=ctx.bus)
    assert out == [Transcript("hello there", turn_id=4), LLMToken("passes")]
    assert stt.received == [RATE]
    (event,) = [e for e in ctx.bus.log if e.kind is PipelineEventType.TRANSCRIPT]
    assert event.payload["text"] == "hello there" and event.payload["audio_s"] == 1.0


async def test_empty_transcript_is_no_speech(ctx: StageContext) -> None:
    out = await run_stage(
        Transcribe(ctx, FakeSTT("   ")), [UserTurn(audio=tone(0.5), sample_rate=RATE)]
    )
    assert len(out) == 1 and isinstance(out[0], ErrorFrame) and out[0].code == "audio.no_speech"


async def test_transcribe_refuses_a_wrong_rate(ctx: StageContext) -> None:
    out = await run_stage(Transcribe(ctx, FakeSTT()), [UserTurn(audio=tone(0.5), sample_rate=8000)])
    assert isinstance(out[0], ErrorFrame) and out[0].code == "audio.bad_rate"


async def test_respond_streams_tokens_and_remembers_the_exchange(ctx: StageContext) -> None:
    llm = FakeLLM(["It is ", "noon."])
    conv = Conversation("be brief")
    stage = Respond(ctx, llm, conv)
    out = await run_stage(stage, [Transcript("what time is it", turn_id=1)], bus=ctx.bus)
    assert out == [
        Transcript("what time is it", turn_id=1),
        LLMToken("It is ", turn_id=1),
        LLMToken("noon.", turn_id=1),
        LLMDone("It is noon.", turn_id=1),
    ]
    assert [(m.role, m.content) for m in llm.prompts[0]] == [
        ("system", "be brief"),
        ("user", "what time is it"),
    ]
    await run_stage(stage, [Transcript("and tomorrow?", turn_id=2)])
    assert [m.role for m in llm.prompts[1]] == ["system", "user", "assistant", "user"]
    done = [e for e in ctx.bus.log if e.kind is PipelineEventType.LLM_DONE]
    assert done[0].payload["tokens"] == 2


async def test_respond_ignores_partial_transcripts(ctx: StageContext) -> None:
    llm = FakeLLM(["x"])
    out = await run_stage(Respond(ctx, llm), [Transcript("what ti", final=False)])
    assert out == [Transcript("what ti", final=False)] and llm.prompts == []


async def test_synthesize_speaks_each_sentence_in_order(ctx: StageContext) -> None:
    tts = FakeTTS()
    frames_in = [
        Sentence("One.", index=0, turn_id=1),
        Sentence("Two.", index=1, turn_id=1),
        LLMDone("One. Two.", turn_id=1),
    ]
    out = await run_stage(Synthesize(ctx, tts), frames_in, bus=ctx.bus)
    chunks = [f for f in out if isinstance(f, AudioChunk)]
    assert [c.sentence_index for c in chunks] == [0, 0, 1, 1]
    assert all(c.turn_id == 1 for c in chunks)
    assert isinstance(out[-1], LLMDone)
    first_audio = [e for e in ctx.bus.log if e.kind is PipelineEventType.TTS_FIRST_AUDIO]
    assert [e.payload["first_of_turn"] for e in first_audio] == [True, False]
    (done,) = [e for e in ctx.bus.log if e.kind is PipelineEventType.TURN_DONE]
    assert done.payload["audio_s"] == pytest.approx(0.08)


async def test_timings_are_computed_from_events(settings: Settings) -> None:
    clock = FakeClock()
    ctx = StageContext.for_settings(settings, clock=clock)
    bus = ctx.bus
    steps = [
        (PipelineEventType.TURN_STARTED, 0.0),
        (PipelineEventType.TRANSCRIPT, 0.35),
        (PipelineEventType.LLM_FIRST_TOKEN, 0.05),
        (PipelineEventType.SENTENCE, 0.1),
        (PipelineEventType.TTS_FIRST_AUDIO, 0.04),
        (PipelineEventType.TTS_FIRST_AUDIO, 0.5),  # a later sentence does not count
        (PipelineEventType.TURN_DONE, 0.2),
    ]
    for kind, dt in steps:
        clock.advance(dt)
        bus.emit("x", kind, turn_id=7)
    bus.emit("x", PipelineEventType.TRANSCRIPT, turn_id=8)
    t = turn_timings(bus.log, 7)
    assert t.as_dict() == {
        "stt": 350.0,
        "llm_first_token": 400.0,
        "first_sentence": 500.0,
        "tts_first_audio": 540.0,
        "total": 1240.0,
    }
    assert turn_timings(bus.log, 8).stt is None  # no start: no timings
