"""A typed chat turn for the Chat tab: text in, the reply streamed token by token, speech optional.

The API has no text-turn route yet (``/v1/turns`` takes audio), so this runs the same stages as
a voice turn after transcription (respond → chunk_sentences → synthesize) on the app's loaded
engines, as the user the access token names (checked by the API's own auth service). It is
recorded in the conversation like any turn, and the app's metrics collector watches its bus, so
it shows on the dashboard. When a streaming text route lands, the Chat tab should call that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI

from vocable.errors import AuthError, VocableError
from vocable.frames import AudioChunk, ErrorFrame, LLMDone, PipelineEvent, Transcript
from vocable.frames import PipelineEventType as E
from vocable.memory.history import prepare_history, start_conversation
from vocable.memory.recorder import ConversationRecorder
from vocable.metrics.collector import get_collector
from vocable.pipeline.runner import Pipeline
from vocable.pipeline.stage import Stage, StageContext
from vocable.stages.chunk_sentences import ChunkSentences
from vocable.stages.respond import Respond
from vocable.stages.synthesize import Synthesize
from vocable.tools import equip
from vocable.voices.speak import for_user

TURN = 1


@dataclass(frozen=True)
class ChatResult:
    """A finished chat turn: the reply, its conversation, and the spoken audio (if asked for)."""

    reply: str
    conversation_id: int
    pcm: bytes = b""
    sample_rate: int = 0


async def _principal_id(app: FastAPI, token: str | None) -> int:
    state = app.state
    if not state.settings.auth.enabled:
        return int(state.user_id)
    if not token:
        raise AuthError("sign in first", code="auth.missing")
    principal = await state.auth.principal_for(state.db, token)
    return int(principal.user_id)


async def chat_turn(
    app: FastAPI,
    token: str | None,
    text: str,
    *,
    on_token: Callable[[str], None],
    conversation_id: int | None = None,
    spoken: bool = False,
) -> ChatResult:
    """Answer `text`, calling `on_token` with each piece of the reply as the model streams it.

    Raises:
        AuthError: the token is missing, invalid or expired.
        NotFoundError: `conversation_id` is not the user's.
        VocableError: the engines are not loaded yet (``engines.loading``) or a stage failed.
    """
    state = app.state
    if state.assistant is None or state.db is None:
        raise VocableError("the engines are still loading", code="engines.loading", transient=True)
    user_id = await _principal_id(app, token)
    settings = state.settings
    # the user's default voice speaks, as in realtime sessions
    engines = for_user(state.assistant.engines, state.db, settings.data_dir, user_id=user_id)
    if conversation_id is None:
        conversation_id = await start_conversation(state.db, user_id=user_id, title=text[:60])
    # the same history (with summaries and recalled memories) and tools as a voice turn
    history = await prepare_history(
        state.db, settings, user_id=user_id, conversation_id=conversation_id, llm=engines.llm
    )
    await equip(
        history,
        settings,
        llm=engines.llm,
        db=state.db,
        user_id=user_id,
        conversation_id=conversation_id,
    )
    ctx = StageContext.for_settings(settings)
    stages: list[Stage] = [Respond(ctx, engines.llm, history), ChunkSentences(ctx)]
    if spoken:
        stages.append(Synthesize(ctx, engines.tts))

    def on_event(event: PipelineEvent) -> None:
        if event.kind is E.LLM_TOKEN and event.turn_id == TURN:
            on_token(str(event.payload.get("text", "")))

    recorder = ConversationRecorder(
        state.db,
        state.writer,
        user_id=user_id,
        conversation_id=conversation_id,
        heard_event=E.TTS_DONE if spoken else E.LLM_DONE,  # unspoken text is read in full
    )
    audio: list[AudioChunk] = []
    reply = ""
    with get_collector(app).watch(ctx.bus, kind="chat", user_id=user_id) as watch:
        async with recorder:
            recorder.attach(ctx.bus)
            remove = ctx.bus.add_listener(on_event)
            ctx.bus.emit("turn", E.TURN_STARTED, TURN, text_chars=len(text))
            ctx.bus.emit("transcribe", E.TRANSCRIPT, TURN, text=text)
            try:
                async with Pipeline(
                    stages, channel_size=settings.pipeline.channel_size, bus=ctx.bus
                ) as pipe:
                    await pipe.send(Transcript(text, turn_id=TURN))
                    await pipe.end()
                    async for frame in pipe:
                        if isinstance(frame, ErrorFrame):
                            raise VocableError(frame.message, code=frame.code)
                        if isinstance(frame, AudioChunk):
                            audio.append(frame)
                        if isinstance(frame, LLMDone):
                            reply = frame.text
            finally:
                remove()
            if not spoken:
                ctx.bus.emit("synthesize", E.TURN_DONE, TURN, audio_s=0.0)
        pcm = b"".join(c.pcm for c in audio)
        if pcm:
            watch.reply_audio(pcm)
    rate = audio[0].sample_rate if audio else 0
    return ChatResult(reply, conversation_id, pcm, rate)
