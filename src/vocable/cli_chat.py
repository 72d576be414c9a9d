"""``vocable chat "text"``: one text turn through the respond stage, tools and memory included.

The turn runs as a voice turn's reply does: the stored conversation as history (``--conversation
N`` continues one), the built-in tools with the fast intent path, and the conversation log, where
a reply cut short by a failing model is kept as ``interrupted``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from vocable.cli_common import JsonFlag, emit_json, progress, run_command
from vocable.config import Settings
from vocable.engines.llm.base import LanguageModel
from vocable.errors import VocableError
from vocable.frames import ErrorFrame, LLMDone, PipelineEvent, PipelineEventType, Transcript
from vocable.pipeline.runner import run_pipeline
from vocable.pipeline.stage import StageContext
from vocable.stages.respond import Conversation, Respond
from vocable.storage.db import Database
from vocable.storage.writer import MessageWriter

E = PipelineEventType
TURN = 1


@dataclass
class ChatResult:
    """What one text turn produced."""

    reply: str
    status: str
    """``complete``, ``interrupted`` (the model failed mid-reply) or ``failed``."""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    error: VocableError | None = None
    conversation_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``--json``."""
        out: dict[str, Any] = {
            "conversation_id": self.conversation_id,
            "reply": self.reply,
            "status": self.status,
            "tool_calls": self.tool_calls,
            "timings_ms": self.timings_ms,
        }
        if self.error is not None:
            out["error"] = {"code": self.error.code, "message": self.error.message}
        return out


def _tool_calls(events: list[PipelineEvent]) -> list[dict[str, Any]]:
    calls = []
    for event in events:
        if event.kind is E.TOOL_RESULT:
            p = event.payload
            call = {
                "name": p["name"],
                "arguments": p["arguments"],
                "result": p["text"],
                "ok": p["ok"],
                "path": p["path"],
                "ms": p["ms"],
            }
            if p.get("code"):
                call["code"] = p["code"]
            if "intent_score" in p:
                call["intent_score"] = p["intent_score"]
            calls.append(call)
        elif event.kind is E.TOOL_CALL and "error" in event.payload:
            calls.append({"name": "", "error": event.payload["error"], "path": "native"})
    return calls


def _timings(events: list[PipelineEvent]) -> dict[str, float]:
    first = {e.kind: e.timestamp for e in reversed(events) if e.turn_id == TURN}
    start = first.get(E.TURN_STARTED)
    if start is None:
        return {}
    out = {}
    for name, kind in (("first_token_ms", E.LLM_FIRST_TOKEN), ("total_ms", E.LLM_DONE)):
        if kind in first:
            out[name] = round((first[kind] - start) * 1000, 1)
    return out


async def chat_turn(
    settings: Settings,
    llm: LanguageModel,
    conversation: Conversation,
    text: str,
    *,
    db: Database | None = None,
    writer: MessageWriter | None = None,
    user_id: int = 0,
    conversation_id: int = 0,
    ctx: StageContext | None = None,
) -> ChatResult:
    """Answer `text` through the respond stage; with `db` and `writer`, log the turn."""
    from vocable.memory.recorder import ConversationRecorder

    ctx = ctx or StageContext.for_settings(settings)
    async with contextlib.AsyncExitStack() as stack:
        if db is not None and writer is not None:
            recorder = ConversationRecorder(
                db, writer, user_id=user_id, conversation_id=conversation_id, heard_event=E.LLM_DONE
            )
            await stack.enter_async_context(recorder)
            recorder.attach(ctx.bus)
        ctx.bus.emit("chat", E.TURN_STARTED, TURN)
        ctx.bus.emit("chat", E.TRANSCRIPT, TURN, text=text)
        out = await run_pipeline(
            [Respond(ctx, llm, conversation)], [Transcript(text, turn_id=TURN)], bus=ctx.bus
        )
        errors = [f for f in out if isinstance(f, ErrorFrame)]
        if not errors:
            ctx.bus.emit("chat", E.TURN_DONE, TURN)
    events = list(ctx.bus.log)
    done = [f for f in out if isinstance(f, LLMDone)]
    if done:
        return ChatResult(done[0].text, "complete", _tool_calls(events), _timings(events))
    partial = [e for e in events if e.kind is E.LLM_DONE]
    error = errors[0]
    return ChatResult(
        str(partial[-1].payload["text"]) if partial else "",
        "interrupted" if partial else "failed",
        _tool_calls(events),
        _timings(events),
        VocableError(error.message, code=error.code, transient=error.transient),
    )


async def _chat(settings: Settings, text: str, conversation_id: int | None) -> ChatResult:
    from vocable.engines.embed import close_embedders
    from vocable.engines.loader import load_llm
    from vocable.memory.history import local_user_id, prepare_history, start_conversation
    from vocable.tools import equip

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = await Database.open(settings.storage, data_dir=settings.data_dir)
    async with db, MessageWriter(db) as writer:
        user = await local_user_id(db)
        conv = conversation_id or await start_conversation(db, user_id=user, title=text[:60])
        progress("loading the language model…")
        llm = await load_llm(settings)
        try:
            history = await prepare_history(
                db, settings, user_id=user, conversation_id=conv, llm=llm
            )
            await equip(history, settings, llm=llm, db=db, user_id=user, conversation_id=conv)
            result = await chat_turn(
                settings,
                llm,
                history,
                text,
                db=db,
                writer=writer,
                user_id=user,
                conversation_id=conv,
            )
        finally:
            await llm.close()
            await close_embedders()
    result.conversation_id = conv
    return result


def chat(
    text: Annotated[str, typer.Argument(help="What to say to the assistant.")],
    conversation: Annotated[
        int | None, typer.Option("--conversation", min=1, help="Continue this conversation.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """One text turn: the reply, and the tools it used (with --json: one JSON object)."""
    if not text.strip():
        typer.echo("error [text.empty]: nothing to say: the text is empty", err=True)
        raise typer.Exit(2)
    result = run_command(lambda settings: _chat(settings, text.strip(), conversation))
    if as_json:
        emit_json(result.as_dict())
    else:
        for call in result.tool_calls:
            outcome = call.get("result", call.get("error"))
            progress(f"[{call['path']}] {call['name']} {call.get('arguments', '')} -> {outcome}")
        typer.echo(result.reply)
    if result.error is not None:
        typer.echo(f"error [{result.error.code}]: {result.error.message}", err=True)
        raise typer.Exit(1)
