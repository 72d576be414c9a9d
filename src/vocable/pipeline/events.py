"""The one event stream every stage reports to, with a fixed-size debug log."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from vocable.frames import PipelineEvent, PipelineEventType
from vocable.pipeline.clock import Clock, SystemClock

Listener = Callable[[PipelineEvent], None]


class Subscription:
    """An async iterator over events published after it was opened.

    Its queue is bounded: when a slow subscriber falls behind, the oldest events are dropped and
    counted in `dropped`, so a stalled dashboard never slows the audio path.
    """

    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[PipelineEvent] = asyncio.Queue(maxsize)
        self.dropped = 0

    def _put(self, event: PipelineEvent) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    def __aiter__(self) -> AsyncIterator[PipelineEvent]:
        return self

    async def __anext__(self) -> PipelineEvent:
        return await self._queue.get()

    def get_nowait(self) -> PipelineEvent | None:
        """Next queued event, or None."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def close(self) -> None:
        """Stop receiving events."""
        self._bus._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    """Fan-out of `PipelineEvent`s to listeners, subscriptions and a bounded log."""

    def __init__(self, clock: Clock | None = None, log_size: int = 2000) -> None:
        self.clock: Clock = clock or SystemClock()
        self._log: deque[PipelineEvent] = deque(maxlen=log_size)
        self._listeners: list[Listener] = []
        self._subscriptions: list[Subscription] = []

    @property
    def log(self) -> list[PipelineEvent]:
        """The most recent events, oldest first (at most `log_size`)."""
        return list(self._log)

    def emit(
        self, stage: str, kind: PipelineEventType, turn_id: int, **payload: Any
    ) -> PipelineEvent:
        """Build an event stamped with the bus clock and publish it."""
        event = PipelineEvent(
            stage=stage,
            kind=kind,
            turn_id=turn_id,
            timestamp=self.clock.monotonic(),
            payload=payload,
        )
        self.publish(event)
        return event

    def publish(self, event: PipelineEvent) -> None:
        """Deliver an event to the log, every listener and every subscription. Never blocks."""
        self._log.append(event)
        for listener in list(self._listeners):
            listener(event)
        for sub in list(self._subscriptions):
            sub._put(event)

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` synchronously for each event; returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        """Open a bounded async subscription; close it (or use `with`) when done."""
        sub = Subscription(self, maxsize)
        self._subscriptions.append(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)
