"""The tool registry: schemas from signatures, validation, timeouts, errors as sentences."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Literal

import pytest
from pydantic import Field

from vocable.config import Settings
from vocable.tools.builtins import builtin_registry
from vocable.tools.context import ToolContext
from vocable.tools.registry import ToolError, ToolRegistry


def convert(
    ctx: ToolContext,
    amount: Annotated[float, Field(gt=0)],
    unit: Literal["km", "miles"] = "km",
    note: str | None = None,
) -> str:
    """Convert a distance.

    Args:
        ctx: Given by vocable.
        amount: How far.
        unit: The unit it is in.
        note: Anything else.
    """
    return f"{amount} {unit} for user {ctx.user_id}"


@pytest.fixture
def ctx(settings: Settings) -> ToolContext:
    return ToolContext(settings, user_id=7)


def test_the_schema_comes_from_the_signature_and_the_docstring() -> None:
    registry = ToolRegistry()
    tool = registry.add(convert)
    spec = tool.spec()
    assert spec.name == "convert" and spec.description == "Convert a distance."
    params = spec.parameters
    assert params["type"] == "object"
    assert params["required"] == ["amount"]
    assert set(params["properties"]) == {"amount", "unit", "note"}  # ctx is not the model's
    assert params["properties"]["amount"] == {
        "type": "number",
        "exclusiveMinimum": 0,
        "description": "How far.",
    }
    assert params["properties"]["unit"]["enum"] == ["km", "miles"]
    assert params["properties"]["unit"]["default"] == "km"
    assert params["additionalProperties"] is False
    assert "title" not in str(params)
    assert spec.as_openai()["function"]["parameters"] == params


async def test_valid_arguments_run_the_tool_with_its_context(ctx: ToolContext) -> None:
    registry = ToolRegistry()
    registry.add(convert)
    result = await registry.call("convert", {"amount": "2.5", "unit": "miles"}, ctx)
    assert result.ok and result.code == ""
    assert result.text == "2.5 miles for user 7"
    assert result.arguments == {"amount": "2.5", "unit": "miles"}
    assert result.ms >= 0


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({}, "amount: field required"),
        ({"amount": -1}, "amount: input should be greater than 0"),
        ({"amount": 1, "unit": "parsecs"}, "unit: input should be 'km' or 'miles'"),
        ({"amount": 1, "ctx": "sneaky"}, "ctx: extra inputs are not permitted"),
        ({"amount": "far"}, "amount: input should be a valid number"),
    ],
)
async def test_bad_arguments_come_back_as_a_sentence(
    ctx: ToolContext, arguments: dict[str, object], problem: str
) -> None:
    registry = ToolRegistry()
    registry.add(convert)
    result = await registry.call("convert", arguments, ctx)
    assert not result.ok and result.code == "tool.bad_arguments"
    assert result.text.startswith("The convert tool got arguments it cannot use: ")
    assert problem in result.text


async def test_a_tool_that_raises_becomes_a_sentence_not_a_crash(ctx: ToolContext) -> None:
    def broken() -> str:
        """Always fails."""
        raise KeyError("spoon")

    def refuses() -> str:
        """Says why it cannot help."""
        raise ToolError("I can't do that on a Sunday.", code="tool.sunday")

    registry = ToolRegistry()
    registry.add(broken)
    registry.add(refuses)
    crashed = await registry.call("broken", {}, ctx)
    assert (crashed.ok, crashed.code) == (False, "tool.failed")
    assert crashed.text == "The broken tool failed: 'spoon'."
    refused = await registry.call("refuses", {}, ctx)
    assert (refused.ok, refused.code, refused.text) == (
        False,
        "tool.sunday",
        "I can't do that on a Sunday.",
    )


async def test_a_tool_that_hangs_is_stopped_at_its_timeout(ctx: ToolContext) -> None:
    finished = asyncio.Event()

    async def hangs() -> str:
        """Never answers."""
        await asyncio.sleep(60)
        finished.set()
        return "late"

    def blocks() -> str:
        """Blocks its thread for a while."""
        time.sleep(0.5)
        return "late"

    registry = ToolRegistry()
    registry.add(hangs, timeout_s=0.1)
    registry.add(blocks, timeout_s=0.1)
    for name in ("hangs", "blocks"):
        start = time.perf_counter()
        result = await registry.call(name, {}, ctx)
        took = time.perf_counter() - start
        assert (result.ok, result.code) == (False, "tool.timeout")
        assert result.text == f"The {name} tool took longer than 0.1 seconds, so I stopped it."
        assert 0.1 <= took < 0.4
    assert not finished.is_set()


async def test_cancelling_a_call_is_not_swallowed(ctx: ToolContext) -> None:
    async def slow() -> str:
        """Takes a while."""
        await asyncio.sleep(10)
        return "never"

    registry = ToolRegistry()
    registry.add(slow)
    task = asyncio.create_task(registry.call("slow", {}, ctx))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_unknown_tool_lists_the_ones_there_are(ctx: ToolContext) -> None:
    registry = ToolRegistry()
    registry.add(convert)
    result = await registry.call("teleport", {"to": "Mars"}, ctx)
    assert (result.ok, result.code) == (False, "tool.unknown")
    assert result.text == "There is no tool called teleport. Tools: convert."


def test_functions_that_cannot_be_described_are_refused() -> None:
    registry = ToolRegistry()

    def untyped(x):  # type: ignore[no-untyped-def]
        return x

    def variadic(*values: int) -> int:
        return sum(values)

    with pytest.raises(TypeError, match="needs a type hint"):
        registry.add(untyped)
    with pytest.raises(TypeError, match=r"\*args"):
        registry.add(variadic)
    registry.add(convert)
    with pytest.raises(ValueError, match="already registered"):
        registry.add(convert)
    with pytest.raises(ValueError, match="not a valid tool name"):
        registry.add(convert, name="drop table")


def test_every_builtin_has_a_schema_a_description_and_examples(settings: Settings) -> None:
    registry = builtin_registry(settings)
    names = [tool.name for tool in registry]
    assert names == [
        "get_time",
        "calculate",
        "set_timer",
        "set_reminder",
        "list_timers",
        "cancel_timer",
        "remember",
        "recall",
        "forget",
        "summarise_conversation",
    ]
    for tool in registry:
        spec = tool.spec()
        assert spec.description and spec.description[-1] == "."
        assert len(tool.examples) >= 3
        assert "ctx" not in spec.parameters["properties"]
        for name, prop in spec.parameters["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
    assert registry.get("summarise_conversation").timeout_s == 30.0  # type: ignore[union-attr]
    assert registry.get("calculate").timeout_s == settings.tools.timeout_s  # type: ignore[union-attr]
