"""``POST /v1/audio/speech``, ``POST /v1/audio/transcriptions`` and ``GET /v1/models``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from vocable.api.auth.deps import open_database, require_scope
from vocable.api.auth.service import Principal
from vocable.api.deps import AssistantDep, SettingsDep
from vocable.api.openai.encode import (
    MEDIA_TYPES,
    STREAMED,
    SpeechFormat,
    change_speed,
    encode_compressed,
    streaming_wav_header,
    subtitles,
)
from vocable.api.ratelimit import expensive
from vocable.audio.io import decode_audio
from vocable.errors import AudioInputError, VocableError
from vocable.frames import AudioChunk
from vocable.metrics.collector import get_collector
from vocable.stages.chunk_sentences import SentenceChunker
from vocable.storage.db import Database
from vocable.voices.speak import Speaker, resolve_speaker

router = APIRouter(prefix="/v1", tags=["openai"])
AudioUser = Annotated[Principal, Depends(require_scope("audio"))]
DbDep = Annotated[Database, Depends(open_database)]
TextFormat = Literal["json", "text", "verbose_json", "srt", "vtt"]


class SpeechRequest(BaseModel):
    """OpenAI's speech request."""

    model: str = Field("tts-1", min_length=1, max_length=200, examples=["tts-1"])
    input: str = Field(min_length=1, max_length=4096, examples=["Hello there."])
    voice: str = Field(
        "default",
        min_length=1,
        max_length=64,
        examples=["alloy"],
        description="A voice profile of yours, an OpenAI voice name (the built-in voice), or "
        "'default': your default profile when you set one.",
    )
    response_format: SpeechFormat = "mp3"
    speed: float = Field(1.0, ge=0.25, le=4.0)


@router.post(
    "/audio/speech",
    summary="Text to speech (OpenAI-compatible)",
    operation_id="createSpeech",
    response_class=StreamingResponse,
    responses={
        200: {"content": {t: {} for t in MEDIA_TYPES.values()}, "description": "The audio."},
        404: {"description": "No such voice."},
        429: {"description": "Too many requests."},
    },
    dependencies=[Depends(expensive)],
)
async def create_speech(
    body: SpeechRequest,
    principal: AudioUser,
    assistant: AssistantDep,
    db: DbDep,
    settings: SettingsDep,
    request: Request,
) -> StreamingResponse:
    """Speak ``input``; ``wav`` and ``pcm`` (16-bit mono) stream as they are synthesised.

    The input is spoken sentence by sentence, so the first audio waits for the first sentence
    only, however long the input. The ``X-Vocable-Voice`` header names the profile that spoke
    (``default``: the built-in voice).
    """
    speaker = await resolve_speaker(
        db, settings.data_dir, assistant.engines.tts, user_id=principal.user_id, voice=body.voice
    )
    sentences = SentenceChunker(settings.chunker)
    chunks = speak_sentences(speaker, [*sentences.feed(body.input), *sentences.flush()])
    first = await anext(aiter(chunks), None)  # errors before the first byte become problems
    if first is None:
        raise VocableError("the voice produced no audio", code="tts.no_audio")
    rate = first.sample_rate
    collector = get_collector(request.app)

    async def audio() -> AsyncIterator[bytes]:
        watch = collector.watch(kind="speech", user_id=principal.user_id)
        try:
            if body.response_format == "wav":
                yield streaming_wav_header(rate)
            pcm = [change_speed(first.pcm, rate, body.speed)]
            if body.response_format in STREAMED:
                watch.audio_out(pcm[0], rate)
                yield pcm.pop()
            async for chunk in chunks:
                piece = change_speed(chunk.pcm, rate, body.speed)
                if body.response_format in STREAMED:
                    watch.audio_out(piece, rate)
                    yield piece
                else:
                    pcm.append(piece)
            if body.response_format not in STREAMED:
                fmt: Literal["mp3", "opus"] = "mp3" if body.response_format == "mp3" else "opus"
                watch.reply_audio(b"".join(pcm))
                yield await asyncio.to_thread(encode_compressed, b"".join(pcm), rate, fmt)
        finally:
            watch.close()
            await chunks.aclose()

    return StreamingResponse(
        audio(),
        media_type=MEDIA_TYPES[body.response_format],
        headers={"X-Vocable-Voice": speaker.name},
    )


async def speak_sentences(
    speaker: Speaker, sentences: list[str]
) -> AsyncGenerator[AudioChunk, None]:
    """The audio of each sentence in turn: one engine call per sentence, as the chain expects."""
    for sentence in sentences:
        speech = speaker.tts.synthesize(sentence, speaker.engine_voice)
        async with contextlib.aclosing(speech) as chunks:
            async for chunk in chunks:
                yield chunk


async def _form(request: Request, limit: int) -> FormData:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise AudioInputError(f"upload larger than {limit} bytes", code="audio.too_large")
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise AudioInputError(f"upload larger than {limit} bytes", code="audio.too_large")

    async def once() -> AsyncGenerator[bytes, None]:
        yield bytes(body)

    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise AudioInputError("send multipart/form-data with a 'file'", code="audio.missing")
    try:
        return await MultiPartParser(request.headers, once()).parse()
    except MultiPartException as err:
        raise AudioInputError(f"malformed multipart body: {err}", code="audio.invalid") from err


TRANSCRIPTION_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary"},
        "model": {"type": "string", "default": "whisper-1"},
        "language": {"type": "string", "maxLength": 16},
        "response_format": {
            "type": "string",
            "enum": ["json", "text", "verbose_json", "srt", "vtt"],
            "default": "json",
        },
    },
}


@router.post(
    "/audio/transcriptions",
    summary="Speech to text (OpenAI-compatible)",
    operation_id="createTranscription",
    responses={
        200: {"content": {"application/json": {}, "text/plain": {}}, "description": "The text."},
        413: {"description": "Upload too large or audio too long."},
        415: {"description": "Not audio."},
        422: {"description": "No speech, or a bad field."},
        429: {"description": "Too many requests."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": TRANSCRIPTION_FORM}},
        }
    },
    dependencies=[Depends(expensive)],
)
async def create_transcription(
    request: Request, principal: AudioUser, settings: SettingsDep, assistant: AssistantDep
) -> Response:
    """Transcribe a multipart ``file``; ``response_format`` json, text, verbose_json, srt, vtt."""
    form = await _form(request, settings.audio.max_upload_bytes)
    try:
        upload = form.get("file")
        fmt = str(form.get("response_format") or "json")
        language = str(form.get("language") or settings.stt.language or "en")
        if not isinstance(upload, UploadFile):
            raise AudioInputError("the audio goes in a field named 'file'", code="audio.missing")
        if fmt not in ("json", "text", "verbose_json", "srt", "vtt") or len(language) > 16:
            raise VocableError(f"unsupported response_format {fmt!r}", code="request.invalid")
        data, name = await upload.read(), upload.filename or ""
    finally:
        await form.close()
    decoded = await asyncio.to_thread(
        decode_audio,
        data,
        target_rate=settings.audio.sample_rate,
        max_seconds=settings.audio.max_input_seconds,
        filename=name,
    )
    text = (await assistant.engines.stt.transcribe(decoded.samples)).text.strip()
    if fmt == "text":
        return PlainTextResponse(text)
    if fmt in ("srt", "vtt"):
        media = "application/x-subrip" if fmt == "srt" else "text/vtt"
        return PlainTextResponse(subtitles(text, decoded.duration_s, fmt), media_type=media)  # type: ignore[arg-type]
    if fmt == "json":
        return Response(_json({"text": text}), media_type="application/json")
    segment = {"id": 0, "start": 0.0, "end": round(decoded.duration_s, 3), "text": text}
    verbose = {
        "task": "transcribe",
        "language": language,
        "duration": round(decoded.duration_s, 3),
        "text": text,
        "segments": [segment],
    }
    return Response(_json(verbose), media_type="application/json")


def _json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


@router.get("/models", summary="Models (OpenAI-compatible)", operation_id="listModels")
async def list_models(principal: AudioUser, request: Request) -> dict[str, Any]:
    """The speech models: OpenAI aliases and the engines loaded here."""
    ids = ["tts-1", "tts-1-hd", "whisper-1"]
    assistant = request.app.state.assistant
    if assistant is not None:
        ids += [f"{kind}:{e['name']}" for kind, e in assistant.engines.health().items()]
    return {
        "object": "list",
        "data": [{"id": i, "object": "model", "created": 0, "owned_by": "vocable"} for i in ids],
    }
