"""Helpers for the storage tests: where databases live, row counts, seed rows."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from vocable.storage import Database, StorageSettings, database_url, repo
from vocable.storage.models import Conversation, Message

PG_ENV = "VOCABLE_TEST_DATABASE_URL"


def pg_url() -> str | None:
    """The PostgreSQL URL for tests, with the asyncpg driver, or None."""
    raw = os.environ.get(PG_ENV)
    return database_url(StorageSettings(url=raw), Path()) if raw else None


class Target:
    """Where a test's databases live: a SQLite file, or a fresh PostgreSQL schema."""

    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend = backend
        self.schema = f"vt_{uuid.uuid4().hex[:16]}" if backend == "postgresql" else None
        url = pg_url() if backend == "postgresql" else None
        self.url = url or f"sqlite+aiosqlite:///{tmp_path / 'vocable.db'}"

    def settings(self, **overrides: Any) -> StorageSettings:
        return StorageSettings(pg_schema=self.schema, **overrides)

    async def drop(self) -> None:
        if self.schema is None:
            return
        engine = create_async_engine(self.url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        finally:
            await engine.dispose()


async def count_rows(db: Database, table: str) -> int:
    """Rows in `table` (a fixed name from the test, not user input)."""
    async with db.engine.connect() as conn:
        result = await conn.execute(text(f"SELECT count(*) FROM {table}"))  # noqa: S608
        return int(result.scalar_one())


async def two_users(db: Database) -> tuple[int, int, Conversation]:
    async with db.uow() as tx:
        ann = await repo.create_user(tx, name="ann")
        bob = await repo.create_user(tx, name="bob")
        conv = await repo.create_conversation(tx, user_id=ann.id, title="ann's")
        return ann.id, bob.id, conv


async def conversation(db: Database) -> tuple[int, int]:
    async with db.uow() as tx:
        user = await repo.create_user(tx, name="ann")
        conv = await repo.create_conversation(tx, user_id=user.id)
    return user.id, conv.id


async def stored(db: Database, user_id: int, message_id: int) -> Message:
    async with db.uow(readonly=True) as tx:
        return await repo.get_message(tx, user_id=user_id, message_id=message_id)


async def aiosqlite_threads_finished(timeout_s: float = 2.0) -> None:
    """Wait for aiosqlite's worker threads to end.

    When opening a connection fails, aiosqlite stops its thread without waiting for it; if the
    test's event loop closes first, the thread's last callback raises in that thread.
    """
    deadline = asyncio.get_running_loop().time() + timeout_s
    while any(
        t.is_alive() and "_connection_worker_thread" in t.name for t in threading.enumerate()
    ):
        assert asyncio.get_running_loop().time() < deadline, "aiosqlite threads still running"
        await asyncio.sleep(0.01)
