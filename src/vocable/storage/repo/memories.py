"""Memories with their vectors, vector search in SQL, and stored conversation summaries.

Everything is scoped by ``user_id``. The two search functions need the sqlite-vec functions
loaded on the connection, or pgvector's ``embedding_vec`` column; `vocable.memory.vectors`
decides which one applies.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from vocable.storage.models import ConversationSummary, Memory
from vocable.storage.repo._common import checked, insert, owned, referenced_conversation
from vocable.storage.validate import clean_text


@dataclass(frozen=True, slots=True)
class VectorRow:
    """A memory with its stored vector bytes."""

    id: int
    text: str
    kind: str
    embedding: bytes


@dataclass(frozen=True, slots=True)
class Hit:
    """A search result: a memory and its cosine similarity to the query."""

    id: int
    text: str
    kind: str
    score: float


async def create_memory(
    tx: AsyncSession,
    *,
    user_id: int,
    text: str | bytes,
    kind: str = "fact",
    conversation_id: int | None = None,
    embedding: bytes | None = None,
    embed_model: str | None = None,
) -> Memory:
    """Store a memory of `user_id` with its vector (``storage.unknown_reference`` for a bad id)."""
    clean = checked(tx, text, "text")
    if conversation_id is not None:
        await referenced_conversation(tx, user_id=user_id, conversation_id=conversation_id)
    memory = Memory(
        user_id=user_id,
        text=clean,
        kind=clean_text(kind, field="kind", max_chars=32),
        conversation_id=conversation_id,
        embedding=embedding,
        embed_model=embed_model,
    )
    return await insert(tx, memory)


async def get_memory(tx: AsyncSession, *, user_id: int, memory_id: int) -> Memory:
    """Memory `memory_id` of `user_id` (``storage.not_found`` otherwise)."""
    return await owned(tx, Memory, user_id=user_id, row_id=memory_id)


async def remove_memory(tx: AsyncSession, *, user_id: int, memory_id: int) -> None:
    """Delete a memory of `user_id` (``storage.not_found`` for a missing or foreign one)."""
    await owned(tx, Memory, user_id=user_id, row_id=memory_id)
    await tx.execute(delete(Memory).where(Memory.id == memory_id, Memory.user_id == user_id))


async def memories_page(
    tx: AsyncSession, *, user_id: int, limit: int = 100, before_id: int | None = None
) -> list[Memory]:
    """Memories of `user_id`, newest first; `before_id` continues a previous page."""
    stmt = select(Memory).where(Memory.user_id == user_id)
    if before_id is not None:
        stmt = stmt.where(Memory.id < before_id)
    return list(await tx.scalars(stmt.order_by(Memory.id.desc()).limit(limit)))


async def count_memories(tx: AsyncSession, *, user_id: int) -> int:
    """How many memories `user_id` has."""
    found = await tx.scalar(select(func.count()).where(Memory.user_id == user_id))
    return int(found or 0)


async def memory_vectors(tx: AsyncSession, *, user_id: int, embed_model: str) -> list[VectorRow]:
    """Every memory of `user_id` whose vector comes from `embed_model`."""
    rows = await tx.execute(
        select(Memory.id, Memory.text, Memory.kind, Memory.embedding).where(
            Memory.user_id == user_id,
            Memory.embed_model == embed_model,
            Memory.embedding.is_not(None),
        )
    )
    return [VectorRow(r.id, r.text, r.kind, r.embedding) for r in rows]


async def stale_memories(
    tx: AsyncSession, *, user_id: int, embed_model: str, limit: int = 256
) -> list[Memory]:
    """Memories of `user_id` with no vector, or one from another model."""
    stmt = select(Memory).where(
        Memory.user_id == user_id,
        or_(
            Memory.embedding.is_(None),
            Memory.embed_model.is_(None),
            Memory.embed_model != embed_model,
        ),
    )
    return list(await tx.scalars(stmt.order_by(Memory.id).limit(limit)))


async def set_embedding(
    tx: AsyncSession, *, user_id: int, memory_id: int, embedding: bytes, embed_model: str
) -> None:
    """Replace the vector of one memory of `user_id`."""
    await tx.execute(
        update(Memory)
        .where(Memory.id == memory_id, Memory.user_id == user_id)
        .values(embedding=embedding, embed_model=embed_model)
        .execution_options(synchronize_session=False)
    )


async def search_sqlite_vec(
    tx: AsyncSession, *, user_id: int, embed_model: str, query: bytes, k: int
) -> list[Hit]:
    """The `k` nearest memories by sqlite-vec's ``vec_distance_cosine`` (extension loaded)."""
    rows = await tx.execute(
        text(
            "SELECT id, text, kind, vec_distance_cosine(embedding, :q) AS d FROM memories"
            " WHERE user_id = :u AND embed_model = :m AND length(embedding) = length(:q)"
            " ORDER BY d LIMIT :k"
        ),
        {"q": query, "u": user_id, "m": embed_model, "k": k},
    )
    return [Hit(r.id, r.text, r.kind, 1.0 - float(r.d)) for r in rows]


async def set_pg_vector(tx: AsyncSession, *, user_id: int, memory_id: int, vector: str) -> None:
    """Set pgvector's ``embedding_vec`` of one memory (`vector` in pgvector's text form)."""
    await tx.execute(
        text(
            "UPDATE memories SET embedding_vec = CAST(:v AS vector) WHERE id = :i AND user_id = :u"
        ),
        {"v": vector, "i": memory_id, "u": user_id},
    )


async def search_pgvector(
    tx: AsyncSession, *, user_id: int, embed_model: str, query: str, k: int
) -> list[Hit]:
    """The `k` nearest memories by pgvector's cosine distance ``<=>``."""
    rows = await tx.execute(
        text(
            "SELECT id, text, kind, embedding_vec <=> CAST(:q AS vector) AS d FROM memories"
            " WHERE user_id = :u AND embed_model = :m AND embedding_vec IS NOT NULL"
            " ORDER BY d LIMIT :k"
        ),
        {"q": query, "u": user_id, "m": embed_model, "k": k},
    )
    return [Hit(r.id, r.text, r.kind, 1.0 - float(r.d)) for r in rows]


async def add_summary(
    tx: AsyncSession,
    *,
    user_id: int,
    conversation_id: int,
    text: str,
    through_message_id: int,
    message_count: int,
) -> ConversationSummary:
    """Store one summary step of a conversation of `user_id`."""
    await referenced_conversation(tx, user_id=user_id, conversation_id=conversation_id)
    row = ConversationSummary(
        user_id=user_id,
        conversation_id=conversation_id,
        text=checked(tx, text, "summary"),
        through_message_id=through_message_id,
        message_count=message_count,
    )
    return await insert(tx, row)


async def list_summaries(
    tx: AsyncSession, *, user_id: int, conversation_id: int
) -> list[ConversationSummary]:
    """Summary steps of a conversation of `user_id`, oldest first."""
    rows = await tx.scalars(
        select(ConversationSummary)
        .where(
            ConversationSummary.conversation_id == conversation_id,
            ConversationSummary.user_id == user_id,
        )
        .order_by(ConversationSummary.id)
    )
    return list(rows)
