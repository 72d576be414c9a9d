"""Vector search over stored memories: sqlite-vec, pgvector, or numpy, whichever works here.

``auto`` tries the database's extension once per `VectorSearch`:

- SQLite: Python's ``sqlite3`` must allow extension loading (many builds do not) and the
  ``sqlite-vec`` package must be installed; the extension is loaded on each pooled connection
  the first time it searches.
- PostgreSQL: the ``vector`` extension must be installed in the database *before* migrating, so
  that migration 0003 adds the ``embedding_vec`` column.

Otherwise, and with ``memory.vector_search = "numpy"``, the user's vectors are read and ranked
with one matrix product: exact, and fast enough for tens of thousands of memories.
"""

from __future__ import annotations

import importlib
import logging
import sqlite3
from typing import Any, Literal

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from vocable.engines.embed.base import Vectors, as_bytes, from_bytes
from vocable.storage.db import Database
from vocable.storage.repo import memories as repo

log = logging.getLogger(__name__)

VectorPath = Literal["sqlite-vec", "pgvector", "numpy"]
_VEC_LOADED = "vocable_sqlite_vec"


def pg_literal(vector: Vectors) -> str:
    """The text form pgvector reads of a vector: ``[0.1,0.2,...]``."""
    return "[" + ",".join(f"{x:.7g}" for x in np.asarray(vector, dtype=np.float32)) + "]"


def sqlite_can_load_extensions() -> bool:
    """Whether this Python's ``sqlite3`` was built with extension loading."""
    return hasattr(sqlite3.Connection, "enable_load_extension")


async def _load_sqlite_vec(tx: AsyncSession) -> None:
    """Load sqlite-vec into this session's pooled connection (once per connection)."""
    conn = await tx.connection()
    raw: Any = await conn.get_raw_connection()
    if raw.info.get(_VEC_LOADED):
        return
    sqlite_vec: Any = importlib.import_module("sqlite_vec")  # optional: the memory extra
    driver = raw.driver_connection  # aiosqlite.Connection
    await driver.enable_load_extension(True)
    try:
        await driver.load_extension(sqlite_vec.loadable_path())
    finally:
        await driver.enable_load_extension(False)
    raw.info[_VEC_LOADED] = True


class VectorSearch:
    """Ranks a user's memories against a query vector, on the best path available.

    Args:
        db: The database.
        mode: ``auto`` (extension when it loads, else numpy) or ``numpy``.
    """

    def __init__(self, db: Database, *, mode: Literal["auto", "numpy"] = "auto") -> None:
        self.db = db
        self.mode = mode
        self.path: VectorPath | None = None if mode == "auto" else "numpy"
        self.reason = "" if mode == "auto" else "memory.vector_search is numpy"

    async def detect(self, tx: AsyncSession) -> VectorPath:
        """Decide the path (once); `reason` says why an extension is not used."""
        if self.path is not None:
            return self.path
        if self.db.dialect == "sqlite":
            self.path, self.reason = await self._try_sqlite_vec(tx)
        else:
            self.path, self.reason = await self._try_pgvector(tx)
        log.info("memory vector search: %s %s", self.path, self.reason)
        return self.path

    async def _try_sqlite_vec(self, tx: AsyncSession) -> tuple[VectorPath, str]:
        if not sqlite_can_load_extensions():
            return "numpy", "this Python's sqlite3 cannot load extensions"
        try:
            async with self.db.uow(readonly=True):  # a savepoint: a failure leaves tx usable
                await _load_sqlite_vec(tx)
                await tx.execute(text("SELECT vec_version()"))
        except ImportError:
            return "numpy", "sqlite-vec is not installed (pip install 'vocable[memory]')"
        except Exception as err:  # noqa: BLE001 - any failure to load means numpy
            return "numpy", f"sqlite-vec did not load: {err}"
        return "sqlite-vec", ""

    async def _try_pgvector(self, tx: AsyncSession) -> tuple[VectorPath, str]:
        found = await tx.scalar(
            text(
                "SELECT count(*) FROM information_schema.columns WHERE table_schema ="
                " current_schema() AND table_name = 'memories' AND column_name = 'embedding_vec'"
            )
        )
        if not found:
            return (
                "numpy",
                "pgvector is not installed in this database (or was installed after migrating)",
            )
        return "pgvector", ""

    async def stored(
        self, tx: AsyncSession, *, user_id: int, memory_id: int, vector: Vectors
    ) -> None:
        """Mirror a memory's new vector where the path keeps its own copy (pgvector)."""
        if await self.detect(tx) == "pgvector":
            await repo.set_pg_vector(
                tx, user_id=user_id, memory_id=memory_id, vector=pg_literal(vector)
            )

    async def search(
        self, tx: AsyncSession, *, user_id: int, embed_model: str, query: Vectors, k: int
    ) -> list[repo.Hit]:
        """The `k` memories of `user_id` most similar to `query`, best first."""
        path = await self.detect(tx)
        if path == "sqlite-vec":
            await _load_sqlite_vec(tx)
            return await repo.search_sqlite_vec(
                tx, user_id=user_id, embed_model=embed_model, query=as_bytes(query), k=k
            )
        if path == "pgvector":
            return await repo.search_pgvector(
                tx, user_id=user_id, embed_model=embed_model, query=pg_literal(query), k=k
            )
        return await self._numpy(tx, user_id=user_id, embed_model=embed_model, query=query, k=k)

    async def _numpy(
        self, tx: AsyncSession, *, user_id: int, embed_model: str, query: Vectors, k: int
    ) -> list[repo.Hit]:
        rows = await repo.memory_vectors(tx, user_id=user_id, embed_model=embed_model)
        size = len(query) * 4
        rows = [r for r in rows if len(r.embedding) == size]
        if not rows:
            return []
        matrix = np.stack([from_bytes(r.embedding) for r in rows])
        scores = matrix @ np.asarray(query, dtype=np.float32)
        top = np.argsort(-scores, kind="stable")[:k]
        return [repo.Hit(rows[i].id, rows[i].text, rows[i].kind, float(scores[i])) for i in top]
