"""Helpers shared by the repositories."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from vocable.errors import ConflictError, NotFoundError, StorageInputError
from vocable.storage.models import Base, Conversation, utcnow
from vocable.storage.retry import translate
from vocable.storage.validate import clean_text

M = TypeVar("M", bound=Base)


def text_limit(tx: AsyncSession) -> int:
    """The message length limit of the database this session belongs to."""
    return int(tx.info.get("max_message_chars", 32_000))


def checked(tx: AsyncSession, value: str | bytes, field: str) -> str:
    """`clean_text` with this session's limit."""
    return clean_text(value, field=field, max_chars=text_limit(tx))


async def insert(tx: AsyncSession, row: M) -> M:
    """Add `row` and flush it, so that its id is set and constraint errors are typed."""
    tx.add(row)
    try:
        await tx.flush()
    except SQLAlchemyError as err:
        raise translate(err) from err
    return row


async def owned(tx: AsyncSession, model: type[M], *, user_id: int, row_id: int) -> M:
    """The row `row_id` of `model` if it belongs to `user_id`.

    Raises:
        NotFoundError: no such row for this user (another user's row looks the same).
    """
    cols: Any = model  # every owned model has id and user_id
    row = await tx.scalar(
        select(model)
        .where(cols.id == row_id, cols.user_id == user_id)
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFoundError(f"{model.__tablename__} {row_id} not found", code="storage.not_found")
    return row


async def referenced_conversation(tx: AsyncSession, *, user_id: int, conversation_id: int) -> None:
    """Check that a conversation referenced by new data exists and belongs to `user_id`.

    Raises:
        StorageInputError: ``storage.unknown_reference`` otherwise.
    """
    found = await tx.scalar(
        select(Conversation.id).where(
            Conversation.id == conversation_id, Conversation.user_id == user_id
        )
    )
    if found is None:
        raise StorageInputError(
            f"conversation {conversation_id} does not exist", code="storage.unknown_reference"
        )


async def versioned_update(
    tx: AsyncSession,
    model: type[M],
    *,
    user_id: int,
    row_id: int,
    expected_version: int,
    values: dict[str, Any],
) -> M:
    """Apply `values` only if the row is still at `expected_version`, and bump the version.

    Raises:
        NotFoundError: no such row for this user.
        ConflictError: the row changed since the caller read `expected_version`.
    """
    cols: Any = model  # every versioned model has id, user_id, version and updated_at
    stmt = (
        update(model)
        .where(cols.id == row_id, cols.user_id == user_id, cols.version == expected_version)
        .values(**values, version=cols.version + 1, updated_at=utcnow())
        .returning(cols.version)
        .execution_options(synchronize_session=False)
    )
    new_version = await tx.scalar(stmt)
    row = await owned(tx, model, user_id=user_id, row_id=row_id)
    if new_version is None:
        raise ConflictError(
            f"{model.__tablename__} {row_id} changed since version {expected_version}"
        )
    return row
