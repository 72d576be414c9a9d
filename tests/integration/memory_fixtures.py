"""Databases for the memory tests: SQLite, and PostgreSQL when VOCABLE_TEST_DATABASE_URL is set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.storage.helpers import PG_ENV, Target, pg_url
from vocable.storage import Database, repo


@pytest.fixture(params=["sqlite", "postgresql"])
async def mem_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated database on each backend, dropped afterwards."""
    if request.param == "postgresql" and pg_url() is None:
        pytest.skip(f"{PG_ENV} is not set")
    target = Target(str(request.param), tmp_path)
    db = await Database.open(target.settings(), url=target.url)
    try:
        yield db
    finally:
        await db.close()
        await target.drop()


async def users(db: Database, *names: str) -> list[int]:
    """Create users; returns their ids."""
    async with db.uow() as tx:
        return [int((await repo.create_user(tx, name=n)).id) for n in names]
