"""The write side of one streaming message, and what it puts on the writer's queue."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vocable.errors import MessageClosedError, VocableError
from vocable.storage.models import Message, MessageStatus
from vocable.storage.validate import clean_text

if TYPE_CHECKING:
    from vocable.storage.writer import MessageWriter


@dataclass(slots=True, eq=False)
class Delta:
    """Queued text of one message; deltas coalesce into it while the queue is full."""

    handle: MessageHandle
    parts: list[str]
    count: int = 1


@dataclass(slots=True, eq=False)
class Mark:
    """A queued checkpoint (`status` None) or end of message."""

    handle: MessageHandle
    heard_text: str | None
    status: MessageStatus | None = None


@dataclass(slots=True, eq=False)
class Sync:
    """Resolved once everything queued before it is committed."""

    future: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class MessageHandle:
    """Writes one streaming message through a `MessageWriter`. Get it from `start_message`.

    Protocol: any number of `append` and `checkpoint` calls, then one `finish` (or `interrupt`).
    All but `sync` are synchronous, never wait, and must be called from the event loop's thread.
    """

    def __init__(self, writer: MessageWriter, message: Message, max_chars: int) -> None:
        self._writer = writer
        self.message_id = message.id
        self.user_id = message.user_id
        self.conversation_id = message.conversation_id
        self.tokens = 0
        """Deltas appended so far."""
        self.error: VocableError | None = None
        """Why the message can no longer be written, when it cannot."""
        self._max_chars = max_chars
        self._chars = 0
        self._finished = False
        self.tail: Delta | None = None
        """The message's newest delta still on the queue (the writer clears it on draining)."""

    @property
    def finished(self) -> bool:
        """True once `finish` was called or the message failed."""
        return self._finished or self.error is not None

    def append(self, delta: str) -> None:
        """Queue a piece of the reply. O(1) apart from checking the text; never blocks.

        Raises:
            StorageInputError: the delta has NUL characters or unpaired surrogates, or the
                message would exceed ``storage.max_message_chars``; nothing is queued.
            MessageClosedError: the message was finished, or the writer stopped.
        """
        self._check_open()
        if not delta:
            return
        clean_text(delta, field="message text", max_chars=self._max_chars - self._chars)
        self._chars += len(delta)
        self.tokens += 1
        self._writer.put_delta(self, delta)

    def checkpoint(self, heard_text: str) -> None:
        """Record what the user has heard so far (at a sentence boundary).

        It is committed with the next batch, together with every delta queued before it.
        """
        self._check_open()
        heard = clean_text(heard_text, field="heard text", max_chars=self._max_chars)
        self._writer.put_mark(Mark(self, heard))

    def finish(
        self, status: MessageStatus = MessageStatus.COMPLETE, *, heard_text: str | None = None
    ) -> None:
        """End the message as complete, interrupted or failed; the writer commits it at once."""
        self._check_open()
        if status is MessageStatus.STREAMING:
            raise ValueError("finish with complete, interrupted or failed")
        heard = None
        if heard_text is not None:
            heard = clean_text(heard_text, field="heard text", max_chars=self._max_chars)
        self._finished = True
        self._writer.put_mark(Mark(self, heard, MessageStatus(status)))

    def interrupt(self, heard_text: str) -> None:
        """Barge-in: end the message as interrupted, keeping what the user heard."""
        self.finish(MessageStatus.INTERRUPTED, heard_text=heard_text)

    async def sync(self) -> None:
        """Wait until everything queued for this message so far is committed.

        Raises:
            StorageError: the batch could not be written (the writer keeps trying), or the
                message was closed by someone else (e.g. recovery by another worker).
        """
        await self._writer.sync()
        if self.error is not None:
            raise self.error

    def _check_open(self) -> None:
        if self.error is not None:
            raise self.error
        if self._finished:
            raise MessageClosedError(f"message {self.message_id} is already finished")
        self._writer.check_running()
