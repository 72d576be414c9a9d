"""Bounded channels between stages, where control frames overtake queued data."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

from vocable.errors import PipelineClosedError
from vocable.frames import ControlFrame, EndOfStream, Frame, Interrupt


class Receive(Protocol):
    """The receiving end of a channel."""

    async def receive(self) -> Frame:
        """Next frame: urgent control frames first, then the rest in order."""
        ...

    async def control_pending(self) -> None:
        """Return once an urgent control frame is waiting, without taking it."""
        ...


class Send(Protocol):
    """The sending end of a channel."""

    async def send(self, frame: Frame) -> None:
        """Queue a frame; data frames wait while the channel is full."""
        ...


class Channel:
    """A bounded, single-consumer frame channel.

    Data frames are kept in order and `send` waits while `capacity` of them are queued, so a slow
    consumer applies backpressure instead of growing memory. Control frames never wait and are
    never dropped. Urgent ones (`Interrupt`, `Cancel`) are delivered before any queued data;
    `EndOfStream` keeps its place in line. An `Interrupt` also discards the data frames queued
    ahead of it (they belong to the reply being interrupted); `dropped` counts them.
    """

    def __init__(self, capacity: int, name: str = "channel") -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.name = name
        self.dropped = 0
        self.high_water = 0
        self._data: deque[Frame] = deque()
        self._control: deque[ControlFrame] = deque()
        self._data_count = 0  # data frames in _data (in-order control frames do not count)
        self._changed = asyncio.Condition()
        self._closed = False

    def __len__(self) -> int:
        return len(self._data) + len(self._control)

    def _full(self) -> bool:
        return self._data_count >= self.capacity

    @property
    def closed(self) -> bool:
        """True once `close` was called."""
        return self._closed

    async def send(self, frame: Frame) -> None:
        """Queue a frame; data frames wait for room, control frames go straight to the front."""
        async with self._changed:
            if self._closed:
                raise PipelineClosedError(f"{self.name}: send on a closed channel")
            if isinstance(frame, ControlFrame):
                if isinstance(frame, Interrupt):
                    self.dropped += self._data_count
                    self._data = deque(f for f in self._data if isinstance(f, ControlFrame))
                    self._data_count = 0
                (self._control if frame.urgent else self._data).append(frame)
            else:
                await self._changed.wait_for(lambda: not self._full() or self._closed)
                if self._closed:
                    raise PipelineClosedError(f"{self.name}: send on a closed channel")
                self._data.append(frame)
                self._data_count += 1
                self.high_water = max(self.high_water, self._data_count)
            self._changed.notify_all()

    async def receive(self) -> Frame:
        """Next frame: control frames first, then data in order.

        Raises:
            PipelineClosedError: the channel is closed and empty.
        """
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._control or self._data or self._closed))
            if self._control:
                frame: Frame = self._control.popleft()
            elif self._data:
                frame = self._data.popleft()
                if not isinstance(frame, ControlFrame):
                    self._data_count -= 1
            else:
                raise PipelineClosedError(f"{self.name}: receive on a closed, empty channel")
            self._changed.notify_all()
            return frame

    async def control_pending(self) -> None:
        """Return once an urgent control frame is queued (or the channel closed)."""
        async with self._changed:
            await self._changed.wait_for(lambda: bool(self._control) or self._closed)

    async def close(self) -> None:
        """Refuse further sends; receivers drain what is queued, then get `PipelineClosedError`."""
        async with self._changed:
            self._closed = True
            self._changed.notify_all()


def is_end(frame: Frame) -> bool:
    """True for the frame that ends a stream."""
    return isinstance(frame, EndOfStream)
