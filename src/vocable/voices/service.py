"""Voice profiles as a service: enrol, list, get, rename, remove, speak in a profile's voice.

The CLI uses it, and the HTTP API can call it unchanged: every method takes a ``user_id`` and
raises typed `VocableError`s (codes ``voice.*``, ``audio.*``; `NotFoundError` for unknown names).
Storage is `vocable.voices.store`. A rejected sample stores nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from vocable.audio.convert import pcm16_to_float, resample
from vocable.config import Settings
from vocable.engines.tts.base import TextToSpeech
from vocable.storage.db import Database
from vocable.voices import store
from vocable.voices.embedding import RATE, SpeakerEncoder, cosine
from vocable.voices.matching import MatchedTTS, fit, transform
from vocable.voices.store import Profile
from vocable.voices.validate import check_new_name, check_sample


class VoiceService:
    """Enrols and serves voice profiles.

    Args:
        settings: ``voices`` checks and the data directory.
        db: The open database.
        encoder: The speaker encoder (resemblyzer), loaded once per process by the caller.
        tts: The engine whose speech is matched and scored (the TTS chain, Piper first).
    """

    def __init__(
        self, settings: Settings, db: Database, encoder: SpeakerEncoder, tts: TextToSpeech
    ) -> None:
        self.settings = settings
        self.db = db
        self.encoder = encoder
        self.tts = tts
        self.root = settings.data_dir / "voices"

    async def add(self, *, user_id: int, name: str, sample: bytes | Path) -> Profile:
        """Check a sample, fit the voice match, score it, and store the profile.

        Raises:
            VoiceInputError: a bad or reserved name (``voice.bad_name``,
                ``voice.reserved_name``) or a failed sample check (see
                `vocable.voices.validate.check_sample`).
            ConflictError: a name in use (``voice.exists``).
            AudioInputError: the sample is empty, silent or not audio.
            EngineUnavailableError: the ``voices`` extra or the TTS engine is missing.
        """
        clean = check_new_name(name)
        if await store.find_profile(self.db, user_id=user_id, name=clean) is not None:
            raise store.name_taken(clean)
        checked = await check_sample(sample, self.settings.voices, self.encoder)
        plain = await self._speak(self.settings.voices.similarity_text)
        params, held_out = await fit(checked.audio, plain, self.tts.sample_rate, self.encoder)
        matched = await asyncio.to_thread(transform, plain, self.tts.sample_rate, params)
        reference = checked.embedding.vector
        details = {
            "report": checked.report.as_dict(),
            "match": params.as_dict(),
            "held_out_similarity": round(held_out, 3),
            "similarity": round(await self.similarity(reference, matched), 3),
            "baseline_similarity": round(await self.similarity(reference, plain), 3),
            "tts": self.tts.info.as_dict(),
        }
        return await store.save_profile(
            self.db,
            self.root,
            user_id=user_id,
            name=clean,
            audio=checked.audio,
            vector=reference,
            details=details,
        )

    async def profiles(self, *, user_id: int) -> list[Profile]:
        """Every profile of `user_id`, by name."""
        return await store.list_profiles(self.db, user_id=user_id)

    async def get(self, *, user_id: int, name: str) -> Profile:
        """The profile `name` of `user_id` (``voice.not_found`` otherwise)."""
        return await store.get_profile(self.db, user_id=user_id, name=name)

    async def rename(self, *, user_id: int, name: str, new_name: str) -> Profile:
        """Rename a profile (``voice.bad_name``, ``voice.not_found``, ``storage.duplicate``)."""
        return await store.rename_profile(self.db, user_id=user_id, name=name, new_name=new_name)

    async def remove(self, *, user_id: int, name: str) -> None:
        """Delete a profile and its files (``voice.not_found`` when there is none)."""
        await store.remove_profile(self.db, self.settings.data_dir, user_id=user_id, name=name)

    async def default(self, *, user_id: int) -> Profile | None:
        """The default voice of `user_id`, or None for the built-in voice."""
        return await store.default_profile(self.db, self.root, user_id=user_id)

    async def set_default(self, *, user_id: int, name: str | None) -> Profile | None:
        """Make `name` the default voice of `user_id`; None goes back to the built-in voice."""
        return await store.set_default(self.db, self.root, user_id=user_id, name=name)

    def speaker(self, profile: Profile) -> MatchedTTS:
        """A `TextToSpeech` speaking through the service's engine in `profile`'s voice."""
        return MatchedTTS(self.tts, profile.match, profile=profile.name)

    async def similarity(self, reference: np.ndarray, speech: np.ndarray) -> float:
        """Cosine similarity of `speech` (at the engine's rate) to a reference embedding."""
        audio = resample(speech.astype(np.float32), self.tts.sample_rate, RATE)
        return cosine(reference, (await self.encoder.embed(audio)).vector)

    async def _speak(self, text: str) -> np.ndarray:
        pcm = b"".join([c.pcm async for c in self.tts.synthesize(text)])
        return pcm16_to_float(pcm)
