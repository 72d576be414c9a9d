"""Accounts and refresh tokens: the lookups authentication needs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vocable.storage.models import NAME_MAX, RefreshToken, User, utcnow
from vocable.storage.repo._common import insert
from vocable.storage.validate import clean_text


async def count_users(tx: AsyncSession) -> int:
    """How many accounts exist (0 on first run)."""
    return int(await tx.scalar(select(func.count()).select_from(User)) or 0)


async def find_user(tx: AsyncSession, *, name: str) -> User | None:
    """The user called `name`, or None. Not scoped: it is how a login finds its account."""
    return await tx.scalar(select(User).where(User.name == name))


async def create_account(
    tx: AsyncSession, *, name: str, password_hash: str | None, is_admin: bool
) -> User:
    """Create a user with a password hash (None: API keys only); ``storage.duplicate`` if taken."""
    row = User(
        name=clean_text(name, field="name", max_chars=NAME_MAX),
        password_hash=password_hash,
        is_admin=is_admin,
    )
    return await insert(tx, row)


async def add_refresh_token(
    tx: AsyncSession, *, user_id: int, jti: str, family: str, expires_at: datetime
) -> RefreshToken:
    """Record a newly issued refresh token."""
    return await insert(
        tx, RefreshToken(user_id=user_id, jti=jti, family=family, expires_at=expires_at)
    )


async def find_refresh_token(tx: AsyncSession, *, jti: str) -> RefreshToken | None:
    """The refresh token `jti`, whatever its state. Not scoped: the token names its user."""
    return await tx.scalar(select(RefreshToken).where(RefreshToken.jti == jti).with_for_update())


async def mark_refresh_used(tx: AsyncSession, *, token_id: int) -> bool:
    """Mark a live token used, atomically; False if it was already used or revoked."""
    result = await tx.execute(
        update(RefreshToken)
        .where(
            RefreshToken.id == token_id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def revoke_refresh_family(tx: AsyncSession, *, user_id: int, family: str) -> int:
    """Revoke every token of one login (logout, or reuse of a rotated token)."""
    result = await tx.execute(
        update(RefreshToken)
        .where(
            RefreshToken.user_id == user_id,
            RefreshToken.family == family,
            RefreshToken.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))
