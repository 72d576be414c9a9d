import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from tests.storage.conftest import OpenDb
from tests.storage.helpers import conversation, stored
from vocable.storage import (
    MessageClosedError,
    MessageStatus,
    MessageWriter,
    StorageInputError,
    repo,
)
from vocable.storage.models import Message, MessageRole, utcnow


def words(n: int) -> list[str]:
    return [f"w{i}{'.' if i % 12 == 11 else ''} " for i in range(n)]


async def test_a_500_token_reply_costs_at_most_a_sixteenth_as_many_transactions(
    open_db: OpenDb,
) -> None:
    db = await open_db(writer_batch_ms=60)
    user_id, conv_id = await conversation(db)
    tokens = words(500)
    async with MessageWriter(db) as writer:
        before = db.stats.transactions
        handle = await writer.start_message(user_id=user_id, conversation_id=conv_id)
        for i, token in enumerate(tokens):
            handle.append(token)
            if token.endswith(". "):
                handle.checkpoint("".join(tokens[: i + 1]))
            await asyncio.sleep(0.001)  # tokens arrive over time, as from a model
        handle.finish()
        await handle.sync()
        transactions = db.stats.transactions - before
    message = await stored(db, user_id, handle.message_id)
    assert message.text == "".join(tokens)
    assert message.token_count == 500 and message.status is MessageStatus.COMPLETE
    assert message.heard_text == "".join(tokens[:492])
    assert 2 < transactions <= 500 / 16, transactions
    assert writer.stats.batches == transactions - 1  # plus the one that created the message


async def test_deltas_are_committed_after_the_batch_time(open_db: OpenDb) -> None:
    db = await open_db(writer_batch_ms=200, writer_batch_tokens=1000)
    user_id, conv_id = await conversation(db)
    async with MessageWriter(db) as writer:
        handle = await writer.start_message(user_id=user_id, conversation_id=conv_id)
        for token in ("one ", "two ", "three"):
            handle.append(token)
        await asyncio.sleep(0.02)
        assert (await stored(db, user_id, handle.message_id)).text == ""
        await asyncio.sleep(0.4)
        message = await stored(db, user_id, handle.message_id)
        assert (message.text, message.status, message.token_count) == (
            "one two three",
            MessageStatus.STREAMING,
            3,
        )
        assert writer.stats.batches == 1
        handle.finish()


async def test_deltas_are_committed_once_the_batch_is_full(open_db: OpenDb) -> None:
    db = await open_db(writer_batch_ms=60_000, writer_batch_tokens=8)
    user_id, conv_id = await conversation(db)
    async with MessageWriter(db) as writer:
        handle = await writer.start_message(user_id=user_id, conversation_id=conv_id)
        for token in words(11):
            handle.append(token)
        await asyncio.sleep(0.15)
        assert (await stored(db, user_id, handle.message_id)).token_count == 11  # no time passed
        assert writer.stats.batches == 1
        for token in words(3):
            handle.append(token)
        await asyncio.sleep(0.15)
        assert (await stored(db, user_id, handle.message_id)).token_count == 11
        assert writer.stats.batches == 1


async def test_a_full_queue_coalesces_and_drops_nothing(open_db: OpenDb) -> None:
    db = await open_db(writer_queue_size=4)
    user_id, conv_id = await conversation(db)
    async with MessageWriter(db) as writer:
        handle = await writer.start_message(user_id=user_id, conversation_id=conv_id)
        tokens = words(100)
        for token in tokens:  # no await: the writer cannot run meanwhile
            handle.append(token)
        assert writer.stats.max_queue_depth == 4
        assert writer.stats.coalesced == 96 and writer.stats.enqueued == 100
        handle.finish()
        await handle.sync()
    message = await stored(db, user_id, handle.message_id)
    assert message.text == "".join(tokens) and message.token_count == 100


async def test_interruption_keeps_what_was_heard(open_db: OpenDb) -> None:
    db = await open_db()
    user_id, conv_id = await conversation(db)
    async with MessageWriter(db) as writer:
        handle = await writer.start_message(user_id=user_id, conversation_id=conv_id)
        handle.append("First sentence. ")
        handle.checkpoint("First sentence.")
        handle.append("Second sen")
        handle.interrupt("First sentence. Second")
        await handle.sync()
        assert handle.finished
    message = await stored(db, user_id, handle.message_id)
    assert message.status is MessageStatus.INTERRUPTED
    assert message.text == "First sentence. Second sen"
    assert message.heard_text == "First sentence. Second"


async def test_shutdown_flushes_and_ends_open_messages_as_interrupted(open_db: OpenDb) -> None:
    db = await open_db(writer_batch_ms=60_000)
    user_id, conv_id = await conversation(db)
    writer = MessageWriter(db)
    await writer.start()
    done = await writer.start_message(user_id=user_id, conversation_id=conv_id)
    open_ = await writer.start_message(user_id=user_id, conversation_id=conv_id)
    done.append("all of it")
    done.finish(MessageStatus.COMPLETE, heard_text="all of it")
    open_.append("half a ")
    open_.checkpoint("half")
    open_.append("reply")
    await writer.close()
    await writer.close()  # a second close is harmless
    finished = await stored(db, user_id, done.message_id)
    cut = await stored(db, user_id, open_.message_id)
    assert (finished.status, finished.text) == (MessageStatus.COMPLETE, "all of it")
    assert (cut.status, cut.text, cut.heard_text) == (
        MessageStatus.INTERRUPTED,
        "half a reply",
        "half",
    )
    with pytest.raises(MessageClosedError):
        open_.append("more")
    with pytest.raises(MessageClosedError):
        await writer.start_message(user_id=user_id, conversation_id=conv_id)


async def test_start_up_recovers_streaming_messages(open_db: OpenDb) -> None:
    db = await open_db()
    user_id, conv_id = await conversation(db)
    async with db.uow() as tx:
        left = await repo.add_message(
            tx,
            user_id=user_id,
            conversation_id=conv_id,
            role=MessageRole.ASSISTANT,
            text="Cut off mid",
            heard_text="Cut off",
            status=MessageStatus.STREAMING,
        )
    async with MessageWriter(db) as writer:
        assert writer.stats.recovered == 1 and writer.stats.recovery_ms > 0
    message = await stored(db, user_id, left.id)
    assert (message.status, message.text, message.heard_text, message.version) == (
        MessageStatus.INTERRUPTED,
        "Cut off mid",
        "Cut off",
        2,
    )


async def test_recovery_spares_recently_active_messages_of_other_workers(
    open_db: OpenDb,
) -> None:
    db = await open_db(recover_after_s=60)
    user_id, conv_id = await conversation(db)
    async with db.uow() as tx:
        ids = []
        for _ in range(2):
            m = await repo.add_message(
                tx,
                user_id=user_id,
                conversation_id=conv_id,
                role=MessageRole.ASSISTANT,
                text="x",
                status=MessageStatus.STREAMING,
            )
            ids.append(m.id)
        await tx.execute(
            update(Message)
            .where(Message.id == ids[0])
            .values(updated_at=utcnow() - timedelta(hours=2))
        )
    async with MessageWriter(db) as writer:
        assert writer.stats.recovered == 1
    assert (await stored(db, user_id, ids[0])).status is MessageStatus.INTERRUPTED
    assert (await stored(db, user_id, ids[1])).status is MessageStatus.STREAMING


async def test_bad_deltas_are_refused_and_nothing_is_queued(open_db: OpenDb) -> None:
    db = await open_db(max_message_chars=10)
    user_id, conv_id = await conversation(db)
    async with MessageWriter(db) as writer:
        with pytest.raises(StorageInputError) as unknown:
            await writer.start_message(user_id=user_id, conversation_id=conv_id + 99)
        assert unknown.value.code == "storage.unknown_reference"
        handle = await writer.start_message(user_id=user_id, conversation_id=conv_id)
        handle.append("12345")
        handle.append("")
        for bad, code in [
            ("678901", "storage.text_too_long"),
            ("a\x00", "storage.invalid_text"),
            ("\udc80", "storage.invalid_text"),
        ]:
            with pytest.raises(StorageInputError) as caught:
                handle.append(bad)
            assert caught.value.code == code
        with pytest.raises(StorageInputError):
            handle.checkpoint("x" * 11)
        with pytest.raises(ValueError, match="finish with"):
            handle.finish(MessageStatus.STREAMING)
        handle.append("67890")
        handle.finish(MessageStatus.FAILED, heard_text="12345")
        with pytest.raises(MessageClosedError):
            handle.finish()
        await handle.sync()
        assert handle.tokens == 2 and writer.stats.enqueued == 2
    message = await stored(db, user_id, handle.message_id)
    assert (message.text, message.status, message.heard_text) == (
        "1234567890",
        MessageStatus.FAILED,
        "12345",
    )


async def test_two_messages_stream_side_by_side(open_db: OpenDb) -> None:
    db = await open_db(writer_batch_tokens=5)
    user_id, conv_id = await conversation(db)
    async with MessageWriter(db) as writer:
        a = await writer.start_message(user_id=user_id, conversation_id=conv_id)
        b = await writer.start_message(user_id=user_id, conversation_id=conv_id)
        for i in range(40):
            (a if i % 2 else b).append(f"{i} ")
            await asyncio.sleep(0)
        a.finish()
        b.finish()
        await writer.sync()
    assert (await stored(db, user_id, a.message_id)).text == "".join(
        f"{i} " for i in range(1, 40, 2)
    )
    assert (await stored(db, user_id, b.message_id)).text == "".join(
        f"{i} " for i in range(0, 40, 2)
    )
