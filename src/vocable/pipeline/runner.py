"""Run stages connected by bounded channels under one `asyncio.TaskGroup`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Iterable, Sequence
from types import TracebackType

from vocable.errors import PipelineClosedError
from vocable.frames import ControlFrame, EndOfStream, Frame, PipelineEventType
from vocable.pipeline.channel import Channel
from vocable.pipeline.events import EventBus
from vocable.pipeline.stage import Stage


class Pipeline:
    """A live session: stages in a row, each in its own task, all in one task group.

    Use as ``async with Pipeline(stages) as p:``; `send` feeds the first stage and `receive`
    reads what the last one emits. Leaving the block ends the session: it waits for the stages
    to drain after `end()` was sent, or cancels them, and leaves no task behind either way.
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        *,
        channel_size: int = 64,
        bus: EventBus | None = None,
    ) -> None:
        if not stages:
            raise ValueError("a pipeline needs at least one stage")
        self.stages = list(stages)
        self.bus = bus
        self.channels = [
            Channel(channel_size, name=f"{stage.name}.inbox") for stage in self.stages
        ] + [Channel(channel_size, name="output")]
        self._group: asyncio.TaskGroup | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._ended = False
        self._done = False

    @property
    def input(self) -> Channel:
        """The channel into the first stage."""
        return self.channels[0]

    @property
    def output(self) -> Channel:
        """The channel out of the last stage."""
        return self.channels[-1]

    async def __aenter__(self) -> Pipeline:
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        self._tasks = [
            self._group.create_task(
                stage.run(self.channels[i], self.channels[i + 1]), name=f"stage:{stage.name}"
            )
            for i, stage in enumerate(self.stages)
        ]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._group is not None  # noqa: S101 - set in __aenter__
        if exc is not None or not self._ended:
            for task in self._tasks:
                task.cancel()
        try:
            await self._group.__aexit__(exc_type, exc, tb)
        finally:
            self._report_drops()
        return None

    async def send(self, frame: Frame) -> None:
        """Feed a frame to the first stage (waits while its inbox is full)."""
        await self.input.send(frame)

    async def end(self) -> None:
        """Send `EndOfStream`; the stages drain, forward it and finish."""
        self._ended = True
        await self.input.send(EndOfStream())

    def mark_ended(self) -> None:
        """Record that an `EndOfStream` was fed by other means than `end`."""
        self._ended = True

    async def receive(self) -> Frame:
        """Next frame from the last stage."""
        return await self.output.receive()

    async def __anext__(self) -> Frame:
        """Yield output frames until (and including) `EndOfStream`."""
        if self._done:
            raise StopAsyncIteration
        try:
            frame = await self.receive()
        except PipelineClosedError:  # pragma: no cover - output is never closed early
            raise StopAsyncIteration from None
        if isinstance(frame, EndOfStream):
            self._done = True
        return frame

    def __aiter__(self) -> Pipeline:
        return self

    def _report_drops(self) -> None:
        if self.bus is None:
            return
        for channel in self.channels:
            if channel.dropped:
                self.bus.emit(
                    "pipeline",
                    PipelineEventType.FRAMES_DROPPED,
                    0,
                    channel=channel.name,
                    count=channel.dropped,
                )


async def run_pipeline(
    stages: Sequence[Stage],
    frames: Iterable[Frame] | AsyncIterable[Frame],
    *,
    channel_size: int = 64,
    bus: EventBus | None = None,
) -> list[Frame]:
    """Feed `frames` through `stages` and return every frame out, without the final EndOfStream.

    An `EndOfStream` is appended when `frames` does not end with one.
    """
    out: list[Frame] = []
    async with Pipeline(stages, channel_size=channel_size, bus=bus) as pipe:

        async def feed() -> None:
            last: Frame | None = None
            if isinstance(frames, AsyncIterable):
                async for frame in frames:
                    await pipe.send(frame)
                    last = frame
            else:
                for frame in frames:
                    await pipe.send(frame)
                    last = frame
            if not isinstance(last, EndOfStream):
                await pipe.end()
            pipe.mark_ended()

        async with asyncio.TaskGroup() as group:
            group.create_task(feed(), name="pipeline:feed")
            async for frame in pipe:
                if isinstance(frame, EndOfStream):
                    break
                out.append(frame)
    return out


def without_control(frames: Iterable[Frame]) -> list[Frame]:
    """The data frames of `frames`, in order."""
    return [f for f in frames if not isinstance(f, ControlFrame)]
