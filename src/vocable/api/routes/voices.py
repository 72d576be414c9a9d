"""Voice profiles of the signed-in user: enrol from a sample, list, preview, rename, delete.

Profiles are *cloned* by XTTS v2 when its weights are loaded, with *voice matching* (Piper moved
toward the sample) as the fallback, and voice-matched alone otherwise (see docs/voices.md; each
voice's ``rendering`` says which). Another user's voice
answers 404, like a voice that does not exist. A rejected sample is a 422 problem whose ``detail``
says what to fix; nothing is stored for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from vocable.api.auth.deps import require_scope
from vocable.api.deps import SettingsDep, StoreDep, get_assistant
from vocable.api.problems import problem, status_for
from vocable.api.ratelimit import expensive
from vocable.audio.io import encode_wav
from vocable.errors import AudioInputError
from vocable.voices import store
from vocable.voices.embedding import SharedEncoder
from vocable.voices.service import VoiceService
from vocable.voices.speak import Rendering, planned_rendering, profile_speaker, rendering_of
from vocable.voices.store import Profile
from vocable.voices.validate import check_name, check_new_name, check_sample, read_sample

router = APIRouter(
    prefix="/v1/voices", tags=["voices"], dependencies=[Depends(require_scope("voices"))]
)
FORM_OVERHEAD_BYTES = 64 * 1024
"""Room for the multipart framing and the name field, on top of ``voices.max_sample_bytes``."""
PREVIEW_TEXT = "Hello! This is how I sound in vocable."
SAMPLE_HINT = (
    "record 6-30 s (10 s is best) of one person speaking in a quiet room, as WAV or FLAC at "
    "16 kHz or more, not too close to the microphone"
)
NAME_HINT = "a voice name is 1-64 letters, digits, spaces, '_', '.' or '-', and not a built-in name"
VoiceName = Annotated[
    str,
    Path(min_length=1, max_length=64, description="The voice's name.", examples=["Grandma"]),
]
SAMPLE_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["sample"],
    "properties": {
        "name": {"type": "string", "maxLength": 64, "examples": ["Grandma"]},
        "sample": {
            "type": "string",
            "format": "binary",
            "description": "6-30 s of one person speaking (WAV, FLAC or OGG, 16 kHz or more).",
        },
    },
}
SAMPLE_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": SAMPLE_FORM}}}
}
_SAMPLE_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"description": "Upload too large."},
    415: {"description": "Not audio."},
    422: {"description": "The sample failed a check (``detail`` says what to fix), or bad name."},
    429: {"description": "Too many requests."},
}


class SampleReport(BaseModel):
    """What the checks measured on an accepted sample."""

    duration_s: float
    source_rate: int
    source_channels: int
    clipping_ratio: float
    snr_db: float
    speech_ratio: float
    speaker_similarity: float = Field(description="How alike the sample's parts are (one voice).")
    loudness_lufs: float
    normalised_lufs: float
    pitch: dict[str, float]
    notes: list[str]


class ValidationOut(BaseModel):
    """A sample that passed every check (nothing was stored)."""

    ok: bool = True
    report: SampleReport


class VoiceOut(BaseModel):
    """A voice profile."""

    id: int
    name: str = Field(examples=["Grandma"])
    engine: str = Field(
        examples=["piper+voice-matching"],
        description="What enrolment prepared: 'piper+voice-matching', or "
        "'xtts-cloning+piper-voice-matching' when XTTS was there too.",
    )
    rendering: Rendering = Field(
        examples=["voice matching"],
        description="How this voice speaks now: 'cloning' (XTTS v2 clones the sample; voice "
        "matching takes over when XTTS fails or is too slow) or 'voice matching' (Piper's "
        "voice moved toward the sample; not a clone).",
    )
    default: bool = Field(description="Whether this is your default voice.")
    similarity: float | None = Field(
        description="Cosine similarity (resemblyzer) of the voice-matched speech to the sample."
    )
    baseline_similarity: float | None = Field(
        description="The same for the plain engine voice, before matching."
    )
    cloned_similarity: float | None = Field(
        None, description="The same for XTTS cloning, when XTTS was there at enrolment."
    )
    created_at: datetime
    report: SampleReport | None


class RenameIn(BaseModel):
    """A new name for a voice."""

    name: str = Field(min_length=1, max_length=64, examples=["Nana"])


class PreviewIn(BaseModel):
    """What the preview says."""

    text: str = Field(PREVIEW_TEXT, min_length=1, max_length=500, examples=[PREVIEW_TEXT])


def _out(profile: Profile, default_id: int | None, request: Request) -> VoiceOut:
    shown = profile.as_dict()
    report = shown["report"]
    return VoiceOut(
        id=profile.id,
        name=profile.name,
        engine=profile.engine,
        rendering=_rendering(request),
        default=profile.id == default_id,
        similarity=shown["similarity"],
        baseline_similarity=shown["baseline_similarity"],
        cloned_similarity=shown["cloned_similarity"],
        created_at=profile.created_at,
        report=SampleReport.model_validate(report) if report else None,
    )


def _rendering(request: Request) -> Rendering:
    """How profiles speak: from the loaded TTS chain, or from the settings while it loads."""
    assistant = request.app.state.assistant
    if assistant is None:
        return planned_rendering(request.app.state.settings)
    return rendering_of(assistant.engines.tts)


def _refused(err: AudioInputError) -> JSONResponse:
    """A rejected sample or name: the problem says which check failed and how to fix it."""
    check = err.code.split(".", 1)[-1]
    hint = NAME_HINT if check.endswith("name") else SAMPLE_HINT
    return problem(status_for(err), err.code, err.message, check=check, hint=hint)


def get_encoder(request: Request) -> SharedEncoder:
    """The app's shared speaker encoder (loaded on first use)."""
    encoder: SharedEncoder = request.app.state.voice_encoder
    return encoder


async def _read_sample_form(request: Request, limit: int) -> tuple[str | None, bytes]:
    """The ``name`` field and the ``sample`` file of a multipart body of at most `limit` bytes."""
    too_large = AudioInputError(
        f"the upload is larger than {limit / 1e6:.0f} MB; send about 10 s of speech "
        "(well under 2 MB)",
        code="audio.too_large",
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise AudioInputError(
            "send multipart/form-data with the audio in a field named 'sample'",
            code="audio.missing",
        )
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise too_large

    async def once() -> AsyncGenerator[bytes, None]:
        yield bytes(body)

    try:
        form = await MultiPartParser(request.headers, once()).parse()
    except MultiPartException as err:
        raise AudioInputError(f"malformed multipart body: {err}", code="audio.invalid") from err
    try:
        upload, name = form.get("sample"), form.get("name")
        if not isinstance(upload, UploadFile):
            raise AudioInputError(
                "the audio goes in a file field named 'sample'", code="audio.missing"
            )
        return (name if isinstance(name, str) else None), await upload.read()
    finally:
        await form.close()


@router.post(
    "/validate",
    summary="Check a voice sample without saving it",
    operation_id="validateVoiceSample",
    response_model=ValidationOut,
    responses=_SAMPLE_ERRORS,
    openapi_extra=SAMPLE_BODY,
    dependencies=[Depends(expensive)],
)
async def validate_voice_sample(
    request: Request, settings: SettingsDep, encoder: Annotated[SharedEncoder, Depends(get_encoder)]
) -> ValidationOut | JSONResponse:
    """Run every check a new voice's sample must pass and return the measurements.

    For live feedback while recording: the same checks as ``POST /v1/voices``, nothing stored.
    """
    cfg = settings.voices
    try:
        _, data = await _read_sample_form(request, cfg.max_sample_bytes + FORM_OVERHEAD_BYTES)
        await asyncio.to_thread(read_sample, data, cfg)  # the cheap checks, before any model
        checked = await check_sample(data, cfg, await encoder.get())
    except AudioInputError as err:
        return _refused(err)
    return ValidationOut(report=SampleReport.model_validate(checked.report.as_dict()))


@router.post(
    "",
    status_code=201,
    summary="Add a voice from a sample",
    operation_id="createVoice",
    response_model=VoiceOut,
    responses={**_SAMPLE_ERRORS, 409: {"description": "You already have a voice of that name."}},
    openapi_extra=SAMPLE_BODY,
    dependencies=[Depends(expensive)],
)
async def create_voice(
    request: Request,
    settings: SettingsDep,
    store_: StoreDep,
    encoder: Annotated[SharedEncoder, Depends(get_encoder)],
) -> VoiceOut | JSONResponse:
    """Check the multipart ``sample``, fit voice matching to it, and store it as ``name``.

    The response carries the sample's quality ``report`` and the ``similarity`` of the matched
    voice to the sample (with the plain voice's ``baseline_similarity``). Takes a few seconds.
    """
    cfg = settings.voices
    try:
        name, data = await _read_sample_form(request, cfg.max_sample_bytes + FORM_OVERHEAD_BYTES)
        clean = check_new_name(name or "")
        if await store.find_profile(store_.db, user_id=store_.user_id, name=clean) is not None:
            raise store.name_taken(clean)
        await asyncio.to_thread(read_sample, data, cfg)  # the cheap checks, before any model
        tts = get_assistant(request).engines.tts
        service = VoiceService(settings, store_.db, await encoder.get(), tts)
        profile = await service.add(user_id=store_.user_id, name=clean, sample=data)
    except AudioInputError as err:
        return _refused(err)
    default = store.default_id(settings.data_dir / "voices", user_id=store_.user_id)
    return _out(profile, default, request)


@router.get("", summary="Your voices, with similarity scores", operation_id="listVoices")
async def list_voices(request: Request, settings: SettingsDep, store_: StoreDep) -> list[VoiceOut]:
    """Every voice of yours by name, each with its similarity score and whether it is default."""
    profiles = await store.list_profiles(store_.db, user_id=store_.user_id)
    default = store.default_id(settings.data_dir / "voices", user_id=store_.user_id)
    return [_out(p, default, request) for p in profiles]


@router.delete(
    "/default",
    status_code=204,
    summary="Go back to the built-in voice",
    operation_id="clearDefaultVoice",
)
async def clear_default_voice(settings: SettingsDep, store_: StoreDep) -> Response:
    """Stop using a profile as your default voice; the built-in voice speaks again."""
    await store.set_default(
        store_.db, settings.data_dir / "voices", user_id=store_.user_id, name=None
    )
    return Response(status_code=204)


async def _profile(store_: StoreDep, name: str) -> Profile:
    return await store.get_profile(store_.db, user_id=store_.user_id, name=check_name(name))


_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such voice."}}


@router.get("/{name}", summary="One voice", operation_id="getVoice", responses=_NOT_FOUND)
async def get_voice(
    name: VoiceName, request: Request, settings: SettingsDep, store_: StoreDep
) -> VoiceOut:
    """One of your voices, with its sample report and similarity score."""
    profile = await _profile(store_, name)
    default = store.default_id(settings.data_dir / "voices", user_id=store_.user_id)
    return _out(profile, default, request)


@router.post(
    "/{name}/preview",
    summary="Hear a voice",
    operation_id="previewVoice",
    response_class=Response,
    responses={
        200: {"content": {"audio/wav": {}}, "description": "A WAV of the voice."},
        **_NOT_FOUND,
        429: {"description": "Too many requests."},
    },
    dependencies=[Depends(expensive)],
)
async def preview_voice(
    name: VoiceName,
    request: Request,
    store_: StoreDep,
    body: Annotated[PreviewIn | None, Body()] = None,
) -> Response:
    """Speak a short sentence (``text``, or a default one) in this voice; returns a WAV.

    It speaks as replies do: cloned when XTTS is loaded, voice-matched otherwise.
    """
    profile = await _profile(store_, name)
    tts = get_assistant(request).engines.tts
    speaker = profile_speaker(tts, profile).tts
    text = body.text if body is not None else PREVIEW_TEXT
    chunks = speaker.synthesize(text)
    async with contextlib.aclosing(chunks):
        pcm = [c async for c in chunks]
    rate = pcm[0].sample_rate if pcm else tts.sample_rate
    wav = encode_wav(b"".join(c.pcm for c in pcm), rate)
    return Response(wav, media_type="audio/wav", headers={"X-Vocable-Voice": profile.name})


@router.patch(
    "/{name}",
    summary="Rename a voice",
    operation_id="renameVoice",
    responses={**_NOT_FOUND, 409: {"description": "You already have a voice of that name."}},
)
async def rename_voice(
    name: VoiceName, body: RenameIn, request: Request, settings: SettingsDep, store_: StoreDep
) -> VoiceOut:
    """Give one of your voices a new name (it stays your default if it was)."""
    renamed = await store.rename_profile(
        store_.db, user_id=store_.user_id, name=check_name(name), new_name=body.name
    )
    default = store.default_id(settings.data_dir / "voices", user_id=store_.user_id)
    return _out(renamed, default, request)


@router.delete(
    "/{name}",
    status_code=204,
    summary="Delete a voice",
    operation_id="deleteVoice",
    responses=_NOT_FOUND,
)
async def delete_voice(name: VoiceName, settings: SettingsDep, store_: StoreDep) -> Response:
    """Delete one of your voices with its sample and files."""
    await store.remove_profile(
        store_.db, settings.data_dir, user_id=store_.user_id, name=check_name(name)
    )
    return Response(status_code=204)


@router.put(
    "/{name}/default",
    summary="Make a voice your default",
    operation_id="setDefaultVoice",
    responses=_NOT_FOUND,
)
async def set_default_voice(
    name: VoiceName, request: Request, settings: SettingsDep, store_: StoreDep
) -> VoiceOut:
    """Speak in this voice wherever no voice is asked for (speech, realtime, ``vocable say``)."""
    root = settings.data_dir / "voices"
    profile = await store.set_default(
        store_.db, root, user_id=store_.user_id, name=check_name(name)
    )
    assert profile is not None  # noqa: S101 - set_default returns the profile for a name
    return _out(profile, profile.id, request)
