"""TTS chain faults with scripted engines: errors, hangs, slowness, recovery, sentence boundaries.

Each scripted engine speaks one chunk per word; a chunk's samples all hold the word's number, so
the output can be read back as words and checked for repeats and losses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import numpy as np
import pytest

from vocable.config import Settings
from vocable.engines.base import EngineInfo
from vocable.engines.chain import TTSChain
from vocable.errors import EngineError, EngineTimeoutError
from vocable.frames import AudioChunk

RATE = 8000
REPLY = (
    "alpha bravo charlie delta",
    "echo foxtrot golf hotel",
    "india juliet kilo lima",
    "mike november oscar papa",
    "quebec romeo sierra tango",
)
VOCAB = [w for s in REPLY for w in s.split()]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ScriptedTTS:
    """One chunk of `word_s` seconds per word; faults are switched on by the test."""

    def __init__(self, name: str, clock: Clock | None = None, word_s: float = 0.4) -> None:
        self.info = EngineInfo(kind="tts", name=name, model="script")
        self.sample_rate = RATE
        self.clock = clock
        self.word_s = word_s
        self.asked: list[str] = []
        self.fail: Exception | None = None
        self.hang_s = 0.0
        self.die_after: int | None = None
        self.stall_after: int | None = None
        self.cost_per_word_s = 0.0  # fake-clock time a word takes to synthesise

    async def synthesize(
        self, text: str, voice: str | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        self.asked.append(text)
        if self.hang_s:
            await asyncio.sleep(self.hang_s)
        if self.fail is not None:
            raise self.fail
        for i, word in enumerate(text.split()):
            if i == self.die_after:
                raise EngineError("decoder crashed", code="tts.failed")
            if i == self.stall_after:
                await asyncio.sleep(30)
            if self.clock is not None:
                self.clock.now += self.cost_per_word_s
            n = int(self.word_s * RATE)
            pcm = np.full(n, VOCAB.index(word.strip(".")) + 1, dtype="<i2").tobytes()
            yield AudioChunk(pcm, RATE)

    async def close(self) -> None:
        pass


def words_of(chunks: list[AudioChunk]) -> list[str]:
    """Read the spoken words back from the chunk samples (one run of equal values per word)."""
    values = np.frombuffer(b"".join(c.pcm for c in chunks), dtype="<i2")
    edges = np.flatnonzero(np.diff(values)) + 1
    return [VOCAB[int(values[i]) - 1] for i in [0, *edges.tolist()]] if len(values) else []


def make_chain(
    *engines: ScriptedTTS, **kwargs: object
) -> tuple[TTSChain, list[tuple[str, str, str]]]:
    switches: list[tuple[str, str, str]] = []
    chain = TTSChain(list(engines), on_switch=lambda *s: switches.append(s), **kwargs)  # type: ignore[arg-type]
    return chain, switches


async def speak_reply(chain: TTSChain, sentences: tuple[str, ...] = REPLY) -> list[list[str]]:
    """Each sentence's words as heard, one synthesize call per sentence (as the stage does)."""
    return [words_of([c async for c in chain.synthesize(s)]) for s in sentences]


def expected(sentences: tuple[str, ...] = REPLY) -> list[list[str]]:
    return [s.split() for s in sentences]


async def test_permanent_error_switches_at_the_next_sentence() -> None:
    a, b = ScriptedTTS("a"), ScriptedTTS("b")
    chain, switches = make_chain(a, b)
    heard = await speak_reply(chain, REPLY[:2])
    a.fail = EngineError("voice file corrupt", code="tts.failed")
    heard += await speak_reply(chain, REPLY[2:])
    assert heard == expected()
    assert a.asked == list(REPLY[:3]) and b.asked == list(REPLY[2:])
    assert switches == [("a", "b", "a: [tts.failed] voice file corrupt")]


async def test_a_hang_before_first_audio_switches_within_the_budget() -> None:
    a, b = ScriptedTTS("a"), ScriptedTTS("b")
    a.hang_s = 30
    chain, switches = make_chain(a, b, first_item_timeout_s=0.05)
    loop = asyncio.get_running_loop()
    start = loop.time()
    heard = await speak_reply(chain, REPLY[:1])
    assert loop.time() - start < 0.05 + 0.2
    assert heard == expected(REPLY[:1])
    assert switches == [("a", "b", "a: [engine.timeout] no first item within 0.05 s")]
    await chain.close()


async def test_an_error_mid_sentence_hands_the_rest_of_it_to_the_next_engine() -> None:
    a, b = ScriptedTTS("a"), ScriptedTTS("b")
    chain, switches = make_chain(a, b)
    a.die_after = 2
    heard = await speak_reply(chain)
    assert heard == expected()  # no word heard twice, none lost
    assert b.asked[0] == "charlie delta"
    assert b.asked[1:] == list(REPLY[1:])
    assert len(switches) == 1 and switches[0][:2] == ("a", "b")
    assert "[tts.failed] decoder crashed after 0.80 s of audio" in switches[0][2]
    assert "2 of 4 words left" in switches[0][2]


async def test_a_stall_mid_sentence_switches_within_the_hang_budget() -> None:
    a, b = ScriptedTTS("a"), ScriptedTTS("b")
    chain, switches = make_chain(a, b, item_timeout_s=0.05)
    a.stall_after = 3
    loop = asyncio.get_running_loop()
    start = loop.time()
    heard = await speak_reply(chain, REPLY[:2])
    assert loop.time() - start < 0.05 + 0.2
    assert heard == expected(REPLY[:2])
    assert b.asked == ["delta", REPLY[1]]
    assert "[engine.timeout] no next item within 0.05 s" in switches[0][2]
    await chain.close()


async def test_the_resume_point_uses_the_engines_measured_pace() -> None:
    a, b = ScriptedTTS("a", word_s=0.25), ScriptedTTS("b")
    chain, _ = make_chain(a, b)
    await speak_reply(chain, REPLY[:1])  # a speaks 4 words in 1 s: 4 words/s
    assert chain.words_per_s(0) == pytest.approx(4.0)
    a.die_after = 3
    assert await speak_reply(chain, REPLY[1:2]) == expected(REPLY[1:2])
    assert b.asked == ["hotel"]


async def test_too_slow_for_real_time_switches_at_a_sentence_boundary() -> None:
    clock = Clock()
    a, b = ScriptedTTS("a", clock), ScriptedTTS("b", clock)
    a.cost_per_word_s = 0.6  # 0.6 s of work per 0.4 s of audio: real-time factor 1.5
    chain, switches = make_chain(a, b, clock=clock, rtf_window=3, max_rtf=1.0)
    heard = await speak_reply(chain)
    assert heard == expected()
    assert a.asked == list(REPLY[:3])  # the window fills, then the next sentence goes to b
    assert b.asked == list(REPLY[3:])
    assert switches == [("a", "b", "a: real-time factor 1.50 over the last 3 sentences is above 1")]


async def test_a_single_slow_sentence_does_not_switch() -> None:
    clock = Clock()
    a, b = ScriptedTTS("a", clock), ScriptedTTS("b", clock)
    chain, switches = make_chain(a, b, clock=clock, rtf_window=3)
    a.cost_per_word_s = 1.0
    await speak_reply(chain, REPLY[:1])
    a.cost_per_word_s = 0.1
    await speak_reply(chain, REPLY[1:])
    assert chain.rtf() == pytest.approx(0.25) and switches == []


async def test_the_primary_comes_back_after_the_cooldown() -> None:
    clock = Clock()
    a, b = ScriptedTTS("a", clock), ScriptedTTS("b", clock)
    chain, switches = make_chain(a, b, clock=clock, cooldown_s=30.0)
    a.fail = EngineError("down")
    assert await speak_reply(chain, REPLY[:1]) == expected(REPLY[:1])
    a.fail = None
    clock.now += 29.0
    await speak_reply(chain, REPLY[1:2])
    assert len(a.asked) == 1  # still cooling down
    clock.now += 1.0
    assert await speak_reply(chain, REPLY[2:3]) == expected(REPLY[2:3])
    assert a.asked[-1] == REPLY[2] and chain.active_index == 0
    assert switches[-1] == ("b", "a", "cool-down of 30 s ended; the primary is back")
    assert chain.switches == 2


async def test_the_last_engine_failing_mid_sentence_raises() -> None:
    a, b = ScriptedTTS("a"), ScriptedTTS("b")
    a.die_after, b.die_after = 1, 1
    chain, _ = make_chain(a, b)
    got: list[AudioChunk] = []
    with pytest.raises(EngineError, match="decoder crashed"):
        async for chunk in chain.synthesize(REPLY[0]):
            got.append(chunk)
    assert words_of(got) == ["alpha", "bravo"]  # a said one word, b the next, then b died


async def test_a_transient_error_mid_sentence_propagates() -> None:
    class Flaky(ScriptedTTS):
        async def synthesize(
            self, text: str, voice: str | None = None
        ) -> AsyncGenerator[AudioChunk, None]:
            yield AudioChunk(b"\x01\x00" * 800, RATE)
            raise EngineError("busy", transient=True)

    chain, switches = make_chain(Flaky("a"), ScriptedTTS("b"))
    with pytest.raises(EngineError, match="busy"):
        [c async for c in chain.synthesize(REPLY[0])]
    assert switches == []


async def test_a_mid_stream_timeout_is_an_engine_timeout() -> None:
    a = ScriptedTTS("a")
    a.stall_after = 1
    chain, _ = make_chain(a, item_timeout_s=0.02)
    with pytest.raises(EngineTimeoutError):
        [c async for c in chain.synthesize(REPLY[0])]
    await chain.close()


@pytest.mark.parametrize(
    ("spoken", "expected_index"),
    [(0.4, 0), (1.8, 2), (2.9, 2), (3.6, 2), (4.6, 4), (6.5, 6), (9.0, 9)],
)
def test_the_resume_point_snaps_to_a_sentence_end(spoken: float, expected_index: int) -> None:
    from vocable.engines.chain import resume_index

    words = "Good morning. It will rain today, take a coat.".split()
    assert resume_index(words, spoken) == expected_index


async def test_a_multi_sentence_call_resumes_at_the_sentence_the_engine_was_on() -> None:
    a, b = ScriptedTTS("a", word_s=0.3), ScriptedTTS("b")  # a speaks faster than assumed
    chain, _ = make_chain(a, b)
    a.die_after = 4  # a finished "alpha bravo charlie delta." and died
    text = "alpha bravo charlie delta. echo foxtrot golf hotel"
    chunks = [c async for c in chain.synthesize(text)]
    assert words_of(chunks) == text.replace(".", "").split()
    assert b.asked == ["echo foxtrot golf hotel"]


async def test_through_the_synthesize_stage_each_sentence_is_heard_once_with_an_event(
    settings: Settings,
) -> None:
    from vocable.frames import LLMDone, PipelineEventType, Sentence
    from vocable.pipeline.stage import StageContext
    from vocable.pipeline.testing import run_stage
    from vocable.stages.synthesize import Synthesize

    a, b = ScriptedTTS("a"), ScriptedTTS("b")
    chain, _ = make_chain(a, b)
    ctx = StageContext.for_settings(settings)
    chain.on_switch = lambda old, new, why: ctx.bus.emit(
        "synthesize", PipelineEventType.FALLBACK_SWITCHED, 1, from_engine=old, to_engine=new
    )
    a.die_after = 1  # a dies after one word of the first sentence
    frames = [Sentence(text, index=i, turn_id=1) for i, text in enumerate(REPLY)]
    out = await run_stage(Synthesize(ctx, chain), [*frames, LLMDone(" ".join(REPLY), turn_id=1)])
    chunks = [f for f in out if isinstance(f, AudioChunk)]
    for i, sentence in enumerate(REPLY):
        assert words_of([c for c in chunks if c.sentence_index == i]) == sentence.split()
    switched = [e for e in ctx.bus.log if e.kind is PipelineEventType.FALLBACK_SWITCHED]
    assert [(e.payload["from_engine"], e.payload["to_engine"]) for e in switched] == [("a", "b")]
    first_audio = [e for e in ctx.bus.log if e.kind is PipelineEventType.TTS_FIRST_AUDIO]
    assert [e.payload["engine"] for e in first_audio] == ["a", "b", "b", "b", "b"]


async def test_closing_the_sentence_early_closes_the_engine_stream_at_once() -> None:
    closed: list[str] = []

    class Tracked(ScriptedTTS):
        async def synthesize(
            self, text: str, voice: str | None = None
        ) -> AsyncGenerator[AudioChunk, None]:
            try:
                async for chunk in super().synthesize(text, voice):
                    yield chunk
            finally:
                closed.append(self.info.name)

    chain, _ = make_chain(Tracked("a"), ScriptedTTS("b"))
    stream = chain.synthesize(REPLY[0])
    await anext(stream)
    await stream.aclose()  # an interrupt: the stage stops reading
    assert closed == ["a"]
