"""``/v1/realtime``: the WebSocket of live voice conversations (see docs/realtime.md)."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from vocable.api.auth.websocket import authenticate_websocket
from vocable.engines.loader import load_vad
from vocable.frames import PipelineEventType
from vocable.memory.history import start_conversation
from vocable.memory.recorder import ConversationRecorder
from vocable.metrics.collector import get_collector
from vocable.pipeline.stage import StageContext
from vocable.realtime.protocol import error_event
from vocable.realtime.session import RealtimeSession
from vocable.stages.respond import Conversation
from vocable.tools.setup import equip
from vocable.voices.speak import for_user

router = APIRouter(tags=["realtime"])

TRY_AGAIN_LATER = 1013


@router.websocket("/v1/realtime")
async def realtime(ws: WebSocket) -> None:
    """A live conversation: PCM16 audio in (JSON base64 or binary frames), events and audio out.

    Authentication comes first (header, ``?api_key=``/``?ticket=``, or a first ``auth``
    message); each session is recorded as a new conversation of the user.
    """
    principal = await authenticate_websocket(ws)
    if principal is None:
        return
    if ws.client_state is WebSocketState.CONNECTING:
        await ws.accept()
    state = ws.app.state
    if state.assistant is None or state.db is None:
        await ws.send_text(json.dumps(error_event("not_ready", "engines are still loading")))
        await ws.close(TRY_AGAIN_LATER)
        return
    open_ = True

    async def send_json(event: dict[str, Any]) -> None:
        if open_ and ws.application_state is WebSocketState.CONNECTED:
            await ws.send_text(json.dumps(event))
            if event.get("type") == "response.output_audio.delta":
                watch.audio_out(base64.b64decode(event["delta"]), session.session.output_rate)

    async def send_bytes(data: bytes) -> None:
        if open_ and ws.application_state is WebSocketState.CONNECTED:
            await ws.send_bytes(data)
            watch.audio_out(data, session.session.output_rate)

    async def messages() -> AsyncIterator[str | bytes]:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                yield message["bytes"]
            elif message.get("text") is not None:
                yield message["text"]

    settings = state.settings
    ctx = StageContext.for_settings(settings)
    conversation_id = await start_conversation(state.db, user_id=principal.user_id)
    recorder = ConversationRecorder(
        state.db,
        state.writer,
        user_id=principal.user_id,
        conversation_id=conversation_id,
        heard_event=PipelineEventType.AUDIO_PLAYED,
    )
    conversation = Conversation(settings.llm.system_prompt)
    await equip(
        conversation,
        settings,
        llm=state.assistant.engines.llm,
        db=state.db,
        user_id=principal.user_id,
        conversation_id=conversation_id,
    )
    vad = await load_vad(settings)
    session = RealtimeSession(
        settings,
        for_user(state.assistant.engines, state.db, settings.data_dir, user_id=principal.user_id),
        vad,
        send_json,
        send_bytes,
        ctx=ctx,
        conversation=conversation,
        conversation_id=conversation_id,
    )
    watch = get_collector(ws.app).watch(ctx.bus, kind="realtime", user_id=principal.user_id)
    try:
        with watch:
            async with recorder:
                recorder.attach(ctx.bus)
                await session.run(messages())
    except WebSocketDisconnect:
        pass
    finally:
        open_ = False
        await vad.close()
        if ws.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await ws.close()
