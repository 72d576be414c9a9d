"""The respond stage: a user transcript in, the model's reply streamed out token by token."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vocable.engines.llm.base import ChatMessage, LanguageModel, ToolCall
from vocable.errors import VocableError
from vocable.frames import (
    Frame,
    LLMDone,
    LLMToken,
    PipelineEvent,
    PipelineEventType,
    Transcript,
)
from vocable.pipeline.channel import Send
from vocable.pipeline.stage import FrameProcessor, StageContext

if TYPE_CHECKING:
    from vocable.tools.turn import ReplyItem, Toolbox

E = PipelineEventType


@dataclass
class Conversation:
    """The messages of one conversation, oldest first, after the system prompt.

    `tools` are the tools replies in this conversation may use (None: plain chat). `recall`
    returns a system message of long-term memories relevant to a user message (None: no memory).
    """

    system_prompt: str
    messages: list[ChatMessage] = field(default_factory=list)
    tools: Toolbox | None = None
    recall: Callable[[str], Awaitable[ChatMessage | None]] | None = None

    def prompt(self, user_text: str) -> list[ChatMessage]:
        """The full message list for a new user message."""
        return [
            ChatMessage("system", self.system_prompt),
            *self.messages,
            ChatMessage("user", user_text),
        ]

    def add_exchange(self, user_text: str, reply: str) -> None:
        """Record a user message and the reply to it (an announcement has no user message)."""
        said = [ChatMessage("user", user_text)] if user_text else []
        self.messages += [*said, ChatMessage("assistant", reply)]


class Respond(FrameProcessor):
    """Final Transcript in; LLMToken… then LLMDone out. Other frames pass through.

    Generation stops at once when an Interrupt or Cancel arrives (the stream is closed). Only
    finished replies enter the conversation. With the conversation's `Toolbox`, a command may be
    answered by a tool straight away (intent path) or the model may call tools (native path);
    each call is reported as ``tool_call`` and ``tool_result`` events. Without one, tool calls
    are reported in the ``llm_done`` event's ``tool_calls`` payload and left out of the reply.

    If the model fails mid-reply, the text so far ends the turn as ``interrupted`` (events
    ``llm_done`` with ``finish_reason="error"``, then ``interrupted``) before the error goes on.
    """

    name = "respond"

    def __init__(
        self,
        ctx: StageContext,
        llm: LanguageModel,
        conversation: Conversation | None = None,
        *,
        remember: bool = True,
    ) -> None:
        super().__init__(ctx)
        self.llm = llm
        self.conversation = conversation or Conversation(ctx.settings.llm.system_prompt)
        self.remember = remember
        """Add finished exchanges to the conversation (off when the caller keeps the history)."""

    async def _plain(self, prompt: list[ChatMessage]) -> AsyncGenerator[ReplyItem | ToolCall, None]:
        async with contextlib.aclosing(self.llm.stream(prompt)) as stream:
            async for piece in stream:
                yield piece

    def _turn_started(self, turn: int) -> Callable[[], Awaitable[None]]:
        """Waits for the ``turn_started`` event of `turn` (a live session's confirmation)."""

        async def wait() -> None:
            seen = asyncio.get_running_loop().create_future()

            def on_event(event: PipelineEvent) -> None:
                if event.kind is E.TURN_STARTED and event.turn_id == turn and not seen.done():
                    seen.set_result(None)

            remove = self.ctx.bus.add_listener(on_event)
            try:
                if not any(
                    e.kind is E.TURN_STARTED and e.turn_id == turn for e in self.ctx.bus.log
                ):
                    await seen
            finally:
                remove()

        return wait

    async def process(self, frame: Frame, outbox: Send) -> None:
        """Answer a final transcript; pass anything else through."""
        await outbox.send(frame)
        if not isinstance(frame, Transcript) or not frame.final:
            return
        turn = frame.turn_id
        clock = self.ctx.clock
        self.emit(E.LLM_REQUEST, turn_id=turn, model=self.llm.info.model)
        start = clock.monotonic()
        first: float | None = None
        pieces: list[str] = []
        calls: list[ToolCall] = []
        prompt = self.conversation.prompt(frame.text)
        if self.conversation.recall is not None:
            recalled = await self.conversation.recall(frame.text)
            if recalled is not None:
                prompt.insert(1, recalled)  # right after the system prompt
        tools = self.conversation.tools if self.ctx.settings.tools.enabled else None
        items: AsyncGenerator[ReplyItem | ToolCall, None]
        if tools is not None:
            gate = self._turn_started(turn) if tools.speculative else None
            items = tools.reply(self.llm, prompt, frame.text, confirmed=gate)
        else:
            items = self._plain(prompt)
        try:
            async with contextlib.aclosing(items) as stream:
                async for piece in stream:
                    if isinstance(piece, ToolCall):
                        calls.append(piece)
                        continue
                    if not isinstance(piece, str):
                        kind = E.TOOL_RESULT if piece.result is not None else E.TOOL_CALL
                        self.emit(kind, turn_id=turn, **piece.payload())
                        continue
                    if first is None:
                        first = clock.monotonic()
                        self.emit(E.LLM_FIRST_TOKEN, turn_id=turn)
                    pieces.append(piece)
                    self.emit(E.LLM_TOKEN, turn_id=turn, text=piece)
                    await outbox.send(LLMToken(piece, turn_id=turn))
        except VocableError as err:
            if pieces:  # keep what was said as an interrupted reply
                partial = "".join(pieces).strip()
                self.emit(E.LLM_DONE, turn_id=turn, text=partial, finish_reason="error")
                self.emit(E.INTERRUPTED, turn_id=turn, reason="llm_error", code=err.code)
            raise
        reply = "".join(pieces).strip()
        gen_s = clock.monotonic() - (first if first is not None else start)
        extra = {"tool_calls": [_call_payload(c) for c in calls]} if calls else {}
        self.emit(
            E.LLM_DONE,
            turn_id=turn,
            tokens=len(pieces),
            tokens_per_s=round(len(pieces) / gen_s, 1) if gen_s > 0 and pieces else 0.0,
            text=reply,
            **extra,
        )
        if self.remember:
            self.conversation.add_exchange(frame.text, reply)
        await outbox.send(LLMDone(reply, turn_id=turn))


def _call_payload(call: ToolCall) -> dict[str, object]:
    return {"id": call.id, "name": call.name, "arguments": call.arguments}
