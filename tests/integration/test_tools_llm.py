"""Tools with a real OpenAI-compatible engine against a scripted SSE server on loopback.

Native tool calls and their results, malformed tool-call JSON, and the server going away in the
middle of a reply (a typed error; the partial reply is logged as interrupted).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.integration.test_llm_loopback import Reply
from tests.integration.test_llm_openai_compat import openai_settings
from tests.integration.test_llm_openai_sse import delta, fragment, sse, sse_server
from vocable.cli_chat import chat_turn
from vocable.config import Settings
from vocable.engines.llm.openai_compat import OpenAICompatLLM
from vocable.memory.history import load_history, local_user_id, start_conversation
from vocable.stages.respond import Conversation
from vocable.storage import repo
from vocable.storage.db import Database
from vocable.storage.writer import MessageWriter
from vocable.tools import build_toolbox
from vocable.tools.turn import MALFORMED_NOTE


def text_stream(*pieces: str) -> Reply:
    return sse(*(delta(content=p) for p in pieces), delta(finish="stop"), "[DONE]")


def chats(server: Any) -> list[dict[str, Any]]:
    return [r.body for r in server.requests if r.path == "/v1/chat/completions"]


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[tuple[Database, MessageWriter, int, int]]:
    db = await Database.open(settings.storage, data_dir=settings.data_dir)
    async with db, MessageWriter(db) as writer:
        user = await local_user_id(db)
        yield db, writer, user, await start_conversation(db, user_id=user)


async def test_a_native_tool_call_runs_and_the_model_answers_from_its_result(
    settings: Settings,
) -> None:
    call = sse(
        delta(tool_calls=[fragment(0, '{"expression": ', id="call_c", name="calculate")]),
        delta(tool_calls=[fragment(0, '"17*23"}')]),
        delta(finish="tool_calls"),
        "[DONE]",
    )
    async with sse_server(call, text_stream("It is ", "391.")) as server:
        llm = await OpenAICompatLLM.load(openai_settings(settings, f"{server.url}/v1"))
        try:
            conversation = Conversation("sys", tools=build_toolbox(settings, llm=llm))
            result = await chat_turn(settings, llm, conversation, "what is 17 times 23")
        finally:
            await llm.close()
    assert (result.reply, result.status) == ("It is 391.", "complete")
    (used,) = result.tool_calls
    assert used["name"] == "calculate" and used["path"] == "native"
    assert used["arguments"] == {"expression": "17*23"} and used["result"] == "17 times 23 is 391."
    first, second = chats(server)
    assert "calculate" in [t["function"]["name"] for t in first["tools"]]
    tool_message = second["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["content"] == "17 times 23 is 391."
    assert tool_message["tool_call_id"] == "call_c"
    assert second["messages"][-2]["tool_calls"][0]["function"]["name"] == "calculate"


async def test_malformed_tool_call_json_gets_a_plain_answer_instead(settings: Settings) -> None:
    bad = sse(
        delta(tool_calls=[fragment(0, '{"expression": 17*', id="call_x", name="calculate")]),
        delta(finish="tool_calls"),
        "[DONE]",
    )
    async with sse_server(bad, text_stream("About ", "391.")) as server:
        llm = await OpenAICompatLLM.load(openai_settings(settings, f"{server.url}/v1"))
        try:
            conversation = Conversation("sys", tools=build_toolbox(settings, llm=llm))
            result = await chat_turn(settings, llm, conversation, "what is 17 times 23")
        finally:
            await llm.close()
    assert (result.reply, result.status, result.error) == ("About 391.", "complete", None)
    (malformed,) = result.tool_calls
    assert "calculate" in malformed["error"] and malformed["path"] == "native"
    first, retry = chats(server)
    assert first.get("tools") and not retry.get("tools")
    assert retry["messages"][-1] == {"role": "user", "content": MALFORMED_NOTE}
    assert conversation.messages[-1].content == "About 391."


async def test_the_server_going_away_mid_reply_keeps_the_partial_reply_as_interrupted(
    settings: Settings, store: tuple[Database, MessageWriter, int, int]
) -> None:
    db, writer, user, conv = store
    half = sse(delta(content="The answer "), delta(content="is"), delta(content=" 391."))
    half.abort_after = 4  # two SSE events (each a data line and a blank line), then a reset
    async with sse_server(half) as server:
        llm = await OpenAICompatLLM.load(openai_settings(settings, f"{server.url}/v1"))
        try:
            conversation = Conversation("sys", tools=build_toolbox(settings, llm=llm))
            result = await chat_turn(
                settings,
                llm,
                conversation,
                "tell me the answer",
                db=db,
                writer=writer,
                user_id=user,
                conversation_id=conv,
            )
        finally:
            await llm.close()
    assert (result.reply, result.status) == ("The answer is", "interrupted")
    assert result.error is not None and result.error.code == "llm.stream_broken"
    assert len(chats(server)) == 1  # never retried once text had come
    async with db.uow(readonly=True) as tx:
        messages = await repo.list_messages(tx, user_id=user, conversation_id=conv)
        (turn,) = await repo.list_turns(tx, user_id=user, conversation_id=conv)
    assert [(str(m.role), str(m.status)) for m in messages] == [
        ("user", "complete"),
        ("assistant", "interrupted"),
    ]
    assert messages[1].text == "The answer is" and messages[1].heard_text == "The answer is"
    assert turn.interrupted
    history = await load_history(db, user_id=user, conversation_id=conv, system_prompt="sys")
    assert [m.content for m in history.messages][-2:] == ["tell me the answer", "The answer is"]
