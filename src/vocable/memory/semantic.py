"""Long-term semantic memory: facts and notes of each user, found again by meaning.

Each memory is stored with its embedding (and the embedder's name) in the ``memories`` table.
Texts are embedded before the transaction opens, so a slow model never holds a write lock.
Memories without a vector of the current model (added by an older version, or before the
embedder changed) are embedded on the next `recall` of their user.
"""

from __future__ import annotations

from dataclasses import dataclass

from vocable.config_sections import MemorySettings
from vocable.engines.embed.base import TextEmbedder, as_bytes
from vocable.errors import StorageInputError
from vocable.memory.vectors import VectorPath, VectorSearch
from vocable.storage.db import Database
from vocable.storage.repo import memories as repo


@dataclass(frozen=True, slots=True)
class Recalled:
    """A memory as recall and listings return it.

    Attributes:
        id: Row id (what `SemanticMemory.forget` takes).
        text: What was remembered.
        kind: ``fact``, ``note``, ``preference``... (free text, 32 characters at most).
        score: Cosine similarity to the query (1.0 is identical); 0.0 in plain listings.
    """

    id: int
    text: str
    kind: str
    score: float


class SemanticMemory:
    """Remember, recall by meaning, list and forget memories of one user at a time.

    Args:
        db: The database (SQLite or PostgreSQL).
        embedder: Any `TextEmbedder`; wrap it in a `CachedEmbedder` for repeated texts.
        settings: Memory settings (vector search mode, text limit).
    """

    def __init__(
        self, db: Database, embedder: TextEmbedder, settings: MemorySettings | None = None
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.settings = settings or MemorySettings()
        self.search = VectorSearch(db, mode=self.settings.vector_search)

    async def vector_path(self) -> VectorPath:
        """Which search runs here: ``sqlite-vec``, ``pgvector`` or ``numpy``."""
        async with self.db.uow(readonly=True) as tx:
            return await self.search.detect(tx)

    def _clean(self, text: str) -> str:
        text = text.strip()
        if not text:
            raise StorageInputError("a memory needs some text", code="memory.empty")
        if len(text) > self.settings.max_text_chars:
            raise StorageInputError(
                f"a memory has at most {self.settings.max_text_chars} characters"
                f" (memory.max_text_chars); this one has {len(text)}",
                code="memory.too_long",
            )
        return text

    async def remember(
        self, *, user_id: int, text: str, kind: str = "fact", conversation_id: int | None = None
    ) -> int:
        """Store `text` for `user_id` with its embedding; returns the memory id.

        Raises:
            StorageInputError: empty or too long text, a bad kind, or a conversation that is
                not the user's (``storage.unknown_reference``).
        """
        text = self._clean(text)
        vector = (await self.embedder.embed([text]))[0]
        async with self.db.uow() as tx:
            row = await repo.create_memory(
                tx,
                user_id=user_id,
                text=text,
                kind=kind,
                conversation_id=conversation_id,
                embedding=as_bytes(vector),
                embed_model=self.embedder.model_name,
            )
            await self.search.stored(tx, user_id=user_id, memory_id=row.id, vector=vector)
            return int(row.id)

    async def recall(self, *, user_id: int, query: str, k: int = 3) -> list[Recalled]:
        """The `k` memories of `user_id` closest in meaning to `query`, best first."""
        query = query.strip()
        if k <= 0 or not query:
            return []
        vector = (await self.embedder.embed([query]))[0]
        await self.reindex(user_id=user_id)
        async with self.db.uow(readonly=True) as tx:
            hits = await self.search.search(
                tx, user_id=user_id, embed_model=self.embedder.model_name, query=vector, k=k
            )
        return [Recalled(h.id, h.text, h.kind, h.score) for h in hits]

    async def forget(self, *, user_id: int, memory_id: int) -> None:
        """Delete one memory of `user_id`.

        Raises:
            NotFoundError: ``storage.not_found`` when it does not exist or is another user's.
        """
        async with self.db.uow() as tx:
            await repo.remove_memory(tx, user_id=user_id, memory_id=memory_id)

    async def items(self, *, user_id: int, limit: int = 100) -> list[Recalled]:
        """The newest `limit` memories of `user_id` (score 0.0)."""
        async with self.db.uow(readonly=True) as tx:
            rows = await repo.memories_page(tx, user_id=user_id, limit=limit)
        return [Recalled(r.id, r.text, r.kind, 0.0) for r in rows]

    async def reindex(self, *, user_id: int, batch: int = 256) -> int:
        """Embed the memories of `user_id` that have no vector of the current model.

        Returns how many were embedded.
        """
        model, done = self.embedder.model_name, 0
        while True:
            async with self.db.uow(readonly=True) as tx:
                stale = await repo.stale_memories(
                    tx, user_id=user_id, embed_model=model, limit=batch
                )
            if not stale:
                return done
            vectors = await self.embedder.embed([m.text for m in stale])
            async with self.db.uow() as tx:
                for memory, vector in zip(stale, vectors, strict=True):
                    await repo.set_embedding(
                        tx,
                        user_id=user_id,
                        memory_id=memory.id,
                        embedding=as_bytes(vector),
                        embed_model=model,
                    )
                    await self.search.stored(
                        tx, user_id=user_id, memory_id=memory.id, vector=vector
                    )
            done += len(stale)
