"""The fallback chain with scripted fake engines and a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import numpy as np
import pytest

from vocable.audio.convert import float_to_pcm16, pcm16_to_float
from vocable.engines.base import EngineInfo
from vocable.engines.chain import FallbackChain, TTSChain
from vocable.errors import EngineError, EngineUnavailableError, VocableError
from vocable.frames import AudioChunk


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Scripted:
    """Yields `items`; may fail before the first item, stall, or fail after the first item."""

    def __init__(
        self,
        name: str,
        items: tuple[str, ...] = ("a", "b"),
        *,
        fail: BaseException | None = None,
        stall_s: float = 0.0,
        fail_after_first: BaseException | None = None,
    ) -> None:
        self.info = EngineInfo(kind="fake", name=name, model="script")
        self.items = items
        self.fail = fail
        self.stall_s = stall_s
        self.fail_after_first = fail_after_first
        self.calls = 0
        self.finished_calls = 0
        self.closed = False

    async def run(self) -> AsyncGenerator[str, None]:
        self.calls += 1
        try:
            if self.stall_s:
                await asyncio.sleep(self.stall_s)
            if self.fail is not None:
                raise self.fail
            for i, item in enumerate(self.items):
                if i == 1 and self.fail_after_first is not None:
                    raise self.fail_after_first
                yield item
        finally:
            self.finished_calls += 1

    async def close(self) -> None:
        self.closed = True


def chain_of(
    *engines: Scripted, **kwargs: object
) -> tuple[FallbackChain[Scripted], list[tuple[str, str, str]]]:
    switches: list[tuple[str, str, str]] = []
    chain: FallbackChain[Scripted] = FallbackChain(
        list(engines),
        on_switch=lambda *s: switches.append(s),
        **kwargs,  # type: ignore[arg-type]
    )
    return chain, switches


async def collect(chain: FallbackChain[Scripted]) -> list[str]:
    return [item async for item in chain.stream(lambda e: e.run())]


async def test_primary_serves_when_healthy() -> None:
    a, b = Scripted("a", ("1", "2")), Scripted("b")
    chain, switches = chain_of(a, b)
    assert await collect(chain) == ["1", "2"]
    assert (a.calls, b.calls, switches) == (1, 0, [])


async def test_permanent_error_switches_to_the_next_engine() -> None:
    a = Scripted("a", fail=EngineError("model file corrupt", code="tts.failed"))
    b = Scripted("b", ("x", "y"))
    chain, switches = chain_of(a, b)
    assert await collect(chain) == ["x", "y"]
    assert chain.active is b and chain.active_index == 1
    assert switches == [("a", "b", "a: [tts.failed] model file corrupt")]
    assert await collect(chain) == ["x", "y"]  # stays on the fallback
    assert (a.calls, b.calls, len(switches)) == (1, 2, 1)


async def test_any_exception_before_the_first_item_switches() -> None:
    a, b = Scripted("a", fail=RuntimeError("onnx exploded")), Scripted("b", ("ok",))
    chain, switches = chain_of(a, b)
    assert await collect(chain) == ["ok"]
    assert switches[0][2] == "a: RuntimeError: onnx exploded"


async def test_transient_error_propagates_without_switching() -> None:
    a = Scripted("a", fail=EngineError("busy, retry", transient=True))
    b = Scripted("b")
    chain, switches = chain_of(a, b)
    with pytest.raises(EngineError, match="busy"):
        await collect(chain)
    assert (b.calls, switches, chain.active_index) == (0, [], 0)


async def test_slow_first_item_switches_and_the_abandoned_call_is_cleaned_up() -> None:
    a, b = Scripted("a", stall_s=30), Scripted("b", ("fast",))
    chain, switches = chain_of(a, b, first_item_timeout_s=0.05)
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await collect(chain) == ["fast"]
    assert loop.time() - start < 1.0
    assert switches == [("a", "b", "a: [engine.timeout] no first item within 0.05 s")]
    await chain.close()
    assert a.finished_calls == 1  # the stalled call was cancelled and its generator finished
    assert a.closed and b.closed


async def test_error_after_the_first_item_propagates() -> None:
    a = Scripted("a", ("1", "2"), fail_after_first=EngineError("died mid-sentence"))
    b = Scripted("b")
    chain, switches = chain_of(a, b)
    got: list[str] = []
    with pytest.raises(EngineError, match="died mid-sentence"):
        async for item in chain.stream(lambda e: e.run()):
            got.append(item)
    assert got == ["1"]
    assert (b.calls, switches, chain.active_index) == (0, [], 0)


async def test_after_the_cooldown_the_primary_is_tried_again() -> None:
    clock = Clock()
    a = Scripted("a", ("primary",), fail=EngineError("down"))
    b = Scripted("b", ("fallback",))
    chain, switches = chain_of(a, b, cooldown_s=30.0, clock=clock)
    assert await collect(chain) == ["fallback"]
    clock.now += 29.0
    assert await collect(chain) == ["fallback"]
    assert a.calls == 1  # still cooling down: the primary is not tried

    clock.now += 1.0
    assert await collect(chain) == ["fallback"]  # primary tried, still down: no new switch
    assert a.calls == 2 and len(switches) == 1
    clock.now += 10.0
    assert await collect(chain) == ["fallback"]
    assert a.calls == 2  # a fresh cool-down started at the failed retry

    a.fail = None
    clock.now += 30.0
    assert await collect(chain) == ["primary"]
    assert chain.active_index == 0
    assert switches[-1] == ("b", "a", "cool-down of 30 s ended; the primary is back")


async def test_every_engine_failing_raises_one_error_listing_each() -> None:
    a = Scripted("a", fail=EngineError("no voice file", code="tts.failed"))
    b = Scripted("b", fail=OSError("espeak-ng missing"))
    chain, switches = chain_of(a, b)
    with pytest.raises(EngineError) as caught:
        await collect(chain)
    err = caught.value
    assert err.code == "fake.all_failed" and not err.transient
    assert "a: [tts.failed] no voice file" in err.message
    assert "b: OSError: espeak-ng missing" in err.message
    assert isinstance(err.__cause__, OSError)
    assert switches == [] and chain.active_index == 0


async def test_an_empty_result_is_not_a_failure() -> None:
    a, b = Scripted("a", ()), Scripted("b")
    chain, switches = chain_of(a, b)
    assert await collect(chain) == []
    assert (b.calls, switches) == (0, [])


async def test_cancellation_is_never_swallowed() -> None:
    a, b = Scripted("a", stall_s=30), Scripted("b")
    chain, switches = chain_of(a, b, first_item_timeout_s=10)
    task = asyncio.create_task(collect(chain))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await chain.close()
    assert (b.calls, switches) == (0, [])
    assert a.finished_calls == 1


async def test_cancellation_raised_by_an_engine_propagates() -> None:
    a, b = Scripted("a", fail=asyncio.CancelledError()), Scripted("b")
    chain, _ = chain_of(a, b)
    with pytest.raises(asyncio.CancelledError):
        await collect(chain)
    assert b.calls == 0


async def test_closing_the_consumer_early_closes_the_engine_stream() -> None:
    a = Scripted("a", ("1", "2", "3"))
    chain, _ = chain_of(a)
    stream = chain.stream(lambda e: e.run())
    assert await anext(stream) == "1"
    await stream.aclose()
    assert a.finished_calls == 1


def test_an_empty_chain_is_refused() -> None:
    with pytest.raises(EngineUnavailableError):
        FallbackChain([])


class ToneTTS:
    """Speaks a 440 Hz tone, 100 ms per character, in 50 ms chunks; may fail at once."""

    def __init__(self, name: str, rate: int, *, fail: Exception | None = None) -> None:
        self.info = EngineInfo(kind="tts", name=name, model="tone")
        self.sample_rate = rate
        self.fail = fail
        self.voices: list[str | None] = []

    async def synthesize(
        self, text: str, voice: str | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        self.voices.append(voice)
        if self.fail is not None:
            raise self.fail
        n = int(0.1 * len(text) * self.sample_rate)
        t = np.arange(n) / self.sample_rate
        pcm = float_to_pcm16(0.5 * np.sin(2 * np.pi * 440 * t))
        step = self.sample_rate // 20 * 2
        for i in range(0, len(pcm), step):
            yield AudioChunk(pcm[i : i + step], self.sample_rate, sentence_index=3)

    async def close(self) -> None:
        pass


async def test_tts_chain_resamples_a_fallback_to_the_primary_rate() -> None:
    primary = ToneTTS("piper", 16000, fail=EngineUnavailableError("no voice"))
    fallback = ToneTTS("espeak", 22050)
    tts = TTSChain([primary, fallback])
    assert tts.sample_rate == 16000 and tts.info.name == "piper"
    chunks = [c async for c in tts.synthesize("hello", voice="joe")]
    assert tts.info.name == "espeak"
    assert {c.sample_rate for c in chunks} == {16000}
    assert {c.sentence_index for c in chunks} == {3}
    samples = pcm16_to_float(b"".join(c.pcm for c in chunks))
    assert len(samples) / 16000 == pytest.approx(0.5, abs=0.005)
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.argmax(spectrum) * 16000 / len(samples) == pytest.approx(440, abs=5)
    assert primary.voices == ["joe"] and fallback.voices == [None]  # voices are engine-specific


async def test_tts_chain_passes_same_rate_chunks_through() -> None:
    tts = TTSChain([ToneTTS("a", 16000)])
    chunks = [c async for c in tts.synthesize("hi")]
    assert [c.duration_s for c in chunks] == pytest.approx([0.05, 0.05, 0.05, 0.05])


async def test_tts_chain_all_failing_is_an_engine_error() -> None:
    tts = TTSChain(
        [ToneTTS("a", 16000, fail=RuntimeError("x")), ToneTTS("b", 16000, fail=RuntimeError("y"))]
    )
    with pytest.raises(VocableError, match="every tts engine failed") as caught:
        [c async for c in tts.synthesize("hi")]
    assert caught.value.code == "tts.all_failed"


async def test_a_call_that_raises_before_returning_an_iterator_also_falls_back() -> None:
    a, b = Scripted("a"), Scripted("b", ("ok",))
    switches: list[tuple[str, str, str]] = []
    chain: FallbackChain[Scripted] = FallbackChain([a, b], on_switch=lambda *s: switches.append(s))

    def call(engine: Scripted) -> AsyncGenerator[str, None]:
        if engine is a:
            raise EngineUnavailableError("not loaded")
        return engine.run()

    assert [item async for item in chain.stream(call)] == ["ok"]
    assert switches[0][:2] == ("a", "b")
