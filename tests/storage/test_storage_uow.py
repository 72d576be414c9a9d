import asyncio

import pytest
from sqlalchemy import text

from tests.storage.conftest import OpenDb
from tests.storage.helpers import aiosqlite_threads_finished, count_rows
from vocable.errors import NotFoundError
from vocable.storage import Database, MessageRole, StorageError, StorageInputError, repo


async def test_commit_on_success(db: Database) -> None:
    async with db.uow() as tx:
        user = await repo.create_user(tx, name="ann")
        await repo.create_conversation(tx, user_id=user.id, title="first")
    assert await count_rows(db, "conversations") == 1
    assert db.stats.transactions >= 1 and db.stats.rollbacks == 0


async def test_exception_rolls_back_every_row(db: Database) -> None:
    before = db.stats.rollbacks
    with pytest.raises(RuntimeError, match="mid-way"):
        async with db.uow() as tx:
            user = await repo.create_user(tx, name="ann")
            conv = await repo.create_conversation(tx, user_id=user.id)
            await repo.add_message(
                tx, user_id=user.id, conversation_id=conv.id, role=MessageRole.USER, text="hi"
            )
            raise RuntimeError("mid-way")
    for table in ("users", "conversations", "messages"):
        assert await count_rows(db, table) == 0
    assert db.stats.rollbacks == before + 1


async def test_nested_uow_is_a_savepoint(db: Database) -> None:
    async with db.uow() as tx:
        user = await repo.create_user(tx, name="ann")
        with pytest.raises(StorageInputError) as caught:
            async with db.uow() as inner:
                assert inner is tx
                await repo.create_conversation(tx, user_id=user.id, title="kept? no")
                await repo.create_user(tx, name="ann")  # duplicate name
        assert caught.value.code == "storage.duplicate"
        async with db.uow():
            await repo.create_conversation(tx, user_id=user.id, title="kept")
    async with db.uow(readonly=True) as tx:
        titles = [c.title for c in await repo.list_conversations(tx, user_id=user.id)]
    assert titles == ["kept"]
    assert await count_rows(db, "users") == 1


async def test_inner_exception_escaping_rolls_back_the_whole_unit(db: Database) -> None:
    with pytest.raises(ValueError, match="boom"):
        async with db.uow() as tx:
            await repo.create_user(tx, name="ann")
            async with db.uow():
                raise ValueError("boom")
    assert await count_rows(db, "users") == 0


async def test_transact_inside_a_uow_runs_in_a_savepoint(db: Database) -> None:
    async with db.uow() as tx:
        user = await repo.create_user(tx, name="ann")

        async def bad(inner: object) -> None:
            assert inner is tx
            await repo.create_conversation(tx, user_id=user.id)
            raise NotFoundError("nope")

        with pytest.raises(NotFoundError):
            await db.transact(bad)
    assert await count_rows(db, "users") == 1
    assert await count_rows(db, "conversations") == 0
    assert db.stats.retries == 0


async def test_other_tasks_get_their_own_transaction(db: Database) -> None:
    async with db.uow() as tx:
        await repo.create_user(tx, name="ann")

        async def elsewhere() -> int:
            async with db.uow(readonly=True) as other:
                assert other is not tx
                return len((await other.execute(text("SELECT id FROM users"))).all())

        # Not committed yet, so another transaction does not see it (SQLite readers use WAL).
        if db.dialect == "postgresql":
            assert await asyncio.create_task(elsewhere()) == 0
    assert await asyncio.create_task(elsewhere()) == 1


async def test_database_errors_become_typed_errors(db: Database) -> None:
    with pytest.raises(StorageError) as caught:
        async with db.uow() as tx:
            await tx.execute(text("SELECT * FROM no_such_table"))
    assert caught.value.code == "storage.failed"
    assert not caught.value.transient


async def test_open_needs_a_place() -> None:
    from vocable.storage import StorageSettings

    with pytest.raises(ValueError, match="data_dir"):
        await Database.open(StorageSettings())


async def test_default_database_lives_in_the_data_dir(tmp_path: object) -> None:
    from pathlib import Path

    from vocable.storage import StorageSettings

    data_dir = Path(str(tmp_path)) / "data"
    async with await Database.open(StorageSettings(), data_dir=data_dir) as db:
        assert db.dialect == "sqlite"
        assert db.engine.url.database == str(data_dir / "vocable.db")
    assert (data_dir / "vocable.db").is_file()


async def test_readonly_work_sees_committed_rows(open_db: OpenDb) -> None:
    db = await open_db()
    async with db.uow() as tx:
        await repo.create_user(tx, name="ann")
    names = await db.transact(
        lambda tx: tx.scalars(text("SELECT name FROM users")), readonly=True, operation="read"
    )
    assert list(names) == ["ann"]


async def test_a_failed_statement_in_a_savepoint_leaves_the_outer_work_usable(db: Database) -> None:
    async with db.uow() as tx:
        await repo.create_user(tx, name="ann")
        with pytest.raises(StorageError):
            async with db.uow():
                await tx.execute(text("SELECT * FROM no_such_table"))
        await repo.create_user(tx, name="bob")
    assert await count_rows(db, "users") == 2


async def test_a_database_that_cannot_be_opened_is_a_typed_error(tmp_path: object) -> None:
    from pathlib import Path

    from vocable.storage import StorageSettings

    place = Path(str(tmp_path)) / "is-a-directory.db"
    place.mkdir()
    with pytest.raises(StorageError) as caught:
        await Database.open(StorageSettings(), url=f"sqlite:///{place}")
    assert not caught.value.transient
    await aiosqlite_threads_finished()


def test_naive_timestamps_are_refused() -> None:
    from datetime import datetime

    from vocable.storage.models import UTCDateTime

    with pytest.raises(ValueError, match="timezone-aware"):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1), None)  # type: ignore[arg-type]
