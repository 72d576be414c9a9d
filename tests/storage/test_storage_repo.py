from datetime import UTC

import pytest

from tests.storage.conftest import OpenDb
from tests.storage.helpers import count_rows, two_users
from vocable.errors import NotFoundError
from vocable.storage import (
    ConflictError,
    Database,
    MessageRole,
    MessageStatus,
    StorageInputError,
    repo,
)


async def test_user_b_cannot_read_or_change_user_a_rows(db: Database) -> None:
    ann, bob, conv = await two_users(db)
    async with db.uow() as tx:
        msg = await repo.add_message(
            tx, user_id=ann, conversation_id=conv.id, role=MessageRole.USER, text="secret"
        )
        key, _ = await repo.create_api_key(tx, user_id=ann, name="laptop")
        voice = await repo.create_voice_profile(tx, user_id=ann, name="me", engine="piper")
        memory = await repo.create_memory(
            tx, user_id=ann, text="likes tea", conversation_id=conv.id
        )
        await repo.record_turn(tx, user_id=ann, conversation_id=conv.id, user_message_id=msg.id)
    before = {t: await count_rows(db, t) for t in ("conversations", "messages", "turns")}

    not_found = [
        lambda tx: repo.get_conversation(tx, user_id=bob, conversation_id=conv.id),
        lambda tx: repo.get_message(tx, user_id=bob, message_id=msg.id),
        lambda tx: repo.list_turns(tx, user_id=bob, conversation_id=conv.id),
        lambda tx: repo.load_session(tx, user_id=bob, conversation_id=conv.id),
        lambda tx: repo.rename_conversation(
            tx, user_id=bob, conversation_id=conv.id, expected_version=conv.version, title="x"
        ),
        lambda tx: repo.update_message(
            tx, user_id=bob, message_id=msg.id, expected_version=1, text="changed"
        ),
        lambda tx: repo.delete_conversation(tx, user_id=bob, conversation_id=conv.id),
        lambda tx: repo.revoke_api_key(tx, user_id=bob, key_id=key.id),
        lambda tx: repo.delete_voice_profile(tx, user_id=bob, profile_id=voice.id),
        lambda tx: repo.delete_memory(tx, user_id=bob, memory_id=memory.id),
    ]
    for call in not_found:
        with pytest.raises(NotFoundError) as caught:
            await db.transact(call)
        assert caught.value.code == "storage.not_found"
    unknown_reference = [
        lambda tx: repo.add_message(
            tx, user_id=bob, conversation_id=conv.id, role=MessageRole.USER, text="hijack"
        ),
        lambda tx: repo.record_turn(tx, user_id=bob, conversation_id=conv.id),
        lambda tx: repo.create_memory(tx, user_id=bob, text="x", conversation_id=conv.id),
        lambda tx: repo.checkpoint_conversation(
            tx,
            user_id=bob,
            conversation_id=conv.id,
            expected_version=1,
            summary="s",
            summary_through_message_id=msg.id,
        ),
    ]
    for call in unknown_reference:
        with pytest.raises(StorageInputError) as input_err:
            await db.transact(call)
        assert input_err.value.code == "storage.unknown_reference"

    async with db.uow(readonly=True) as tx:
        assert await repo.list_conversations(tx, user_id=bob) == []
        assert await repo.list_messages(tx, user_id=bob, conversation_id=conv.id) == []
        assert await repo.list_api_keys(tx, user_id=bob) == []
        assert await repo.list_voice_profiles(tx, user_id=bob) == []
        assert await repo.list_memories(tx, user_id=bob) == []
        kept = await repo.get_message(tx, user_id=ann, message_id=msg.id)
        assert kept.text == "secret" and kept.version == 1
        assert [k.revoked_at for k in await repo.list_api_keys(tx, user_id=ann)] == [None]
        assert len(await repo.list_voice_profiles(tx, user_id=ann)) == 1
        assert len(await repo.list_memories(tx, user_id=ann, conversation_id=conv.id)) == 1
    assert {t: await count_rows(db, t) for t in before} == before


async def test_messages_and_optimistic_edits(db: Database) -> None:
    ann, _, conv = await two_users(db)
    async with db.uow() as tx:
        first = await repo.add_message(
            tx, user_id=ann, conversation_id=conv.id, role=MessageRole.USER, text="hello"
        )
        second = await repo.add_message(
            tx,
            user_id=ann,
            conversation_id=conv.id,
            role=MessageRole.ASSISTANT,
            text="hi there",
            status=MessageStatus.INTERRUPTED,
            heard_text=b"hi",
        )
    async with db.uow() as tx:
        edited = await repo.update_message(
            tx,
            user_id=ann,
            message_id=second.id,
            expected_version=1,
            text="hi there!",
            heard_text="hi there",
            status=MessageStatus.COMPLETE,
        )
    assert (edited.text, edited.heard_text, edited.status, edited.version) == (
        "hi there!",
        "hi there",
        MessageStatus.COMPLETE,
        2,
    )
    with pytest.raises(ConflictError) as caught:
        await db.transact(
            lambda tx: repo.update_message(
                tx, user_id=ann, message_id=second.id, expected_version=1, text="stale"
            )
        )
    assert caught.value.transient and caught.value.code == "storage.conflict"
    assert db.stats.retries == 0  # conflicts are not retried unless asked
    async with db.uow(readonly=True) as tx:
        rows = await repo.list_messages(tx, user_id=ann, conversation_id=conv.id)
        later = await repo.list_messages(
            tx, user_id=ann, conversation_id=conv.id, after_id=first.id, limit=5
        )
    assert [m.text for m in rows] == ["hello", "hi there!"]
    assert [m.id for m in later] == [second.id]
    assert rows[0].created_at.tzinfo is UTC


async def test_turns_count_on_the_conversation(db: Database) -> None:
    ann, _, conv = await two_users(db)
    async with db.uow() as tx:
        user_msg = await repo.add_message(
            tx, user_id=ann, conversation_id=conv.id, role=MessageRole.USER, text="q"
        )
        reply = await repo.add_message(
            tx, user_id=ann, conversation_id=conv.id, role=MessageRole.ASSISTANT, text="a"
        )
        await repo.record_turn(
            tx,
            user_id=ann,
            conversation_id=conv.id,
            user_message_id=user_msg.id,
            assistant_message_id=reply.id,
            timings_ms={"stt": 120.5, "tts_first_audio": 480.0, "total": None},
        )
        await repo.record_turn(tx, user_id=ann, conversation_id=conv.id, interrupted=True)
    async with db.uow(readonly=True) as tx:
        turns = await repo.list_turns(tx, user_id=ann, conversation_id=conv.id)
        after = await repo.get_conversation(tx, user_id=ann, conversation_id=conv.id)
    assert [(t.number, t.interrupted) for t in turns] == [(1, False), (2, True)]
    assert (turns[0].stt_ms, turns[0].tts_first_audio_ms, turns[0].total_ms) == (120.5, 480.0, None)
    assert (after.turn_count, after.version) == (2, conv.version + 2)
    with pytest.raises(StorageInputError, match="unknown timings"):
        await db.transact(
            lambda tx: repo.record_turn(
                tx, user_id=ann, conversation_id=conv.id, timings_ms={"warp": 1.0}
            )
        )
    with pytest.raises(StorageInputError) as caught:
        await db.transact(
            lambda tx: repo.record_turn(
                tx, user_id=ann, conversation_id=conv.id, assistant_message_id=10**9
            )
        )
    assert caught.value.code == "storage.unknown_reference"


async def test_checkpoint_resumes_after_a_restart(open_db: OpenDb) -> None:
    db = await open_db()
    ann, _, conv = await two_users(db)
    async with db.uow() as tx:
        ids = []
        for i in range(5):
            m = await repo.add_message(
                tx, user_id=ann, conversation_id=conv.id, role=MessageRole.USER, text=f"m{i}"
            )
            ids.append(m.id)
        await repo.record_turn(tx, user_id=ann, conversation_id=conv.id)
    async with db.uow() as tx:
        current = await repo.get_conversation(tx, user_id=ann, conversation_id=conv.id)
        await repo.checkpoint_conversation(
            tx,
            user_id=ann,
            conversation_id=conv.id,
            expected_version=current.version,
            summary="ann said m0 to m2",
            summary_through_message_id=ids[2],
        )
    await db.close()

    reopened = await open_db()
    async with reopened.uow(readonly=True) as tx:
        state = await repo.load_session(tx, user_id=ann, conversation_id=conv.id)
    assert state.conversation.summary == "ann said m0 to m2"
    assert state.conversation.summary_through_message_id == ids[2]
    assert state.conversation.turn_count == 1
    assert [m.text for m in state.recent_messages] == ["m3", "m4"]


async def test_checkpoint_rejects_foreign_messages_and_stale_versions(db: Database) -> None:
    ann, _, conv = await two_users(db)
    async with db.uow() as tx:
        other = await repo.create_conversation(tx, user_id=ann, title="other")
        elsewhere = await repo.add_message(
            tx, user_id=ann, conversation_id=other.id, role=MessageRole.USER, text="x"
        )
        here = await repo.add_message(
            tx, user_id=ann, conversation_id=conv.id, role=MessageRole.USER, text="y"
        )
    with pytest.raises(StorageInputError) as caught:
        await db.transact(
            lambda tx: repo.checkpoint_conversation(
                tx,
                user_id=ann,
                conversation_id=conv.id,
                expected_version=conv.version,
                summary="s",
                summary_through_message_id=elsewhere.id,
            )
        )
    assert caught.value.code == "storage.unknown_reference"
    with pytest.raises(ConflictError):
        await db.transact(
            lambda tx: repo.checkpoint_conversation(
                tx,
                user_id=ann,
                conversation_id=conv.id,
                expected_version=conv.version + 7,
                summary="s",
                summary_through_message_id=here.id,
            )
        )


async def test_conversations_rename_list_delete(db: Database) -> None:
    ann, _, conv = await two_users(db)
    async with db.uow() as tx:
        second = await repo.create_conversation(tx, user_id=ann, title="second")
        await repo.add_message(
            tx, user_id=ann, conversation_id=conv.id, role=MessageRole.USER, text="bye"
        )
        renamed = await repo.rename_conversation(
            tx, user_id=ann, conversation_id=conv.id, expected_version=1, title="renamed"
        )
    assert (renamed.title, renamed.version) == ("renamed", 2)
    async with db.uow() as tx:
        listed = await repo.list_conversations(tx, user_id=ann)
        assert [c.title for c in listed] == ["renamed", "second"]
        await repo.delete_conversation(tx, user_id=ann, conversation_id=conv.id)
        assert [c.id for c in await repo.list_conversations(tx, user_id=ann)] == [second.id]
    assert await count_rows(db, "messages") == 0  # cascaded
