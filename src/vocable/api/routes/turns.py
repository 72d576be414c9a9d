"""Voice turns from an uploaded file: audio in, transcript, reply and reply audio out."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from vocable.api.auth.deps import require_scope
from vocable.api.auth.service import Principal
from vocable.api.deps import AssistantDep, SettingsDep, StoreDep
from vocable.api.params import MAX_ROW_ID
from vocable.api.ratelimit import expensive
from vocable.audio.io import decode_audio, write_wav
from vocable.errors import AudioInputError, NotFoundError
from vocable.memory.history import prepare_history, start_conversation
from vocable.memory.recorder import ConversationRecorder
from vocable.metrics.collector import get_collector
from vocable.metrics.timings import TIMING_EVENTS
from vocable.tools.setup import equip

router = APIRouter(prefix="/v1/turns", tags=["turns"])
TurnsUser = Annotated[Principal, Depends(require_scope("turns"))]

AUDIO_TYPES = ("audio/", "application/octet-stream")
_TURN_ID = re.compile(r"^[0-9a-f]{32}$")


def turns_dir(data_dir: Path, user_id: int) -> Path:
    """Where one user's reply audio is kept."""
    return data_dir / "turns" / str(int(user_id))


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def _too_large(limit: int) -> AudioInputError:
    return AudioInputError(
        f"upload is larger than {limit} bytes (VOCABLE_AUDIO__MAX_UPLOAD_BYTES)",
        code="audio.too_large",
    )


async def _audio_from_request(request: Request, limit: int) -> tuple[bytes, str]:
    content_type = request.headers.get("content-type", "").lower()
    body = await _read_capped(request, limit)
    if content_type.startswith("multipart/form-data"):

        async def once() -> AsyncGenerator[bytes, None]:
            yield body

        try:
            form = await MultiPartParser(request.headers, once()).parse()
        except MultiPartException as err:
            raise AudioInputError(f"malformed multipart body: {err}", code="audio.invalid") from err
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            await form.close()
            raise AudioInputError(
                "multipart upload needs the audio in a field named 'file'", code="audio.missing"
            )
        data = await upload.read()
        name = upload.filename or ""
        await form.close()
        return data, name
    if not content_type.startswith(AUDIO_TYPES):
        raise AudioInputError(
            f"unsupported content type {content_type or '(none)'}: send audio/wav, audio/flac, "
            "audio/ogg, or multipart/form-data with a 'file' field",
            code="audio.unsupported_type",
        )
    return body, ""


@router.post(
    "",
    summary="Answer one spoken turn",
    operation_id="createTurn",
    responses={
        413: {"description": "Audio too long or upload too large."},
        415: {"description": "Not audio."},
        404: {"description": "No such conversation."},
        422: {"description": "Empty, silent, or no speech found."},
        429: {"description": "Too many turns."},
    },
    dependencies=[Depends(expensive)],
)
async def create_turn(
    request: Request,
    settings: SettingsDep,
    assistant: AssistantDep,
    store: StoreDep,
    principal: TurnsUser,
    conversation_id: Annotated[
        int | None,
        Query(ge=1, le=MAX_ROW_ID, description="Continue this conversation; omit for a new one."),
    ] = None,
) -> dict[str, Any]:
    """Send audio (multipart field ``file`` or a raw ``audio/*`` body); get the reply.

    The reply audio is a WAV at ``audio_url``. ``timings_ms`` are measured from the end of the
    user's turn. The turn is stored in the conversation ``conversation_id``.
    """
    data, name = await _audio_from_request(request, settings.audio.max_upload_bytes)
    decoded = await asyncio.to_thread(
        decode_audio,
        data,
        target_rate=settings.audio.sample_rate,
        max_seconds=settings.audio.max_input_seconds,
        filename=name,
    )
    if conversation_id is None:
        conversation_id = await start_conversation(store.db, user_id=store.user_id)
    history = await prepare_history(
        store.db,
        settings,
        user_id=store.user_id,
        conversation_id=conversation_id,
        llm=assistant.engines.llm,
    )
    await equip(
        history,
        settings,
        llm=assistant.engines.llm,
        db=store.db,
        user_id=store.user_id,
        conversation_id=conversation_id,
    )
    recorder = ConversationRecorder(
        store.db, store.writer, user_id=store.user_id, conversation_id=conversation_id
    )
    with get_collector(request.app).watch(kind="turn", user_id=principal.user_id) as watch:
        async with recorder:
            result = await assistant.run_turn(decoded, history, recorder)
        watch.replay(result.events)  # the turn's own bus is gone: its log holds every event
        watch.reply_audio(result.pcm)
    turn_id = uuid.uuid4().hex
    path = turns_dir(settings.data_dir, principal.user_id) / f"{turn_id}.wav"
    await asyncio.to_thread(write_wav, path, result.pcm, result.sample_rate)
    return {
        "id": turn_id,
        "conversation_id": conversation_id,
        "transcript": result.transcript,
        "reply": result.reply,
        "audio_url": str(request.url_for("get_turn_audio", turn_id=turn_id).path),
        "audio_s": round(result.audio_s, 3),
        "engines": result.engines,
        "timings_ms": {name: getattr(result.timings, name) for name in TIMING_EVENTS},
    }


@router.get(
    "/{turn_id}/audio",
    summary="The reply audio of a turn (WAV)",
    operation_id="getTurnAudio",
    name="get_turn_audio",
    response_class=FileResponse,
    responses={404: {"description": "No such turn."}},
)
async def get_turn_audio(turn_id: str, settings: SettingsDep, principal: TurnsUser) -> FileResponse:
    """Download the spoken reply of one of your turns."""
    if not _TURN_ID.match(turn_id):
        raise NotFoundError(f"no turn {turn_id!r}", code="turn.not_found")
    path = turns_dir(settings.data_dir, principal.user_id) / f"{turn_id}.wav"
    if not path.is_file():
        raise NotFoundError(f"no turn {turn_id!r}", code="turn.not_found")
    return FileResponse(path, media_type="audio/wav")
