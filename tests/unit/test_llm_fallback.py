"""`LLMChain` over scripted engines, and the respond stage with tool-call items."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence

import pytest

from vocable.config import Settings
from vocable.engines.base import EngineInfo
from vocable.engines.llm.base import (
    ChatMessage,
    MalformedToolCallError,
    StreamItem,
    ToolCall,
    ToolSpec,
)
from vocable.engines.llm.chain import LLMChain
from vocable.errors import EngineError, EngineUnavailableError
from vocable.frames import LLMDone, LLMToken, PipelineEventType, Transcript
from vocable.pipeline import FakeClock, StageContext
from vocable.pipeline.testing import run_stage
from vocable.stages.respond import Conversation, Respond

CALL = ToolCall("call_0", "get_time", {"zone": "UTC"})


class Scripted:
    """A language model that yields `items`, or fails, or stalls before its first item."""

    def __init__(
        self,
        name: str,
        items: Sequence[StreamItem] = ("hi",),
        *,
        tools: bool = True,
        fail: Exception | None = None,
        stall_s: float = 0.0,
    ) -> None:
        self.info = EngineInfo(kind="llm", name=name, model="script")
        self.supports_tools = tools
        self.items = list(items)
        self.fail = fail
        self.stall_s = stall_s
        self.seen: list[tuple[list[ChatMessage], list[ToolSpec] | None]] = []
        self.closed = False

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] | None = None
    ) -> AsyncGenerator[StreamItem, None]:
        self.seen.append((list(messages), list(tools) if tools is not None else None))
        await asyncio.sleep(self.stall_s)
        if self.fail is not None:
            raise self.fail
        for item in self.items:
            yield item

    async def close(self) -> None:
        self.closed = True


HELLO = [ChatMessage("user", "hello")]
TOOLS = [ToolSpec("get_time", "The time.")]


async def test_the_chain_passes_tools_and_yields_tool_calls() -> None:
    primary = Scripted("remote", ["It is", CALL])
    chain = LLMChain([primary, Scripted("local")], first_token_timeout_s=1.0)
    assert [i async for i in chain.stream(HELLO, TOOLS)] == ["It is", CALL]
    assert primary.seen == [(HELLO, TOOLS)]
    await chain.close()
    assert primary.closed


async def test_a_permanent_failure_switches_and_updates_identity() -> None:
    switches: list[tuple[str, str, str]] = []
    remote = Scripted("remote", fail=EngineUnavailableError("gone", code="llm.unreachable"))
    local = Scripted("local", ["from local"], tools=False)
    chain = LLMChain([remote, local], on_switch=lambda *s: switches.append(s))
    assert chain.info.name == "remote" and chain.supports_tools
    assert [i async for i in chain.stream(HELLO)] == ["from local"]
    assert chain.info.name == "local" and not chain.supports_tools
    assert switches == [("remote", "local", "remote: [llm.unreachable] gone")]
    assert chain.report() == {"chain": ["remote", "local"], "active": "local", "skipped": {}}


async def test_a_slow_first_token_switches_within_the_budget() -> None:
    chain = LLMChain(
        [Scripted("slow", stall_s=5.0), Scripted("fast", ["quick"])], first_token_timeout_s=0.05
    )
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert [i async for i in chain.stream(HELLO)] == ["quick"]
    assert loop.time() - start < 1.0
    await chain.close()


async def test_a_single_engine_has_no_budget() -> None:
    chain = LLMChain([Scripted("only", ["late"], stall_s=0.1)], first_token_timeout_s=0.01)
    assert [i async for i in chain.stream(HELLO)] == ["late"]


async def test_a_malformed_tool_call_does_not_switch_engines() -> None:
    bad = Scripted("remote", fail=MalformedToolCallError("the model's call to f is not JSON"))
    chain = LLMChain([bad, Scripted("local")])
    with pytest.raises(MalformedToolCallError):
        [i async for i in chain.stream(HELLO, TOOLS)]
    assert chain.info.name == "remote"


async def test_every_engine_failing_is_one_error() -> None:
    chain = LLMChain([Scripted("a", fail=EngineError("x")), Scripted("b", fail=EngineError("y"))])
    with pytest.raises(EngineError, match="every llm engine failed") as caught:
        [i async for i in chain.stream(HELLO)]
    assert caught.value.code == "llm.all_failed"


async def test_respond_leaves_tool_calls_out_of_the_reply_and_reports_them(
    settings: Settings,
) -> None:
    ctx = StageContext.for_settings(settings, clock=FakeClock())
    llm = Scripted("remote", ["Let me check.", CALL, " One moment."])
    stage = Respond(ctx, llm, Conversation("be brief"))
    out = await run_stage(stage, [Transcript("what time is it", turn_id=1)], bus=ctx.bus)
    assert out == [
        Transcript("what time is it", turn_id=1),
        LLMToken("Let me check.", turn_id=1),
        LLMToken(" One moment.", turn_id=1),
        LLMDone("Let me check. One moment.", turn_id=1),
    ]
    done = [e for e in ctx.bus.log if e.kind is PipelineEventType.LLM_DONE]
    assert done[0].payload["tool_calls"] == [
        {"id": "call_0", "name": "get_time", "arguments": {"zone": "UTC"}}
    ]
    assert done[0].payload["tokens"] == 2
    tokens = [e for e in ctx.bus.log if e.kind is PipelineEventType.LLM_TOKEN]
    assert [e.payload["text"] for e in tokens] == ["Let me check.", " One moment."]


async def test_respond_without_tool_calls_reports_none(settings: Settings) -> None:
    ctx = StageContext.for_settings(settings, clock=FakeClock())
    await run_stage(Respond(ctx, Scripted("m", ["ok"])), [Transcript("hi", turn_id=1)], bus=ctx.bus)
    done = [e for e in ctx.bus.log if e.kind is PipelineEventType.LLM_DONE]
    assert "tool_calls" not in done[0].payload


class Reading(Scripted):
    """A scripted model with a cache to read ahead into (`Prefills`)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.read: list[list[ChatMessage]] = []

    async def prefill(self, messages: Sequence[ChatMessage]) -> int:
        self.read.append(list(messages))
        return 7

    async def judge_ending(self, messages: Sequence[ChatMessage]) -> float | None:
        self.read.append(list(messages))
        return 0.25


async def test_the_chain_reads_ahead_into_the_active_engine_only() -> None:
    primary, fallback = Reading("local"), Reading("spare")
    chain = LLMChain([primary, fallback], first_token_timeout_s=1.0)
    assert await chain.prefill(HELLO) == 7
    assert (primary.read, fallback.read) == ([HELLO], [])
    plain = LLMChain([Scripted("remote")])  # an engine with nothing to read into
    assert await plain.prefill(HELLO) == 0
    await chain.close()
    await plain.close()


async def test_the_chain_asks_the_active_engine_only_to_judge_an_ending() -> None:
    primary, fallback = Reading("local"), Reading("spare")
    chain = LLMChain([primary, fallback], first_token_timeout_s=1.0)
    assert await chain.judge_ending(HELLO) == 0.25
    assert (primary.read, fallback.read) == ([HELLO], [])
    plain = LLMChain([Scripted("remote")])  # an HTTP model cannot judge
    assert await plain.judge_ending(HELLO) is None
    await chain.close()
    await plain.close()
