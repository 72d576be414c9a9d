"""Wire pieces of the LLM engines: tool-call assembly, SSE parsing, error bodies, settings."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from vocable.config import load_settings
from vocable.engines.llm.base import MalformedToolCallError, ToolCall, ToolSpec
from vocable.engines.llm.http import error_text
from vocable.engines.llm.ollama import parse_tool_call
from vocable.engines.llm.openai_compat import ToolCallAssembler, sse_data
from vocable.errors import ConfigError


def first(index: int, call_id: str, name: str, arguments: str = "") -> dict[str, object]:
    return {
        "index": index,
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def more(index: int, arguments: str) -> dict[str, object]:
    return {"index": index, "function": {"arguments": arguments}}


def test_fragments_are_joined_by_index_in_index_order() -> None:
    calls = ToolCallAssembler()
    calls.add([first(1, "b", "get_time")])
    calls.add([first(0, "a", "get_weather", '{"loc')])
    calls.add([more(0, 'ation": "Oslo", '), more(1, "{}")])
    calls.add([more(0, '"days": [1, 2]}')])
    assert calls.finish() == [
        ToolCall("a", "get_weather", {"location": "Oslo", "days": [1, 2]}),
        ToolCall("b", "get_time", {}),
    ]
    assert calls.finish() == []


def test_a_repeated_name_is_not_doubled_and_a_missing_id_is_made_up() -> None:
    calls = ToolCallAssembler()
    calls.add([{"index": 0, "function": {"name": "get_time", "arguments": ""}}])
    calls.add([{"index": 0, "function": {"name": "get_time", "arguments": "{}"}}])
    assert calls.finish() == [ToolCall("call_0", "get_time", {})]


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ('{"location": "Os', "not JSON"),
        ("[1, 2]", "not an object"),
        ("null", "not an object"),
    ],
)
def test_bad_arguments_are_a_transient_typed_error(arguments: str, match: str) -> None:
    calls = ToolCallAssembler()
    calls.add([first(0, "a", "get_weather", arguments)])
    with pytest.raises(MalformedToolCallError, match=match) as caught:
        calls.finish()
    assert caught.value.code == "llm.malformed_tool_call" and caught.value.transient
    assert "get_weather" in caught.value.message


def test_a_call_without_a_name_is_malformed() -> None:
    calls = ToolCallAssembler()
    calls.add([more(0, "{}")])
    with pytest.raises(MalformedToolCallError, match="without a name"):
        calls.finish()
    with pytest.raises(MalformedToolCallError, match="not an object"):
        calls.add(["oops"])


async def lines_of(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def test_sse_events_are_split_on_blank_lines() -> None:
    lines = lines_of(
        ": keep-alive comment",
        'data: {"a": 1}',
        "",
        "event: message",
        "data: first line",
        "data:second line",
        "",
        "",
        "data: [DONE]",
    )
    assert [d async for d in sse_data(lines)] == [
        '{"a": 1}',
        "first line\nsecond line",
        "[DONE]",
    ]


def test_ollama_tool_calls_take_objects_or_json_strings() -> None:
    documented = {"function": {"name": "get_weather", "arguments": {"location": "Paris, FR"}}}
    assert parse_tool_call(documented, 3) == ToolCall(
        "call_3", "get_weather", {"location": "Paris, FR"}
    )
    as_text = {"id": "x", "function": {"name": "get_time", "arguments": '{"zone": "UTC"}'}}
    assert parse_tool_call(as_text, 0) == ToolCall("x", "get_time", {"zone": "UTC"})
    with pytest.raises(MalformedToolCallError, match="not JSON"):
        parse_tool_call({"function": {"name": "f", "arguments": "{oops"}}, 0)
    with pytest.raises(MalformedToolCallError, match="not an object"):
        parse_tool_call({"function": {"name": "f", "arguments": [1]}}, 0)
    with pytest.raises(MalformedToolCallError, match="without a name"):
        parse_tool_call({"function": {"arguments": {}}}, 0)


def test_error_bodies_of_both_apis_are_read() -> None:
    assert error_text('{"error": "model \\"x\\" not found"}') == 'model "x" not found'
    assert error_text('{"error": {"message": "bad key", "type": "auth"}}') == "bad key"
    assert error_text("<html>Bad Gateway</html>") == "<html>Bad Gateway</html>"


def test_tool_specs_use_the_function_format() -> None:
    spec = ToolSpec("get_time", "The time.")
    assert spec.as_openai() == {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "The time.",
            "parameters": {"type": "object", "properties": {}},
        },
    }


def test_llm_settings_default_to_embedded_and_validate_the_chain() -> None:
    settings = load_settings()
    assert settings.llm.engines == ["llama_cpp"]
    assert load_settings(llm={"engines": ["ollama", "llama_cpp"]}).llm.engines[0] == "ollama"
    with pytest.raises(ConfigError, match="llm.engines"):
        load_settings(llm={"engines": ["gpt"]})
    with pytest.raises(ConfigError, match="llm.engines"):
        load_settings(llm={"engines": []})
    secret = load_settings(llm={"openai_api_key": "sk-1"}).model_dump_json()
    assert "sk-1" not in secret


def test_the_chain_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOCABLE_LLM__ENGINES", '["openai", "llama_cpp"]')
    monkeypatch.setenv("VOCABLE_LLM__OPENAI_BASE_URL", "http://gpu-box:8000/v1")
    settings = load_settings()
    assert settings.llm.engines == ["openai", "llama_cpp"]
    assert settings.llm.openai_base_url == "http://gpu-box:8000/v1"
