"""Enrolment with XTTS in the chain: the reference is cloned once (latents cached), the match is
fitted on Piper. A fake XTTS always; the real XTTS v2 only where VOCABLE_XTTS_DIR is set.

Reference speakers are flite voices; the speaker encoder is resemblyzer; Piper is real.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import with_settings
from tests.unit.test_voices_cloning import FakeXtts
from vocable.config import Settings
from vocable.engines.chain import TTSChain
from vocable.engines.tts.piper import PiperTTS
from vocable.storage import repo
from vocable.storage.db import Database
from vocable.voices import store
from vocable.voices.embedding import SpeakerEncoder
from vocable.voices.service import VoiceService
from vocable.voices.speak import CLONING, profile_speaker

pytest.importorskip("resemblyzer", reason="the voices extra is not installed")
pytestmark = pytest.mark.slow

XTTS_DIR = os.environ.get("VOCABLE_XTTS_DIR")  # read before the fixtures clear VOCABLE_*
NO_WEIGHTS = (
    "XTTS v2 weights are on no package registry; set VOCABLE_XTTS_DIR to a local XTTS-v2 "
    "model directory to run this"
)
TEXT = (
    "The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore. "
    "Peter Piper picked a peck of pickled peppers. How much wood would a woodchuck chuck?"
)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cloning") / "slt.wav"
    subprocess.run(["flite", "-voice", "slt", "-t", TEXT, "-o", str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def encoder() -> Iterator[SpeakerEncoder]:
    loaded = asyncio.run(SpeakerEncoder.load())
    yield loaded
    asyncio.run(loaded.close())


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    settings.data_dir.mkdir(parents=True)
    opened = await Database.open(settings.storage, data_dir=settings.data_dir)
    async with opened.uow() as tx:
        await repo.create_user(tx, name="ann")
    yield opened
    await opened.close()


async def test_enrolment_clones_once_and_fits_the_match_on_piper(
    settings: Settings, db: Database, encoder: SpeakerEncoder, piper_tts: PiperTTS, sample: Path
) -> None:
    xtts = FakeXtts()
    service = VoiceService(settings, db, encoder, TTSChain([xtts, piper_tts]))
    profile = await service.add(user_id=1, name="Sally", sample=sample)
    assert profile.engine == store.CLONED_ENGINE
    # cloned once at enrolment, from the stored reference (XTTS caches its latents then)
    assert xtts.calls == [(settings.voices.similarity_text, str(profile.reference))]
    assert profile.reference.is_file()
    assert isinstance(profile.details["cloned_similarity"], float)
    assert profile.details["tts"]["name"] == "piper"  # matched on Piper, not on XTTS
    assert profile.similarity is not None
    assert profile.similarity > profile.details["baseline_similarity"]
    stored = await store.get_profile(db, user_id=1, name="Sally")
    assert stored.details["cloned_similarity"] == profile.details["cloned_similarity"]
    assert set(stored.similarities) == {"xtts+cloning", "piper+voice-matching", "piper"}


async def test_a_clone_failing_at_enrolment_still_stores_the_matched_voice(
    settings: Settings, db: Database, encoder: SpeakerEncoder, piper_tts: PiperTTS, sample: Path
) -> None:
    xtts = FakeXtts(fail=True)
    service = VoiceService(settings, db, encoder, TTSChain([xtts, piper_tts]))
    profile = await service.add(user_id=1, name="Sally", sample=sample)
    assert len(xtts.calls) == 1 and "cloned_similarity" not in profile.details
    assert profile.similarity is not None and profile.match.pitch_median_hz > 0


@pytest.mark.skipif(not XTTS_DIR, reason=NO_WEIGHTS)
async def test_real_xtts_clones_a_profile_with_latents_from_enrolment(
    settings: Settings, db: Database, encoder: SpeakerEncoder, piper_tts: PiperTTS, sample: Path
) -> None:
    from vocable.engines.tts.xtts import XttsTTS

    xtts = await XttsTTS.load(with_settings(settings, tts={"xtts_dir": XTTS_DIR}))
    try:
        chain = TTSChain([xtts, piper_tts], first_item_timeout_s=120)
        service = VoiceService(settings, db, encoder, chain)
        profile = await service.add(user_id=1, name="Sally", sample=sample)
        latents = profile.reference.with_name("reference.wav.xtts-latents.pt")
        assert latents.is_file()  # computed at enrolment, not by the first reply
        made = latents.stat().st_mtime_ns
        assert profile.engine == store.CLONED_ENGINE
        cloned = profile.details["cloned_similarity"]
        assert cloned > profile.details["baseline_similarity"]  # a clone beats plain Piper
        speaker = profile_speaker(chain, profile)
        assert speaker.rendering == CLONING
        chunks = [c async for c in speaker.tts.synthesize("Good morning to you.")]
        assert speaker.tts.info.name == "xtts+cloning"  # no fallback happened
        assert {c.sample_rate for c in chunks} == {24000} and len(chunks) > 1
        assert latents.stat().st_mtime_ns == made  # reused, not recomputed
    finally:
        await xtts.close()
