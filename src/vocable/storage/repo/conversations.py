"""Conversations, their checkpoints (summary pointer, turn count) and turns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vocable.errors import StorageInputError
from vocable.metrics.timings import TIMING_EVENTS
from vocable.storage.models import NAME_MAX, Conversation, Message, Turn, utcnow
from vocable.storage.repo._common import (
    checked,
    insert,
    owned,
    versioned_update,
)
from vocable.storage.validate import clean_text

TIMING_COLUMNS = tuple(TIMING_EVENTS)
"""Per-stage timings a turn stores, named as in `vocable.metrics.timings.TurnTimings`."""


async def create_conversation(
    tx: AsyncSession, *, user_id: int, title: str | bytes = ""
) -> Conversation:
    """Start a conversation for `user_id` (``storage.unknown_reference`` for a missing user)."""
    title = clean_text(title, field="title", max_chars=NAME_MAX)
    return await insert(tx, Conversation(user_id=user_id, title=title))


async def get_conversation(tx: AsyncSession, *, user_id: int, conversation_id: int) -> Conversation:
    """Conversation `conversation_id` of `user_id` (``storage.not_found`` otherwise)."""
    return await owned(tx, Conversation, user_id=user_id, row_id=conversation_id)


async def list_conversations(
    tx: AsyncSession, *, user_id: int, limit: int = 50
) -> list[Conversation]:
    """The most recently updated conversations of `user_id`, newest first."""
    rows = await tx.scalars(
        select(Conversation)
        .where(Conversation.user_id == user_id)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
        .limit(limit)
    )
    return list(rows)


async def rename_conversation(
    tx: AsyncSession, *, user_id: int, conversation_id: int, expected_version: int, title: str
) -> Conversation:
    """Set the title if the conversation is still at `expected_version` (else `ConflictError`)."""
    return await versioned_update(
        tx,
        Conversation,
        user_id=user_id,
        row_id=conversation_id,
        expected_version=expected_version,
        values={"title": clean_text(title, field="title", max_chars=NAME_MAX)},
    )


async def delete_conversation(tx: AsyncSession, *, user_id: int, conversation_id: int) -> None:
    """Delete a conversation of `user_id` with its messages and turns."""
    await owned(tx, Conversation, user_id=user_id, row_id=conversation_id)
    await tx.execute(
        delete(Conversation).where(
            Conversation.id == conversation_id, Conversation.user_id == user_id
        )
    )


async def checkpoint_conversation(
    tx: AsyncSession,
    *,
    user_id: int,
    conversation_id: int,
    expected_version: int,
    summary: str,
    summary_through_message_id: int,
) -> Conversation:
    """Store the running summary and the last message it covers.

    Raises:
        StorageInputError: ``storage.unknown_reference`` when the message is not in this
            conversation; text errors as for messages.
        ConflictError: the conversation changed since `expected_version`.
    """
    summary = checked(tx, summary, "summary")
    found = await tx.scalar(
        select(Message.id).where(
            Message.id == summary_through_message_id,
            Message.conversation_id == conversation_id,
            Message.user_id == user_id,
        )
    )
    if found is None:
        raise StorageInputError(
            f"message {summary_through_message_id} is not in conversation {conversation_id}",
            code="storage.unknown_reference",
        )
    return await versioned_update(
        tx,
        Conversation,
        user_id=user_id,
        row_id=conversation_id,
        expected_version=expected_version,
        values={"summary": summary, "summary_through_message_id": summary_through_message_id},
    )


async def record_turn(
    tx: AsyncSession,
    *,
    user_id: int,
    conversation_id: int,
    user_message_id: int | None = None,
    assistant_message_id: int | None = None,
    timings_ms: Mapping[str, float | None] | None = None,
    interrupted: bool = False,
) -> Turn:
    """Record one turn and count it on the conversation (bumping its version).

    Concurrent turns of one conversation each get their own number; none is lost.
    """
    timings = dict(timings_ms or {})
    unknown = set(timings) - set(TIMING_COLUMNS)
    if unknown:
        raise StorageInputError(f"unknown timings {sorted(unknown)}; known: {TIMING_COLUMNS}")
    number = await tx.scalar(
        update(Conversation)
        .where(Conversation.id == conversation_id, Conversation.user_id == user_id)
        .values(
            turn_count=Conversation.turn_count + 1,
            version=Conversation.version + 1,
            updated_at=utcnow(),
        )
        .returning(Conversation.turn_count)
        .execution_options(synchronize_session=False)
    )
    if number is None:
        raise StorageInputError(
            f"conversation {conversation_id} does not exist", code="storage.unknown_reference"
        )
    for message_id in (user_message_id, assistant_message_id):
        if message_id is not None:
            await _check_message(tx, user_id, conversation_id, message_id)
    turn = Turn(
        conversation_id=conversation_id,
        user_id=user_id,
        number=number,
        user_message_id=user_message_id,
        assistant_message_id=assistant_message_id,
        interrupted=interrupted,
        **{f"{name}_ms": value for name, value in timings.items()},
    )
    return await insert(tx, turn)


async def _check_message(
    tx: AsyncSession, user_id: int, conversation_id: int, message_id: int
) -> None:
    found = await tx.scalar(
        select(Message.id).where(
            Message.id == message_id,
            Message.user_id == user_id,
            Message.conversation_id == conversation_id,
        )
    )
    if found is None:
        raise StorageInputError(
            f"message {message_id} is not in conversation {conversation_id}",
            code="storage.unknown_reference",
        )


async def list_turns(tx: AsyncSession, *, user_id: int, conversation_id: int) -> list[Turn]:
    """Turns of a conversation of `user_id`, first first."""
    await owned(tx, Conversation, user_id=user_id, row_id=conversation_id)
    rows = await tx.scalars(
        select(Turn)
        .where(Turn.conversation_id == conversation_id, Turn.user_id == user_id)
        .order_by(Turn.number)
    )
    return list(rows)


@dataclass(frozen=True, slots=True)
class SessionState:
    """What a session needs to resume: the checkpoint and the messages after the summary."""

    conversation: Conversation
    recent_messages: list[Message]


async def load_session(tx: AsyncSession, *, user_id: int, conversation_id: int) -> SessionState:
    """The conversation's checkpoint and the messages its summary does not cover yet."""
    conversation = await get_conversation(tx, user_id=user_id, conversation_id=conversation_id)
    after = conversation.summary_through_message_id or 0
    rows = await tx.scalars(
        select(Message)
        .where(
            Message.conversation_id == conversation_id,
            Message.user_id == user_id,
            Message.id > after,
        )
        .order_by(Message.id)
    )
    return SessionState(conversation, list(rows))
