"""The conversation log on a real SQLite database, driven by a real pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.fakes import FakeLLM, FakeTTS
from vocable.config import Settings
from vocable.frames import Interrupt, PipelineEventType, Transcript
from vocable.memory.history import load_history, local_user_id, start_conversation
from vocable.memory.recorder import ConversationRecorder
from vocable.pipeline import Pipeline, StageContext
from vocable.stages.chunk_sentences import ChunkSentences
from vocable.stages.respond import Respond
from vocable.stages.synthesize import Synthesize
from vocable.storage import repo
from vocable.storage.db import Database
from vocable.storage.writer import MessageWriter

REPLY = ["First sentence here. ", "Second one follows. ", "Third is last."]


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[tuple[Database, MessageWriter, int, int]]:
    db = await Database.open(settings.storage, data_dir=settings.data_dir)
    async with db, MessageWriter(db) as writer:
        user = await local_user_id(db)
        assert await local_user_id(db) == user  # one local user, however often asked
        conversation = await start_conversation(db, user_id=user)
        yield db, writer, user, conversation


async def messages(db: Database, user: int, conversation: int) -> list[tuple[str, str, str, str]]:
    async with db.uow(readonly=True) as tx:
        rows = await repo.list_messages(tx, user_id=user, conversation_id=conversation)
    return [(str(m.role), str(m.status), m.text, m.heard_text or "") for m in rows]


async def test_barge_in_keeps_only_what_was_heard(
    settings: Settings, store: tuple[Database, MessageWriter, int, int]
) -> None:
    db, writer, user, conversation = store
    ctx = StageContext.for_settings(settings)
    tts = FakeTTS(delay_s=0.05)
    stages = [Respond(ctx, FakeLLM(REPLY, delay_s=0.01)), ChunkSentences(ctx), Synthesize(ctx, tts)]
    async with ConversationRecorder(db, writer, user_id=user, conversation_id=conversation) as rec:
        rec.attach(ctx.bus)
        first_heard = asyncio.Event()
        ctx.bus.add_listener(
            lambda e: first_heard.set() if e.kind is PipelineEventType.TTS_DONE else None
        )
        async with Pipeline(stages, bus=ctx.bus) as pipe:
            # What the transcribe stage reports before it sends the transcript on.
            ctx.bus.emit("transcribe", PipelineEventType.TRANSCRIPT, 1, text="tell me three things")
            await pipe.send(Transcript("tell me three things", turn_id=1))
            await first_heard.wait()
            await pipe.send(Interrupt(turn_id=1))
            await pipe.end()
            async for _ in pipe:
                pass
    stored = await messages(db, user, conversation)
    assert stored[0] == ("user", "complete", "tell me three things", "")
    role, status, text, heard = stored[1]
    assert (role, status, heard) == ("assistant", "interrupted", "First sentence here.")
    assert text.startswith("First sentence here.")  # generated text is kept beside heard text
    async with db.uow(readonly=True) as tx:
        (turn,) = await repo.list_turns(tx, user_id=user, conversation_id=conversation)
    assert turn.interrupted and turn.assistant_message_id is not None
    history = await load_history(
        db, user_id=user, conversation_id=conversation, system_prompt="sys"
    )
    assert [m.content for m in history.messages] == ["tell me three things", "First sentence here."]


async def test_a_failed_reply_is_marked_failed(
    settings: Settings, store: tuple[Database, MessageWriter, int, int]
) -> None:
    db, writer, user, conversation = store
    ctx = StageContext.for_settings(settings)
    bus = ctx.bus
    async with ConversationRecorder(db, writer, user_id=user, conversation_id=conversation) as rec:
        rec.attach(bus)
        bus.emit("transcribe", PipelineEventType.TRANSCRIPT, 3, text="hello")
        bus.emit("respond", PipelineEventType.LLM_REQUEST, 3)
        bus.emit("respond", PipelineEventType.LLM_TOKEN, 3, text="Hel")
        bus.emit("respond", PipelineEventType.ERROR, 3, code="llm.failed", message="x")
        bus.emit("respond", PipelineEventType.LLM_TOKEN, 3, text="ignored after failure")
    stored = await messages(db, user, conversation)
    assert stored[1][:3] == ("assistant", "failed", "Hel")
    assert rec.errors == []
    history = await load_history(db, user_id=user, conversation_id=conversation, system_prompt="s")
    assert [m.role for m in history.messages] == ["user"]  # failed replies are not prompt history


async def test_database_errors_are_kept_not_raised(
    settings: Settings, store: tuple[Database, MessageWriter, int, int]
) -> None:
    db, writer, user, _ = store
    ctx = StageContext.for_settings(settings)
    async with ConversationRecorder(db, writer, user_id=user, conversation_id=987654) as rec:
        rec.attach(ctx.bus)
        ctx.bus.emit("transcribe", PipelineEventType.TRANSCRIPT, 1, text="to nowhere")
    assert [e.code for e in rec.errors] == ["storage.unknown_reference"]
