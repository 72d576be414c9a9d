"""Timers and reminders of a user: add, list, cancel, and claim the due ones exactly once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vocable.storage.models import Timer, utcnow
from vocable.storage.repo._common import checked, insert, owned, referenced_conversation


async def add_timer(
    tx: AsyncSession,
    *,
    user_id: int,
    due_at: datetime,
    duration_s: float,
    kind: str = "timer",
    label: str = "",
    conversation_id: int | None = None,
) -> Timer:
    """A new pending timer (or reminder, by `kind`) of `user_id`, due at `due_at`."""
    if conversation_id is not None:
        await referenced_conversation(tx, user_id=user_id, conversation_id=conversation_id)
    timer = Timer(
        user_id=user_id,
        conversation_id=conversation_id,
        kind=kind,
        label=checked(tx, label, "label") if label else "",
        duration_s=duration_s,
        due_at=due_at,
    )
    return await insert(tx, timer)


async def list_pending_timers(tx: AsyncSession, *, user_id: int) -> list[Timer]:
    """Timers of `user_id` that have neither fired nor been cancelled, soonest first."""
    rows = await tx.scalars(
        select(Timer)
        .where(Timer.user_id == user_id, Timer.fired_at.is_(None), Timer.cancelled_at.is_(None))
        .order_by(Timer.due_at, Timer.id)
    )
    return list(rows)


async def get_timer(tx: AsyncSession, *, user_id: int, timer_id: int) -> Timer:
    """One timer of `user_id` (``storage.not_found`` for anyone else's)."""
    return await owned(tx, Timer, user_id=user_id, row_id=timer_id)


async def cancel_timer(tx: AsyncSession, *, user_id: int, timer_id: int) -> bool:
    """Cancel a pending timer of `user_id`; False when it had already fired or been cancelled.

    Raises:
        NotFoundError: no such timer for this user.
    """
    await owned(tx, Timer, user_id=user_id, row_id=timer_id)
    result = await tx.execute(
        update(Timer)
        .where(
            Timer.id == timer_id,
            Timer.user_id == user_id,
            Timer.fired_at.is_(None),
            Timer.cancelled_at.is_(None),
        )
        .values(cancelled_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def claim_due_timers(tx: AsyncSession, *, user_id: int, now: datetime) -> list[Timer]:
    """Mark the pending timers of `user_id` due by `now` as fired, and return them.

    Each timer is claimed by exactly one caller: two sessions of one user never both announce it.
    """
    due = await tx.scalars(
        select(Timer)
        .where(
            Timer.user_id == user_id,
            Timer.fired_at.is_(None),
            Timer.cancelled_at.is_(None),
            Timer.due_at <= now,
        )
        .order_by(Timer.due_at, Timer.id)
    )
    claimed = []
    for timer in list(due):
        result = await tx.execute(
            update(Timer)
            .where(Timer.id == timer.id, Timer.fired_at.is_(None))
            .values(fired_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0):
            timer.fired_at = now
            claimed.append(timer)
    return claimed
