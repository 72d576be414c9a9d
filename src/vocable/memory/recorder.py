"""The conversation log: persists a session from its event stream, never blocking the audio path.

The recorder is a bus listener. Listening costs one queue append per event; a task of its own
does the database work in event order:

- ``transcript`` → the user's message (complete). A turn is recorded only from its final
  transcript on: events before it wait, and ``speculation_dropped`` forgets them;
- ``llm_request`` → the assistant's message, created ``streaming`` at response start;
- ``llm_token`` → a delta, batched into few transactions by the `MessageWriter`;
- ``sentence`` then the heard event (``tts_done`` for files, ``audio_played`` live) → a
  checkpoint: the heard text is every sentence spoken so far;
- ``interrupted`` → the message ends ``interrupted`` with what was heard;
- ``error`` from the respond stage → the message ends ``failed``;
- ``turn_done`` → the message ends ``complete``, and the turn is recorded with its timings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from vocable.errors import VocableError
from vocable.frames import PipelineEvent, PipelineEventType
from vocable.metrics.timings import turn_timings
from vocable.pipeline.events import EventBus
from vocable.storage import repo
from vocable.storage.db import Database
from vocable.storage.handle import MessageHandle
from vocable.storage.models import MessageRole, MessageStatus
from vocable.storage.writer import MessageWriter

log = logging.getLogger(__name__)

E = PipelineEventType


@dataclass
class _Turn:
    events: list[PipelineEvent] = field(default_factory=list)
    user_message_id: int | None = None
    reply: MessageHandle | None = None
    sentences: dict[int, str] = field(default_factory=dict)
    heard: list[str] = field(default_factory=list)
    interrupted: bool = False
    recorded: bool = False
    waiting: list[PipelineEvent] = field(default_factory=list)

    @property
    def heard_text(self) -> str:
        return " ".join(self.heard)


class ConversationRecorder:
    """Writes one conversation of one user as its session's events arrive.

    Use ``async with ConversationRecorder(db, writer, user_id=…, conversation_id=…) as rec:``,
    then `attach` it to each session's bus. Leaving the block waits until everything seen has
    been written.
    """

    def __init__(
        self,
        db: Database,
        writer: MessageWriter,
        *,
        user_id: int,
        conversation_id: int,
        heard_event: PipelineEventType = PipelineEventType.TTS_DONE,
    ) -> None:
        self.db = db
        self.heard_event = heard_event
        self.writer = writer
        self.user_id = user_id
        self.conversation_id = conversation_id
        self.errors: list[VocableError] = []
        """Database failures met while recording (the session goes on regardless)."""
        self._queue: asyncio.Queue[PipelineEvent | None] = asyncio.Queue()
        self._turns: dict[int, _Turn] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ConversationRecorder:
        self._task = asyncio.create_task(self._run(), name="vocable-conversation-recorder")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.drain()
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
            self._task = None

    def attach(self, bus: EventBus) -> Callable[[], None]:
        """Record the events of `bus`; returns a function that stops listening."""
        return bus.add_listener(self._queue.put_nowait)

    async def drain(self) -> None:
        """Wait until every event seen so far is written (and committed)."""
        await self._queue.join()
        with contextlib.suppress(VocableError):
            await self.writer.sync()

    async def _run(self) -> None:
        while (event := await self._queue.get()) is not None:
            try:
                await self._handle(event)
            except VocableError as err:
                log.warning("conversation log: %s", err)
                self.errors.append(err)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    async def _handle(self, event: PipelineEvent) -> None:
        if event.kind is E.SPECULATION_DROPPED:
            self._turns.pop(event.turn_id, None)
            return
        turn = self._turns.setdefault(event.turn_id, _Turn())
        turn.events.append(event)
        kind, payload = event.kind, event.payload
        if kind is E.TRANSCRIPT and payload.get("text") and turn.user_message_id is None:
            turn.user_message_id = await self._add_user_message(str(payload["text"]))
            waiting, turn.waiting = turn.waiting, []
            for earlier in waiting:
                await self._apply(turn, earlier)
            return
        if turn.user_message_id is None:
            turn.waiting.append(event)
            return
        await self._apply(turn, event)

    async def _apply(self, turn: _Turn, event: PipelineEvent) -> None:
        kind, payload = event.kind, event.payload
        if kind is E.LLM_REQUEST:
            turn.reply = await self.writer.start_message(
                user_id=self.user_id, conversation_id=self.conversation_id
            )
        elif turn.reply is None or turn.reply.finished:
            return
        elif kind is E.LLM_TOKEN:
            turn.reply.append(str(payload["text"]))
        elif kind is E.SENTENCE:
            turn.sentences[int(payload["index"])] = str(payload["text"])
        elif kind is self.heard_event:
            text = payload.get("text") or turn.sentences.get(int(payload["index"]), "")
            if text:
                turn.heard.append(str(text))
                turn.reply.checkpoint(turn.heard_text)
        elif kind is E.INTERRUPTED:
            turn.interrupted = True
            turn.reply.interrupt(turn.heard_text)
            await self._record_turn(event.turn_id, turn)
        elif kind is E.ERROR and event.stage == "respond":
            turn.reply.finish(MessageStatus.FAILED, heard_text=turn.heard_text)
        elif kind is E.TURN_DONE:
            turn.reply.finish(MessageStatus.COMPLETE, heard_text=turn.heard_text)
            await self._record_turn(event.turn_id, turn)

    async def _add_user_message(self, text: str) -> int:
        async with self.db.uow() as tx:
            message = await repo.add_message(
                tx,
                user_id=self.user_id,
                conversation_id=self.conversation_id,
                role=MessageRole.USER,
                text=text,
                status=MessageStatus.COMPLETE,
            )
            return int(message.id)

    async def _record_turn(self, turn_id: int, turn: _Turn) -> None:
        if turn.recorded:
            return
        turn.recorded = True
        timings = turn_timings(turn.events, turn_id).as_dict()
        async with self.db.uow() as tx:
            await repo.record_turn(
                tx,
                user_id=self.user_id,
                conversation_id=self.conversation_id,
                user_message_id=turn.user_message_id,
                assistant_message_id=turn.reply.message_id if turn.reply else None,
                timings_ms=timings,
                interrupted=turn.interrupted,
            )
        del self._turns[turn_id]
