"""One reply with tools: the fast intent path first, else the model with native tool calls.

`Toolbox.reply` yields the reply text piece by piece, and a `ToolEvent` before and after each
tool call. Both paths run the same tool code through `ToolRegistry.call`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from vocable.config_sections import ToolsSettings
from vocable.engines.llm.base import (
    ChatMessage,
    LanguageModel,
    MalformedToolCallError,
    StreamItem,
    ToolCall,
    ToolSpec,
)
from vocable.pipeline.tasks import cancel_and_wait
from vocable.tools.context import ToolContext
from vocable.tools.intent import IntentRoute, IntentRouter
from vocable.tools.registry import ToolRegistry, ToolResult

Path = Literal["intent", "native"]

MALFORMED_NOTE = (
    "Your last tool call was not valid JSON, so no tool ran. Answer the user in plain words now."
)
"""Told to the model after it sent a malformed tool call; its next round offers no tools."""


@dataclass(frozen=True, slots=True)
class ToolEvent:
    """A tool call starting (``result`` None) or ending, or a malformed call (``kind``).

    Attributes:
        kind: ``call``, ``result`` or ``malformed``.
        call_id: Ties a result to its call.
        name: Tool name (empty for a malformed call).
        arguments: Arguments as sent.
        path: ``intent`` (matched from the utterance) or ``native`` (the model asked).
        result: The outcome, on ``result`` events.
        score: Intent similarity, on the intent path.
        error: What was wrong, on ``malformed`` events.
    """

    kind: Literal["call", "result", "malformed"]
    call_id: str
    name: str
    path: Path
    arguments: dict[str, Any] = field(default_factory=dict)
    result: ToolResult | None = None
    score: float | None = None
    error: str = ""

    def payload(self) -> dict[str, Any]:
        """The event payload for the bus (and ``vocable chat --json``)."""
        out: dict[str, Any] = {"call_id": self.call_id, "name": self.name, "path": self.path}
        if self.kind == "malformed":
            return {**out, "error": self.error}
        out["arguments"] = self.arguments
        if self.score is not None:
            out["intent_score"] = round(self.score, 3)
        if self.result is not None:
            r = self.result
            out.update(ok=r.ok, text=r.text, code=r.code, ms=r.ms)
        return out


ReplyItem = str | ToolEvent
Confirmed = Callable[[], Awaitable[None]]
"""Returns once the user's turn is confirmed (live sessions start replies speculatively)."""


class Toolbox:
    """The tools of one conversation and how a reply uses them.

    Args:
        registry: The tools.
        context: What tools get (user, database, memory, clock...).
        settings: ``tools`` settings (paths on/off, acknowledgement, rounds).
        intent: The fast intent path (None: every turn goes to the model).
    """

    def __init__(
        self,
        registry: ToolRegistry,
        context: ToolContext,
        settings: ToolsSettings,
        *,
        intent: IntentRouter | None = None,
    ) -> None:
        self.registry = registry
        self.context = context
        self.settings = settings
        self.intent = intent if settings.intent else None
        self.speculative = False
        """Replies may start before the user's turn is confirmed (a live session sets this):
        tools with side effects then wait for the confirmation."""
        self._ids = itertools.count(1)

    async def prepare(self) -> None:
        """Embed the intent examples now, so the first turn does not wait for it."""
        if self.intent is not None:
            await self.intent.prepare()

    async def route(self, text: str) -> IntentRoute | None:
        """The intent decision for `text` (None when the intent path is off)."""
        return await self.intent.route(text) if self.intent is not None else None

    async def reply(
        self,
        llm: LanguageModel,
        messages: Sequence[ChatMessage],
        user_text: str,
        *,
        confirmed: Confirmed | None = None,
    ) -> AsyncGenerator[ReplyItem, None]:
        """Answer the last user message of `messages`: text pieces and `ToolEvent` items.

        `confirmed`, when given, is awaited before any tool with side effects runs.

        Raises:
            EngineError: the model failed (a malformed tool call twice in a row included).
        """
        self.context.history = [m for m in messages if m.role != "system"]
        native = self.settings.native and getattr(llm, "supports_tools", False)
        specs = self.registry.specs() if native and len(self.registry) else None
        convo = list(messages)
        last = self.settings.max_rounds - 1
        stream = _open(llm, convo, specs if last else None)
        # The model reads the prompt while the intent is decided: routing is on the reply's path.
        head = asyncio.ensure_future(_first(stream)) if self.intent is not None else None
        try:
            route = await self.route(user_text)
        except BaseException:
            await _drop(head, stream)
            raise
        if route is not None and route.tool is not None:
            await _drop(head, stream)
            call = ToolCall(f"intent-{next(self._ids)}", route.tool, route.arguments)
            async for item in self._run(call, "intent", confirmed, score=route.score):
                yield item
            return
        for round_ in range(self.settings.max_rounds):
            if round_ == last:
                specs = None  # the last round must answer in words
            texts: list[str] = []
            calls: list[ToolCall] = []
            if round_:
                stream = _open(llm, convo, specs)
            pieces = _after(head, stream)
            head = None
            try:
                async with contextlib.aclosing(pieces) as items:
                    async for piece in items:
                        if isinstance(piece, ToolCall):
                            calls.append(piece)
                        else:
                            texts.append(piece)
                            yield piece
            except MalformedToolCallError as err:
                if specs is None:
                    raise
                yield ToolEvent("malformed", f"bad-{next(self._ids)}", "", "native", error=str(err))
                convo += [
                    ChatMessage("assistant", "".join(texts)),
                    ChatMessage("user", MALFORMED_NOTE),
                ]
                specs = None
                continue
            if not calls:
                return
            convo.append(ChatMessage("assistant", "".join(texts), tool_calls=tuple(calls)))
            for call in calls:
                result: ToolResult | None = None
                async for item in self._run(call, "native", confirmed, speak=False):
                    if isinstance(item, ToolEvent) and item.result is not None:
                        result = item.result
                    yield item
                text = result.text if result is not None else ""
                convo.append(ChatMessage("tool", text, tool_call_id=call.id, name=call.name))

    async def _run(
        self,
        call: ToolCall,
        path: Path,
        confirmed: Confirmed | None,
        *,
        score: float | None = None,
        speak: bool = True,
    ) -> AsyncGenerator[ReplyItem, None]:
        """Run one call: its events, an acknowledgement if slow, and (`speak`) its result."""
        tool = self.registry.get(call.name)
        if confirmed is not None and tool is not None and tool.side_effects:
            await confirmed()
        yield ToolEvent("call", call.id, call.name, path, call.arguments, score=score)
        task = asyncio.ensure_future(self.registry.call(call.name, call.arguments, self.context))
        try:
            done, _ = await asyncio.wait({task}, timeout=self.settings.ack_after_ms / 1000)
            if not done and self.settings.ack_text:
                yield self.settings.ack_text.strip() + " "
            result = await task
        finally:
            await cancel_and_wait(task)
        yield ToolEvent("result", call.id, call.name, path, call.arguments, result, score)
        if speak:
            yield result.text


def _open(
    llm: LanguageModel, convo: list[ChatMessage], specs: list[ToolSpec] | None
) -> AsyncGenerator[StreamItem, None]:
    """A model round: with tool specs only when there are any to offer."""
    return llm.stream(convo, specs) if specs else llm.stream(convo)


async def _first(stream: AsyncGenerator[StreamItem, None]) -> StreamItem | None:
    """The first item of `stream`, or None when it is empty."""
    return await anext(stream, None)


async def _after(
    head: asyncio.Future[StreamItem | None] | None, stream: AsyncGenerator[StreamItem, None]
) -> AsyncGenerator[StreamItem, None]:
    """`stream`, starting with the item `head` already fetched (None: nothing fetched)."""
    try:
        if head is not None:
            first = await head
            if first is None:
                return
            yield first
        async for item in stream:
            yield item
    finally:
        await _drop(head, stream)


async def _drop(
    head: asyncio.Future[StreamItem | None] | None, stream: AsyncGenerator[StreamItem, None]
) -> None:
    """Stop `stream` and the fetch of its first item (done or not)."""
    await cancel_and_wait(head)
    await stream.aclose()
