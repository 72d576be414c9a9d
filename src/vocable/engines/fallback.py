"""Fallback across engines of one kind: a strategy that sits outside the engines.

A `FallbackChain` holds engines in order of preference. Each call goes to the active engine; when
that engine fails before its first item (a permanent error, or a first item slower than the
latency budget), the chain switches to the next engine and retries the same call. Once an item has
been yielded, errors propagate (a stall longer than ``item_timeout_s`` is one): the caller restarts
at its own boundary (a sentence, a turn). After a cool-down the chain tries the primary again.

`vocable.engines.chain.TTSChain` builds the speech chain on top of this one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from typing import Generic, TypeVar

from vocable.engines.base import Engine
from vocable.errors import EngineError, EngineTimeoutError, EngineUnavailableError, VocableError

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
        item_timeout_s: Longest wait for each later item (a hang); None for no limit.
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
        item_timeout_s: float | None = None,
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
        self.item_timeout_s = item_timeout_s
        self.cooldown_s = cooldown_s
        self.on_switch = on_switch
        self.clock = clock
        self.skipped: dict[str, str] = dict(skipped or {})
        self.load_s: dict[str, float] = dict(load_s or {})
        self.switches = 0
        """How many times the active engine changed since the chain was built."""
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
        self.switches += 1
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
            EngineTimeoutError: a later item took longer than ``item_timeout_s``.
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
                first = await self._next(iterator, self.first_item_timeout_s, "first item")
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
                open_here = True  # False once `_next` has closed or abandoned the iterator
                try:
                    yield first  # type: ignore[misc]  # not the sentinel, so a T
                    while True:
                        open_here = False
                        item = await self._next(iterator, self.item_timeout_s, "next item")
                        open_here = item is not _EXHAUSTED
                        if item is _EXHAUSTED:
                            return
                        yield item  # type: ignore[misc]  # not the sentinel, so a T
                finally:
                    if open_here:
                        await _aclose(iterator)
                return
            failures.append(f"{self._name(index)}: {describe_error(last_error)}")
        if retry_primary:
            self._switched_at = self.clock()
        raise EngineError(
            f"every {self.kind} engine failed: " + "; ".join(failures),
            code=f"{self.kind}.all_failed",
        ) from last_error

    async def _next(self, iterator: AsyncIterator[T], budget_s: float | None, what: str) -> object:
        """The next item, or `_EXHAUSTED`; the iterator is closed when this raises.

        A broken latency budget raises EngineTimeoutError. With a budget, the item is awaited in
        its own task, so an engine stuck in a blocking call does not hold up the fallback: the
        abandoned call is cleaned up in the background, and `close` waits for that cleanup.
        """
        if budget_s is None:
            try:
                return await _next_or_exhausted(iterator)
            except BaseException:
                await _aclose(iterator)
                raise
        task: asyncio.Task[object] = asyncio.create_task(_next_or_exhausted(iterator))
        try:
            done, _ = await asyncio.wait({task}, timeout=budget_s)
        except asyncio.CancelledError:
            self._abandon(task, iterator)
            raise
        if not done:
            self._abandon(task, iterator)
            raise EngineTimeoutError(f"no {what} within {budget_s:g} s")
        try:
            result = task.result()
        except BaseException:
            await _aclose(iterator)
            raise
        if result is _EXHAUSTED:
            await _aclose(iterator)
        return result

    def _abandon(self, task: asyncio.Task[object], iterator: AsyncIterator[T]) -> None:
        """Cancel a wait for an item and close its stream in the background."""
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
