"""A reply with tools, through the respond stage, with a scripted tool-calling model.

The same paths against a real OpenAI-compatible server on loopback (malformed tool-call JSON,
the server going away mid-reply) are in tests/integration/test_tools_llm.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import pytest

from vocable.config import Settings
from vocable.engines.base import EngineInfo
from vocable.engines.embed.hashing import HashingEmbedder
from vocable.engines.llm.base import ChatMessage, MalformedToolCallError, ToolCall, ToolSpec
from vocable.errors import EngineError
from vocable.frames import ErrorFrame, LLMDone, LLMToken, PipelineEventType, Transcript
from vocable.pipeline.events import EventBus
from vocable.pipeline.stage import StageContext
from vocable.pipeline.testing import run_stage
from vocable.stages.respond import Conversation, Respond
from vocable.tools import build_toolbox
from vocable.tools.turn import MALFORMED_NOTE, Toolbox

E = PipelineEventType
Step = str | ToolCall | BaseException


class ToolLLM:
    """Each call to `stream` plays the next script; records the messages and tools it got."""

    info = EngineInfo(kind="llm", name="scripted", model="script")
    supports_tools = True

    def __init__(self, *scripts: Sequence[Step]) -> None:
        self.scripts = [list(s) for s in scripts]
        self.calls: list[tuple[list[ChatMessage], list[ToolSpec] | None]] = []

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] | None = None
    ) -> AsyncGenerator[str | ToolCall, None]:
        self.calls.append((list(messages), list(tools) if tools else None))
        for step in self.scripts.pop(0):
            await asyncio.sleep(0)
            if isinstance(step, BaseException):
                raise step
            yield step

    async def close(self) -> None:
        pass


def toolbox(settings: Settings, *, intent: bool = False, **tools: Any) -> Toolbox:
    box = build_toolbox(settings, embedder=HashingEmbedder() if intent else None)
    for name, func in tools.items():
        box.registry.add(func, name=name, timeout_s=0.3)
    return box


async def respond(
    settings: Settings, llm: Any, box: Toolbox | None, text: str
) -> tuple[list[Any], EventBus]:
    ctx = StageContext.for_settings(settings)
    conversation = Conversation("sys", tools=box)
    out = await run_stage(
        Respond(ctx, llm, conversation), [Transcript(text, turn_id=1)], bus=ctx.bus
    )
    return out, ctx.bus


def events(bus: EventBus, kind: PipelineEventType) -> list[dict[str, Any]]:
    return [e.payload for e in bus.log if e.kind is kind]


async def test_the_intent_path_answers_without_the_model(settings: Settings) -> None:
    llm = ToolLLM(["The model's words."])  # started while routing, then dropped
    out, bus = await respond(settings, llm, toolbox(settings, intent=True), "what is 17 times 23")
    assert not [f for f in out if isinstance(f, LLMToken) and "model" in f.text]
    done = [f for f in out if isinstance(f, LLMDone)]
    assert done[0].text == "17 times 23 is 391."
    (call,) = events(bus, E.TOOL_CALL)
    (result,) = events(bus, E.TOOL_RESULT)
    assert call["name"] == result["name"] == "calculate" and result["path"] == "intent"
    assert result["ok"] is True and result["arguments"] == {"expression": "17*23"}
    assert result["intent_score"] >= settings.tools.intent_threshold
    assert events(bus, E.LLM_DONE)[0]["text"] == "17 times 23 is 391."


async def test_native_tool_calls_run_and_their_result_goes_back_to_the_model(
    settings: Settings,
) -> None:
    call = ToolCall("call_1", "calculate", {"expression": "12*12"})
    llm = ToolLLM(["Let me see. ", call], ["That makes ", "144."])
    out, bus = await respond(settings, llm, toolbox(settings), "a dozen dozens?")
    assert [f.text for f in out if isinstance(f, LLMToken)] == [
        "Let me see. ",
        "That makes ",
        "144.",
    ]
    first_tools = llm.calls[0][1]
    assert first_tools is not None and "calculate" in [t.name for t in first_tools]
    second = llm.calls[1][0]
    assert second[-2] == ChatMessage("assistant", "Let me see. ", tool_calls=(call,))
    assert second[-1] == ChatMessage(
        "tool", "12 times 12 is 144.", tool_call_id="call_1", name="calculate"
    )
    (result,) = events(bus, E.TOOL_RESULT)
    assert (result["path"], result["text"], result["ok"]) == ("native", "12 times 12 is 144.", True)


async def test_a_failing_or_unknown_tool_is_a_sentence_for_the_model(settings: Settings) -> None:
    def explode() -> str:
        """Breaks."""
        raise RuntimeError("the flux capacitor is cold")

    calls = [
        ToolCall("a", "explode", {}),
        ToolCall("b", "nope", {}),
        ToolCall("c", "calculate", {}),
    ]
    llm = ToolLLM(calls, ["Sorry, that did not work."])
    out, bus = await respond(settings, llm, toolbox(settings, explode=explode), "go")
    assert [f.text for f in out if isinstance(f, LLMDone)] == ["Sorry, that did not work."]
    tool_messages = [m.content for m in llm.calls[1][0] if m.role == "tool"]
    assert tool_messages[0] == "The explode tool failed: the flux capacitor is cold."
    assert tool_messages[1].startswith("There is no tool called nope.")
    assert tool_messages[2].startswith("The calculate tool got arguments it cannot use: expression")
    assert [r["code"] for r in events(bus, E.TOOL_RESULT)] == [
        "tool.failed",
        "tool.unknown",
        "tool.bad_arguments",
    ]
    assert not [f for f in out if isinstance(f, ErrorFrame)]


async def test_a_hanging_tool_times_out_and_a_slow_one_is_acknowledged(
    settings: Settings,
) -> None:
    async def hang() -> str:
        """Never returns."""
        await asyncio.sleep(30)
        return "never"

    fast = settings.model_copy(
        update={"tools": settings.tools.model_copy(update={"ack_after_ms": 50})}
    )
    llm = ToolLLM([ToolCall("h", "hang", {})], ["It timed out."])
    out, bus = await respond(fast, llm, toolbox(fast, hang=hang), "wait for it")
    tokens = [f.text for f in out if isinstance(f, LLMToken)]
    assert tokens == ["One moment. ", "It timed out."]  # said before the result, while it ran
    (result,) = events(bus, E.TOOL_RESULT)
    assert result["code"] == "tool.timeout" and 300 <= result["ms"] < 1000


async def test_malformed_tool_call_json_asks_the_model_for_words(settings: Settings) -> None:
    bad = MalformedToolCallError("tool call arguments are not JSON: '{\"expression\": 17*'")
    llm = ToolLLM([bad], ["It is 391."])
    out, bus = await respond(settings, llm, toolbox(settings), "17 times 23?")
    assert [f.text for f in out if isinstance(f, LLMDone)] == ["It is 391."]
    assert not [f for f in out if isinstance(f, ErrorFrame)]
    retry_messages, retry_tools = llm.calls[1]
    assert retry_tools is None  # no tools on the retry: words only
    assert retry_messages[-1] == ChatMessage("user", MALFORMED_NOTE)
    (malformed,) = events(bus, E.TOOL_CALL)
    assert "not JSON" in malformed["error"]


async def test_malformed_twice_is_a_typed_error_not_a_crash(settings: Settings) -> None:
    bad = MalformedToolCallError("tool call arguments are not JSON")
    box = toolbox(settings)
    box.settings = box.settings.model_copy(update={"max_rounds": 1})
    out, _ = await respond(settings, ToolLLM([bad]), box, "17 times 23?")
    (error,) = [f for f in out if isinstance(f, ErrorFrame)]
    assert (error.code, error.stage) == ("llm.malformed_tool_call", "respond")


async def test_the_model_failing_mid_reply_keeps_the_partial_reply_as_interrupted(
    settings: Settings,
) -> None:
    broken = EngineError("the server went away", code="llm.stream_broken", transient=True)
    llm = ToolLLM(["The answer ", "is", broken])
    conversation = Conversation("sys")
    ctx = StageContext.for_settings(settings)
    out = await run_stage(
        Respond(ctx, llm, conversation), [Transcript("tell me", turn_id=1)], bus=ctx.bus
    )
    (error,) = [f for f in out if isinstance(f, ErrorFrame)]
    assert (error.code, error.transient) == ("llm.stream_broken", True)
    assert not [f for f in out if isinstance(f, LLMDone)]
    kinds = [e.kind for e in ctx.bus.log if e.stage == "respond" and e.turn_id == 1]
    assert kinds[-4:] == [E.LLM_DONE, E.INTERRUPTED, E.ERROR, E.STAGE_STOPPED]
    done = events(ctx.bus, E.LLM_DONE)[-1]
    assert (done["text"], done["finish_reason"]) == ("The answer is", "error")
    assert events(ctx.bus, E.INTERRUPTED)[-1] == {
        "reason": "llm_error",
        "code": "llm.stream_broken",
    }
    assert conversation.messages == []  # an unfinished reply is not added to the history


async def test_tools_off_in_settings_gives_plain_chat(settings: Settings) -> None:
    off = settings.model_copy(
        update={"tools": settings.tools.model_copy(update={"enabled": False})}
    )
    llm = ToolLLM(["Hello."])
    out, _ = await respond(off, llm, toolbox(off, intent=True), "what is 17 times 23")
    assert [f.text for f in out if isinstance(f, LLMDone)] == ["Hello."]
    assert llm.calls[0][1] is None


@pytest.mark.parametrize("native", [True, False])
async def test_tools_are_offered_only_to_models_that_call_them(
    settings: Settings, native: bool
) -> None:
    llm = ToolLLM(["Hi."])
    llm.supports_tools = native
    await respond(settings, llm, toolbox(settings), "hello")
    assert (llm.calls[0][1] is not None) is native


async def test_in_a_live_session_side_effects_wait_for_the_confirmed_turn(
    settings: Settings,
) -> None:
    ran: list[str] = []

    def set_alarm() -> str:
        """Sets an alarm."""
        ran.append("alarm")
        return "Alarm set."

    box = toolbox(settings)
    box.registry.add(set_alarm, side_effects=True)
    box.speculative = True
    ctx = StageContext.for_settings(settings)
    llm = ToolLLM([ToolCall("s", "set_alarm", {})], ["Done."], [ToolCall("c", "get_time", {})])
    llm.scripts.append(["It is late."])
    stage = Respond(ctx, llm, Conversation("sys", tools=box))
    speculation = asyncio.create_task(
        run_stage(stage, [Transcript("wake me", turn_id=1)], bus=ctx.bus)
    )
    await asyncio.sleep(0.2)
    assert ran == [] and not speculation.done()  # held: the turn is not confirmed yet
    ctx.bus.emit("turn", E.TURN_STARTED, 1)
    out = await asyncio.wait_for(speculation, 2)
    assert ran == ["alarm"] and [f.text for f in out if isinstance(f, LLMDone)] == ["Done."]
    # A tool without side effects runs at once, confirmed or not.
    out = await asyncio.wait_for(
        run_stage(
            Respond(ctx, llm, Conversation("sys", tools=box)), [Transcript("time?", turn_id=2)]
        ),
        2,
    )
    assert [f.text for f in out if isinstance(f, LLMDone)] == ["It is late."]
    # A speculation dropped before confirmation never runs the tool.
    llm.scripts += [[ToolCall("s2", "set_alarm", {})]]
    dropped = asyncio.create_task(
        run_stage(Respond(ctx, llm, Conversation("sys", tools=box)), [Transcript("x", turn_id=3)])
    )
    await asyncio.sleep(0.1)
    dropped.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dropped
    assert ran == ["alarm"]


async def test_the_model_reads_the_prompt_while_the_intent_is_decided(settings: Settings) -> None:
    order: list[str] = []

    class SlowEmbedder(HashingEmbedder):
        async def embed(self, texts: Sequence[str]) -> Any:
            await asyncio.sleep(0.05)
            order.append("routed")
            return await super().embed(texts)

    class Recording(ToolLLM):
        async def stream(
            self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] | None = None
        ) -> AsyncGenerator[str | ToolCall, None]:
            order.append("model started")
            async for step in super().stream(messages, tools):
                yield step

    box = build_toolbox(settings, embedder=SlowEmbedder())
    await box.prepare()
    order.clear()
    llm = Recording(["Paris is the capital."])
    out, _ = await respond(settings, llm, box, "what is the capital of France")
    assert order == ["model started", "routed"]
    assert [f.text for f in out if isinstance(f, LLMDone)] == ["Paris is the capital."]
