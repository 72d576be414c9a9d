"""Checks on a voice sample at enrolment, each failure with a specific code, message and fix.

Checks run cheapest first: the name, the file size, the header (duration, rate), then the
decoded signal (silence, clipping, speech ratio, noise), then the speaker embedding (one speaker).
Loudness is normalised to ``voices.target_lufs`` (ITU-R BS.1770, pyloudnorm).
"""

from __future__ import annotations

import asyncio
import io
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import soundfile as sf

from vocable.audio.convert import resample, to_mono
from vocable.config import VoicesSettings
from vocable.errors import AudioInputError, VoiceInputError
from vocable.voices import analysis
from vocable.voices.analysis import FloatAudio
from vocable.voices.embedding import RATE, Embedding, SpeakerEncoder, speaker_split

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}")
"""Allowed profile names: letters, digits, space, ``_``, ``.``, ``-``; 1-64 characters."""
BUILTIN_VOICES = frozenset(
    "default alloy ash ballad coral echo fable onyx nova sage shimmer verse".split()
)
"""OpenAI's voice names, spoken by the plain TTS chain; no profile may take one of them."""
RECOMMENDED_S = 10.0
SILENCE_PEAK = 10 ** (-60 / 20)
MIN_MINORITY_SHARE = 0.2
"""A second speaker must fill at least this share of the windows to count."""


@dataclass(slots=True)
class QualityReport:
    """What the checks measured on an accepted sample (stored with the profile)."""

    duration_s: float
    source_rate: int
    source_channels: int
    clipping_ratio: float
    snr_db: float
    speech_ratio: float
    speaker_similarity: float
    loudness_lufs: float
    normalised_lufs: float
    pitch: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class CheckedSample:
    """An accepted sample: loudness-normalised 16 kHz mono audio, its embedding, its report."""

    audio: FloatAudio
    embedding: Embedding
    report: QualityReport


def check_name(name: str) -> str:
    """The profile name, stripped, or `VoiceInputError` (``voice.bad_name``)."""
    clean = name.strip()
    if not NAME_PATTERN.fullmatch(clean) or ".." in clean:
        raise VoiceInputError(
            f"{name!r} is not a usable voice name: use 1-64 letters, digits, spaces, '_', '.' "
            "or '-', starting with a letter or digit (no '/', '\\' or '..').",
            code="voice.bad_name",
        )
    return clean


def check_new_name(name: str) -> str:
    """`check_name`, also refusing the built-in voice names (``voice.reserved_name``)."""
    clean = check_name(name)
    if clean.lower() in BUILTIN_VOICES:
        raise VoiceInputError(
            f"{clean!r} is the name of a built-in voice; pick another name for your voice.",
            code="voice.reserved_name",
        )
    return clean


def _fail(code: str, message: str) -> VoiceInputError:
    return VoiceInputError(message, code=f"voice.{code}")


def read_sample(data: bytes | Path, cfg: VoicesSettings) -> tuple[FloatAudio, int, int]:
    """Size and header checks, then decode. Returns (mono samples, rate, channels)."""
    size = data.stat().st_size if isinstance(data, Path) else len(data)
    if size > cfg.max_sample_bytes:
        raise _fail(
            "too_large",
            f"The sample is {size / 1e6:.1f} MB; the limit is {cfg.max_sample_bytes / 1e6:.0f} MB. "
            f"Send about {RECOMMENDED_S:g} s of speech as WAV or FLAC (well under 2 MB).",
        )
    if size == 0:
        raise AudioInputError("The sample is empty. Record 10 s of speech.", code="audio.empty")
    source: str | IO[bytes] = str(data) if isinstance(data, Path) else io.BytesIO(data)
    try:
        with sf.SoundFile(source) as f:
            rate, channels, frames = int(f.samplerate), int(f.channels), int(f.frames)
            duration = frames / rate if rate > 0 else 0.0
            _check_header(duration, rate, cfg)
            raw = f.read(dtype="float32", always_2d=True)
    except VoiceInputError:
        raise
    except Exception as err:  # noqa: BLE001 - any decoder failure means it is not audio
        raise AudioInputError(
            f"The sample is not audio that vocable can read ({type(err).__name__}). "
            "Send a WAV, FLAC or OGG recording.",
            code="audio.not_audio",
        ) from err
    if not np.isfinite(raw).all():
        raise AudioInputError("The sample holds invalid samples (NaN).", code="audio.not_audio")
    return to_mono(raw), rate, channels


def _check_header(duration: float, rate: int, cfg: VoicesSettings) -> None:
    span = f"{cfg.min_sample_s:g} to {cfg.max_sample_s:g} s; {RECOMMENDED_S:g} s is best"
    if duration < cfg.min_sample_s:
        raise _fail(
            "too_short",
            f"The sample is {duration:.1f} s long; a voice sample needs {span}. Record more.",
        )
    if duration > cfg.max_sample_s:
        raise _fail(
            "too_long",
            f"The sample is {duration:.1f} s long; a voice sample needs {span}. Trim it.",
        )
    if rate < cfg.min_sample_rate:
        raise _fail(
            "low_rate",
            f"The sample rate is {rate} Hz; a voice sample needs at least {cfg.min_sample_rate} "
            "Hz. Record again at 16 kHz or more (44.1 or 48 kHz are fine).",
        )


def check_signal(
    mono: FloatAudio, rate: int, cfg: VoicesSettings
) -> tuple[FloatAudio, dict[str, float]]:
    """Silence, clipping, speech ratio and noise checks. Returns 16 kHz audio and the numbers."""
    if float(np.max(np.abs(mono))) < SILENCE_PEAK:
        raise AudioInputError(
            "The sample is silent: no speech found. Check that the microphone is on and unmuted.",
            code="audio.silent",
        )
    clipped = analysis.clipping_ratio(mono)
    if clipped > cfg.max_clipping_ratio:
        raise _fail(
            "clipped",
            f"{clipped:.1%} of the sample is clipped (the limit is {cfg.max_clipping_ratio:.1%}). "
            "Lower the microphone gain or move back from it, and record again.",
        )
    audio = resample(mono, rate, RATE)
    speech = analysis.speech_ratio(audio)
    if speech < cfg.min_speech_ratio:
        raise _fail(
            "no_speech",
            f"Only {speech:.0%} of the sample is speech (at least {cfg.min_speech_ratio:.0%} is "
            "needed): is it music or noise? Record yourself talking, with no music behind.",
        )
    snr = analysis.estimate_snr_db(audio, RATE)
    if snr < cfg.min_snr_db:
        raise _fail(
            "noisy",
            f"The sample is too noisy: the estimated signal-to-noise ratio is {snr:.0f} dB (at "
            f"least {cfg.min_snr_db:g} dB is needed). Record in a quieter room.",
        )
    return audio, {"clipping_ratio": clipped, "speech_ratio": speech, "snr_db": snr}


async def check_sample(
    data: bytes | Path, cfg: VoicesSettings, encoder: SpeakerEncoder
) -> CheckedSample:
    """Run every check on a sample and normalise its loudness.

    Raises:
        VoiceInputError: ``voice.too_large``, ``voice.too_short``, ``voice.too_long``,
            ``voice.low_rate``, ``voice.clipped``, ``voice.no_speech``, ``voice.noisy`` or
            ``voice.several_speakers``.
        AudioInputError: ``audio.empty``, ``audio.not_audio`` or ``audio.silent``.
        EngineUnavailableError: the ``voices`` extra is not installed.
    """
    mono, rate, channels = await asyncio.to_thread(read_sample, data, cfg)
    notes = []
    if channels > 1:
        notes.append(f"downmixed {channels} channels to mono")
    audio, measured = await asyncio.to_thread(check_signal, mono, rate, cfg)
    level = analysis.loudness_lufs(audio, RATE)
    audio = await asyncio.to_thread(analysis.normalise_loudness, audio, RATE, cfg.target_lufs)
    embedding = await encoder.embed(audio)
    similarity, share = speaker_split(embedding.partials)
    if similarity < cfg.min_speaker_similarity and share >= MIN_MINORITY_SHARE:
        raise _fail(
            "several_speakers",
            f"The sample seems to hold more than one voice (two parts are only {similarity:.2f} "
            "alike). Record one person speaking alone.",
        )
    if abs(len(mono) / rate - RECOMMENDED_S) > 4:
        notes.append(f"about {RECOMMENDED_S:g} s of speech gives the best profile")
    report = QualityReport(
        duration_s=round(len(mono) / rate, 2),
        source_rate=rate,
        source_channels=channels,
        clipping_ratio=round(measured["clipping_ratio"], 5),
        snr_db=measured["snr_db"],
        speech_ratio=round(measured["speech_ratio"], 3),
        speaker_similarity=round(similarity, 3),
        loudness_lufs=round(level, 1),
        normalised_lufs=round(analysis.loudness_lufs(audio, RATE), 1),
        pitch=await asyncio.to_thread(analysis.pitch_stats, audio, RATE),
        notes=notes,
    )
    return CheckedSample(audio, embedding, report)
