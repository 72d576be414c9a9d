"""Fallback across engines of one kind: a strategy that sits outside the engines.

A `FallbackChain` holds engines in order of preference. Each call goes to the active engine; when
that engine fails before its first item (a permanent error, or a first item slower than the
latency budget), the chain switches to the next engine and retries the same call. Once an item has
been yielded, errors propagate: the caller restarts at its own boundary (a sentence, a turn). After
a cool-down the chain tries the primary again.

`TTSChain` is the chain for speech: it is itself a `TextToSpeech`, speaking at the primary's rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from typing import Generic, TypeVar

import numpy as np

from vocable.audio.convert import StreamResampler, float_to_pcm16, pcm16_to_float
from vocable.engines.base import Engine, EngineInfo
from vocable.engines.tts.base import TextToSpeech
from vocable.errors import EngineError, EngineTimeoutError, EngineUnavailableError, VocableError
from vocable.frames import AudioChunk

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Engine)
T = TypeVar("T")

SwitchCallback = Callable[[str, str, str], None]
"""``on_switch(from_name, to_name, reason)``, called whenever the active engine changes."""

DEFAULT_COOLDOWN_S = 30.0

_EXHAUSTED = object()


class FallbackChain(Generic[E]):
    """An ordered list of engines of one kind, first choice first.

    Args:
        engines: At least one engine; the first is the primary.
        kind: Engine kind, for messages (``tts``, ``stt``...).
        first_item_timeout_s: Latency budget for the first item of a call; None for no budget.
        cooldown_s: How long to stay on a fallback before trying the primary again.
        on_switch: Called with ``(from_name, to_name, reason)`` on every switch. It may be
            reassigned later (a stage sets it to report ``FALLBACK_SWITCHED`` events).
        clock: Monotonic clock in seconds; tests inject a fake one.
        skipped: Engines left out of the chain because they could not load, with the reason.
        load_s: Seconds each engine took to load, by name (for reports).
    """

    def __init__(
        self,
        engines: Sequence[E],
        *,
        kind: str = "",
        first_item_timeout_s: float | None = None,
        cooldown_s: float = DEFAULT_COOLDOWN_S,
        on_switch: SwitchCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
        skipped: Mapping[str, str] | None = None,
        load_s: Mapping[str, float] | None = None,
    ) -> None:
        if not engines:
            raise EngineUnavailableError(f"a {kind or 'fallback'} chain needs at least one engine")
        self.engines: list[E] = list(engines)
        self.kind = kind or self.engines[0].info.kind
        self.first_item_timeout_s = first_item_timeout_s
        self.cooldown_s = cooldown_s
        self.on_switch = on_switch
        self.clock = clock
        self.skipped: dict[str, str] = dict(skipped or {})
        self.load_s: dict[str, float] = dict(load_s or {})
        self._active = 0
        self._switched_at = 0.0
        self._cleanup: set[asyncio.Task[None]] = set()

    @property
    def active(self) -> E:
        """The engine the next call goes to (before any cool-down recovery)."""
        return self.engines[self._active]

    @property
    def active_index(self) -> int:
        """Position of the active engine in `engines` (0 is the primary)."""
        return self._active

    def _name(self, index: int) -> str:
        return self.engines[index].info.name

    def _switch(self, to: int, reason: str) -> None:
        before = self._name(self._active)
        self._active = to
        self._switched_at = self.clock()
        log.warning("%s fallback: %s -> %s (%s)", self.kind, before, self._name(to), reason)
        if self.on_switch is not None:
            self.on_switch(before, self._name(to), reason)

    def _cooldown_over(self) -> bool:
        return self._active != 0 and self.clock() - self._switched_at >= self.cooldown_s

    async def stream(self, call: Callable[[E], AsyncIterator[T]]) -> AsyncGenerator[T, None]:
        """Yield the items of ``call(engine)``, falling back before the first item.

        Engines are tried from the active one onwards, wrapping around, each at most once per
        call; after the cool-down the primary goes first. `on_switch` fires only when another
        engine than the active one delivers.

        Raises:
            EngineError: every engine failed before its first item; the message lists why.
            VocableError: a transient error before the first item, or any error after it.
        """
        retry_primary = self._cooldown_over()
        start = 0 if retry_primary else self._active
        order = [*range(start, len(self.engines)), *range(start)]
        failures: list[str] = []
        last_error: BaseException | None = None
        for index in order:
            try:
                iterator = call(self.engines[index])
                first = await self._first_item(iterator)
            except VocableError as err:
                if err.transient and not isinstance(err, EngineTimeoutError):
                    raise
                last_error = err
            except Exception as err:  # noqa: BLE001 - any engine failure moves to the next one
                last_error = err
            else:
                if index != self._active:
                    reason = "; ".join(failures) or (
                        f"cool-down of {self.cooldown_s:g} s ended; the primary is back"
                    )
                    self._switch(index, reason)
                elif retry_primary:
                    self._switched_at = self.clock()  # primary still down: a new cool-down
                if first is _EXHAUSTED:
                    return
                try:
                    yield first  # type: ignore[misc]  # not the sentinel, so a T
                    async for item in iterator:
                        yield item
                finally:
                    await _aclose(iterator)
                return
            failures.append(f"{self._name(index)}: {describe_error(last_error)}")
        if retry_primary:
            self._switched_at = self.clock()
        raise EngineError(
            f"every {self.kind} engine failed: " + "; ".join(failures),
            code=f"{self.kind}.all_failed",
        ) from last_error

    async def _first_item(self, iterator: AsyncIterator[T]) -> T | object:
        """The first item, or `_EXHAUSTED`. A broken latency budget raises EngineTimeoutError.

        With a budget, the first item is awaited in its own task, so an engine stuck in a
        blocking call does not hold up the fallback: the abandoned call is cleaned up in the
        background, and `close` waits for that cleanup.
        """
        if self.first_item_timeout_s is None:
            try:
                return await _next_or_exhausted(iterator)
            except BaseException:
                await _aclose(iterator)
                raise
        task: asyncio.Task[T | object] = asyncio.create_task(_next_or_exhausted(iterator))
        try:
            done, _ = await asyncio.wait({task}, timeout=self.first_item_timeout_s)
        except asyncio.CancelledError:
            self._abandon(task, iterator)
            raise
        if not done:
            self._abandon(task, iterator)
            raise EngineTimeoutError(f"no first item within {self.first_item_timeout_s:g} s")
        try:
            return task.result()
        except BaseException:
            await _aclose(iterator)
            raise

    def _abandon(self, task: asyncio.Task[T | object], iterator: AsyncIterator[T]) -> None:
        """Cancel a first-item wait and close its stream in the background."""
        task.cancel()

        async def clean_up() -> None:
            await asyncio.wait({task})
            if not task.cancelled() and task.exception() is not None:
                log.debug("abandoned %s call failed: %s", self.kind, task.exception())
            try:
                await _aclose(iterator)
            except Exception:  # noqa: BLE001 - the call was abandoned; its failure is moot
                log.debug("closing an abandoned %s call failed", self.kind, exc_info=True)

        cleanup = asyncio.create_task(clean_up())
        self._cleanup.add(cleanup)
        cleanup.add_done_callback(self._cleanup.discard)

    async def close(self) -> None:
        """Wait for abandoned calls to finish, then close every engine. Safe to call twice."""
        if self._cleanup:
            await asyncio.gather(*self._cleanup, return_exceptions=True)
        errors: list[Exception] = []
        for engine in self.engines:
            try:
                await engine.close()
            except Exception as err:  # noqa: BLE001 - close the others first, then report
                log.exception("closing %s failed", engine.info.name)
                errors.append(err)
        if errors:
            raise errors[0]


class TTSChain(FallbackChain[TextToSpeech]):
    """A fallback chain of speech engines that is itself a `TextToSpeech`.

    Audio always comes out at the primary engine's `sample_rate`: a fallback engine's audio at
    another rate is resampled (as one continuous stream per call). `voice` ids are engine-specific,
    so a requested voice goes to the primary only; fallbacks speak in their configured voice.
    """

    def __init__(
        self,
        engines: Sequence[TextToSpeech],
        *,
        first_item_timeout_s: float | None = None,
        cooldown_s: float = DEFAULT_COOLDOWN_S,
        on_switch: SwitchCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
        skipped: Mapping[str, str] | None = None,
        load_s: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(
            engines,
            kind="tts",
            first_item_timeout_s=first_item_timeout_s,
            cooldown_s=cooldown_s,
            on_switch=on_switch,
            clock=clock,
            skipped=skipped,
            load_s=load_s,
        )
        self.sample_rate: int = self.engines[0].sample_rate
        """Rate of every chunk this chain yields: the primary engine's rate."""
        self.info: EngineInfo = self.active.info
        """The active engine's identity."""

    def _switch(self, to: int, reason: str) -> None:
        super()._switch(to, reason)
        self.info = self.active.info

    def synthesize(self, text: str, voice: str | None = None) -> AsyncGenerator[AudioChunk, None]:
        """Speak `text` with the first engine that works, at `sample_rate`."""
        primary = self.engines[0]
        return self.stream(
            lambda engine: self._speak(engine, text, voice if engine is primary else None)
        )

    async def _speak(
        self, engine: TextToSpeech, text: str, voice: str | None
    ) -> AsyncGenerator[AudioChunk, None]:
        rate = self.sample_rate
        resampler: StreamResampler | None = None
        last: AudioChunk | None = None
        async with contextlib.aclosing(engine.synthesize(text, voice)) as chunks:
            async for chunk in chunks:
                if chunk.sample_rate == rate:
                    yield chunk
                    continue
                if resampler is None or resampler.src_rate != chunk.sample_rate:
                    resampler = StreamResampler(chunk.sample_rate, rate)
                last = chunk
                out = resampler.push(pcm16_to_float(chunk.pcm))
                if len(out):
                    yield _rechunk(chunk, out, rate)
        if resampler is not None and last is not None:
            tail = resampler.push(np.zeros(0, dtype=np.float32), last=True)
            if len(tail):
                yield _rechunk(last, tail, rate)


def _rechunk(like: AudioChunk, samples: np.ndarray, rate: int) -> AudioChunk:
    return AudioChunk(
        float_to_pcm16(samples), rate, sentence_index=like.sentence_index, turn_id=like.turn_id
    )


async def _next_or_exhausted(iterator: AsyncIterator[T]) -> T | object:
    try:
        return await anext(iterator)
    except StopAsyncIteration:
        return _EXHAUSTED


async def _aclose(iterator: AsyncIterator[object]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


def describe_error(err: BaseException | None) -> str:
    """One line for a person: ``[code] message`` for vocable errors, else type and text."""
    if isinstance(err, VocableError):
        return f"[{err.code}] {err.message}"
    return f"{type(err).__name__}: {err}"
