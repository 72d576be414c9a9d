"""Which voice speaks: a profile by name, the user's default profile, or a built-in voice.

One rule for every caller (``POST /v1/audio/speech``, realtime sessions, ``vocable say``):

- no voice, or ``default``: the user's default profile when one is set, else the plain engine;
- an OpenAI voice name (``alloy``, ``nova``…): the plain engine, in its configured voice;
- any other name: that profile of the user (`profile_speaker`); an unknown name is
  ``voice.not_found`` (callers that also accept engine-specific voice ids pass them through).

How a profile speaks (`profile_speaker`), one rule for every caller too:

- **cloning** when the TTS chain holds an XTTS engine (its weights exist): a chain of
  `ClonedTTS` (XTTS with ``voice=`` the profile's reference WAV) first, then voice matching
  over the chain's other engines. The chain's budgets decide: XTTS failing, too slow to first
  audio, or too slow in real time hands the sentence (or its rest) to voice matching;
- **voice matching** otherwise: `MatchedTTS` over the chain (Piper moved toward the reference).

The per-profile chains share the server chain's engines (never close them) and are kept per
server chain and profile, so their fallback state and cool-down last across requests.
"""

from __future__ import annotations

import contextlib
import dataclasses
import weakref
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, cast

from vocable.config import Settings
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
XTTS = "xtts"
"""The `EngineInfo` name of the XTTS v2 engine, the one engine that clones."""
Rendering = Literal["cloning", "voice matching"]
CLONING: Rendering = "cloning"
MATCHING: Rendering = "voice matching"


@dataclass(frozen=True, slots=True)
class Speaker:
    """What speaks for a request.

    Attributes:
        tts: The engine to call: the chain itself, a `MatchedTTS` over it, or a profile's
            cloning chain (`ClonedTTS` first, voice matching behind it).
        engine_voice: The ``voice`` argument to pass to `tts` (an engine-specific id or None).
        profile: The profile speaking, or None for the plain engine.
        rendering: How the profile speaks (`CLONING` or `MATCHING`); None for the plain engine.
    """

    tts: TextToSpeech
    engine_voice: str | None = None
    profile: Profile | None = None
    rendering: Rendering | None = None

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
        tts: The engine (usually the TTS chain) that profiles are cloned or matched with.
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
        return Speaker(tts) if profile is None else profile_speaker(tts, profile)
    if voice.strip().lower() in BUILTIN_VOICES:
        return Speaker(tts)
    if engine_voices:
        found = await _find(db, user_id, voice)
        return Speaker(tts, engine_voice=voice) if found is None else profile_speaker(tts, found)
    profile = await store.get_profile(db, user_id=user_id, name=check_name(voice))
    return profile_speaker(tts, profile)


async def _find(db: Database, user_id: int, voice: str) -> Profile | None:
    try:
        name = check_name(voice)
    except VoiceInputError:  # not a profile name: an engine voice id (it may hold '/')
        return None
    return await store.find_profile(db, user_id=user_id, name=name)


def profile_speaker(tts: TextToSpeech, profile: Profile) -> Speaker:
    """`profile` speaking through `tts`: cloned by XTTS when `tts` has it, else voice-matched.

    Raises:
        VoiceInputError: ``voice.damaged`` when the profile's files are gone.
    """
    cloner = find_cloner(tts)
    if cloner is None:
        return Speaker(
            MatchedTTS(tts, profile.match, profile=profile.name),
            profile=profile,
            rendering=MATCHING,
        )
    if not isinstance(tts, TTSChain):  # XTTS alone: nothing to fall back to
        return Speaker(ClonedTTS(cloner, profile), profile=profile, rendering=CLONING)
    return Speaker(_cloning_chain(tts, cloner, profile), profile=profile, rendering=CLONING)


def find_cloner(tts: TextToSpeech) -> TextToSpeech | None:
    """The XTTS engine of the chain `tts` (or `tts` itself if it is XTTS), or None."""
    engines = tts.engines if isinstance(tts, TTSChain) else [tts]
    return next((e for e in engines if e.info.name == XTTS), None)


def rendering_of(tts: TextToSpeech) -> Rendering:
    """How profiles speak through `tts` (a loaded chain)."""
    return CLONING if find_cloner(tts) is not None else MATCHING


def planned_rendering(settings: Settings) -> Rendering:
    """How profiles will speak with `settings`, without loading a model.

    Cloning when ``xtts`` is in ``tts.engines`` and its weights directory exists; loading can
    still fail (coqui-tts missing), and then voice matching speaks.
    """
    from vocable.engines.tts.xtts import model_dir
    from vocable.errors import EngineUnavailableError

    if XTTS not in settings.tts.engines:
        return MATCHING
    try:
        model_dir(settings)
    except EngineUnavailableError:
        return MATCHING
    return CLONING


def matching_base(tts: TextToSpeech) -> TextToSpeech:
    """What voice matching runs over: `tts`, less its XTTS engine (which clones instead).

    The same engine enrolment fits the match on and the fallback of a cloned profile speaks
    through, so the fitted parameters fit the voice they are applied to.
    """
    if not isinstance(tts, TTSChain) or find_cloner(tts) is None:
        return tts
    rest = [e for e in tts.engines if e.info.name != XTTS]
    if not rest:
        return tts
    cached = _BASES.get(tts)
    if cached is None:
        cached = _BASES[tts] = _chain_like(tts, rest, "voice matching")
    return cached


class ClonedTTS:
    """XTTS speaking in a profile's voice: the reference WAV is the ``voice`` of every call.

    XTTS caches the reference's conditioning latents beside it on first use.
    """

    def __init__(self, xtts: TextToSpeech, profile: Profile) -> None:
        self.inner = xtts
        self.reference = profile.reference
        self.sample_rate = xtts.sample_rate
        self.info = dataclasses.replace(
            xtts.info,
            name=f"{xtts.info.name}+cloning",
            model=f"{xtts.info.model} cloning {profile.name}",
        )

    async def synthesize(
        self, text: str, voice: str | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        """Speak `text` cloned from the reference (`voice` is ignored)."""
        async with contextlib.aclosing(self.inner.synthesize(text, str(self.reference))) as chunks:
            async for chunk in chunks:
                yield chunk

    async def close(self) -> None:
        """Nothing to release: the XTTS engine belongs to the server's chain."""


_ProfileKey = tuple[int, str, datetime]
_BASES: weakref.WeakKeyDictionary[TTSChain, TextToSpeech] = weakref.WeakKeyDictionary()
_CLONING: weakref.WeakKeyDictionary[TTSChain, dict[_ProfileKey, TTSChain]] = (
    weakref.WeakKeyDictionary()
)


def _cloning_chain(chain: TTSChain, cloner: TextToSpeech, profile: Profile) -> TTSChain:
    """XTTS cloning first, voice matching over the chain's other engines as its fallback."""
    key = (profile.id, profile.name, profile.created_at)
    kept = _CLONING.setdefault(chain, {})
    for stale in [k for k in kept if k[0] == profile.id and k != key]:
        del kept[stale]  # renamed, or the id of a deleted profile reused
    found = kept.get(key)
    if found is None:
        engines: list[TextToSpeech] = [ClonedTTS(cloner, profile)]
        base = matching_base(chain)
        if base is not chain:  # the chain has engines besides XTTS to match over
            engines.append(MatchedTTS(base, profile.match, profile=profile.name))
        found = kept[key] = _chain_like(chain, engines, f"voice {profile.name!r}")
    return found


def _chain_like(chain: TTSChain, engines: list[TextToSpeech], label: str) -> TTSChain:
    """A chain over `engines` with `chain`'s budgets, reporting switches through `chain`."""

    def forward(before: str, after: str, reason: str) -> None:
        if chain.on_switch is not None:  # read at switch time: stages set it after loading
            chain.on_switch(before, after, f"{label}: {reason}")

    return TTSChain(
        engines,
        first_item_timeout_s=chain.first_item_timeout_s,
        item_timeout_s=chain.item_timeout_s,
        max_rtf=chain.max_rtf,
        rtf_window=chain.rtf_window,
        cooldown_s=chain.cooldown_s,
        on_switch=forward,
        clock=chain.clock,
    )


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
