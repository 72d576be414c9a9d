"""Semantic memory on real SQLite and PostgreSQL: remember, recall, forget, isolation, paths."""

from __future__ import annotations

import asyncio
import sqlite3

import numpy as np
import pytest
from sqlalchemy import update

from tests.integration.memory_fixtures import mem_db, users
from vocable.config_sections import MemorySettings
from vocable.engines.embed.cache import CachedEmbedder
from vocable.engines.embed.hashing import HashingEmbedder
from vocable.engines.embed.minilm import MiniLMEmbedder
from vocable.errors import NotFoundError, StorageInputError
from vocable.memory.semantic import Recalled, SemanticMemory
from vocable.storage import Database, repo
from vocable.storage.models import Memory
from vocable.storage.repo import memories as memory_repo

__all__ = ["mem_db"]

FACTS = [
    "my sister lives in lisbon",
    "the dentist appointment is on tuesday",
    "my favourite colour is green",
    "the wifi password is on the fridge",
]


async def test_remember_then_recall_ranks_by_meaning(mem_db: Database) -> None:
    (ann,) = await users(mem_db, "ann")
    memory = SemanticMemory(mem_db, HashingEmbedder())
    ids = [await memory.remember(user_id=ann, text=f) for f in FACTS]
    assert len(set(ids)) == 4
    hits = await memory.recall(user_id=ann, query="when is the dentist appointment?", k=2)
    assert [h.id for h in hits][0] == ids[1]
    assert len(hits) == 2 and hits[0].score > hits[1].score
    assert isinstance(hits[0], Recalled) and hits[0].kind == "fact"
    assert hits[0].text == FACTS[1]
    assert await memory.recall(user_id=ann, query="   ", k=3) == []
    assert await memory.recall(user_id=ann, query="dentist", k=0) == []
    assert len(await memory.recall(user_id=ann, query="dentist", k=50)) == 4


async def test_users_never_see_each_others_memories(mem_db: Database) -> None:
    ann, bob = await users(mem_db, "ann", "bob")
    memory = SemanticMemory(mem_db, HashingEmbedder())
    secret = await memory.remember(user_id=ann, text="my pin is 4321", kind="secret")
    await memory.remember(user_id=bob, text="bob likes jazz")
    assert [h.text for h in await memory.recall(user_id=bob, query="my pin", k=5)] == [
        "bob likes jazz"
    ]
    assert [m.id for m in await memory.items(user_id=bob)] != [secret]
    with pytest.raises(NotFoundError) as caught:
        await memory.forget(user_id=bob, memory_id=secret)
    assert caught.value.code == "storage.not_found"
    assert [m.kind for m in await memory.items(user_id=ann)] == ["secret"]
    await memory.forget(user_id=ann, memory_id=secret)
    assert await memory.items(user_id=ann) == []
    with pytest.raises(NotFoundError):
        await memory.forget(user_id=ann, memory_id=secret)


async def test_items_are_newest_first_and_limited(mem_db: Database) -> None:
    (ann,) = await users(mem_db, "ann")
    memory = SemanticMemory(mem_db, HashingEmbedder())
    for fact in FACTS:
        await memory.remember(user_id=ann, text=fact, kind="note")
    listed = await memory.items(user_id=ann, limit=3)
    assert [m.text for m in listed] == FACTS[:0:-1]
    assert all(m.score == 0.0 and m.kind == "note" for m in listed)


async def test_bad_input_is_refused_with_typed_errors(mem_db: Database) -> None:
    ann, bob = await users(mem_db, "ann", "bob")
    memory = SemanticMemory(mem_db, HashingEmbedder(), MemorySettings(max_text_chars=20))
    with pytest.raises(StorageInputError, match="needs some text"):
        await memory.remember(user_id=ann, text="  ")
    with pytest.raises(StorageInputError) as too_long:
        await memory.remember(user_id=ann, text="x" * 21)
    assert too_long.value.code == "memory.too_long"
    with pytest.raises(StorageInputError, match="NUL"):
        await memory.remember(user_id=ann, text="a\x00b")
    async with mem_db.uow() as tx:
        bobs = await repo.create_conversation(tx, user_id=bob)
    with pytest.raises(StorageInputError) as foreign:
        await memory.remember(user_id=ann, text="tied", conversation_id=bobs.id)
    assert foreign.value.code == "storage.unknown_reference"
    assert await memory.items(user_id=ann) == []


async def test_memories_without_current_vectors_are_embedded_on_recall(mem_db: Database) -> None:
    (ann,) = await users(mem_db, "ann")
    async with mem_db.uow() as tx:  # as the API stored them before this issue: no vector
        await repo.create_memory(tx, user_id=ann, text="the boiler was serviced in may")
    old = SemanticMemory(mem_db, HashingEmbedder(dim=64))
    await old.remember(user_id=ann, text="my cat is called tom")
    memory = SemanticMemory(mem_db, HashingEmbedder())  # another model: every vector is stale
    hits = await memory.recall(user_id=ann, query="when was the boiler serviced", k=1)
    assert hits[0].text == "the boiler was serviced in may"
    assert await memory.reindex(user_id=ann) == 0
    async with mem_db.uow(readonly=True) as tx:
        rows = await memory_repo.memories_page(tx, user_id=ann)
    assert {r.embed_model for r in rows} == {"hashing-384"}
    assert all(len(r.embedding or b"") == 384 * 4 for r in rows)


async def test_vectors_of_the_wrong_length_are_skipped_not_crashed(mem_db: Database) -> None:
    (ann,) = await users(mem_db, "ann")
    memory = SemanticMemory(mem_db, HashingEmbedder())
    good = await memory.remember(user_id=ann, text="keep calm")
    bad = await memory.remember(user_id=ann, text="broken vector")
    async with mem_db.uow() as tx:
        await tx.execute(update(Memory).where(Memory.id == bad).values(embedding=b"\x00" * 12))
    assert [h.id for h in await memory.recall(user_id=ann, query="broken vector", k=5)] == [good]


async def test_the_active_path_is_reported_and_falls_back_to_numpy(mem_db: Database) -> None:
    memory = SemanticMemory(mem_db, HashingEmbedder())
    path = await memory.vector_path()
    if mem_db.dialect == "sqlite" and not hasattr(sqlite3.Connection, "enable_load_extension"):
        assert path == "numpy"
        assert "cannot load extensions" in memory.search.reason
    if mem_db.dialect == "postgresql":
        async with mem_db.engine.connect() as conn:
            has_vector = (
                await conn.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname='vector'")
            ).scalar()
        assert path == ("pgvector" if has_vector else "numpy")
        if not has_vector:
            assert "pgvector is not installed" in memory.search.reason
    forced = SemanticMemory(mem_db, HashingEmbedder(), MemorySettings(vector_search="numpy"))
    assert await forced.vector_path() == "numpy"


async def test_numpy_scores_equal_cosine_similarity(mem_db: Database) -> None:
    (ann,) = await users(mem_db, "ann")
    embedder = HashingEmbedder()
    memory = SemanticMemory(mem_db, embedder, MemorySettings(vector_search="numpy"))
    for fact in FACTS:
        await memory.remember(user_id=ann, text=fact)
    query = "what colour do i like"
    hits = await memory.recall(user_id=ann, query=query, k=4)
    vectors = await embedder.embed([query, *[h.text for h in hits]])
    np.testing.assert_allclose([h.score for h in hits], vectors[1:] @ vectors[0], atol=1e-5)


async def test_concurrent_remembers_all_land(mem_db: Database) -> None:
    (ann,) = await users(mem_db, "ann")
    memory = SemanticMemory(mem_db, CachedEmbedder(HashingEmbedder(), 64))
    ids = await asyncio.gather(
        *(memory.remember(user_id=ann, text=f"fact number {i}") for i in range(20))
    )
    assert len(set(ids)) == 20
    assert len(await memory.items(user_id=ann)) == 20


@pytest.mark.slow
async def test_minilm_recalls_a_paraphrase(mem_db: Database) -> None:
    (ann,) = await users(mem_db, "ann")
    embedder = await MiniLMEmbedder.load()
    try:
        memory = SemanticMemory(mem_db, embedder)
        for fact in FACTS:
            await memory.remember(user_id=ann, text=fact)
        hits = await memory.recall(user_id=ann, query="Which city is my sister in?", k=1)
        assert hits[0].text == "my sister lives in lisbon" and hits[0].score > 0.4
    finally:
        await embedder.close()


async def test_an_extension_that_fails_to_load_falls_back_to_numpy(
    mem_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if mem_db.dialect != "sqlite":
        pytest.skip("sqlite-vec is SQLite's")
    from vocable.memory import vectors

    monkeypatch.setattr(vectors, "sqlite_can_load_extensions", lambda: True)
    (ann,) = await users(mem_db, "ann")
    memory = SemanticMemory(mem_db, HashingEmbedder())
    assert await memory.vector_path() == ("numpy" if not sqlite3_loads() else "sqlite-vec")
    if not sqlite3_loads():
        assert memory.search.reason.startswith("sqlite-vec did not load")
    await memory.remember(user_id=ann, text="still searchable")
    assert [h.text for h in await memory.recall(user_id=ann, query="searchable", k=1)] == [
        "still searchable"
    ]


def sqlite3_loads() -> bool:
    return hasattr(sqlite3.Connection, "enable_load_extension")
