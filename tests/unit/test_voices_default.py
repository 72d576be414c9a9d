"""The default voice and voice resolution, on real SQLite, with a tone engine and Praat matching.

Profiles are stored directly (no speaker model); `tests/integration/test_voices_api.py` enrols
real samples.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from vocable.config import Settings
from vocable.engines.base import EngineInfo
from vocable.errors import ConflictError, NotFoundError, VoiceInputError
from vocable.frames import AudioChunk
from vocable.storage import repo
from vocable.storage.db import Database
from vocable.voices import analysis, store
from vocable.voices.matching import MatchedTTS, MatchParams
from vocable.voices.speak import UserVoices, resolve_speaker
from vocable.voices.store import Profile
from vocable.voices.validate import check_new_name

TARGET_HZ = 210.0
TONE_HZ = 140.0


class Tone:
    """Speaks a 140 Hz tone, half a second per word."""

    info = EngineInfo(kind="tts", name="tone", model="140")
    sample_rate = 22050

    def __init__(self) -> None:
        self.voices: list[str | None] = []

    async def synthesize(
        self, text: str, voice: str | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        self.voices.append(voice)
        t = np.arange(self.sample_rate * len(text.split()) // 2) / self.sample_rate
        pcm = (0.4 * np.sin(2 * np.pi * TONE_HZ * t) * 32767).astype("<i2").tobytes()
        for i in range(0, len(pcm), 4410):
            yield AudioChunk(pcm[i : i + 4410], self.sample_rate)

    async def close(self) -> None:
        pass


async def add_profile(db: Database, data_dir: Path, user_id: int, name: str) -> Profile:
    """Store a profile as enrolment would, without the speaker model."""
    params = MatchParams(TARGET_HZ, 1.0, 1.1, 1.0)
    rng = np.random.default_rng(len(name))
    vector = rng.standard_normal(256).astype(np.float32)
    return await store.save_profile(
        db,
        data_dir / "voices",
        user_id=user_id,
        name=name,
        audio=np.zeros(16000, dtype=np.float32),
        vector=vector / np.linalg.norm(vector),
        details={"match": params.as_dict(), "similarity": 0.81, "baseline_similarity": 0.55},
    )


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    settings.data_dir.mkdir(parents=True)
    opened = await Database.open(settings.storage, data_dir=settings.data_dir)
    async with opened.uow() as tx:
        assert [(await repo.create_user(tx, name=n)).id for n in ("ann", "bob")] == [1, 2]
    yield opened
    await opened.close()


async def test_the_default_is_set_kept_on_rename_and_cleared_on_delete(
    db: Database, settings: Settings
) -> None:
    root = settings.data_dir / "voices"
    sal = await add_profile(db, settings.data_dir, 1, "Sal")
    await add_profile(db, settings.data_dir, 1, "Mo")
    assert await store.default_profile(db, root, user_id=1) is None
    chosen = await store.set_default(db, root, user_id=1, name="Sal")
    assert chosen is not None and chosen.id == sal.id
    assert store.default_id(root, user_id=1) == sal.id
    assert store.default_id(root, user_id=2) is None  # per user
    await store.rename_profile(db, user_id=1, name="Sal", new_name="Sally")
    again = await store.default_profile(db, root, user_id=1)
    assert again is not None and again.name == "Sally"
    with pytest.raises(ConflictError) as taken:
        await store.rename_profile(db, user_id=1, name="Mo", new_name="Sally")
    assert taken.value.code == "voice.exists" and not taken.value.transient
    await store.remove_profile(db, settings.data_dir, user_id=1, name="Sally")
    assert await store.default_profile(db, root, user_id=1) is None
    # SQLite reuses the id of a deleted last row: a new profile must not inherit the default
    await store.set_default(db, root, user_id=1, name="Mo")
    mo = await store.get_profile(db, user_id=1, name="Mo")
    await store.remove_profile(db, settings.data_dir, user_id=1, name="Mo")
    reused = await add_profile(db, settings.data_dir, 1, "New")
    assert reused.id <= mo.id  # an id that was used before
    assert await store.default_profile(db, root, user_id=1) is None
    with pytest.raises(NotFoundError):
        await store.set_default(db, root, user_id=2, name="Mo")  # not bob's
    assert await store.set_default(db, root, user_id=1, name=None) is None


async def test_a_damaged_default_file_means_no_default(db: Database, settings: Settings) -> None:
    root = settings.data_dir / "voices"
    await add_profile(db, settings.data_dir, 1, "Sal")
    await store.set_default(db, root, user_id=1, name="Sal")
    (root / "defaults" / "1.json").write_text("{not json")
    assert store.default_id(root, user_id=1) is None
    assert await store.default_profile(db, root, user_id=1) is None


@pytest.mark.parametrize("name", ["alloy", "Default", "NOVA"])
def test_built_in_voice_names_are_reserved(name: str) -> None:
    with pytest.raises(VoiceInputError) as caught:
        check_new_name(name)
    assert caught.value.code == "voice.reserved_name"
    assert check_new_name(" Grandma ") == "Grandma"


async def test_which_voice_speaks(db: Database, settings: Settings) -> None:
    tone = Tone()
    data_dir = settings.data_dir
    plain = await resolve_speaker(db, data_dir, tone, user_id=1, voice=None)
    assert plain.tts is tone and plain.profile is None and plain.name == "default"
    await add_profile(db, data_dir, 1, "Sal")
    named = await resolve_speaker(db, data_dir, tone, user_id=1, voice="Sal")
    assert isinstance(named.tts, MatchedTTS) and named.name == "Sal"
    await store.set_default(db, data_dir / "voices", user_id=1, name="Sal")
    for asked in (None, "default", "DEFAULT"):
        chosen = await resolve_speaker(db, data_dir, tone, user_id=1, voice=asked)
        assert chosen.name == "Sal", asked
    builtin = await resolve_speaker(db, data_dir, tone, user_id=1, voice="alloy")
    assert builtin.tts is tone and builtin.engine_voice is None
    bobs = await resolve_speaker(db, data_dir, tone, user_id=2, voice=None)
    assert bobs.profile is None  # ann's default is not bob's
    with pytest.raises(NotFoundError):
        await resolve_speaker(db, data_dir, tone, user_id=2, voice="Sal")
    with pytest.raises(VoiceInputError):
        await resolve_speaker(db, data_dir, tone, user_id=1, voice="../Sal")
    engine_id = await resolve_speaker(
        db, data_dir, tone, user_id=1, voice="en-US/Aria", engine_voices=True
    )
    assert engine_id.tts is tone and engine_id.engine_voice == "en-US/Aria"


def _f0(chunks: list[AudioChunk]) -> float:
    samples = np.frombuffer(b"".join(c.pcm for c in chunks), "<i2").astype(np.float32) / 32768
    return analysis.pitch_stats(samples, chunks[0].sample_rate)["f0_median_hz"]


async def test_user_voices_speak_the_default_profile_per_call(
    db: Database, settings: Settings
) -> None:
    pytest.importorskip("parselmouth", reason="the voices extra is not installed")
    tone = Tone()
    await add_profile(db, settings.data_dir, 1, "Sal")
    await store.set_default(db, settings.data_dir / "voices", user_id=1, name="Sal")
    voices = UserVoices(tone, db, settings.data_dir, user_id=1)
    assert voices.sample_rate == tone.sample_rate
    matched = [c async for c in voices.synthesize("one two three four")]
    assert _f0(matched) == pytest.approx(TARGET_HZ, abs=10)
    assert voices.info.name == "tone+voice-matching"
    plain = [c async for c in voices.synthesize("one two three four", "alloy")]
    assert _f0(plain) == pytest.approx(TONE_HZ, abs=5)
    engine = [c async for c in voices.synthesize("one two", "espeak-en")]
    assert engine and tone.voices[-1] == "espeak-en"
    await voices.close()


async def test_a_realtime_session_gets_the_users_voices_over_the_shared_chain(
    db: Database, settings: Settings
) -> None:
    from tests.fakes import FakeLLM, FakeSTT, ThresholdVAD
    from vocable.engines.chain import TTSChain
    from vocable.engines.loader import Engines
    from vocable.voices.speak import for_user

    chain = TTSChain([Tone()])
    shared = Engines(vad=ThresholdVAD(), stt=FakeSTT("hi"), llm=FakeLLM(["Hi."]), tts=chain)
    mine = for_user(shared, db, settings.data_dir, user_id=1)
    assert mine.stt is shared.stt and mine.llm is shared.llm and shared.tts is chain
    assert isinstance(mine.tts, UserVoices) and mine.tts.inner is chain
    await add_profile(db, settings.data_dir, 1, "Sal")
    await store.set_default(db, settings.data_dir / "voices", user_id=1, name="Sal")
    [c async for c in mine.tts.synthesize("one two")]
    assert mine.tts.info.name == "tone+voice-matching"
