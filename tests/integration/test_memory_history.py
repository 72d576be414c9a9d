"""Context window management: heard text only, budgeted compaction, stored summaries, memories."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.fakes import FakeLLM
from tests.integration.memory_fixtures import mem_db, users
from vocable.config import Settings, load_settings
from vocable.config_sections import MemorySettings
from vocable.engines.embed.hashing import HashingEmbedder
from vocable.engines.llm.base import ChatMessage
from vocable.engines.llm.llama_cpp import LlamaCppLLM
from vocable.errors import EngineError
from vocable.memory.history import (
    MEMORY_HEADER,
    SUMMARY_PREFIX,
    compact,
    context_budget,
    estimate_tokens,
    load_history,
    memory_message,
    prepare_history,
    recaller,
)
from vocable.memory.semantic import SemanticMemory
from vocable.memory.summary import CHUNK_CHARS, extractive, summarise, transcript
from vocable.storage import Database, repo
from vocable.storage.models import MessageRole, MessageStatus
from vocable.storage.repo import memories as memory_repo

__all__ = ["mem_db"]

R, S = MessageRole, MessageStatus


@pytest.fixture(scope="session")
def smollm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppLLM]:
    settings = load_settings(data_dir=tmp_path_factory.mktemp("llm"), llm={"max_tokens": 60})
    llm = asyncio.run(LlamaCppLLM.load(settings))
    yield llm
    asyncio.run(llm.close())


async def _conversation(db: Database, user_id: int, turns: int) -> int:
    """`turns` exchanges; the second reply was interrupted, the third failed."""
    async with db.uow() as tx:
        conv = await repo.create_conversation(tx, user_id=user_id)
        for i in range(turns):
            await repo.add_message(
                tx, user_id=user_id, conversation_id=conv.id, role=R.USER, text=f"question {i}"
            )
            status = {1: S.INTERRUPTED, 2: S.FAILED}.get(i, S.COMPLETE)
            await repo.add_message(
                tx,
                user_id=user_id,
                conversation_id=conv.id,
                role=R.ASSISTANT,
                text=f"answer {i} UNHEARD-TAIL" if i == 1 else f"answer {i}",
                status=status,
                heard_text=f"answer {i}" if i == 1 else None,
            )
    return int(conv.id)


async def test_history_holds_only_what_was_heard(mem_db: Database) -> None:
    (ann,) = await users(mem_db, "ann")
    conv = await _conversation(mem_db, ann, 3)
    history = await load_history(mem_db, user_id=ann, conversation_id=conv, system_prompt="sys")
    contents = [m.content for m in history.messages]
    assert contents == ["question 0", "answer 0", "question 1", "answer 1", "question 2"]
    assert not any("UNHEARD" in c for c in contents)


async def test_compaction_folds_old_heard_messages_and_keeps_the_originals(
    mem_db: Database,
) -> None:
    (ann,) = await users(mem_db, "ann")
    conv = await _conversation(mem_db, ann, 8)
    llm = FakeLLM(["Ann asked", " eight questions."])
    assert not await compact(mem_db, llm, user_id=ann, conversation_id=conv, budget_tokens=10_000)
    assert llm.prompts == []
    made = await compact(
        mem_db, llm, user_id=ann, conversation_id=conv, budget_tokens=20, keep_recent=4
    )
    assert made
    folded = llm.prompts[0][1].content
    assert "User: question 0" in folded and "Assistant: answer 1" in folded
    assert "UNHEARD" not in folded and "answer 2" not in folded  # failed: never heard
    assert "question 6" not in folded  # the four newest stay verbatim
    async with mem_db.uow(readonly=True) as tx:
        steps = await memory_repo.list_summaries(tx, user_id=ann, conversation_id=conv)
        kept = await repo.list_messages(tx, user_id=ann, conversation_id=conv)
    assert [s.text for s in steps] == ["Ann asked eight questions."]
    assert steps[0].message_count == 12 and len(kept) == 16
    history = await load_history(mem_db, user_id=ann, conversation_id=conv, system_prompt="s")
    assert history.messages[0].content == SUMMARY_PREFIX + "Ann asked eight questions."
    assert [m.content for m in history.messages[1:]] == [
        "question 6",
        "answer 6",
        "question 7",
        "answer 7",
    ]


async def test_compaction_is_incremental(mem_db: Database) -> None:
    (ann,) = await users(mem_db, "ann")
    conv = await _conversation(mem_db, ann, 6)
    first = FakeLLM(["first summary"])
    await compact(mem_db, first, user_id=ann, conversation_id=conv, budget_tokens=1, keep_recent=2)
    async with mem_db.uow() as tx:
        for text in ("later question", "later answer", "one more", "and its answer"):
            role = R.USER if "question" in text or text == "one more" else R.ASSISTANT
            await repo.add_message(tx, user_id=ann, conversation_id=conv, role=role, text=text)
    second = FakeLLM(["second summary"])
    await compact(mem_db, second, user_id=ann, conversation_id=conv, budget_tokens=1, keep_recent=2)
    prompt = second.prompts[0][1].content
    assert "Summary so far: first summary" in prompt
    assert "question 0" not in prompt and "later question" in prompt
    async with mem_db.uow(readonly=True) as tx:
        steps = await memory_repo.list_summaries(tx, user_id=ann, conversation_id=conv)
    assert [s.text for s in steps] == ["first summary", "second summary"]
    assert steps[0].through_message_id < steps[1].through_message_id


class _Broken(FakeLLM):
    async def stream(self, messages):  # type: ignore[no-untyped-def,override]
        raise EngineError("the model went away")
        yield ""  # pragma: no cover - makes this an async generator


async def test_a_failed_summary_keeps_the_long_history(
    mem_db: Database, settings: Settings
) -> None:
    (ann,) = await users(mem_db, "ann")
    conv = await _conversation(mem_db, ann, 6)
    tight = settings.model_copy(
        update={"memory": MemorySettings(context_tokens=8, keep_recent_messages=2)}
    )
    history = await prepare_history(
        mem_db, tight, user_id=ann, conversation_id=conv, llm=_Broken([])
    )
    assert len(history.messages) == 11  # 12 messages, less the failed reply
    async with mem_db.uow(readonly=True) as tx:
        assert await memory_repo.list_summaries(tx, user_id=ann, conversation_id=conv) == []


async def test_relevant_memories_are_injected_within_the_budget(mem_db: Database) -> None:
    (ann,) = await users(mem_db, "ann")
    cfg = MemorySettings(recall_k=3, min_score=0.2, prompt_chars=len(MEMORY_HEADER) + 40)
    memory = SemanticMemory(mem_db, HashingEmbedder(), cfg)
    await memory.remember(user_id=ann, text="ann's sister lives in lisbon")
    await memory.remember(user_id=ann, text="ann's sister is called bea and lives near lisbon")
    await memory.remember(user_id=ann, text="the car is blue")
    recall = recaller(memory, user_id=ann)
    injected = await recall("where does my sister live")
    assert injected is not None and injected.role == "system"
    assert injected.content.startswith(MEMORY_HEADER)
    assert "- ann's sister lives in lisbon" in injected.content
    assert "blue" not in injected.content  # below min_score
    assert len(injected.content) <= cfg.prompt_chars  # the second sister fact did not fit
    none = await memory_message(memory, user_id=ann, query="quantum chromodynamics", settings=cfg)
    assert none is None
    assert await recaller(SemanticMemory(mem_db, HashingEmbedder(), cfg), user_id=999)("x") is None
    off = MemorySettings(recall_k=0)
    assert await memory_message(memory, user_id=ann, query="sister", settings=off) is None


def test_budget_and_token_estimate(settings: Settings) -> None:
    assert context_budget(settings) == settings.llm.n_ctx - settings.llm.max_tokens
    pinned = settings.model_copy(update={"memory": MemorySettings(context_tokens=500)})
    assert context_budget(pinned) == 500
    assert estimate_tokens([ChatMessage("user", "x" * 40)]) == 15


async def test_summarise_chunks_long_transcripts_and_falls_back_when_empty() -> None:
    lines = [ChatMessage("user", "word " * 300) for _ in range(5)]
    llm = FakeLLM([""])  # says nothing: an extractive summary is kept instead
    summary = await summarise(llm, lines, previous="before")
    assert len(llm.prompts) > 1  # folded chunk by chunk
    assert all(len(p[1].content) < CHUNK_CHARS + 400 for p in llm.prompts)
    assert summary.startswith("before") and "word" in summary
    assert await summarise(llm, [ChatMessage("user", "  ")], previous="same") == "same"
    assert transcript([ChatMessage("assistant", " hi\n there ")]) == ["Assistant: hi there"]
    assert len(extractive(["a " * 20] * 20, max_chars=100)) == 100


@pytest.mark.slow
async def test_smollm_writes_a_summary_of_what_was_said(smollm: LlamaCppLLM) -> None:
    messages = [
        ChatMessage("user", "My sister Bea lives in Lisbon and visits in June."),
        ChatMessage("assistant", "Lovely, I will remember that Bea visits in June."),
    ]
    summary = await summarise(smollm, messages)
    assert summary and len(summary) <= 1500
    words = {w.strip(".,").lower() for w in summary.split()}
    assert words & {"bea", "lisbon", "june", "sister"}
