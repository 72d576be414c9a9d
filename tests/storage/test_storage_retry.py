import asyncio
import random
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from tests.storage.conftest import OpenDb
from tests.storage.helpers import count_rows
from vocable.errors import VocableError
from vocable.storage import (
    ConflictError,
    Database,
    RetryPolicy,
    StorageError,
    StorageInputError,
    StorageRetry,
    TransientStorageError,
    repo,
    retrying,
    transient_kind,
    translate,
)
from vocable.storage.models import User


class PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"pg {sqlstate}")
        self.sqlstate = sqlstate


def sqlite_error(code: int, message: str) -> sqlite3.OperationalError:
    err = sqlite3.OperationalError(message)
    err.sqlite_errorcode = code
    return err


@pytest.mark.parametrize(
    ("err", "kind"),
    [
        (OperationalError("x", {}, sqlite_error(5, "database is locked")), "busy"),
        (OperationalError("x", {}, sqlite_error(6, "table is locked")), "busy"),
        (OperationalError("x", {}, sqlite_error(517, "busy snapshot")), "busy"),
        (OperationalError("x", {}, sqlite_error(14, "unable to open")), None),
        (OperationalError("x", {}, PgError("40001")), "serialization"),
        (OperationalError("x", {}, PgError("40P01")), "deadlock"),
        (OperationalError("x", {}, PgError("08006")), "disconnect"),
        (OperationalError("x", {}, PgError("57P01")), "disconnect"),
        (IntegrityError("x", {}, PgError("23505")), None),
        (DBAPIError("x", {}, Exception("gone"), connection_invalidated=True), "disconnect"),
        (DBAPIError("x", {}, ConnectionResetError("reset")), "disconnect"),
        (ConnectionRefusedError("refused"), "disconnect"),
        (ValueError("bug"), None),
    ],
)
def test_transient_kinds(err: BaseException, kind: str | None) -> None:
    assert transient_kind(err) == kind
    typed = translate(err)
    assert typed.transient is (kind is not None)
    if kind is not None:
        assert isinstance(typed, TransientStorageError) and typed.code == f"storage.{kind}"


def test_translate_keeps_typed_errors_and_names_constraint_failures() -> None:
    typed = StorageError("already typed")
    assert translate(typed) is typed
    fk = translate(IntegrityError("x", {}, Exception("FOREIGN KEY constraint failed")))
    assert (type(fk), fk.code) == (StorageInputError, "storage.unknown_reference")
    dup = translate(IntegrityError("x", {}, PgError("23505")))
    assert dup.code == "storage.duplicate"
    other = translate(IntegrityError("x", {}, Exception("NOT NULL constraint failed: t.c")))
    assert other.code == "storage.invalid_input" and "NOT NULL" in other.message
    assert translate(ValueError("odd")).code == "storage.failed"


def test_backoff_is_bounded_and_jittered() -> None:
    policy = RetryPolicy(attempts=6, base_delay_s=0.01, max_delay_s=0.05)
    rng = random.Random(3)
    delays = [[policy.delay(n, rng) for n in range(1, 6)] for _ in range(50)]
    for n, cap in enumerate([0.01, 0.02, 0.04, 0.05, 0.05]):
        column = [d[n] for d in delays]
        assert all(cap / 2 <= d <= cap for d in column)
        assert len(set(column)) > 40  # jittered, not a fixed schedule


def flaky(failures: list[BaseException]) -> Callable[[], Awaitable[int]]:
    calls = 0

    async def once() -> int:
        nonlocal calls
        calls += 1
        if failures:
            raise failures.pop(0)
        return calls

    return once


FAST = RetryPolicy(attempts=4, base_delay_s=0.001, max_delay_s=0.002)


async def test_transient_failures_are_retried_with_an_event_each() -> None:
    events: list[StorageRetry] = []
    busy = OperationalError("UPDATE", {}, sqlite_error(5, "database is locked"))
    calls = await retrying(
        flaky([busy, TransientStorageError("x", code="storage.deadlock")]),
        operation="op",
        policy=FAST,
        on_retry=events.append,
    )
    assert calls == 3
    assert [(e.attempt, e.max_attempts, e.code) for e in events] == [
        (1, 4, "storage.busy"),
        (2, 4, "storage.deadlock"),
    ]
    assert all(e.operation == "op" and e.delay_s > 0 for e in events)


async def test_retries_are_bounded() -> None:
    events: list[StorageRetry] = []
    failures: list[BaseException] = [ConnectionResetError("reset") for _ in range(10)]
    with pytest.raises(TransientStorageError) as caught:
        await retrying(flaky(failures), operation="op", policy=FAST, on_retry=events.append)
    assert caught.value.code == "storage.disconnect"
    assert isinstance(caught.value.__cause__, ConnectionResetError)
    assert len(events) == FAST.attempts - 1 and len(failures) == 10 - FAST.attempts


@pytest.mark.parametrize(
    "err",
    [
        IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")),
        StorageInputError("bad"),
        VocableError("permanent"),
        ConflictError("stale"),
    ],
)
async def test_permanent_errors_are_never_retried(err: BaseException) -> None:
    events: list[StorageRetry] = []
    with pytest.raises(VocableError):
        await retrying(flaky([err]), operation="op", policy=FAST, on_retry=events.append)
    assert events == []


async def test_other_exceptions_pass_through_untouched() -> None:
    with pytest.raises(KeyError):
        await retrying(flaky([KeyError("bug")]), operation="op", policy=FAST)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_sqlite_busy_is_retried_until_the_lock_goes(open_db: OpenDb) -> None:
    events: list[StorageRetry] = []
    db = await open_db(
        sqlite_busy_timeout_ms=20, retry_attempts=10, retry_base_ms=30, on_retry=events.append
    )
    path = db.engine.url.database
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        task = asyncio.create_task(db.transact(lambda tx: repo.create_user(tx, name="ann")))
        await asyncio.sleep(0.15)
        assert not task.done()
        holder.execute("ROLLBACK")
        user = await task
    finally:
        holder.close()
    assert user.id and await count_rows(db, "users") == 1
    assert events and {e.code for e in events} == {"storage.busy"}
    assert db.stats.retries == len(events)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_sqlite_busy_gives_up_after_the_attempts(open_db: OpenDb, tmp_path: Path) -> None:
    events: list[StorageRetry] = []
    db = await open_db(
        sqlite_busy_timeout_ms=5, retry_attempts=3, retry_base_ms=5, on_retry=events.append
    )
    holder = sqlite3.connect(str(db.engine.url.database), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(TransientStorageError) as caught:
            await db.transact(lambda tx: repo.create_user(tx, name="ann"), operation="add user")
    finally:
        holder.close()
    assert caught.value.code == "storage.busy" and caught.value.transient
    assert [(e.operation, e.attempt) for e in events] == [("add user", 1), ("add user", 2)]
    assert await count_rows(db, "users") == 0


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_pg_serialization_failure_is_retried(open_db: OpenDb) -> None:
    events: list[StorageRetry] = []
    db = await open_db(pg_isolation="REPEATABLE READ", on_retry=events.append)
    async with db.uow() as tx:
        user = await repo.create_user(tx, name="ann")
        conv = await repo.create_conversation(tx, user_id=user.id)
    a_updated, b_has_read = asyncio.Event(), asyncio.Event()
    bump = text("UPDATE conversations SET turn_count = turn_count + 1 WHERE id = :id")

    async def first(tx: AsyncSession) -> None:
        await tx.execute(bump, {"id": conv.id})
        a_updated.set()
        await b_has_read.wait()
        await asyncio.sleep(0.05)  # B blocks on the row lock (or not: it fails either way)

    calls = 0

    async def second(tx: AsyncSession) -> None:
        nonlocal calls
        calls += 1
        await a_updated.wait()
        await tx.execute(text("SELECT turn_count FROM conversations"))  # takes the snapshot
        b_has_read.set()
        await tx.execute(bump, {"id": conv.id})

    await asyncio.gather(db.transact(first), db.transact(second, operation="bump"))
    assert calls == 2
    assert [(e.operation, e.code) for e in events] == [("bump", "storage.serialization")]
    async with db.uow(readonly=True) as tx:
        assert (
            await repo.get_conversation(tx, user_id=user.id, conversation_id=conv.id)
        ).turn_count == 2


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_pg_deadlock_is_retried(db: Database) -> None:
    events: list[StorageRetry] = []
    db.add_retry_listener(events.append)
    async with db.uow() as tx:
        users = [await repo.create_user(tx, name=n) for n in ("a", "b")]
    both_locked = asyncio.Barrier(2)
    rename = text("UPDATE users SET name = name || '+' WHERE id = :id")

    def locker(first: int, then: int) -> Callable[[AsyncSession], Awaitable[None]]:
        calls = 0

        async def work(tx: AsyncSession) -> None:
            nonlocal calls
            calls += 1
            await tx.execute(text("SET LOCAL deadlock_timeout = '50ms'"))
            await tx.execute(rename, {"id": first})
            if calls == 1:
                await both_locked.wait()
            await tx.execute(rename, {"id": then})

        return work

    await asyncio.gather(
        db.transact(locker(users[0].id, users[1].id), operation="ab"),
        db.transact(locker(users[1].id, users[0].id), operation="ba"),
    )
    assert [e.code for e in events] == ["storage.deadlock"]
    async with db.uow(readonly=True) as tx:
        names = (await tx.execute(text("SELECT name FROM users ORDER BY id"))).scalars().all()
    assert names == ["a++", "b++"]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_pg_dropped_connection_is_retried(db: Database) -> None:
    events: list[StorageRetry] = []
    db.add_retry_listener(events.append)
    calls = 0

    async def work(tx: AsyncSession) -> User:
        nonlocal calls
        calls += 1
        if calls == 1:
            pid = (await tx.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            async with db.engine.connect() as killer:
                await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                await killer.commit()
        return await repo.create_user(tx, name="ann")

    user = await db.transact(work, operation="add user")
    assert calls == 2 and user.name == "ann"
    assert [(e.operation, e.code) for e in events] == [("add user", "storage.disconnect")]
    assert await count_rows(db, "users") == 1
