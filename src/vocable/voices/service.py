"""Voice profiles as a service: enrol, list, get, rename, remove, speak in a profile's voice.

The CLI uses it, and the HTTP API can call it unchanged: every method takes a ``user_id`` and
raises typed `VocableError`s (codes ``voice.*``, ``audio.*``; `NotFoundError` for unknown names).
Storage is `vocable.voices.store`. A rejected sample stores nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import numpy as np

from vocable.audio.convert import pcm16_to_float, resample
from vocable.config import Settings
from vocable.engines.tts.base import TextToSpeech
from vocable.storage.db import Database
from vocable.voices import store
from vocable.voices.embedding import RATE, SpeakerEncoder, cosine
from vocable.voices.matching import MatchedTTS, fit, transform
from vocable.voices.speak import ClonedTTS, find_cloner, matching_base
from vocable.voices.store import Profile
from vocable.voices.validate import check_new_name, check_sample

log = logging.getLogger(__name__)


class VoiceService:
    """Enrols and serves voice profiles.

    Args:
        settings: ``voices`` checks and the data directory.
        db: The open database.
        encoder: The speaker encoder (resemblyzer), loaded once per process by the caller.
        tts: The engine profiles speak through (the TTS chain): its XTTS engine, if any,
            clones; voice matching is fitted on and scored with the others (Piper).
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

        The match is fitted on the engine's speech of ``similarity_text`` and every one of
        ``fit_texts`` (`vocable.voices.matching.fit`); the stored scores are of
        ``similarity_text`` alone.

        With XTTS in the chain, the stored reference is also cloned once: XTTS caches its
        conditioning latents (so the first reply does not compute them) and the clone's
        similarity is stored as ``cloned_similarity``. A cloning failure here is logged, not
        raised: voice matching is ready either way.

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
        base = matching_base(self.tts)
        rate = base.sample_rate
        plain = await self._speak(base, self.settings.voices.similarity_text)
        more = [await self._speak(base, text) for text in self.settings.voices.fit_texts]
        reference = checked.embedding.vector
        params, held_out = await fit(
            checked.audio, np.concatenate([plain, *more]), rate, self.encoder, target=reference
        )
        matched = await asyncio.to_thread(transform, plain, rate, params)
        details = {
            "report": checked.report.as_dict(),
            "match": params.as_dict(),
            "held_out_similarity": round(held_out, 3),
            "similarity": round(await self.similarity(reference, matched, rate), 3),
            "baseline_similarity": round(await self.similarity(reference, plain, rate), 3),
            "tts": base.info.as_dict(),
        }
        cloner = find_cloner(self.tts)
        profile = await store.save_profile(
            self.db,
            self.root,
            user_id=user_id,
            name=clean,
            audio=checked.audio,
            vector=reference,
            details=details,
            engine=store.ENGINE if cloner is None else store.CLONED_ENGINE,
        )
        return profile if cloner is None else await self._prepare_cloning(cloner, profile)

    async def _prepare_cloning(self, xtts: TextToSpeech, profile: Profile) -> Profile:
        """Clone the similarity text once: XTTS caches the latents; store the clone's score."""
        cloned = ClonedTTS(xtts, profile)
        try:
            speech = await self._speak(cloned, self.settings.voices.similarity_text)
            score = await self.similarity(profile.embedding, speech, cloned.sample_rate)
        except Exception as err:  # noqa: BLE001 - cloning is optional here: matching is ready
            log.warning("voice %r: XTTS could not clone it at enrolment: %s", profile.name, err)
            return profile
        return store.update_details(profile, cloned_similarity=round(score, 3))

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
        """`profile`'s voice-matched speaker (over the chain less XTTS), as the bench measures it.

        Replies use `vocable.voices.speak.profile_speaker`, which clones when XTTS is there.
        """
        return MatchedTTS(matching_base(self.tts), profile.match, profile=profile.name)

    async def similarity(
        self, reference: np.ndarray, speech: np.ndarray, rate: int | None = None
    ) -> float:
        """Cosine similarity of `speech` (audio at `rate`, default the chain's) to `reference`."""
        audio = resample(speech.astype(np.float32), rate or self.tts.sample_rate, RATE)
        return cosine(reference, (await self.encoder.embed(audio)).vector)

    @staticmethod
    async def _speak(tts: TextToSpeech, text: str) -> np.ndarray:
        async with contextlib.aclosing(tts.synthesize(text)) as chunks:
            pcm = b"".join([c.pcm async for c in chunks])
        return pcm16_to_float(pcm)
