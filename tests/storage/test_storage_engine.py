import asyncio
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from tests.storage.conftest import OpenDb
from tests.storage.helpers import Target, aiosqlite_threads_finished
from vocable.errors import ConfigError
from vocable.storage import (
    Database,
    StorageError,
    StorageSettings,
    database_url,
    integrity_problems,
)
from vocable.storage.migrate import (
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from vocable.storage.models import Base

TABLES = {"users", "api_keys", "conversations", "messages", "turns", "voice_profiles", "memories"}


def test_default_url_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    url = database_url(StorageSettings(), tmp_path)
    assert url == f"sqlite+aiosqlite:///{tmp_path}/vocable.db"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:////srv/v.db", "sqlite+aiosqlite:////srv/v.db"),
        ("postgres://u:p@h:5433/db", "postgresql+asyncpg://u:p@h:5433/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_urls_get_the_async_drivers(given: str, expected: str) -> None:
    assert database_url(StorageSettings(url=given), Path("/unused")) == expected


@pytest.mark.parametrize("bad", ["mysql://u@h/db", "not a url"])
def test_unsupported_urls_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError):
        database_url(StorageSettings(url=bad), Path("/unused"))


def test_schema_names_are_checked() -> None:
    with pytest.raises(ValidationError):
        StorageSettings(pg_schema='x"; DROP TABLE users; --')


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(open_db: OpenDb) -> None:
    db = await open_db(sqlite_busy_timeout_ms=1234, sqlite_synchronous="FULL")
    async with db.engine.connect() as conn:
        pragmas = {
            name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
        }
    assert pragmas == {
        "journal_mode": "wal",
        "busy_timeout": 1234,
        "foreign_keys": 1,
        "synchronous": 2,
    }


def schema_diff(conn: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


async def test_migrations_create_exactly_the_models(db: Database) -> None:
    assert await current_revision(db.engine) == head_revision()
    async with db.engine.connect() as conn:
        assert await conn.run_sync(schema_diff) == []
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert TABLES <= names
    assert await integrity_problems(db.engine) == []


async def test_migrations_go_down_and_up_again(target: Target) -> None:
    settings = target.settings()
    await upgrade(target.url, settings=settings)
    await upgrade(target.url, settings=settings)  # already at head: nothing to do
    await downgrade(target.url, settings=settings, revision="base")
    db = await Database.open(settings, url=target.url, migrate=False)
    try:
        assert await current_revision(db.engine) is None
        async with db.engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert not names & TABLES
    finally:
        await db.close()
    await upgrade(target.url, settings=settings)
    db = await Database.open(settings, url=target.url)
    try:
        assert await current_revision(db.engine) == head_revision()
    finally:
        await db.close()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_workers_starting_together_migrate_one_at_a_time(target: Target) -> None:
    settings = target.settings()
    script = (
        "import asyncio, sys; from vocable.storage import StorageSettings;"
        " from vocable.storage.migrate import upgrade;"
        " asyncio.run(upgrade(sys.argv[1], settings=StorageSettings(pg_schema=sys.argv[2])))"
    )
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, target.url, str(target.schema)
        )
        for _ in range(3)
    ]
    await asyncio.gather(upgrade(target.url, settings=settings), *(w.wait() for w in workers))
    assert [w.returncode for w in workers] == [0, 0, 0]
    db = await Database.open(settings, url=target.url, migrate=False)
    try:
        assert await current_revision(db.engine) == head_revision()
    finally:
        await db.close()


def test_alembic_refuses_to_run_without_a_connection() -> None:
    with pytest.raises(RuntimeError, match="vocable db upgrade"):
        command.upgrade(alembic_config(), "head")


ORPHAN = (
    "INSERT INTO messages (conversation_id, user_id, role, text, status,"
    " token_count, version, created_at, updated_at)"
    " VALUES (42, 42, 'user', 'x', 'complete', 0, 1, '2026-01-01', '2026-01-01')"
)


async def test_integrity_check_finds_orphans(db: Database) -> None:
    if db.dialect == "sqlite":  # a plain connection, without vocable's foreign_keys=ON
        with closing(sqlite3.connect(str(db.engine.url.database))) as raw:
            raw.execute(ORPHAN)
            raw.commit()
    else:
        async with db.engine.connect() as conn:
            await conn.exec_driver_sql("SET session_replication_role = replica")
            await conn.execute(text(ORPHAN))
            await conn.commit()
            await conn.invalidate()  # do not hand this connection back to the pool
    problems = await integrity_problems(db.engine)
    assert problems and all("orphan" in p or "without a conversation" in p for p in problems)


async def test_upgrade_failures_are_typed(tmp_path: Path) -> None:
    place = tmp_path / "is-a-directory.db"
    place.mkdir()
    with pytest.raises(StorageError) as caught:
        await upgrade(f"sqlite+aiosqlite:///{place}")
    assert not caught.value.transient
    await aiosqlite_threads_finished()
