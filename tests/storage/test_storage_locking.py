import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from vocable.storage import ConflictError, Database, StorageRetry, repo
from vocable.storage.models import Conversation


async def setup_conversation(db: Database) -> tuple[int, int]:
    async with db.uow() as tx:
        user = await repo.create_user(tx, name="ann")
        conv = await repo.create_conversation(tx, user_id=user.id, title="")
    return user.id, conv.id


def appender(
    db: Database, user_id: int, conv_id: int, tag: str, barrier: asyncio.Barrier
) -> Callable[[], Awaitable[None]]:
    """Read the title, wait until the other writer has read it too, then append `tag`."""
    attempts = 0

    async def once() -> None:
        nonlocal attempts
        attempts += 1
        async with db.uow(readonly=True) as tx:
            conv = await repo.get_conversation(tx, user_id=user_id, conversation_id=conv_id)
        if attempts == 1:
            await barrier.wait()
        async with db.uow() as tx:
            await repo.rename_conversation(
                tx,
                user_id=user_id,
                conversation_id=conv_id,
                expected_version=conv.version,
                title=conv.title + tag,
            )

    return once


async def test_concurrent_writers_one_conflicts_and_the_retry_loses_nothing(db: Database) -> None:
    user_id, conv_id = await setup_conversation(db)
    retries: list[StorageRetry] = []
    db.add_retry_listener(retries.append)
    barrier = asyncio.Barrier(2)
    await asyncio.gather(
        *(
            db.retrying(
                appender(db, user_id, conv_id, tag, barrier),
                operation="rename",
                retry_conflicts=True,
            )
            for tag in "AB"
        )
    )
    async with db.uow(readonly=True) as tx:
        final = await repo.get_conversation(tx, user_id=user_id, conversation_id=conv_id)
    assert sorted(final.title) == ["A", "B"]  # both updates landed
    assert final.version == 3
    assert [(r.operation, r.code, r.attempt) for r in retries] == [
        ("rename", "storage.conflict", 1)
    ]
    assert 0 < retries[0].delay_s <= db.policy.base_delay_s


async def test_without_retry_the_conflict_surfaces(db: Database) -> None:
    user_id, conv_id = await setup_conversation(db)
    barrier = asyncio.Barrier(2)
    results = await asyncio.gather(
        *(db.retrying(appender(db, user_id, conv_id, t, barrier), operation="r") for t in "AB"),
        return_exceptions=True,
    )
    conflicts = [r for r in results if isinstance(r, ConflictError)]
    assert len(conflicts) == 1 and results.count(None) == 1
    assert conflicts[0].code == "storage.conflict"
    async with db.uow(readonly=True) as tx:
        final = await repo.get_conversation(tx, user_id=user_id, conversation_id=conv_id)
    assert final.title in {"A", "B"} and final.version == 2


async def test_transact_retries_conflicts_only_when_asked(db: Database) -> None:
    user_id, conv_id = await setup_conversation(db)
    calls = 0

    async def stale_then_fresh(tx: AsyncSession) -> Conversation:
        nonlocal calls
        calls += 1
        conv = await repo.get_conversation(tx, user_id=user_id, conversation_id=conv_id)
        version = conv.version - 1 if calls == 1 else conv.version
        return await repo.rename_conversation(
            tx, user_id=user_id, conversation_id=conv_id, expected_version=version, title="t"
        )

    with pytest.raises(ConflictError):
        await db.transact(stale_then_fresh)
    calls = 0
    renamed = await db.transact(stale_then_fresh, retry_conflicts=True)
    assert calls == 2 and renamed.title == "t"
