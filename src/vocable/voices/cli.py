"""``vocable voices …``: enrol, list and remove voice profiles of the local user."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from vocable.config import Settings, load_settings
from vocable.errors import AudioInputError, ConfigError, NotFoundError, VocableError

if TYPE_CHECKING:
    from vocable.engines.tts.base import TextToSpeech
    from vocable.storage.db import Database

T = TypeVar("T")

voices_app = typer.Typer(
    help="Voice profiles: Piper matched to a 6-30 s sample of a voice.", no_args_is_help=True
)


def _run(work: Callable[[Settings, Database, int], Coroutine[Any, Any, T]]) -> T:
    from vocable.memory.history import local_user_id
    from vocable.storage.db import Database

    async def main() -> T:
        settings = load_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = await Database.open(settings.storage, data_dir=settings.data_dir)
        try:
            return await work(settings, db, await local_user_id(db))
        finally:
            await db.close()

    try:
        return asyncio.run(main())
    except VocableError as err:
        typer.echo(f"error [{err.code}]: {err.message}", err=True)
        bad_input = isinstance(err, AudioInputError | ConfigError | NotFoundError)
        raise typer.Exit(2 if bad_input else 1) from err


@voices_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Name of the new voice.")],
    sample: Annotated[Path, typer.Argument(help="6-30 s of one person speaking (WAV, FLAC).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Check a voice sample, fit voice matching to it, and store the profile."""
    from vocable.engines.loader import load_tts
    from vocable.voices.embedding import SpeakerEncoder
    from vocable.voices.service import VoiceService
    from vocable.voices.validate import check_name, read_sample

    async def work(settings: Settings, db: Database, user_id: int) -> dict[str, Any]:
        if not sample.is_file():
            raise AudioInputError(
                f"No audio file at {sample}. Check the path.", code="audio.not_found"
            )
        check_name(name)
        read_sample(sample, settings.voices)  # the cheap checks, before loading any model
        typer.echo("loading the speaker encoder and the voice…", err=True)
        encoder = await SpeakerEncoder.load()
        try:
            tts = await load_tts(settings)
            try:
                service = VoiceService(settings, db, encoder, tts)
                profile = await service.add(user_id=user_id, name=name, sample=sample)
            finally:
                await tts.close()
        finally:
            await encoder.close()
        return profile.as_dict()

    shown = _run(work)
    if as_json:
        sys.stdout.write(json.dumps(shown) + "\n")
        return
    report = shown["report"]
    typer.echo(
        f"added {shown['name']!r}: similarity {shown['similarity']:.2f} "
        f"(plain voice {shown['baseline_similarity']:.2f}), {report['duration_s']:.1f} s sample, "
        f"SNR {report['snr_db']:.0f} dB, speech {report['speech_ratio']:.0%}"
    )
    for note in report["notes"]:
        typer.echo(f"note: {note}", err=True)


@voices_app.command("list")
def list_voices(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List voice profiles with their similarity scores."""

    async def work(settings: Settings, db: Database, user_id: int) -> list[dict[str, Any]]:
        from vocable.voices.store import list_profiles

        return [p.as_dict() for p in await list_profiles(db, user_id=user_id)]

    shown = _run(work)
    if as_json:
        sys.stdout.write(json.dumps({"voices": shown}) + "\n")
        return
    if not shown:
        typer.echo("no voice profiles yet: vocable voices add NAME SAMPLE.wav")
    for p in shown:
        sim = "?" if p["similarity"] is None else f"{p['similarity']:.2f}"
        typer.echo(f"{p['name']}\t{p['engine']}\tsimilarity {sim}\t{p['created_at']}")


@voices_app.command("rm")
def remove(name: Annotated[str, typer.Argument(help="Voice to delete.")]) -> None:
    """Delete a voice profile and its files."""

    async def work(settings: Settings, db: Database, user_id: int) -> None:
        from vocable.voices.store import remove_profile

        await remove_profile(db, settings.data_dir, user_id=user_id, name=name)

    _run(work)
    typer.echo(f"removed {name!r}")


async def profile_speaker(settings: Settings, tts: TextToSpeech, name: str) -> TextToSpeech | None:
    """`tts` matched to the local user's profile `name`, or None when there is no such profile."""
    from vocable.memory.history import local_user_id
    from vocable.storage.db import Database
    from vocable.voices.matching import MatchedTTS
    from vocable.voices.store import find_profile

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = await Database.open(settings.storage, data_dir=settings.data_dir)
    try:
        profile = await find_profile(db, user_id=await local_user_id(db), name=name)
    finally:
        await db.close()
    return None if profile is None else MatchedTTS(tts, profile.match, profile=profile.name)
