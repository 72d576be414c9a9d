import pytest

from tests.storage.helpers import two_users
from vocable.errors import NotFoundError
from vocable.storage import Database, StorageInputError, repo


async def test_api_keys_authenticate_until_revoked(db: Database) -> None:
    ann, _, _ = await two_users(db)
    async with db.uow() as tx:
        key, secret = await repo.create_api_key(tx, user_id=ann, name="laptop")
    assert secret.startswith("vk_") and len(secret) > 40 and key.key_hash != secret
    async with db.uow() as tx:
        found = await repo.authenticate_api_key(tx, secret=secret)
        assert found is not None and found.user_id == ann and found.last_used_at is not None
        assert await repo.authenticate_api_key(tx, secret=secret + "x") is None
        revoked = await repo.revoke_api_key(tx, user_id=ann, key_id=key.id)
        assert revoked.revoked_at is not None
        assert await repo.authenticate_api_key(tx, secret=secret) is None


async def test_users_voices_and_memories(db: Database) -> None:
    ann, _, conv = await two_users(db)
    async with db.uow() as tx:
        assert (await repo.get_user(tx, user_id=ann)).name == "ann"
        await repo.create_voice_profile(tx, user_id=ann, name="b", engine="piper")
        voice = await repo.create_voice_profile(
            tx, user_id=ann, name="a", engine="piper", embedding=b"\x00\x01"
        )
        await repo.create_memory(tx, user_id=ann, text="general")
        tied = await repo.create_memory(tx, user_id=ann, text="tied", conversation_id=conv.id)
    async with db.uow() as tx:
        assert [v.name for v in await repo.list_voice_profiles(tx, user_id=ann)] == ["a", "b"]
        await repo.delete_voice_profile(tx, user_id=ann, profile_id=voice.id)
        assert [m.text for m in await repo.list_memories(tx, user_id=ann)] == ["tied", "general"]
        await repo.delete_memory(tx, user_id=ann, memory_id=tied.id)
        assert [m.text for m in await repo.list_memories(tx, user_id=ann)] == ["general"]
    with pytest.raises(NotFoundError):
        await db.transact(lambda tx: repo.get_user(tx, user_id=10**9))
    with pytest.raises(StorageInputError) as caught:
        await db.transact(
            lambda tx: repo.create_voice_profile(tx, user_id=ann, name="b", engine="x")
        )
    assert caught.value.code == "storage.duplicate"
