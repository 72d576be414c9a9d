"""Storage fixtures: SQLite always, PostgreSQL too when VOCABLE_TEST_DATABASE_URL is set.

Each PostgreSQL test gets its own schema, dropped afterwards, so runs never collide.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.storage.helpers import PG_ENV, Target, pg_url
from vocable.storage import Database

OpenDb = Callable[..., Awaitable[Database]]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and pg_url() is None:
        pytest.skip(f"{PG_ENV} is not set")
    return str(request.param)


@pytest.fixture
async def target(backend: str, tmp_path: Path) -> AsyncIterator[Target]:
    place = Target(backend, tmp_path)
    yield place
    await place.drop()


@pytest.fixture
async def open_db(target: Target) -> AsyncIterator[OpenDb]:
    """Open (and migrate) a database on the test's target; all are closed afterwards."""
    opened: list[Database] = []

    async def factory(**overrides: Any) -> Database:
        on_retry = overrides.pop("on_retry", None)
        db = await Database.open(target.settings(**overrides), url=target.url, on_retry=on_retry)
        opened.append(db)
        return db

    yield factory
    for db in opened:
        await db.close()


@pytest.fixture
async def db(open_db: OpenDb) -> Database:
    return await open_db()
