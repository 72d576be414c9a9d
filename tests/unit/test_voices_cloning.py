"""Profiles cloned through XTTS when the chain has it, voice matching as the fallback.

A fake XTTS (records its ``voice``) and a tone engine sit in a real `TTSChain`; profiles are
stored on real SQLite and matched by real Praat.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from tests.unit.test_voices_default import TARGET_HZ, TONE_HZ, Tone, add_profile
from vocable.audio.convert import pcm16_to_float
from vocable.config import Settings
from vocable.engines.base import EngineInfo
from vocable.engines.chain import TTSChain
from vocable.engines.tts.base import TextToSpeech
from vocable.errors import EngineError
from vocable.frames import AudioChunk
from vocable.storage import repo
from vocable.storage.db import Database
from vocable.voices import analysis, store
from vocable.voices.matching import MatchedTTS
from vocable.voices.speak import (
    CLONING,
    MATCHING,
    UserVoices,
    planned_rendering,
    profile_speaker,
    resolve_speaker,
)

CLONE_HZ = 300.0


class FakeXtts:
    """XTTS-like: 24 kHz, a 300 Hz tone, records each call's ``voice`` (the reference WAV)."""

    info = EngineInfo(kind="tts", name="xtts", model="xtts_v2")
    sample_rate = 24000

    def __init__(self, *, fail: bool = False, delay_s: float = 0.0) -> None:
        self.fail = fail
        self.delay_s = delay_s
        self.calls: list[tuple[str, str | None]] = []

    async def synthesize(
        self, text: str, voice: str | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        self.calls.append((text, voice))
        await asyncio.sleep(self.delay_s)
        if self.fail:
            raise EngineError("XTTS failed: out of memory", code="tts.failed")
        t = np.arange(self.sample_rate // 2) / self.sample_rate
        pcm = (0.4 * np.sin(2 * np.pi * CLONE_HZ * t) * 32767).astype("<i2").tobytes()
        yield AudioChunk(pcm, self.sample_rate)

    async def close(self) -> None:
        pass


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    settings.data_dir.mkdir(parents=True)
    opened = await Database.open(settings.storage, data_dir=settings.data_dir)
    async with opened.uow() as tx:
        await repo.create_user(tx, name="ann")
    yield opened
    await opened.close()


def f0(chunks: list[AudioChunk]) -> float:
    audio = pcm16_to_float(b"".join(c.pcm for c in chunks))
    return analysis.pitch_stats(audio, chunks[0].sample_rate)["f0_median_hz"]


async def speak(tts: TextToSpeech, text: str = "one two three four") -> list[AudioChunk]:
    return [c async for c in tts.synthesize(text, None)]


async def test_a_profile_is_cloned_by_xtts_with_its_reference_wav(
    db: Database, settings: Settings
) -> None:
    xtts, tone = FakeXtts(), Tone()
    chain = TTSChain([xtts, tone])
    profile = await add_profile(db, settings.data_dir, 1, "Sal")
    speaker = await resolve_speaker(db, settings.data_dir, chain, user_id=1, voice="Sal")
    assert speaker.rendering == CLONING and speaker.name == "Sal"
    assert speaker.tts.info.name == "xtts+cloning"
    chunks = await speak(speaker.tts)
    assert xtts.calls == [("one two three four", str(profile.reference))]
    assert profile.reference.is_file() and profile.reference.name == "reference.wav"
    assert tone.voices == []  # Piper was not asked
    assert {c.sample_rate for c in chunks} == {24000}
    assert f0(chunks) == pytest.approx(CLONE_HZ, rel=0.05)
    # the default profile goes the same way, and so do realtime sessions
    await store.set_default(db, settings.data_dir / "voices", user_id=1, name="Sal")
    session = UserVoices(chain, db, settings.data_dir, user_id=1)
    await speak(session)
    assert xtts.calls[-1][1] == str(profile.reference) and session.info.name == "xtts+cloning"


async def test_xtts_failing_falls_back_to_matched_piper(db: Database, settings: Settings) -> None:
    xtts, tone = FakeXtts(fail=True), Tone()
    chain = TTSChain([xtts, tone])
    switches: list[tuple[str, str, str]] = []
    chain.on_switch = lambda a, b, why: switches.append((a, b, why))
    profile = await add_profile(db, settings.data_dir, 1, "Sal")
    speaker = profile_speaker(chain, profile)
    chunks = await speak(speaker.tts)
    assert len(xtts.calls) == 1 and xtts.calls[0][1] == str(profile.reference)
    assert tone.voices == [None]  # Piper in its own voice, then matched
    assert {c.sample_rate for c in chunks} == {24000}  # resampled to the chain's rate
    assert f0(chunks) == pytest.approx(TARGET_HZ, rel=0.1)  # matched, not the 140 Hz tone
    assert abs(f0(chunks) - TONE_HZ) > 40
    assert speaker.tts.info.name == "tone+voice-matching"
    [(before, after, why)] = switches
    assert (before, after) == ("xtts+cloning", "tone+voice-matching")
    assert "voice 'Sal'" in why and "tts.failed" in why
    # the same profile chain is kept: the next reply starts on the fallback (no second try)
    again = profile_speaker(chain, profile)
    assert again.tts is speaker.tts
    await speak(again.tts)
    assert len(xtts.calls) == 1 and len(tone.voices) == 2


async def test_xtts_too_slow_to_first_audio_falls_back(db: Database, settings: Settings) -> None:
    xtts, tone = FakeXtts(delay_s=2.0), Tone()
    chain = TTSChain([xtts, tone], first_item_timeout_s=0.2)
    profile = await add_profile(db, settings.data_dir, 1, "Sal")
    started = asyncio.get_running_loop().time()
    chunks = await speak(profile_speaker(chain, profile).tts)
    assert asyncio.get_running_loop().time() - started < 1.5
    assert len(xtts.calls) == 1 and tone.voices == [None]
    assert f0(chunks) == pytest.approx(TARGET_HZ, rel=0.1)
    await chain.close()  # waits for the abandoned XTTS call


async def test_without_xtts_profiles_are_voice_matched(db: Database, settings: Settings) -> None:
    tone = Tone()
    chain = TTSChain([tone])
    await add_profile(db, settings.data_dir, 1, "Sal")
    speaker = await resolve_speaker(db, settings.data_dir, chain, user_id=1, voice="Sal")
    assert speaker.rendering == MATCHING and isinstance(speaker.tts, MatchedTTS)
    assert speaker.tts.info.name == "tone+voice-matching"
    plain = await resolve_speaker(db, settings.data_dir, chain, user_id=1, voice="alloy")
    assert plain.rendering is None and plain.tts is chain


def test_planned_rendering_needs_xtts_listed_and_its_weights(
    settings: Settings, tmp_path: Path
) -> None:
    assert planned_rendering(settings) == MATCHING  # no weights
    weights = tmp_path / "xtts"
    weights.mkdir()
    (weights / "config.json").write_text("{}")
    tts = settings.tts.model_copy(update={"xtts_dir": weights})
    assert planned_rendering(settings.model_copy(update={"tts": tts})) == CLONING
    piper_only = tts.model_copy(update={"engines": ["piper"]})
    assert planned_rendering(settings.model_copy(update={"tts": piper_only})) == MATCHING
