"""The OpenAI-compatible engine's SSE protocol on a real loopback server.

llama-cpp-python's server streams no tool call for an automatic tool choice, so tool-call
streaming is tested here with chunks in the shape vLLM and the OpenAI API stream them:
``data: {"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "call_w", "function":
{"name": "get_weather", "arguments": ""}}]}}]}``, then fragments of ``arguments`` under the same
``index``, then a chunk with ``finish_reason``, then ``data: [DONE]``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.test_llm_loopback import LoopbackServer, Reply, json_reply
from tests.integration.test_llm_openai_compat import QUESTION, free_port, openai_settings
from vocable.config import Settings
from vocable.engines.llm.base import MalformedToolCallError, ToolCall, ToolSpec
from vocable.engines.llm.openai_compat import OpenAICompatLLM
from vocable.errors import EngineUnavailableError

CLOCK = ToolSpec("get_time", "The current time.", {"type": "object", "properties": {}})


def sse(*chunks: Any) -> Reply:
    lines: list[str] = []
    for chunk in chunks:
        lines += [f"data: {chunk if isinstance(chunk, str) else json.dumps(chunk)}", ""]
    return Reply(lines=lines, content_type="text/event-stream")


def delta(finish: str | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [{"index": 0, "delta": fields, "finish_reason": finish}],
    }


def fragment(index: int, arguments: str, **first: Any) -> dict[str, Any]:
    if first:
        return {
            "index": index,
            "id": first["id"],
            "type": "function",
            "function": {"name": first["name"], "arguments": arguments},
        }
    return {"index": index, "function": {"arguments": arguments}}


TOOL_STREAM = sse(
    delta(role="assistant", content=""),
    delta(content="Checking."),
    delta(tool_calls=[fragment(0, "", id="call_w", name="get_weather")]),
    delta(tool_calls=[fragment(0, '{"location": ')]),
    delta(tool_calls=[fragment(1, "", id="call_t", name="get_time")]),
    delta(tool_calls=[fragment(0, '"Paris"}'), fragment(1, "{}")]),
    delta(finish="tool_calls"),
    "[DONE]",
)


def sse_server(*chat: Reply) -> LoopbackServer:
    server = LoopbackServer()
    server.route("GET", "/v1/models", json_reply({"object": "list", "data": [{"id": "m"}]}))
    server.route("POST", "/v1/chat/completions", *chat)
    return server


async def test_tool_call_fragments_are_joined_by_index(session_settings: Settings) -> None:
    async with sse_server(TOOL_STREAM) as server:
        engine = await OpenAICompatLLM.load(openai_settings(session_settings, f"{server.url}/v1"))
        try:
            items = [i async for i in engine.stream(QUESTION, [CLOCK])]
        finally:
            await engine.close()
    assert items == [
        "Checking.",
        ToolCall("call_w", "get_weather", {"location": "Paris"}),
        ToolCall("call_t", "get_time", {}),
    ]
    body = server.chat_requests("/v1/chat/completions")[0].body
    assert body["stream"] is True and body["model"] == "m"
    assert body["tools"][0]["function"]["name"] == "get_time"
    assert "authorization" not in server.requests[0].headers


async def test_malformed_tool_arguments_are_a_typed_error(session_settings: Settings) -> None:
    bad = sse(
        delta(tool_calls=[fragment(0, '{"location": "Par', id="c", name="get_weather")]),
        delta(finish="tool_calls"),
        "[DONE]",
    )
    async with sse_server(bad) as server:
        engine = await OpenAICompatLLM.load(openai_settings(session_settings, f"{server.url}/v1"))
        try:
            with pytest.raises(MalformedToolCallError, match="get_weather") as caught:
                [i async for i in engine.stream(QUESTION, [CLOCK])]
        finally:
            await engine.close()
    assert caught.value.transient and caught.value.code == "llm.malformed_tool_call"


async def test_the_api_key_is_sent_and_a_refusal_says_which_setting(
    session_settings: Settings,
) -> None:
    async with sse_server(json_reply({"error": {"message": "bad key"}}, status=401)) as server:
        settings = openai_settings(session_settings, f"{server.url}/v1", openai_api_key="sk-test")
        engine = await OpenAICompatLLM.load(settings)
        try:
            with pytest.raises(EngineUnavailableError, match="VOCABLE_LLM__OPENAI_API_KEY"):
                [i async for i in engine.stream(QUESTION)]
        finally:
            await engine.close()
    assert {r.headers.get("authorization") for r in server.requests} == {"Bearer sk-test"}
    assert len(server.chat_requests("/v1/chat/completions")) == 1


async def test_an_unreachable_server_is_reported_with_its_setting(
    session_settings: Settings,
) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EngineUnavailableError, match="VOCABLE_LLM__OPENAI_BASE_URL") as caught:
        await OpenAICompatLLM.load(openai_settings(session_settings, url))
    assert caught.value.code == "llm.unreachable" and url in caught.value.message
