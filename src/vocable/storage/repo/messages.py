"""Messages: whole ones, optimistic edits, and recovery of replies cut off by a crash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vocable.storage.models import Message, MessageRole, MessageStatus, utcnow
from vocable.storage.repo._common import checked, insert, owned, referenced_conversation
from vocable.storage.repo._common import versioned_update as _versioned_update


async def add_message(
    tx: AsyncSession,
    *,
    user_id: int,
    conversation_id: int,
    role: MessageRole,
    text: str | bytes,
    status: MessageStatus = MessageStatus.COMPLETE,
    heard_text: str | bytes | None = None,
) -> Message:
    """Add a message to a conversation of `user_id`.

    Raises:
        StorageInputError: ``storage.unknown_reference`` for a conversation that is not the
            user's; ``storage.text_too_long`` or ``storage.invalid_text`` for bad text.
    """
    clean = checked(tx, text, "text")
    heard = checked(tx, heard_text, "heard_text") if heard_text is not None else None
    await referenced_conversation(tx, user_id=user_id, conversation_id=conversation_id)
    message = Message(
        conversation_id=conversation_id,
        user_id=user_id,
        role=MessageRole(role),
        text=clean,
        heard_text=heard,
        status=MessageStatus(status),
    )
    return await insert(tx, message)


async def get_message(tx: AsyncSession, *, user_id: int, message_id: int) -> Message:
    """Message `message_id` of `user_id` (``storage.not_found`` otherwise)."""
    return await owned(tx, Message, user_id=user_id, row_id=message_id)


async def list_messages(
    tx: AsyncSession,
    *,
    user_id: int,
    conversation_id: int,
    after_id: int = 0,
    limit: int | None = None,
) -> list[Message]:
    """Messages of a conversation of `user_id` with ids above `after_id`, oldest first."""
    rows = await tx.scalars(
        select(Message)
        .where(
            Message.conversation_id == conversation_id,
            Message.user_id == user_id,
            Message.id > after_id,
        )
        .order_by(Message.id)
        .limit(limit)
    )
    return list(rows)


async def update_message(
    tx: AsyncSession,
    *,
    user_id: int,
    message_id: int,
    expected_version: int,
    text: str | bytes | None = None,
    heard_text: str | bytes | None = None,
    status: MessageStatus | None = None,
) -> Message:
    """Edit a message if it is still at `expected_version`.

    Raises:
        ConflictError: it changed since (the streaming writer bumps the version on every batch).
        NotFoundError: no such message for this user.
    """
    values: dict[str, object] = {}
    if text is not None:
        values["text"] = checked(tx, text, "text")
    if heard_text is not None:
        values["heard_text"] = checked(tx, heard_text, "heard_text")
    if status is not None:
        values["status"] = MessageStatus(status)
    return await _versioned_update(
        tx,
        Message,
        user_id=user_id,
        row_id=message_id,
        expected_version=expected_version,
        values=values,
    )


async def recover_streaming(tx: AsyncSession, *, older_than: datetime | None = None) -> int:
    """Mark ``streaming`` messages (of every user) as ``interrupted``; returns how many.

    Their text and heard text, as of the last committed batch and checkpoint, stay as they are.

    Args:
        tx: The unit of work.
        older_than: Only messages not updated since then (other live writers keep theirs).
    """
    stmt = (
        update(Message)
        .where(Message.status == MessageStatus.STREAMING)
        .values(
            status=MessageStatus.INTERRUPTED,
            version=Message.version + 1,
            updated_at=utcnow(),
        )
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    )
    if older_than is not None:
        stmt = stmt.where(Message.updated_at < older_than)
    return len((await tx.scalars(stmt)).all())


StreamedRow = tuple[int, str, int, str | None, MessageStatus]
"""(message id, whole text so far, deltas so far, heard text or None, status)."""


async def write_streamed(tx: AsyncSession, *, rows: list[StreamedRow]) -> set[int]:
    """Write the state of streaming messages (the writer's batch); idempotent.

    Only messages still ``streaming`` are written; returns the ids of the others.
    """
    closed: set[int] = set()
    now = utcnow()
    for message_id, text, tokens, heard, status in rows:
        values: dict[str, object] = {"text": text, "token_count": tokens, "status": status}
        if heard is not None:
            values["heard_text"] = heard
        written = await tx.scalar(
            update(Message)
            .where(Message.id == message_id, Message.status == MessageStatus.STREAMING)
            .values(**values, version=Message.version + 1, updated_at=now)
            .returning(Message.id)
            .execution_options(synchronize_session=False)
        )
        if written is None:
            closed.add(message_id)
    return closed
