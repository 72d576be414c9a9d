"""The streaming message writer: token deltas in, batched transactions out, never blocking.

One background task drains a bounded queue. It commits a batch when `writer_batch_tokens`
deltas are queued, `writer_batch_ms` after the first one, or at once for the end of a message
or a `sync`. Each batch is one transaction that writes every message's whole text so far (so a
retried batch is idempotent). When the queue is full, new deltas merge into their message's
newest queued delta: nothing is dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from vocable.errors import MessageClosedError, VocableError
from vocable.storage.db import Database
from vocable.storage.handle import Delta, Mark, MessageHandle, Sync
from vocable.storage.models import Message, MessageRole, MessageStatus, utcnow
from vocable.storage.repo.messages import (
    StreamedRow,
    add_message,
    recover_streaming,
    write_streamed,
)


@dataclass(slots=True)
class WriterStats:
    """Counters since the writer started."""

    enqueued: int = 0
    """Deltas appended."""
    coalesced: int = 0
    """Deltas merged into a queued one because the queue was full."""
    batches: int = 0
    """Batches committed."""
    failed_batches: int = 0
    """Batches that failed after their retries (their data is written by a later batch)."""
    max_queue_depth: int = 0
    """Most items ever queued at once."""
    recovered: int = 0
    """Messages marked interrupted by start-up recovery."""
    recovery_ms: float = 0.0
    """How long start-up recovery took."""


@dataclass(slots=True)
class _State:
    """The writer's view of one open message: what the next batch writes."""

    parts: list[str] = field(default_factory=list)
    tokens: int = 0
    heard: str | None = None
    status: MessageStatus = MessageStatus.STREAMING


class MessageWriter:
    """Persists streaming replies without ever making the audio path wait.

    Use ``async with MessageWriter(db) as writer:``; entering recovers messages a crash left
    ``streaming``, leaving flushes everything (open messages end as ``interrupted``).

    Args:
        db: The database.
        on_error: Called when a batch fails after its retries.
    """

    def __init__(
        self,
        db: Database,
        *,
        on_error: Callable[[VocableError], None] | None = None,
    ) -> None:
        settings = db.settings
        self._db = db
        self._on_error = on_error
        self._max_chars = settings.max_message_chars
        self._queue_size = settings.writer_queue_size
        self._batch_s = settings.writer_batch_ms / 1000
        self._batch_tokens = settings.writer_batch_tokens
        self._recover_after_s = settings.recover_after_s
        self._queue: deque[Delta | Mark | Sync] = deque()
        self._queued_deltas = 0
        self._queued_tokens = 0
        self._first_at = 0.0
        self._urgent = False
        self._wake = asyncio.Event()
        self._states: dict[int, _State] = {}
        self._handles: dict[int, MessageHandle] = {}
        self._dirty: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.failure: VocableError | None = None
        """The last batch failure, until a batch succeeds again."""
        self.stats = WriterStats()

    async def __aenter__(self) -> MessageWriter:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Recover messages left ``streaming`` by a crash, then start the background task."""
        older = utcnow() - timedelta(seconds=self._recover_after_s)
        started = time.perf_counter()
        self.stats.recovered = await self._db.transact(
            lambda tx: recover_streaming(tx, older_than=older if self._recover_after_s else None),
            operation="writer.recover",
        )
        self.stats.recovery_ms = round((time.perf_counter() - started) * 1000, 3)
        self._task = asyncio.create_task(self._run(), name="vocable-message-writer")

    async def close(self) -> None:
        """Flush everything, end open messages as interrupted, and stop.

        Raises:
            StorageError: the final batch could not be written.
        """
        if self._task is None:
            return
        self._closing = True
        self._wake.set()
        task, self._task = self._task, None
        await task
        if self.failure is not None:
            raise self.failure

    def check_running(self) -> None:
        """Raise `MessageClosedError` unless the writer accepts work."""
        if self._task is None or self._task.done() or self._closing:
            raise MessageClosedError("the message writer is not running")

    async def start_message(
        self,
        *,
        user_id: int,
        conversation_id: int,
        role: MessageRole = MessageRole.ASSISTANT,
    ) -> MessageHandle:
        """Create a ``streaming`` message (one transaction) and return its handle.

        Raises:
            StorageInputError: ``storage.unknown_reference`` for a conversation that is not
                the user's.
        """
        self.check_running()

        async def create(tx: AsyncSession) -> Message:
            return await add_message(
                tx,
                user_id=user_id,
                conversation_id=conversation_id,
                role=role,
                text="",
                status=MessageStatus.STREAMING,
            )

        message = await self._db.transact(create, operation="writer.start_message")
        handle = MessageHandle(self, message, self._max_chars)
        self._states[handle.message_id] = _State()
        self._handles[handle.message_id] = handle
        return handle

    async def sync(self) -> None:
        """Wait until everything queued so far is committed (raises the batch's error)."""
        self.check_running()
        item = Sync()
        self._enqueue(item, urgent=True)
        await item.future

    def put_delta(self, handle: MessageHandle, text: str) -> None:
        """Queue `text` for `handle` (called by `MessageHandle.append`)."""
        tail = handle.tail
        if tail is not None and self._queued_deltas >= self._queue_size:
            tail.parts.append(text)
            tail.count += 1
            self.stats.coalesced += 1
        else:
            handle.tail = Delta(handle, [text])
            self._queued_deltas += 1
            self._enqueue(handle.tail, urgent=False)
        self.stats.enqueued += 1
        self._queued_tokens += 1
        if self._queued_tokens == self._batch_tokens:
            self._wake.set()

    def put_mark(self, mark: Mark) -> None:
        """Queue a checkpoint or an end of message (called by `MessageHandle`)."""
        self._enqueue(mark, urgent=mark.status is not None)

    def _enqueue(self, item: Delta | Mark | Sync, *, urgent: bool) -> None:
        if not self._queue:
            self._first_at = asyncio.get_running_loop().time()
            self._wake.set()
        self._queue.append(item)
        self.stats.max_queue_depth = max(self.stats.max_queue_depth, len(self._queue))
        if urgent:
            self._urgent = True
            self._wake.set()

    async def _run(self) -> None:
        while True:
            if not self._dirty:
                await self._wait_for_batch()
            closing = self._closing
            waiters = self._drain()
            if closing:
                for message_id, state in self._states.items():
                    if state.status is MessageStatus.STREAMING:
                        state.status = MessageStatus.INTERRUPTED
                        self._dirty.add(message_id)
            written = await self._write(waiters)
            if closing and not self._queue:
                return
            if not written and not self._closing:
                await asyncio.sleep(self._db.policy.max_delay_s)

    async def _wait_for_batch(self) -> None:
        while not self._closing:
            if self._urgent or self._queued_tokens >= self._batch_tokens:
                return
            self._wake.clear()
            if not self._queue:
                await self._wake.wait()
                continue
            remaining = self._first_at + self._batch_s - asyncio.get_running_loop().time()
            try:
                async with asyncio.timeout(max(remaining, 0.0)):
                    await self._wake.wait()
            except TimeoutError:
                return

    def _drain(self) -> list[Sync]:
        items, self._queue = self._queue, deque()
        self._queued_deltas = self._queued_tokens = 0
        self._urgent = False
        waiters: list[Sync] = []
        for item in items:
            if isinstance(item, Sync):
                waiters.append(item)
                continue
            state = self._states.get(item.handle.message_id)
            if item.handle.tail is item:
                item.handle.tail = None
            if state is None:  # the message failed; its error is on the handle
                continue
            if isinstance(item, Delta):
                state.parts.append("".join(item.parts))
                state.tokens += item.count
            else:
                state.heard = item.heard_text if item.heard_text is not None else state.heard
                state.status = item.status or state.status
            self._dirty.add(item.handle.message_id)
        return waiters

    async def _write(self, waiters: list[Sync]) -> bool:
        rows: list[StreamedRow] = []
        for message_id in self._dirty:
            state = self._states[message_id]
            state.parts[:] = ["".join(state.parts)]
            rows.append((message_id, state.parts[0], state.tokens, state.heard, state.status))
        closed: set[int] = set()
        try:
            if rows:
                closed = await self._db.transact(
                    lambda tx: write_streamed(tx, rows=rows), operation="writer.batch"
                )
                self.stats.batches += 1
        except VocableError as err:
            self.stats.failed_batches += 1
            self.failure = err
            if self._on_error is not None:
                self._on_error(err)
            for waiter in waiters:
                if not waiter.future.done():
                    waiter.future.set_exception(err)
            return False
        self.failure = None
        for message_id, *_, status in rows:
            if message_id in closed or status is not MessageStatus.STREAMING:
                handle = self._handles.pop(message_id)
                del self._states[message_id]
                if message_id in closed:
                    handle.error = MessageClosedError(
                        f"message {message_id} was closed elsewhere (recovered or edited)"
                    )
        self._dirty.clear()
        for waiter in waiters:
            if not waiter.future.done():
                waiter.future.set_result(None)
        return True
