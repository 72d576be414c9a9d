"""Which voice speaks: a profile by name, the user's default profile, or a built-in voice.

One rule for every caller (``POST /v1/audio/speech``, realtime sessions, ``vocable say``):

- no voice, or ``default``: the user's default profile when one is set, else the plain engine;
- an OpenAI voice name (``alloy``, ``nova``…): the plain engine, in its configured voice;
- any other name: that profile of the user, spoken through `MatchedTTS`; an unknown name is
  ``voice.not_found`` (callers that also accept engine-specific voice ids pass them through).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from vocable.engines.chain import TTSChain
from vocable.engines.loader import Engines
from vocable.engines.tts.base import TextToSpeech
from vocable.errors import VoiceInputError
from vocable.frames import AudioChunk
from vocable.storage.db import Database
from vocable.voices import store
from vocable.voices.matching import MatchedTTS
from vocable.voices.store import Profile
from vocable.voices.validate import BUILTIN_VOICES, check_name

DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class Speaker:
    """What speaks for a request.

    Attributes:
        tts: The engine to call (the chain itself, or a `MatchedTTS` over it).
        engine_voice: The ``voice`` argument to pass to `tts` (an engine-specific id or None).
        profile: The profile speaking, or None for the plain engine.
    """

    tts: TextToSpeech
    engine_voice: str | None = None
    profile: Profile | None = None

    @property
    def name(self) -> str:
        """The profile's name, or ``default`` for the plain engine."""
        return self.profile.name if self.profile is not None else DEFAULT


async def resolve_speaker(
    db: Database,
    data_dir: Path,
    tts: TextToSpeech,
    *,
    user_id: int,
    voice: str | None,
    engine_voices: bool = False,
) -> Speaker:
    """The speaker for `voice` (see the module docstring for the rule).

    Args:
        db: The open database.
        data_dir: The data directory (profiles live under ``voices/``).
        tts: The engine (usually the TTS chain) that profiles are matched over.
        user_id: Whose profiles and default count.
        voice: The requested voice name, or None.
        engine_voices: Pass an unknown name to the engine as its own voice id instead of
            raising (``vocable say --voice en-US-AriaNeural``).

    Raises:
        VoiceInputError: ``voice.bad_name`` for a name with path characters.
        NotFoundError: ``voice.not_found`` for an unknown name (unless `engine_voices`).
    """
    root = data_dir / "voices"
    if voice is None or voice.strip().lower() == DEFAULT:
        profile = await store.default_profile(db, root, user_id=user_id)
        return Speaker(tts) if profile is None else _matched(tts, profile)
    if voice.strip().lower() in BUILTIN_VOICES:
        return Speaker(tts)
    if engine_voices:
        found = await _find(db, user_id, voice)
        return Speaker(tts, engine_voice=voice) if found is None else _matched(tts, found)
    profile = await store.get_profile(db, user_id=user_id, name=check_name(voice))
    return _matched(tts, profile)


async def _find(db: Database, user_id: int, voice: str) -> Profile | None:
    try:
        name = check_name(voice)
    except VoiceInputError:  # not a profile name: an engine voice id (it may hold '/')
        return None
    return await store.find_profile(db, user_id=user_id, name=name)


def _matched(tts: TextToSpeech, profile: Profile) -> Speaker:
    return Speaker(MatchedTTS(tts, profile.match, profile=profile.name), profile=profile)


class UserVoices:
    """A `TextToSpeech` that resolves each call's ``voice`` for one user (realtime sessions).

    ``voice`` None or ``default`` speaks in the user's default profile, a profile name in that
    profile, anything else as the engine's own voice. Resolutions are cached for the session.
    """

    def __init__(self, tts: TextToSpeech, db: Database, data_dir: Path, *, user_id: int) -> None:
        self.inner = tts
        self.info = tts.info
        self.sample_rate = tts.sample_rate
        self._db = db
        self._data_dir = data_dir
        self._user_id = user_id
        self._speakers: dict[str | None, Speaker] = {}

    async def synthesize(
        self, text: str, voice: str | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        """Speak `text` in the voice `voice` resolves to for this user."""
        speaker = self._speakers.get(voice)
        if speaker is None:
            speaker = await resolve_speaker(
                self._db,
                self._data_dir,
                self.inner,
                user_id=self._user_id,
                voice=voice,
                engine_voices=True,
            )
            self._speakers[voice] = speaker
        self.info = speaker.tts.info
        async for chunk in speaker.tts.synthesize(text, speaker.engine_voice):
            yield chunk

    async def close(self) -> None:
        """Nothing of its own to release: the inner engine belongs to its owner."""


def for_user(engines: Engines, db: Database, data_dir: Path, *, user_id: int) -> Engines:
    """`engines` with a TTS that speaks in `user_id`'s voices (`UserVoices`), for one session.

    The chain itself is shared: its fallback state and cool-down stay the server's.
    """
    voices = UserVoices(engines.tts, db, data_dir, user_id=user_id)
    # A session only calls synthesize, info and sample_rate on its TTS; the chain's own
    # controls (on_switch, health) stay on the shared chain.
    return dataclasses.replace(engines, tts=cast(TTSChain, voices))
