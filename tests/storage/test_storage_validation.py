from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.storage.conftest import OpenDb
from tests.storage.helpers import count_rows
from vocable.storage import Database, MessageRole, StorageInputError, repo
from vocable.storage.models import Conversation
from vocable.storage.validate import clean_text

TABLES = ("users", "conversations", "messages", "turns", "memories", "api_keys")


async def snapshot(db: Database) -> dict[str, int]:
    return {t: await count_rows(db, t) for t in TABLES}


async def seeded(open_db: OpenDb) -> tuple[Database, int, Conversation]:
    db = await open_db(max_message_chars=20)
    async with db.uow() as tx:
        user = await repo.create_user(tx, name="ann")
        conv = await repo.create_conversation(tx, user_id=user.id)
    return db, user.id, conv


def message(text: Any, **kw: Any) -> Callable[[int, int], Callable[[AsyncSession], Awaitable[Any]]]:
    return lambda uid, cid: (
        lambda tx: repo.add_message(
            tx, user_id=uid, conversation_id=cid, role=MessageRole.USER, text=text, **kw
        )
    )


BAD_INPUT = [
    ("oversized", message("x" * 21), "storage.text_too_long"),
    ("oversized heard", message("ok", heard_text="y" * 21), "storage.text_too_long"),
    ("invalid utf-8", message(b"caf\xe9"), "storage.invalid_text"),
    ("surrogate", message("bad \ud800 half"), "storage.invalid_text"),
    ("nul", message("a\x00b"), "storage.invalid_text"),
    ("nul bytes", message(b"a\x00b"), "storage.invalid_text"),
    (
        "unknown conversation",
        lambda uid, cid: (
            lambda tx: repo.add_message(
                tx, user_id=uid, conversation_id=cid + 999, role=MessageRole.USER, text="hi"
            )
        ),
        "storage.unknown_reference",
    ),
    (
        "unknown user (database foreign key)",
        lambda uid, cid: lambda tx: repo.create_conversation(tx, user_id=uid + 999),
        "storage.unknown_reference",
    ),
    (
        "unknown user for a key",
        lambda uid, cid: lambda tx: repo.create_api_key(tx, user_id=uid + 999, name="k"),
        "storage.unknown_reference",
    ),
    (
        "summary too long",
        lambda uid, cid: (
            lambda tx: repo.checkpoint_conversation(
                tx,
                user_id=uid,
                conversation_id=cid,
                expected_version=1,
                summary="s" * 21,
                summary_through_message_id=1,
            )
        ),
        "storage.text_too_long",
    ),
    (
        "title with nul",
        lambda uid, cid: lambda tx: repo.create_conversation(tx, user_id=uid, title="a\x00"),
        "storage.invalid_text",
    ),
    (
        "memory not utf-8",
        lambda uid, cid: lambda tx: repo.create_memory(tx, user_id=uid, text=b"\xff\xfe"),
        "storage.invalid_text",
    ),
]


@pytest.mark.parametrize(("case", "call", "code"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
async def test_bad_input_gets_a_typed_error_and_changes_nothing(
    open_db: OpenDb, case: str, call: Any, code: str
) -> None:
    db, user_id, conv = await seeded(open_db)
    before = await snapshot(db)
    with pytest.raises(StorageInputError) as caught:
        async with db.uow() as tx:
            await repo.add_message(
                tx, user_id=user_id, conversation_id=conv.id, role=MessageRole.USER, text="ok"
            )
            await call(user_id, conv.id)(tx)
    assert caught.value.code == code
    assert not caught.value.transient
    assert await snapshot(db) == before


async def test_database_rejects_what_slips_past_the_repositories(open_db: OpenDb) -> None:
    db, user_id, conv = await seeded(open_db)
    before = await snapshot(db)
    with pytest.raises(StorageInputError) as caught:
        async with db.uow() as tx:
            await tx.execute(
                text(
                    "INSERT INTO messages (conversation_id, user_id, role, text, status,"
                    " token_count, version, created_at, updated_at)"
                    " VALUES (:c, :u, 'robot', 'x', 'complete', 0, 1, :t, :t)"
                ),
                {"c": conv.id, "u": user_id, "t": conv.created_at},
            )
    assert caught.value.code == "storage.invalid_input"  # the role check constraint
    assert await snapshot(db) == before


def test_clean_text_accepts_unicode_and_bytes() -> None:
    assert clean_text("héllo ✓ 🎙", field="t", max_chars=10) == "héllo ✓ 🎙"
    assert clean_text("héllo".encode(), field="t", max_chars=5) == "héllo"
    with pytest.raises(StorageInputError, match="byte 3"):
        clean_text(b"caf\xe9", field="t", max_chars=10)
