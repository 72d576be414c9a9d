"""Users and API keys."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vocable.errors import NotFoundError
from vocable.storage.models import NAME_MAX, ApiKey, User, utcnow
from vocable.storage.repo._common import insert, owned
from vocable.storage.validate import clean_text

KEY_PREFIX = "vk_"


def hash_key(secret: str) -> str:
    """The stored form of an API key (keys are random, so a fast hash is enough)."""
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_user(tx: AsyncSession, *, name: str | bytes) -> User:
    """Create a user; names are unique (``storage.duplicate`` otherwise)."""
    return await insert(tx, User(name=clean_text(name, field="name", max_chars=NAME_MAX)))


async def get_or_create_user(tx: AsyncSession, *, name: str) -> User:
    """The user called `name`, created if missing (the single local user before sign-in)."""
    name = clean_text(name, field="name", max_chars=NAME_MAX)
    row = await tx.scalar(select(User).where(User.name == name))
    return row if row is not None else await create_user(tx, name=name)


async def get_user(tx: AsyncSession, *, user_id: int) -> User:
    """The user `user_id` (``storage.not_found`` otherwise)."""
    row = await tx.get(User, user_id)
    if row is None:
        raise NotFoundError(f"user {user_id} not found", code="storage.not_found")
    return row


async def create_api_key(
    tx: AsyncSession, *, user_id: int, name: str, scopes: Sequence[str] = ()
) -> tuple[ApiKey, str]:
    """Create a key for `user_id`; returns the row and the secret, which is shown only once.

    The secret is 32 random bytes (URL-safe base64) after the ``vk_`` prefix. `scopes` empty
    means every scope of the user.
    """
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        user_id=user_id,
        name=clean_text(name, field="name", max_chars=NAME_MAX),
        scopes=" ".join(sorted(set(scopes))),
        key_hash=hash_key(secret),
        prefix=secret[:10],
    )
    return await insert(tx, row), secret


async def authenticate_api_key(tx: AsyncSession, *, secret: str) -> ApiKey | None:
    """The live key matching `secret`, stamped as used; None for unknown or revoked keys.

    This is the one lookup not scoped by user: it is how the user is found.
    """
    row = await tx.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_key(secret), ApiKey.revoked_at.is_(None))
    )
    if row is not None:
        row.last_used_at = utcnow()
        await tx.flush()
    return row


async def list_api_keys(tx: AsyncSession, *, user_id: int) -> list[ApiKey]:
    """Every key of `user_id`, revoked ones included, oldest first."""
    rows = await tx.scalars(select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id))
    return list(rows)


async def revoke_api_key(tx: AsyncSession, *, user_id: int, key_id: int) -> ApiKey:
    """Revoke key `key_id` of `user_id` (``storage.not_found`` for anyone else's key)."""
    row = await owned(tx, ApiKey, user_id=user_id, row_id=key_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await tx.flush()
    return row
