"""The respond stage: a user transcript in, the model's reply streamed out token by token."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from vocable.engines.llm.base import ChatMessage, LanguageModel, ToolCall
from vocable.frames import Frame, LLMDone, LLMToken, PipelineEventType, Transcript
from vocable.pipeline.channel import Send
from vocable.pipeline.stage import FrameProcessor, StageContext


@dataclass
class Conversation:
    """The messages of one conversation, oldest first, after the system prompt."""

    system_prompt: str
    messages: list[ChatMessage] = field(default_factory=list)

    def prompt(self, user_text: str) -> list[ChatMessage]:
        """The full message list for a new user message."""
        return [
            ChatMessage("system", self.system_prompt),
            *self.messages,
            ChatMessage("user", user_text),
        ]

    def add_exchange(self, user_text: str, reply: str) -> None:
        """Record a user message and the reply to it."""
        self.messages += [ChatMessage("user", user_text), ChatMessage("assistant", reply)]


class Respond(FrameProcessor):
    """Final Transcript in; LLMToken… then LLMDone out. Other frames pass through.

    Generation stops at once when an Interrupt or Cancel arrives (the stream is closed). Only
    finished replies enter the conversation. Tool calls the model asks for are not run yet: they
    are reported in the ``llm_done`` event's ``tool_calls`` payload and left out of the reply.
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

    async def process(self, frame: Frame, outbox: Send) -> None:
        """Answer a final transcript; pass anything else through."""
        await outbox.send(frame)
        if not isinstance(frame, Transcript) or not frame.final:
            return
        turn = frame.turn_id
        clock = self.ctx.clock
        self.emit(PipelineEventType.LLM_REQUEST, turn_id=turn, model=self.llm.info.model)
        start = clock.monotonic()
        first: float | None = None
        pieces: list[str] = []
        calls: list[ToolCall] = []
        async with contextlib.aclosing(self.llm.stream(self.conversation.prompt(frame.text))) as s:
            async for piece in s:
                if isinstance(piece, ToolCall):
                    calls.append(piece)
                    continue
                if first is None:
                    first = clock.monotonic()
                    self.emit(PipelineEventType.LLM_FIRST_TOKEN, turn_id=turn)
                pieces.append(piece)
                self.emit(PipelineEventType.LLM_TOKEN, turn_id=turn, text=piece)
                await outbox.send(LLMToken(piece, turn_id=turn))
        reply = "".join(pieces).strip()
        gen_s = clock.monotonic() - (first if first is not None else start)
        extra = {"tool_calls": [_call_payload(c) for c in calls]} if calls else {}
        self.emit(
            PipelineEventType.LLM_DONE,
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
