"""Async engines: SQLite (aiosqlite, WAL) and PostgreSQL (asyncpg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from vocable.config import StorageSettings

READONLY = "vocable_readonly"
"""Execution option marking a read-only unit of work (SQLite then begins a deferred transaction)."""


def create_engine(url: str, settings: StorageSettings) -> AsyncEngine:
    """An async engine for `url` (already resolved by `database_url`).

    SQLite connections get WAL journaling, the busy timeout and foreign keys, and SQLAlchemy
    emits ``BEGIN IMMEDIATE`` itself (``BEGIN`` for read-only work) so that transactions,
    savepoints and DDL are real transactions and writers queue on the busy timeout instead of
    failing on a lock upgrade. PostgreSQL connections use `settings.pg_schema` as search path.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed)
        _configure_sqlite(engine, settings)
        return engine
    connect_args: dict[str, Any] = {}
    if settings.pg_schema:
        connect_args["server_settings"] = {"search_path": settings.pg_schema}
    return create_async_engine(
        parsed,
        pool_size=settings.pool_size,
        pool_pre_ping=True,
        isolation_level=settings.pg_isolation,
        connect_args=connect_args,
    )


def _configure_sqlite(engine: AsyncEngine, settings: StorageSettings) -> None:
    pragmas = (
        "PRAGMA journal_mode=WAL",
        f"PRAGMA busy_timeout={settings.sqlite_busy_timeout_ms}",
        "PRAGMA foreign_keys=ON",
        f"PRAGMA synchronous={settings.sqlite_synchronous}",
    )

    # Listener signatures are SQLAlchemy's; the DBAPI connection is untyped there.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        readonly = conn.get_execution_options().get(READONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


async def integrity_problems(engine: AsyncEngine) -> list[str]:
    """What is wrong with the database file or its references; empty when all is well.

    SQLite runs ``PRAGMA integrity_check`` and ``PRAGMA foreign_key_check``. PostgreSQL keeps its
    own pages and constraints consistent, so only orphaned rows are looked for.
    """
    problems: list[str] = []
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = (await conn.exec_driver_sql("PRAGMA integrity_check")).scalars().all()
            problems += [str(r) for r in rows if r != "ok"]
            fk_rows = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
            problems += [f"orphaned row {tuple(r)}" for r in fk_rows]
        else:
            orphans = await conn.execute(
                text(
                    "SELECT count(*) FROM messages m LEFT JOIN conversations c"
                    " ON c.id = m.conversation_id WHERE c.id IS NULL"
                )
            )
            count = orphans.scalar_one()
            if count:
                problems.append(f"{count} messages without a conversation")
        await conn.rollback()
    return problems
