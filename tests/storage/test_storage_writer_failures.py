import sqlite3

import pytest

from tests.storage.conftest import OpenDb
from tests.storage.helpers import conversation, stored
from vocable.errors import VocableError
from vocable.storage import (
    Database,
    MessageClosedError,
    MessageStatus,
    MessageWriter,
    TransientStorageError,
    repo,
)


async def test_a_message_closed_elsewhere_fails_its_handle(open_db: OpenDb) -> None:
    db = await open_db()
    user_id, conv_id = await conversation(db)
    async with MessageWriter(db) as writer:
        handle = await writer.start_message(user_id=user_id, conversation_id=conv_id)
        other = await writer.start_message(user_id=user_id, conversation_id=conv_id)
        handle.append("mine ")
        await handle.sync()
        await db.transact(repo.recover_streaming)  # e.g. another worker's recovery
        handle.append("lost")
        with pytest.raises(MessageClosedError):
            await handle.sync()
        assert handle.finished
        with pytest.raises(MessageClosedError):
            handle.append("more")
        assert (await stored(db, user_id, handle.message_id)).text == "mine "
        other.finish()  # closed elsewhere too: the writer must not crash on it
        await writer.sync()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_failed_batches_are_written_by_a_later_batch(open_db: OpenDb) -> None:
    errors: list[VocableError] = []
    db = await open_db(sqlite_busy_timeout_ms=5, retry_attempts=2, retry_base_ms=2, retry_max_ms=20)
    user_id, conv_id = await conversation(db)
    holder = sqlite3.connect(str(db.engine.url.database), isolation_level=None)
    try:
        async with MessageWriter(db, on_error=errors.append) as writer:
            handle = await writer.start_message(user_id=user_id, conversation_id=conv_id)
            holder.execute("BEGIN IMMEDIATE")
            handle.append("kept ")
            with pytest.raises(TransientStorageError):
                await handle.sync()
            assert writer.failure is not None and errors and errors[0].code == "storage.busy"
            handle.append("anyway")
            holder.execute("ROLLBACK")
            handle.finish()
            await handle.sync()
            assert writer.failure is None and writer.stats.failed_batches >= 1
    finally:
        holder.close()
    message = await stored(db, user_id, handle.message_id)
    assert (message.text, message.status) == ("kept anyway", MessageStatus.COMPLETE)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_close_reports_a_final_batch_that_cannot_be_written(open_db: OpenDb) -> None:
    db = await open_db(sqlite_busy_timeout_ms=5, retry_attempts=2, retry_base_ms=2)
    user_id, conv_id = await conversation(db)
    writer = MessageWriter(db)
    await writer.start()
    handle = await writer.start_message(user_id=user_id, conversation_id=conv_id)
    handle.append("unsaved")
    holder = sqlite3.connect(str(db.engine.url.database), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(TransientStorageError):
            await writer.close()
    finally:
        holder.close()


async def test_the_writer_must_be_started(db: Database) -> None:
    with pytest.raises(MessageClosedError):
        await MessageWriter(db).start_message(user_id=1, conversation_id=1)
