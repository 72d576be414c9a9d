"""remember / recall / forget through the semantic memory on SQLite, and summarise with SmolLM2.

The memory uses the model-free hashing embedder (the intent path and memory share one embedder);
all-MiniLM-L6-v2 routing is in test_tools_minilm.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes import FakeLLM
from vocable.cli_chat import chat_turn
from vocable.config import Settings
from vocable.engines.embed.hashing import HashingEmbedder
from vocable.engines.llm.base import ChatMessage
from vocable.engines.llm.llama_cpp import LlamaCppLLM
from vocable.memory.history import local_user_id
from vocable.memory.semantic import SemanticMemory
from vocable.stages.respond import Conversation
from vocable.storage.db import Database
from vocable.tools import Toolbox, build_toolbox
from vocable.tools.context import ToolContext


@pytest.fixture
async def box(settings: Settings) -> AsyncIterator[Toolbox]:
    db = await Database.open(settings.storage, data_dir=settings.data_dir)
    async with db:
        user = await local_user_id(db)
        yield build_toolbox(settings, db=db, user_id=user, embedder=HashingEmbedder())


async def stored(box: Toolbox) -> list[str]:
    memory = box.context.memory
    assert isinstance(memory, SemanticMemory) and box.context.user_id is not None
    return [m.text for m in await memory.items(user_id=box.context.user_id)]


async def test_remember_recall_and_forget_by_voice_command(
    settings: Settings, box: Toolbox
) -> None:
    conversation = Conversation("sys", tools=box)
    llm = FakeLLM(["The model should not be asked."])
    said = await chat_turn(settings, llm, conversation, "Remember that my sister is called Ann.")
    assert said.reply == "OK, I'll remember that your sister is called Ann."
    assert said.tool_calls[0]["name"] == "remember" and said.tool_calls[0]["path"] == "intent"
    assert await stored(box) == ["my sister is called Ann"]
    recalled = await box.registry.call("recall", {"query": "my sister's name"}, box.context)
    assert recalled.text == "I remember: your sister is called Ann."
    nothing = await box.registry.call("recall", {"query": "favourite football club"}, box.context)
    assert nothing.text == "I don't remember anything about that."
    gone = await chat_turn(settings, llm, conversation, "forget that my sister is called Ann")
    assert gone.reply == "OK, I've forgotten that your sister is called Ann."
    assert await stored(box) == []
    again = await box.registry.call("forget", {"what": "my sister"}, box.context)
    assert again.text == "I don't have a memory like that to forget."
    assert llm.prompts == []  # the intent path answered every command


async def test_memory_tools_without_memory_say_so(settings: Settings) -> None:
    box = build_toolbox(settings)
    for name, args in (("remember", {"text": "x"}), ("recall", {"query": "x"})):
        result = await box.registry.call(name, args, box.context)
        assert (result.ok, result.text) == (False, "Long-term memory is not available here.")


async def test_an_empty_memory_is_refused_clearly(box: Toolbox) -> None:
    result = await box.registry.call("remember", {"text": "   "}, box.context)
    assert (result.ok, result.code) == (False, "memory.empty")
    assert result.text == "The remember tool failed: a memory needs some text"


@pytest.mark.slow
async def test_summarise_conversation_asks_the_model(settings: Settings) -> None:
    llm = await LlamaCppLLM.load(settings)
    try:
        ctx = ToolContext(settings, llm=llm)
        box = build_toolbox(settings, llm=llm)
        empty = await box.registry.call("summarise_conversation", {}, box.context)
        assert empty.text == "We have not talked about anything yet."
        box.context = ctx
        ctx.history = [
            ChatMessage("user", "I am planning a trip to Paris in June."),
            ChatMessage("assistant", "Paris in June is lovely; book the Louvre early."),
            ChatMessage("user", "I will also visit Lyon by train."),
            ChatMessage("assistant", "The train from Paris to Lyon takes two hours."),
        ]
        result = await box.registry.call("summarise_conversation", {}, ctx)
    finally:
        await llm.close()
    assert result.ok, result.text
    assert len(result.text.split()) >= 3
    assert result.text != "We have not talked about anything yet."
