"""``vocable voices …``: enrol, list, preview, rename, remove and pick the default voice.

Every command acts for the local user, or for ``--user NAME`` (an account of ``vocable users``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from vocable.cli_common import run_for_user, user_id_for
from vocable.config import Settings
from vocable.errors import (
    AudioInputError,
)

if TYPE_CHECKING:
    from vocable.engines.tts.base import TextToSpeech
    from vocable.storage.db import Database
    from vocable.voices.speak import Speaker

T = TypeVar("T")

voices_app = typer.Typer(
    help="Voice profiles from a 6-30 s sample: cloned by XTTS v2 when its weights are set, "
    "else Piper's voice matched to the sample.",
    no_args_is_help=True,
)


UserOption = Annotated[
    str | None,
    typer.Option("--user", help="Whose voices (an account name); default: the local user."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


@voices_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Name of the new voice.")],
    sample: Annotated[Path, typer.Argument(help="6-30 s of one person speaking (WAV, FLAC).")],
    as_json: JsonOption = False,
    user: UserOption = None,
) -> None:
    """Check a voice sample, fit voice matching (and prepare XTTS cloning), store the profile."""
    from vocable.engines.loader import load_tts
    from vocable.voices.embedding import SpeakerEncoder
    from vocable.voices.service import VoiceService
    from vocable.voices.validate import check_new_name, read_sample

    async def work(settings: Settings, db: Database, user_id: int) -> dict[str, Any]:
        if not sample.is_file():
            raise AudioInputError(
                f"No audio file at {sample}. Check the path.", code="audio.not_found"
            )
        check_new_name(name)
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

    shown = run_for_user(work, user)
    if as_json:
        sys.stdout.write(json.dumps(shown) + "\n")
        return
    report = shown["report"]
    cloned = shown.get("cloned_similarity")
    typer.echo(
        f"added {shown['name']!r}: similarity {shown['similarity']:.2f} "
        f"(plain voice {shown['baseline_similarity']:.2f}"
        + (f", XTTS clone {cloned:.2f}" if cloned is not None else "")
        + f"), {report['duration_s']:.1f} s sample, "
        f"SNR {report['snr_db']:.0f} dB, speech {report['speech_ratio']:.0%}"
    )
    for note in report["notes"]:
        typer.echo(f"note: {note}", err=True)


@voices_app.command("list")
def list_voices(as_json: JsonOption = False, user: UserOption = None) -> None:
    """List voice profiles with their similarity scores; * marks the default.

    ``rendering`` says how they speak with these settings: ``cloning`` (XTTS v2 weights are set)
    or ``voice matching``.
    """

    async def work(settings: Settings, db: Database, user_id: int) -> list[dict[str, Any]]:
        from vocable.voices import store
        from vocable.voices.speak import planned_rendering

        default = store.default_id(settings.data_dir / "voices", user_id=user_id)
        rendering = planned_rendering(settings)
        return [
            {**p.as_dict(), "rendering": rendering, "default": p.id == default}
            for p in await store.list_profiles(db, user_id=user_id)
        ]

    shown = run_for_user(work, user)
    if as_json:
        sys.stdout.write(json.dumps({"voices": shown}) + "\n")
        return
    if not shown:
        typer.echo("no voice profiles yet: vocable voices add NAME SAMPLE.wav")
    for p in shown:
        sim = "?" if p["similarity"] is None else f"{p['similarity']:.2f}"
        mark = "*" if p["default"] else " "
        typer.echo(f"{mark} {p['name']}\t{p['rendering']}\tsimilarity {sim}\t{p['created_at']}")


@voices_app.command("rm")
def remove(
    name: Annotated[str, typer.Argument(help="Voice to delete.")], user: UserOption = None
) -> None:
    """Delete a voice profile and its files."""

    async def work(settings: Settings, db: Database, user_id: int) -> None:
        from vocable.voices.store import remove_profile

        await remove_profile(db, settings.data_dir, user_id=user_id, name=name)

    run_for_user(work, user)
    typer.echo(f"removed {name!r}")


@voices_app.command("rename")
def rename(
    old: Annotated[str, typer.Argument(help="The voice's name now.")],
    new: Annotated[str, typer.Argument(help="Its new name.")],
    user: UserOption = None,
) -> None:
    """Rename a voice profile (it stays the default if it was)."""

    async def work(settings: Settings, db: Database, user_id: int) -> str:
        from vocable.voices.store import rename_profile

        return (await rename_profile(db, user_id=user_id, name=old, new_name=new)).name

    typer.echo(f"renamed {old!r} to {run_for_user(work, user)!r}")


@voices_app.command("default")
def default(
    name: Annotated[
        str | None, typer.Argument(help="The voice to speak in when none is asked for.")
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Go back to the built-in voice.")] = False,
    user: UserOption = None,
) -> None:
    """Set the default voice (used by say, the speech API and realtime), or show it."""

    async def work(settings: Settings, db: Database, user_id: int) -> str | None:
        from vocable.voices import store

        root = settings.data_dir / "voices"
        if clear or name is not None:
            chosen = await store.set_default(
                db, root, user_id=user_id, name=None if clear else name
            )
        else:
            chosen = await store.default_profile(db, root, user_id=user_id)
        return None if chosen is None else chosen.name

    shown = run_for_user(work, user)
    if clear:
        typer.echo("default voice: the built-in voice")
    elif name is not None:
        typer.echo(f"default voice: {shown!r}")
    else:
        typer.echo(shown if shown is not None else "(built-in)")


@voices_app.command("preview")
def preview(
    name: Annotated[str, typer.Argument(help="The voice to hear.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="WAV file to write.")],
    text: Annotated[str, typer.Option(help="What it says.")] = "Hello! This is how I sound.",
    user: UserOption = None,
) -> None:
    """Speak a sentence in a voice profile into a WAV file (cloned or matched, as replies are)."""
    from vocable.audio.io import write_wav
    from vocable.engines.loader import load_tts
    from vocable.voices.speak import profile_speaker
    from vocable.voices.store import get_profile
    from vocable.voices.validate import check_name

    async def work(settings: Settings, db: Database, user_id: int) -> float:
        profile = await get_profile(db, user_id=user_id, name=check_name(name))
        tts = await load_tts(settings)
        try:
            speaker = profile_speaker(tts, profile).tts
            pcm = b"".join([c.pcm async for c in speaker.synthesize(text)])
        finally:
            await tts.close()
        write_wav(out, pcm, tts.sample_rate)
        return len(pcm) / 2 / tts.sample_rate

    seconds = run_for_user(work, user)
    typer.echo(f"wrote {out} ({seconds:.1f} s, {name!r})", err=True)


async def speaker_for(
    settings: Settings, tts: TextToSpeech, voice: str | None, *, user: str | None = None
) -> Speaker:
    """Who speaks for ``vocable say``: a profile, the user's default, or `voice` as an engine id.

    Args:
        settings: Where the database and profiles are.
        tts: The TTS chain profiles speak through (cloned by its XTTS, or matched).
        voice: ``--voice``: a profile name, an engine-specific voice id, or None for the default.
        user: Whose profiles (an account name); None for the local user.
    """
    from vocable.storage.db import Database
    from vocable.voices.speak import resolve_speaker

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = await Database.open(settings.storage, data_dir=settings.data_dir)
    try:
        return await resolve_speaker(
            db,
            settings.data_dir,
            tts,
            user_id=await user_id_for(db, user),
            voice=voice,
            engine_voices=True,
        )
    finally:
        await db.close()
