"""Voice profiles on real models: sample checks, storage, similarity, matching, the CLI.

Reference speakers are flite voices (slt, awb, rms; kal is 8 kHz), never our own TTS.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from vocable.config import Settings, load_settings
from vocable.engines.tts.base import TextToSpeech
from vocable.engines.tts.piper import PiperTTS
from vocable.errors import AudioInputError, ConflictError, NotFoundError, VoiceInputError
from vocable.frames import AudioChunk
from vocable.storage import repo
from vocable.storage.db import Database
from vocable.voices.embedding import Embedding, SpeakerEncoder, cosine
from vocable.voices.matching import FORMANT_GRID
from vocable.voices.service import VoiceService

pytest.importorskip("resemblyzer", reason="the voices extra is not installed")
pytestmark = pytest.mark.slow

TEXT = (
    "The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore. "
    "Peter Piper picked a peck of pickled peppers. How much wood would a woodchuck chuck?"
)
RATE = 16000


def flite(folder: Path, voice: str, text: str = TEXT) -> Path:
    out = folder / f"{voice}-{abs(hash(text)) % 10_000}.wav"
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(out)], check=True)
    return out


def read(path: Path) -> np.ndarray:
    data, rate = sf.read(str(path), dtype="float32")
    assert rate == RATE
    return np.asarray(data, dtype=np.float32)


@pytest.fixture(scope="module")
def wavs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("voices")
    rng = np.random.default_rng(7)
    made = {v: flite(folder, v) for v in ("slt", "awb", "rms", "kal")}
    slt, awb = read(made["slt"]), read(made["awb"])
    t = np.arange(10 * RATE) / RATE
    notes = np.array([261.6, 329.6, 392.0, 523.3, 440.0, 349.2])[(t * 2).astype(int) % 6]
    music = sum(0.2 / h * np.sin(2 * np.pi * notes * h * t) for h in (1, 2, 3))
    signals = {
        "two_speakers": np.concatenate([slt[: 7 * RATE], awb[: 7 * RATE]]),
        "short": slt[: 2 * RATE],
        "long": np.tile(slt, 4)[: 35 * RATE],
        "silence": np.zeros(10 * RATE, dtype=np.float32),
        "white_noise": rng.standard_normal(10 * RATE) * 0.1,
        "music": music * np.exp(-3 * (t % 0.5)),
        "clipped": np.clip(slt * 12, -1, 1),
        "noisy": slt + rng.standard_normal(len(slt)) * 0.15,
    }
    for name, samples in signals.items():
        made[name] = folder / f"{name}.wav"
        sf.write(str(made[name]), np.asarray(samples, dtype=np.float32), RATE, subtype="PCM_16")
    made["stereo"] = folder / "stereo.wav"
    sf.write(str(made["stereo"]), np.stack([slt, slt * 0.8], axis=1), RATE)
    made["not_audio"] = folder / "notes.wav"
    made["not_audio"].write_text("this is not a recording\n" * 100)
    return made


@pytest.fixture(scope="module")
def encoder() -> Iterator[SpeakerEncoder]:
    loaded = asyncio.run(SpeakerEncoder.load())
    yield loaded
    asyncio.run(loaded.close())


@pytest.fixture
async def service(
    tmp_path: Path, encoder: SpeakerEncoder, piper_tts: PiperTTS
) -> AsyncIterator[VoiceService]:
    settings = load_settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir(parents=True)
    db = await Database.open(settings.storage, data_dir=settings.data_dir)
    async with db.uow() as tx:
        ids = [(await repo.create_user(tx, name=n)).id for n in ("ann", "bob")]
    assert ids == [1, 2]
    yield VoiceService(settings, db, encoder, piper_tts)
    await db.close()


def stored(service: VoiceService) -> list[Path]:
    return sorted(service.root.glob("*")) if service.root.exists() else []


async def test_a_good_sample_becomes_a_profile(
    service: VoiceService, wavs: dict[str, Path]
) -> None:
    profile = await service.add(user_id=1, name="Sally", sample=wavs["slt"])
    report = profile.details["report"]
    assert 8 < report["duration_s"] < 12 and report["source_rate"] == RATE
    assert report["clipping_ratio"] == 0 and report["snr_db"] > 30
    assert report["speech_ratio"] > 0.8 and report["speaker_similarity"] > 0.8
    assert report["normalised_lufs"] == pytest.approx(-20.0, abs=0.5)
    assert 140 < report["pitch"]["f0_median_hz"] < 190  # slt is a female voice
    assert profile.embedding.shape == (256,)
    assert np.linalg.norm(profile.embedding) == pytest.approx(1.0, abs=1e-3)
    # The score is the matched output's similarity, and matching beats the plain voice.
    assert profile.similarity is not None
    assert profile.similarity > profile.details["baseline_similarity"]
    assert profile.match.formant_shift_ratio > 1.0  # toward a female vocal tract
    assert profile.match.duration_factor == 1.0  # slt is slower, but no time stretch
    reference, rate = sf.read(str(profile.folder / "reference.wav"))
    assert rate == RATE and len(reference) / rate == pytest.approx(report["duration_s"], abs=0.1)

    assert [p.name for p in await service.profiles(user_id=1)] == ["Sally"]
    assert await service.profiles(user_id=2) == []
    with pytest.raises(ConflictError) as dup:
        await service.add(user_id=1, name="Sally", sample=wavs["slt"])
    assert dup.value.code == "voice.exists" and not dup.value.transient
    renamed = await service.rename(user_id=1, name="Sally", new_name="Sal")
    assert renamed.name == "Sal" and renamed.similarity == profile.similarity
    await service.remove(user_id=1, name="Sal")
    assert await service.profiles(user_id=1) == [] and stored(service) == []
    with pytest.raises(NotFoundError):
        await service.get(user_id=1, name="Sal")


async def test_the_matched_voice_speaks_sentence_by_sentence(
    service: VoiceService, wavs: dict[str, Path], encoder: SpeakerEncoder
) -> None:
    profile = await service.add(user_id=1, name="rms", sample=wavs["rms"])
    speaker = service.speaker(profile)
    assert speaker.info.name == "piper+voice-matching"
    chunks = [c async for c in speaker.synthesize("Good morning, the coffee is ready.")]
    assert {c.sample_rate for c in chunks} == {22050} and len(chunks) > 2
    pcm = np.frombuffer(b"".join(c.pcm for c in chunks), dtype="<i2").astype(np.float32) / 32768
    assert 1.0 < len(pcm) / 22050 < 6 and float(np.sqrt(np.mean(pcm**2))) > 0.01


class Recording:
    """Piper, recording each text it speaks and how many samples it gave."""

    def __init__(self, inner: TextToSpeech) -> None:
        self.inner = inner
        self.info = inner.info
        self.sample_rate = inner.sample_rate
        self.spoken: list[tuple[str, int]] = []

    async def synthesize(
        self, text: str, voice: str | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        count = 0
        async for chunk in self.inner.synthesize(text, voice):
            count += len(chunk.pcm) // 2
            yield chunk
        self.spoken.append((text, count))

    async def close(self) -> None:
        pass


async def test_the_match_is_fitted_on_several_sentences(
    service: VoiceService,
    wavs: dict[str, Path],
    encoder: SpeakerEncoder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Fitted on one 3.7 s rendition, the chosen formant ratio changed from one Piper rendition
    # to the next (slt: 1.16 or 1.24) and the bench gain with it (0.136-0.161 over 8 runs).
    recording = Recording(service.tts)
    service.tts = recording
    lengths: list[int] = []
    embed = encoder.embed

    async def counted(samples: np.ndarray) -> Embedding:
        lengths.append(len(samples))
        return await embed(samples)

    monkeypatch.setattr(encoder, "embed", counted)
    profile = await service.add(user_id=1, name="Sally", sample=wavs["slt"])
    voices = service.settings.voices
    assert len(voices.fit_texts) >= 2
    texts = [text for text, _ in recording.spoken]
    assert texts == [voices.similarity_text, *voices.fit_texts]
    # Every candidate is scored on all of that speech (at 16 kHz): the grid, then neighbours.
    fitted = round(sum(n for _, n in recording.spoken) * RATE / recording.sample_rate)
    candidates = [n for n in lengths if abs(n - fitted) <= 2]
    assert len(FORMANT_GRID) + 1 <= len(candidates) <= len(FORMANT_GRID) + 2
    assert fitted > 2 * recording.spoken[0][1] * RATE / recording.sample_rate
    assert fitted / RATE > 7  # seconds
    assert FORMANT_GRID[0] <= profile.match.formant_shift_ratio <= FORMANT_GRID[-1]
    assert profile.match.formant_shift_ratio > 1.0  # toward a female vocal tract


@pytest.mark.parametrize(
    ("sample", "code", "words"),
    [
        ("short", "voice.too_short", "2.0 s long"),
        ("long", "voice.too_long", "35.0 s long"),
        ("kal", "voice.low_rate", "8000 Hz"),
        ("silence", "audio.silent", "silent"),
        ("white_noise", "voice.no_speech", "music or noise"),
        ("music", "voice.no_speech", "music or noise"),
        ("clipped", "voice.clipped", "clipped"),
        ("noisy", "voice.noisy", "too noisy"),
        ("not_audio", "audio.not_audio", "not audio"),
        ("two_speakers", "voice.several_speakers", "more than one voice"),
    ],
)
async def test_bad_samples_are_refused_and_nothing_is_stored(
    service: VoiceService, wavs: dict[str, Path], sample: str, code: str, words: str
) -> None:
    with pytest.raises(AudioInputError) as caught:
        await service.add(user_id=1, name="x", sample=wavs[sample])
    assert caught.value.code == code and words in caught.value.message
    assert await service.profiles(user_id=1) == [] and stored(service) == []


async def test_a_huge_upload_is_refused_before_decoding(service: VoiceService) -> None:
    with pytest.raises(VoiceInputError) as caught:
        await service.add(user_id=1, name="big", sample=b"\0" * (100 * 1024 * 1024))
    assert caught.value.code == "voice.too_large" and "104.9 MB" in caught.value.message
    assert stored(service) == []


@pytest.mark.parametrize("name", ["../evil", "a/b", "a\\b", "", "  ", ".hidden", "x" * 65, "a..b"])
async def test_names_with_path_characters_are_refused(
    service: VoiceService, wavs: dict[str, Path], name: str
) -> None:
    with pytest.raises(VoiceInputError) as caught:
        await service.add(user_id=1, name=name, sample=wavs["slt"])
    assert caught.value.code == "voice.bad_name"
    assert stored(service) == []


async def test_a_stereo_sample_is_downmixed_with_a_note(
    service: VoiceService, wavs: dict[str, Path]
) -> None:
    profile = await service.add(user_id=1, name="stereo", sample=wavs["stereo"])
    assert "downmixed 2 channels to mono" in profile.details["report"]["notes"]


async def test_different_speakers_embed_apart(
    encoder: SpeakerEncoder, wavs: dict[str, Path]
) -> None:
    slt = (await encoder.embed(read(wavs["slt"]))).vector
    again = (await encoder.embed(read(wavs["slt"])[3 * RATE :])).vector
    awb = (await encoder.embed(read(wavs["awb"]))).vector
    assert cosine(slt, again) > 0.8 > cosine(slt, awb)


def test_the_cli_adds_lists_speaks_and_removes(
    wavs: dict[str, Path], tmp_path: Path, session_settings: Settings
) -> None:
    from vocable.cli import app

    runner = CliRunner()
    added = runner.invoke(app, ["voices", "add", "Alan", str(wavs["awb"]), "--json"])
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["name"] == "Alan"
    listed = runner.invoke(app, ["voices", "list", "--json"])
    voices = json.loads(listed.stdout)["voices"]
    assert [v["name"] for v in voices] == ["Alan"] and voices[0]["similarity"] > 0
    out = tmp_path / "alan.wav"
    said = runner.invoke(app, ["say", "--voice", "Alan", "Hello there.", "--out", str(out)])
    assert said.exit_code == 0, said.output
    assert "piper+voice-matching" in said.stderr and sf.info(str(out)).duration > 0.3
    bad = runner.invoke(app, ["voices", "add", "../Alan", str(wavs["awb"])])
    assert bad.exit_code == 2 and "voice.bad_name" in bad.stderr
    short = runner.invoke(app, ["voices", "add", "Shorty", str(wavs["short"])])
    assert short.exit_code == 2 and "voice.too_short" in short.stderr
    assert runner.invoke(app, ["voices", "rm", "Alan"]).exit_code == 0
    assert json.loads(runner.invoke(app, ["voices", "list", "--json"]).stdout) == {"voices": []}
    missing = runner.invoke(app, ["voices", "rm", "Alan"])
    assert missing.exit_code == 2 and "voice.not_found" in missing.stderr


async def test_a_profile_whose_files_are_gone_says_so(
    service: VoiceService, wavs: dict[str, Path]
) -> None:
    profile = await service.add(user_id=1, name="gone", sample=wavs["slt"])
    (profile.folder / "profile.json").unlink()
    again = await service.get(user_id=1, name="gone")
    assert again.details == {}
    with pytest.raises(VoiceInputError) as caught:
        service.speaker(again)
    assert caught.value.code == "voice.damaged"
