"""The Ollama engine: protocol tests on documented NDJSON fixtures, and a live test.

The fixtures in tests/fixtures/ollama are BUILT FROM OLLAMA'S DOCUMENTED API (docs/api.md,
"Generate a chat completion"), not recorded from a server; see the README there. Documented shape
of a streamed ``POST /api/chat`` reply, one JSON object per line:

    {"model": "llama3.2", "message": {"role": "assistant", "content": "The"}, "done": false}
    {"model": "llama3.2", "message": {"role": "assistant", "content": "", "tool_calls":
        [{"function": {"name": "get_current_weather", "arguments": {"location": "Paris, FR"}}}]},
     "done": false}
    {"model": "llama3.2", "message": {...}, "done": true, "done_reason": "stop", ...}

They are served by a real HTTP server on 127.0.0.1 (`LoopbackServer`). The live test runs against
a real Ollama only when VOCABLE_TEST_OLLAMA_URL is set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import with_settings
from tests.integration.test_llm_loopback import LoopbackServer, Reply, ollama_settings
from vocable.config import Settings
from vocable.engines.llm.base import ChatMessage, MalformedToolCallError, ToolCall, ToolSpec
from vocable.engines.llm.http import ServerTransportError
from vocable.engines.llm.ollama import OllamaLLM
from vocable.errors import EngineError, EngineUnavailableError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ollama"
QUESTION = [ChatMessage("system", "Be brief."), ChatMessage("user", "Why is the sky blue?")]
WEATHER = ToolSpec(
    "get_current_weather",
    "Get the current weather for a location",
    {
        "type": "object",
        "properties": {"location": {"type": "string"}, "format": {"enum": ["celsius"]}},
        "required": ["location"],
    },
)


def fixture(name: str, status: int = 200) -> Reply:
    lines = (FIXTURES / name).read_text().splitlines()
    kind = "application/json" if name.endswith(".json") else "application/x-ndjson"
    return Reply(status=status, lines=lines, content_type=kind)


def server_with(*chat: Reply) -> LoopbackServer:
    server = LoopbackServer()
    server.route("GET", "/api/version", fixture("version.json"))
    server.route("GET", "/api/tags", fixture("tags.json"))
    server.route("POST", "/api/chat", *chat)
    return server


async def reply(settings: Settings, name: str, **llm: Any) -> tuple[list[object], Any]:
    """Stream one reply from the named fixture; returns the items and the request body."""
    async with server_with(fixture(name)) as server:
        engine = await OllamaLLM.load(ollama_settings(settings, server, **llm))
        try:
            items = [item async for item in engine.stream(QUESTION, [WEATHER])]
        finally:
            await engine.close()
    return items, server.chat_requests()[0].body


async def test_load_reports_the_server_and_model(session_settings: Settings) -> None:
    async with server_with() as server:
        engine = await OllamaLLM.load(ollama_settings(session_settings, server))
        await engine.close()
    info = engine.info
    assert (info.kind, info.name, info.model, info.version) == (
        "llm",
        "ollama",
        "llama3.2",
        "0.9.0",
    )
    assert info.model_path == server.url and engine.supports_tools
    assert [r.path for r in server.requests] == ["/api/version", "/api/tags"]


async def test_text_streams_piece_by_piece(session_settings: Settings) -> None:
    items, _ = await reply(session_settings, "chat_text.ndjson")
    assert items == ["The", " sky", " is", " blue", "."]


async def test_the_request_follows_the_documented_shape(session_settings: Settings) -> None:
    _, body = await reply(
        session_settings,
        "chat_text.ndjson",
        temperature=0.0,
        seed=7,
        max_tokens=50,
        n_ctx=1024,
        ollama_keep_alive="-1",
    )
    assert body["model"] == "llama3.2" and body["stream"] is True
    assert body["keep_alive"] == -1
    assert body["options"] == {"temperature": 0.0, "seed": 7, "num_predict": 50, "num_ctx": 1024}
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Why is the sky blue?"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_current_weather",
                "description": "Get the current weather for a location",
                "parameters": dict(WEATHER.parameters),
            },
        }
    ]


async def test_a_duration_keep_alive_is_sent_as_a_string(session_settings: Settings) -> None:
    _, body = await reply(session_settings, "chat_text.ndjson", ollama_keep_alive="10m")
    assert body["keep_alive"] == "10m"


async def test_native_tool_calls_become_tool_call_items(session_settings: Settings) -> None:
    items, _ = await reply(session_settings, "chat_tool_call.ndjson")
    assert items == [
        ToolCall("call_0", "get_current_weather", {"format": "celsius", "location": "Paris, FR"})
    ]


async def test_text_then_several_tool_calls_keep_their_order_and_ids(
    session_settings: Settings,
) -> None:
    items, _ = await reply(session_settings, "chat_text_then_tool_call.ndjson")
    assert items == [
        "Let me check.",
        ToolCall("call_a1", "get_current_weather", {"format": "celsius", "location": "Toronto"}),
        ToolCall("call_b2", "get_time", {}),
    ]


async def test_tool_call_arguments_that_are_not_json_are_a_typed_error(
    session_settings: Settings,
) -> None:
    with pytest.raises(MalformedToolCallError, match="get_current_weather") as caught:
        await reply(session_settings, "chat_tool_call_bad_arguments.ndjson")
    assert caught.value.code == "llm.malformed_tool_call" and caught.value.transient


async def test_tool_history_goes_out_in_ollama_form(session_settings: Settings) -> None:
    call = ToolCall("call_0", "get_time", {"zone": "UTC"})
    history = [
        ChatMessage("user", "what time is it"),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", "12:00", tool_call_id="call_0", name="get_time"),
    ]
    async with server_with(fixture("chat_text.ndjson")) as server:
        engine = await OllamaLLM.load(ollama_settings(session_settings, server))
        try:
            [_ async for _ in engine.stream(history)]
        finally:
            await engine.close()
    body = server.chat_requests()[0].body
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_time", "arguments": {"zone": "UTC"}}}],
        },
        {"role": "tool", "content": "12:00", "tool_name": "get_time"},
    ]
    assert "tools" not in body


async def test_an_error_line_mid_stream_is_an_engine_error(session_settings: Settings) -> None:
    received: list[object] = []
    async with server_with(fixture("chat_error_mid_stream.ndjson")) as server:
        engine = await OllamaLLM.load(ollama_settings(session_settings, server))
        try:
            with pytest.raises(EngineError, match="unexpected EOF") as caught:
                async for item in engine.stream(QUESTION):
                    received.append(item)
        finally:
            await engine.close()
    assert received == ["The"] and caught.value.code == "llm.failed"
    assert len(server.chat_requests()) == 1


async def test_a_stream_cut_before_done_is_a_broken_stream(session_settings: Settings) -> None:
    with pytest.raises(ServerTransportError) as caught:
        await reply(session_settings, "chat_truncated.ndjson")
    assert caught.value.code == "llm.stream_broken"


async def test_a_model_that_is_not_pulled_says_which_pull_to_run(
    session_settings: Settings,
) -> None:
    async with server_with() as server:
        settings = ollama_settings(session_settings, server, ollama_model="mistral")
        with pytest.raises(EngineUnavailableError) as caught:
            await OllamaLLM.load(settings)
    assert "`ollama pull mistral`" in caught.value.message
    assert caught.value.code == "llm.model_not_found"


async def test_a_model_removed_after_load_is_a_404_with_the_pull_hint(
    session_settings: Settings,
) -> None:
    async with server_with(fixture("error_model_not_found.json", status=404)) as server:
        engine = await OllamaLLM.load(ollama_settings(session_settings, server))
        try:
            with pytest.raises(EngineUnavailableError) as caught:
                [_ async for _ in engine.stream(QUESTION)]
        finally:
            await engine.close()
    assert "`ollama pull llama3.2`" in caught.value.message
    assert not caught.value.transient and len(server.chat_requests()) == 1


async def test_a_tagged_model_name_matches_exactly(session_settings: Settings) -> None:
    async with server_with() as server:
        engine = await OllamaLLM.load(
            ollama_settings(session_settings, server, ollama_model="qwen2.5:3b")
        )
        await engine.close()
        with pytest.raises(EngineUnavailableError, match="ollama pull qwen2.5:7b"):
            await OllamaLLM.load(
                ollama_settings(session_settings, server, ollama_model="qwen2.5:7b")
            )
    assert engine.info.model == "qwen2.5:3b"


LIVE_URL = os.environ.get("VOCABLE_TEST_OLLAMA_URL")


@pytest.mark.skipif(not LIVE_URL, reason="set VOCABLE_TEST_OLLAMA_URL to test a live Ollama")
async def test_a_live_ollama_answers(session_settings: Settings) -> None:
    model = os.environ.get("VOCABLE_TEST_OLLAMA_MODEL", "llama3.2")
    settings = with_settings(
        session_settings,
        llm={"ollama_url": LIVE_URL, "ollama_model": model, "temperature": 0.0, "max_tokens": 32},
    )
    engine = await OllamaLLM.load(settings)
    try:
        pieces = [p async for p in engine.stream(QUESTION)]
        stream = engine.stream(QUESTION)
        first = await anext(stream)
        await stream.aclose()
    finally:
        await engine.close()
    text = "".join(str(p) for p in pieces)
    assert all(isinstance(p, str) for p in pieces) and len(text.split()) >= 3, text
    assert isinstance(first, str) and first
