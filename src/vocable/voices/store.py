"""Stored voice profiles: a ``voice_profiles`` row plus a folder of files per profile.

The row holds the name, the engine, the folder and the 256-d embedding; the folder
(``<data dir>/voices/<id>/``) holds ``reference.wav`` (the normalised sample, 16 kHz) and
``profile.json`` (quality report, statistics, matching parameters, similarity scores). Each user's
default voice is the profile id in ``<data dir>/voices/defaults/<user id>.json``, replaced
atomically; a deleted profile stops being the default by itself. These functions need none of
the heavy ``voices`` dependencies.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from vocable.audio.convert import float_to_pcm16
from vocable.audio.io import write_wav
from vocable.errors import ConflictError, NotFoundError, VoiceInputError
from vocable.storage.db import Database
from vocable.storage.models import VoiceProfile
from vocable.storage.repo import profiles as repo
from vocable.voices.embedding import RATE, as_bytes, from_bytes
from vocable.voices.matching import MatchParams
from vocable.voices.validate import check_new_name

ENGINE = "piper+voice-matching"
"""A profile enrolled without XTTS: it speaks through Piper, matched to the reference."""
CLONED_ENGINE = "xtts-cloning+piper-voice-matching"
"""A profile enrolled with XTTS: cloned from the reference, voice matching as its fallback."""


@dataclass(frozen=True, slots=True)
class Profile:
    """A stored voice profile, as shown to people and API clients.

    Attributes:
        id: Row id.
        name: Unique per user.
        engine: What was prepared at enrolment: `ENGINE` or `CLONED_ENGINE`. How it speaks
            now depends on the engines loaded (see `vocable.voices.speak`).
        created_at: When it was enrolled (UTC).
        folder: Where its files are.
        embedding: The reference's 256-d speaker embedding.
        details: The contents of ``profile.json``: ``report`` (quality checks), ``match``
            (matching parameters), ``similarity`` (matched output vs reference) and
            ``baseline_similarity`` (plain engine voice vs reference), ``cloned_similarity``
            (XTTS cloning vs reference, when XTTS was there) and ``tts`` (the matched engine).
    """

    id: int
    name: str
    engine: str
    created_at: datetime
    folder: Path
    embedding: np.ndarray = field(repr=False)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def similarity(self) -> float | None:
        """Cosine similarity of the profile's speech to the reference, from enrolment."""
        value = self.details.get("similarity")
        return float(value) if value is not None else None

    @property
    def reference(self) -> Path:
        """The normalised reference sample (16 kHz WAV) that XTTS clones."""
        return self.folder / "reference.wav"

    @property
    def similarities(self) -> dict[str, float]:
        """Enrolment similarity to the reference per engine, by `EngineInfo` name.

        ``xtts+cloning`` (when scored), ``<engine>+voice-matching`` and ``<engine>`` (the plain
        voice, before matching), where ``<engine>`` is the matched engine (Piper).
        """
        tts = self.details.get("tts")
        base = str(tts.get("name") or "piper") if isinstance(tts, dict) else "piper"
        scores = {
            "xtts+cloning": self.details.get("cloned_similarity"),
            f"{base}+voice-matching": self.details.get("similarity"),
            base: self.details.get("baseline_similarity"),
        }
        return {k: float(v) for k, v in scores.items() if isinstance(v, int | float)}

    @property
    def match(self) -> MatchParams:
        """The fitted voice-matching parameters.

        Raises:
            VoiceInputError: ``voice.damaged`` when the profile's files are gone.
        """
        if "match" not in self.details:
            raise VoiceInputError(
                f"the files of voice {self.name!r} are missing or damaged ({self.folder}); "
                "remove it and add it again",
                code="voice.damaged",
            )
        return MatchParams.from_dict(self.details["match"])

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no embedding, no file paths)."""
        return {
            "id": self.id,
            "name": self.name,
            "engine": self.engine,
            "created_at": self.created_at.isoformat(),
            "similarity": self.similarity,
            "baseline_similarity": self.details.get("baseline_similarity"),
            "cloned_similarity": self.details.get("cloned_similarity"),
            "report": self.details.get("report", {}),
            "match": self.details.get("match", {}),
        }


async def save_profile(
    db: Database,
    root: Path,
    *,
    user_id: int,
    name: str,
    audio: np.ndarray,
    vector: np.ndarray,
    details: dict[str, Any],
    engine: str = ENGINE,
) -> Profile:
    """Store a checked profile: the row and its folder, or neither if anything fails."""
    folder: Path | None = None
    try:
        async with db.uow() as tx:
            row = await repo.create_voice_profile(
                tx, user_id=user_id, name=name, engine=engine, embedding=as_bytes(vector)
            )
            folder = root / str(row.id)
            folder.mkdir(parents=True, exist_ok=True)
            write_wav(folder / "reference.wav", float_to_pcm16(audio), RATE)
            (folder / "profile.json").write_text(json.dumps(details, indent=2), "utf-8")
            row = await repo.update_voice_profile(
                tx, user_id=user_id, profile_id=row.id, sample_path=str(folder)
            )
            return _profile(row, details)
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def update_details(profile: Profile, **changes: Any) -> Profile:
    """Add `changes` to the profile's ``profile.json`` (replaced atomically); the new profile."""
    details = {**profile.details, **changes}
    fd, tmp = tempfile.mkstemp(dir=profile.folder, prefix=".profile-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(details, f, indent=2)
        os.replace(tmp, profile.folder / "profile.json")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return replace(profile, details=details)


async def list_profiles(db: Database, *, user_id: int) -> list[Profile]:
    """Every profile of `user_id`, by name."""
    async with db.uow(readonly=True) as tx:
        rows = await repo.list_voice_profiles(tx, user_id=user_id)
    return [_profile(row, _details(row)) for row in rows]


async def every_profile(db: Database) -> list[tuple[str, Profile]]:
    """Every user's profiles with the user's name, by user then name (for server metrics only)."""
    async with db.uow(readonly=True) as tx:
        found = await repo.every_voice_profile(tx)
    return [(user, _profile(row, _details(row))) for user, row in found]


async def get_profile(db: Database, *, user_id: int, name: str) -> Profile:
    """The profile `name` of `user_id` (``voice.not_found`` otherwise)."""
    async with db.uow(readonly=True) as tx:
        row = await repo.get_voice_profile(tx, user_id=user_id, name=name)
    return _profile(row, _details(row))


async def find_profile(db: Database, *, user_id: int, name: str) -> Profile | None:
    """The profile `name` of `user_id`, or None."""
    try:
        return await get_profile(db, user_id=user_id, name=name)
    except NotFoundError:
        return None


async def rename_profile(db: Database, *, user_id: int, name: str, new_name: str) -> Profile:
    """Rename a profile.

    Raises:
        VoiceInputError: ``voice.bad_name`` or ``voice.reserved_name``.
        NotFoundError: ``voice.not_found``.
        ConflictError: ``voice.exists`` when the new name is taken.
    """
    clean = check_new_name(new_name)
    async with db.uow() as tx:
        row = await repo.get_voice_profile(tx, user_id=user_id, name=name)
        if clean != row.name and any(
            p.name == clean for p in await repo.list_voice_profiles(tx, user_id=user_id)
        ):
            raise name_taken(clean)
        row = await repo.update_voice_profile(tx, user_id=user_id, profile_id=row.id, name=clean)
    return _profile(row, _details(row))


def name_taken(name: str) -> ConflictError:
    """The error for a profile name already in use (409 over HTTP)."""
    return ConflictError(
        f"you already have a voice called {name!r}; remove it first or pick another name",
        code="voice.exists",
        transient=False,
    )


def _default_file(root: Path, user_id: int) -> Path:
    return root / "defaults" / f"{int(user_id)}.json"


def default_id(root: Path, *, user_id: int) -> int | None:
    """The row id of `user_id`'s default profile as stored, or None (it may since be deleted)."""
    try:
        value = json.loads(_default_file(root, user_id).read_text("utf-8")).get("profile_id")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


async def default_profile(db: Database, root: Path, *, user_id: int) -> Profile | None:
    """The default profile of `user_id`, or None when none is set (or it was deleted)."""
    wanted = default_id(root, user_id=user_id)
    if wanted is None:
        return None
    return next((p for p in await list_profiles(db, user_id=user_id) if p.id == wanted), None)


async def set_default(
    db: Database, root: Path, *, user_id: int, name: str | None
) -> Profile | None:
    """Make the profile `name` the default voice of `user_id`; None goes back to the built-in.

    Raises:
        NotFoundError: ``voice.not_found`` when `user_id` has no profile `name`.
    """
    path = _default_file(root, user_id)
    if name is None:
        path.unlink(missing_ok=True)
        return None
    profile = await get_profile(db, user_id=user_id, name=name)
    _write_default(path, profile.id)
    return profile


def _write_default(path: Path, profile_id: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".default-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"profile_id": profile_id}, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def remove_profile(db: Database, data_dir: Path, *, user_id: int, name: str) -> None:
    """Delete a profile and its folder (``voice.not_found`` when there is none)."""
    async with db.uow() as tx:
        row = await repo.get_voice_profile(tx, user_id=user_id, name=name)
        await repo.delete_voice_profile(tx, user_id=user_id, profile_id=row.id)
        folder = Path(row.sample_path) if row.sample_path else None
    if default_id(data_dir / "voices", user_id=user_id) == row.id:  # ids can be reused
        _default_file(data_dir / "voices", user_id).unlink(missing_ok=True)
    if folder is not None and folder.is_relative_to(data_dir / "voices"):
        shutil.rmtree(folder, ignore_errors=True)


def _details(row: VoiceProfile) -> dict[str, Any]:
    if not row.sample_path:
        return {}
    path = Path(row.sample_path) / "profile.json"
    try:
        loaded: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded


def _profile(row: VoiceProfile, details: dict[str, Any]) -> Profile:
    return Profile(
        id=row.id,
        name=row.name,
        engine=row.engine,
        created_at=row.created_at,
        folder=Path(row.sample_path or ""),
        embedding=from_bytes(row.embedding or b""),
        details=details,
    )
