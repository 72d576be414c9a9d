"""Voice profiles and memories (later issues fill these in)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from vocable.errors import NotFoundError
from vocable.storage.models import NAME_MAX, Memory, User, VoiceProfile
from vocable.storage.repo._common import insert, owned
from vocable.storage.validate import clean_text


async def create_voice_profile(
    tx: AsyncSession,
    *,
    user_id: int,
    name: str,
    engine: str,
    sample_path: str | None = None,
    embedding: bytes | None = None,
) -> VoiceProfile:
    """Create a named voice for `user_id`; names are unique per user."""
    profile = VoiceProfile(
        user_id=user_id,
        name=clean_text(name, field="name", max_chars=NAME_MAX),
        engine=clean_text(engine, field="engine", max_chars=64),
        sample_path=sample_path,
        embedding=embedding,
    )
    return await insert(tx, profile)


async def list_voice_profiles(tx: AsyncSession, *, user_id: int) -> list[VoiceProfile]:
    """Voice profiles of `user_id`, by name."""
    rows = await tx.scalars(
        select(VoiceProfile).where(VoiceProfile.user_id == user_id).order_by(VoiceProfile.name)
    )
    return list(rows)


async def every_voice_profile(tx: AsyncSession) -> list[tuple[str, VoiceProfile]]:
    """Every user's voice profiles with the user's name, by user then name.

    The one read across users; only server-wide views (the metrics endpoint) may call it.
    """
    rows = await tx.execute(
        select(User.name, VoiceProfile)
        .join(User, User.id == VoiceProfile.user_id)
        .order_by(User.name, VoiceProfile.name)
    )
    return [(user, profile) for user, profile in rows]


async def delete_voice_profile(tx: AsyncSession, *, user_id: int, profile_id: int) -> None:
    """Delete a voice profile of `user_id` (``storage.not_found`` for anyone else's)."""
    await owned(tx, VoiceProfile, user_id=user_id, row_id=profile_id)
    await tx.execute(
        delete(VoiceProfile).where(VoiceProfile.id == profile_id, VoiceProfile.user_id == user_id)
    )


async def get_voice_profile(tx: AsyncSession, *, user_id: int, name: str) -> VoiceProfile:
    """The voice profile of `user_id` called `name` (``voice.not_found`` otherwise)."""
    row = await tx.scalar(
        select(VoiceProfile).where(VoiceProfile.user_id == user_id, VoiceProfile.name == name)
    )
    if row is None:
        raise NotFoundError(f"no voice profile called {name!r}", code="voice.not_found")
    return row


async def update_voice_profile(
    tx: AsyncSession,
    *,
    user_id: int,
    profile_id: int,
    name: str | None = None,
    sample_path: str | None = None,
    embedding: bytes | None = None,
) -> VoiceProfile:
    """Rename a voice profile of `user_id` or set its sample and embedding (None keeps a field)."""
    row = await owned(tx, VoiceProfile, user_id=user_id, row_id=profile_id)
    if name is not None:
        row.name = clean_text(name, field="name", max_chars=NAME_MAX)
    if sample_path is not None:
        row.sample_path = sample_path
    if embedding is not None:
        row.embedding = embedding
    await tx.flush()
    return row


async def list_memories(
    tx: AsyncSession, *, user_id: int, conversation_id: int | None = None, limit: int = 100
) -> list[Memory]:
    """Memories of `user_id` (of one conversation when given), newest first."""
    stmt = select(Memory).where(Memory.user_id == user_id)
    if conversation_id is not None:
        stmt = stmt.where(Memory.conversation_id == conversation_id)
    rows = await tx.scalars(stmt.order_by(Memory.id.desc()).limit(limit))
    return list(rows)


async def delete_memory(tx: AsyncSession, *, user_id: int, memory_id: int) -> None:
    """Forget one memory of `user_id` (``storage.not_found`` for anyone else's)."""
    await owned(tx, Memory, user_id=user_id, row_id=memory_id)
    await tx.execute(delete(Memory).where(Memory.id == memory_id, Memory.user_id == user_id))
