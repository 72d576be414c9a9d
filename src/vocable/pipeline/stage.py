"""The stage contract, the setup object stages get, and a base class for frame processors."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from vocable.config import Settings
from vocable.errors import VocableError
from vocable.frames import (
    Cancel,
    ControlFrame,
    EndOfStream,
    ErrorFrame,
    Frame,
    Interrupt,
    PipelineEventType,
)
from vocable.pipeline.channel import Receive, Send
from vocable.pipeline.clock import Clock, SystemClock
from vocable.pipeline.events import EventBus
from vocable.pipeline.tasks import cancel_and_wait


@dataclass
class StageContext:
    """What every stage is given: settings, the clock and the event bus. Never globals."""

    settings: Settings
    bus: EventBus = field(default_factory=EventBus)

    @property
    def clock(self) -> Clock:
        """The bus clock; every timestamp in a session comes from it."""
        return self.bus.clock

    @classmethod
    def for_settings(cls, settings: Settings, clock: Clock | None = None) -> StageContext:
        """A context with a fresh bus sized from the settings."""
        bus = EventBus(clock or SystemClock(), log_size=settings.pipeline.event_log_size)
        return cls(settings=settings, bus=bus)


class Stage(Protocol):
    """One step of the pipeline.

    Protocol: read frames from `inbox` until `EndOfStream`, write results to `outbox`, forward
    the `EndOfStream` last, then return. Control frames are forwarded downstream.
    """

    name: str

    async def run(self, inbox: Receive, outbox: Send) -> None:
        """Process frames until end of stream."""
        ...


class FrameProcessor:
    """Base for stages that handle one frame at a time.

    Subclasses override `process` (and `flush`, `on_interrupt` when they keep state). Work on a
    data frame is cancelled as soon as an `Interrupt` or `Cancel` arrives in the inbox, so a long
    LLM or TTS call never delays barge-in. Failures become `ErrorFrame`s and events; the stage
    keeps running.
    """

    name = "stage"

    def __init__(self, ctx: StageContext) -> None:
        self.ctx = ctx
        self.turn_id = 0

    def emit(self, kind: PipelineEventType, turn_id: int | None = None, **payload: Any) -> None:
        """Report an event from this stage."""
        self.ctx.bus.emit(self.name, kind, self.turn_id if turn_id is None else turn_id, **payload)

    async def process(self, frame: Frame, outbox: Send) -> None:
        """Handle one data frame. The default passes it through."""
        await outbox.send(frame)

    async def flush(self, outbox: Send) -> None:
        """Called at end of stream, before `EndOfStream` is forwarded."""

    async def on_interrupt(self, frame: ControlFrame) -> None:
        """Called when an `Interrupt` or `Cancel` arrives; drop per-turn state here."""

    async def run(self, inbox: Receive, outbox: Send) -> None:
        """Process frames until `EndOfStream`, forwarding control frames."""
        self.emit(PipelineEventType.STAGE_STARTED)
        try:
            while True:
                frame = await inbox.receive()
                if isinstance(frame, ControlFrame):
                    if await self._handle_control(frame, outbox):
                        return
                    continue
                self.turn_id = max(self.turn_id, frame.turn_id)
                control = await self._process_interruptibly(frame, inbox, outbox)
                if control is not None and await self._handle_control(control, outbox):
                    return
        finally:
            self.emit(PipelineEventType.STAGE_STOPPED)

    async def _handle_control(self, frame: ControlFrame, outbox: Send) -> bool:
        """Forward a control frame; True when the stage should stop."""
        if isinstance(frame, EndOfStream):
            await self._guarded(self.flush(outbox), frame, outbox)
            await outbox.send(frame)
            return True
        if isinstance(frame, Interrupt | Cancel):
            self.emit(
                PipelineEventType.INTERRUPTED,
                turn_id=frame.turn_id or self.turn_id,
                reason=type(frame).__name__,
            )
            await self.on_interrupt(frame)
        await outbox.send(frame)
        return False

    async def _process_interruptibly(
        self, frame: Frame, inbox: Receive, outbox: Send
    ) -> ControlFrame | None:
        """Run `process`; if an Interrupt/Cancel arrives meanwhile, cancel it and return that."""
        work = asyncio.ensure_future(self._guarded(self.process(frame, outbox), frame, outbox))
        watch = asyncio.ensure_future(inbox.control_pending())
        try:
            await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
            if work.done():
                return None
            pending = await inbox.receive()
            if not isinstance(pending, ControlFrame):  # pragma: no cover - channel guarantees
                raise RuntimeError("control_pending returned but no control frame was queued")
            await cancel_and_wait(work)
            return pending
        finally:
            await cancel_and_wait(work, watch)

    async def _guarded(self, work: Any, frame: Frame, outbox: Send) -> None:
        """Await `work`, turning failures into an `ErrorFrame` and an ERROR event."""
        try:
            await work
        except VocableError as err:
            await self._report(err, frame, outbox)
        except Exception as err:  # noqa: BLE001 - the stage boundary: wrap anything unknown
            wrapped = VocableError(f"{self.name} failed: {err}", code=f"{self.name}.failed")
            wrapped.__cause__ = err
            await self._report(wrapped, frame, outbox)

    async def _report(self, err: VocableError, frame: Frame, outbox: Send) -> None:
        self.emit(
            PipelineEventType.ERROR,
            turn_id=frame.turn_id,
            code=err.code,
            message=err.message,
            transient=err.transient,
        )
        await outbox.send(
            ErrorFrame(
                code=err.code,
                message=err.message,
                transient=err.transient,
                stage=self.name,
                turn_id=frame.turn_id,
            )
        )
