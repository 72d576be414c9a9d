"""Alembic migrations, run from code: ``await upgrade(url)``.

The Alembic environment and the revisions live in ``vocable/storage/migrations``.
"""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from vocable.config import StorageSettings
from vocable.storage.engine import create_engine
from vocable.storage.retry import translate

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Alembic keeps its running environment in module globals: one migration per process at a time.
# (Across processes, env.py takes a PostgreSQL advisory lock.)
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def alembic_config() -> Config:
    """An Alembic configuration pointing at vocable's migrations (no ini file)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of vocable."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None  # noqa: S101 - the package ships at least one revision
    return head


async def _run(engine: AsyncEngine, settings: StorageSettings, verb: str, revision: str) -> None:
    try:
        await _migrate(engine, settings, verb, revision)
    except (SQLAlchemyError, ConnectionError) as err:
        raise translate(err) from err


async def _migrate(
    engine: AsyncEngine, settings: StorageSettings, verb: str, revision: str
) -> None:
    if settings.pg_schema and engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{settings.pg_schema}"'))

    def run(sync_conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = sync_conn
        getattr(command, verb)(config, revision)

    lock = _locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock, engine.connect() as conn:
        await conn.run_sync(run)
        await conn.commit()


async def upgrade_engine(
    engine: AsyncEngine, settings: StorageSettings, revision: str = "head"
) -> None:
    """Migrate the database behind `engine` up to `revision`."""
    await _run(engine, settings, "upgrade", revision)


async def upgrade(
    url: str, *, settings: StorageSettings | None = None, revision: str = "head"
) -> None:
    """Migrate the database at `url` (see `database_url`) up to `revision` (``db upgrade``)."""
    settings = settings or StorageSettings()
    engine = create_engine(url, settings)
    try:
        await upgrade_engine(engine, settings, revision)
    finally:
        await engine.dispose()


async def downgrade(url: str, *, settings: StorageSettings | None = None, revision: str) -> None:
    """Migrate the database at `url` down to `revision` (``base`` drops every table)."""
    settings = settings or StorageSettings()
    engine = create_engine(url, settings)
    try:
        await _run(engine, settings, "downgrade", revision)
    finally:
        await engine.dispose()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None before the first migration."""

    def read(sync_conn: Connection) -> str | None:
        return MigrationContext.configure(sync_conn).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(read)
