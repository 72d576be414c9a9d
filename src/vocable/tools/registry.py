"""Typed Python functions as tools: a JSON schema from each signature, validation, a timeout.

A tool is a plain function (sync or async) with type hints. Its arguments become a pydantic
model, so the schema the model sees and the validation of what it sends come from one place. A
parameter annotated `ToolContext` is filled in by vocable and never shown to the model. Whatever
happens inside a tool, `ToolRegistry.call` returns a `ToolResult` whose text is one clear sentence.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from vocable.engines.llm.base import ToolSpec
from vocable.errors import VocableError
from vocable.tools.context import ToolContext

log = logging.getLogger(__name__)

ToolFunction = Callable[..., Any]


class ToolError(VocableError):
    """A tool could not do what was asked; `message` is said to the user as it is."""

    default_code = "tool.failed"


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The outcome of one tool call.

    Attributes:
        name: Tool name.
        arguments: Arguments as the caller sent them.
        text: The result, or a sentence saying what went wrong.
        ok: False when the tool failed, timed out or got bad arguments.
        code: Error code when not `ok` (``tool.timeout``, ``tool.bad_arguments``...).
        ms: Time the call took.
    """

    name: str
    arguments: dict[str, Any]
    text: str
    ok: bool = True
    code: str = ""
    ms: float = 0.0


@dataclass(frozen=True)
class Tool:
    """One registered tool.

    Attributes:
        name: Name the model calls it by.
        description: What it does, for the model.
        func: The function.
        arguments: Pydantic model of the arguments the model fills in.
        context_param: Name of the `ToolContext` parameter, if the function takes one.
        timeout_s: Longest the call may take.
        examples: Utterances that ask for this tool (the fast intent path matches against them).
        side_effects: It changes something (a timer, a memory): in a live session it waits until
            the user's turn is confirmed, so a speculative reply never runs it.
    """

    name: str
    description: str
    func: ToolFunction
    arguments: type[BaseModel]
    context_param: str | None = None
    timeout_s: float = 5.0
    examples: tuple[str, ...] = field(default=())
    side_effects: bool = False

    def spec(self) -> ToolSpec:
        """The tool as the language model sees it."""
        return ToolSpec(self.name, self.description, json_schema(self.arguments))


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema without pydantic's generated titles (they only cost tokens)."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    schema: dict[str, Any] = strip(model.model_json_schema())
    schema.setdefault("properties", {})
    return schema


_ARG_LINE = re.compile(r"^\s{2,}(\w+)(?:\s*\([^)]*\))?:\s*(.+)$")


def _doc_parts(func: ToolFunction) -> tuple[str, dict[str, str]]:
    """The summary and the ``Args:`` descriptions of a Google-style docstring."""
    doc = inspect.getdoc(func) or ""
    summary = doc.split("\n\n", 1)[0].replace("\n", " ").strip()
    args: dict[str, str] = {}
    in_args = False
    for line in doc.splitlines():
        if line.strip() in {"Args:", "Arguments:"}:
            in_args = True
            continue
        if in_args and line and not line.startswith(" "):
            in_args = False
        if in_args and (m := _ARG_LINE.match("  " + line if not line.startswith(" ") else line)):
            args[m.group(1)] = m.group(2).strip()
    return summary, args


def arguments_model(
    func: ToolFunction, name: str, docs: Mapping[str, str]
) -> tuple[type[BaseModel], str | None]:
    """A pydantic model of `func`'s parameters, and the name of its `ToolContext` parameter.

    Raises:
        TypeError: a parameter without a type hint, or ``*args``/``**kwargs``.
    """
    hints = get_type_hints(func, include_extras=True)
    fields: dict[str, Any] = {}
    context_param: str | None = None
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {name}: *args and **kwargs cannot be described to a model")
        hint = hints.get(param.name)
        if hint is None:
            raise TypeError(f"tool {name}: parameter {param.name!r} needs a type hint")
        if hint is ToolContext:
            context_param = param.name
            continue
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hint, Field(default, description=docs.get(param.name)))
    model = create_model(
        f"{name}_arguments",
        __config__=ConfigDict(extra="forbid", strict=False),
        **fields,
    )
    return model, context_param


class ToolRegistry:
    """The tools a conversation may use, by name."""

    def __init__(self, *, default_timeout_s: float = 5.0) -> None:
        self.default_timeout_s = default_timeout_s
        self._tools: dict[str, Tool] = {}

    def add(
        self,
        func: ToolFunction,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout_s: float | None = None,
        examples: Sequence[str] = (),
        side_effects: bool = False,
    ) -> Tool:
        """Register `func`; its docstring's first paragraph describes it unless given.

        Raises:
            ValueError: the name is taken or not a valid function name.
            TypeError: the signature cannot be turned into a schema.
        """
        tool_name = name or func.__name__
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", tool_name):
            raise ValueError(f"{tool_name!r} is not a valid tool name")
        if tool_name in self._tools:
            raise ValueError(f"a tool called {tool_name!r} is already registered")
        summary, docs = _doc_parts(func)
        model, context_param = arguments_model(func, tool_name, docs)
        tool = Tool(
            name=tool_name,
            description=description or summary or tool_name.replace("_", " "),
            func=func,
            arguments=model,
            context_param=context_param,
            timeout_s=timeout_s if timeout_s is not None else self.default_timeout_s,
            examples=tuple(examples),
            side_effects=side_effects,
        )
        self._tools[tool_name] = tool
        return tool

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def get(self, name: str) -> Tool | None:
        """The tool called `name`, or None."""
        return self._tools.get(name)

    def specs(self) -> list[ToolSpec]:
        """Every tool as the language model sees it."""
        return [tool.spec() for tool in self._tools.values()]

    async def call(self, name: str, arguments: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        """Validate `arguments`, run the tool within its timeout, and report the outcome.

        Never raises for a tool's own failure: an unknown tool, bad arguments, an error or a
        timeout each come back as a `ToolResult` with ``ok=False`` and a sentence saying so.
        Cancellation (barge-in) is not swallowed.
        """
        start = time.perf_counter()
        args = dict(arguments)

        def result(text: str, code: str = "") -> ToolResult:
            ms = round((time.perf_counter() - start) * 1000, 1)
            return ToolResult(name, args, text, ok=not code, code=code, ms=ms)

        tool = self._tools.get(name)
        if tool is None:
            known = ", ".join(sorted(self._tools)) or "none"
            return result(f"There is no tool called {name}. Tools: {known}.", "tool.unknown")
        try:
            values = tool.arguments.model_validate(args).model_dump()
        except ValidationError as err:
            return result(
                f"The {name} tool got arguments it cannot use: {_validation_text(err)}.",
                "tool.bad_arguments",
            )
        if tool.context_param is not None:
            values[tool.context_param] = ctx
        try:
            async with asyncio.timeout(tool.timeout_s):
                if inspect.iscoroutinefunction(tool.func):
                    value = await tool.func(**values)
                else:
                    # A sync tool runs on a thread; on timeout the thread finishes on its own.
                    value = await asyncio.to_thread(tool.func, **values)
        except TimeoutError:
            return result(
                f"The {name} tool took longer than {tool.timeout_s:g} seconds, so I stopped it.",
                "tool.timeout",
            )
        except ToolError as err:
            return result(err.message, err.code)
        except VocableError as err:
            return result(f"The {name} tool failed: {err.message}", err.code)
        except Exception as err:  # noqa: BLE001 - a tool's bug must never crash the turn
            log.warning("tool %s failed", name, exc_info=True)
            detail = str(err) or type(err).__name__
            return result(f"The {name} tool failed: {detail}.", "tool.failed")
        return result(str(value) if value is not None else "Done.")


def _validation_text(err: ValidationError) -> str:
    parts = []
    for problem in err.errors()[:3]:
        where = ".".join(str(p) for p in problem["loc"]) or "arguments"
        parts.append(f"{where}: {problem['msg'].lower()}")
    return "; ".join(parts)
