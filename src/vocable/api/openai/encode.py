"""Audio response formats of the speech endpoint, and subtitle formats of transcriptions."""

from __future__ import annotations

import io
import struct
from typing import Literal

import numpy as np
import soundfile as sf
import soxr

SpeechFormat = Literal["wav", "pcm", "mp3", "opus"]
MEDIA_TYPES: dict[str, str] = {
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
}
STREAMED = ("wav", "pcm")
"""Formats sent chunk by chunk as they are synthesised; the others are encoded at the end."""
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


def streaming_wav_header(sample_rate: int) -> bytes:
    """A PCM16 mono WAV header whose sizes say "unknown" (0xFFFFFFFF), for streamed audio."""
    unknown = 0xFFFFFFFF
    return (
        b"RIFF"
        + struct.pack("<I", unknown)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", unknown)
    )


def change_speed(pcm: bytes, sample_rate: int, speed: float) -> bytes:
    """PCM16 played `speed` times faster (by resampling, so the pitch moves with it)."""
    if speed == 1.0 or not pcm:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    faster = soxr.resample(samples, sample_rate * speed, sample_rate)
    return bytes((np.clip(faster, -1.0, 1.0) * 32767).astype("<i2").tobytes())


def encode_compressed(pcm: bytes, sample_rate: int, fmt: Literal["mp3", "opus"]) -> bytes:
    """PCM16 mono as MP3, or as Opus in Ogg (resampled to a rate Opus supports)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    out = io.BytesIO()
    if fmt == "mp3":
        sf.write(out, samples, sample_rate, format="MP3", subtype="MPEG_LAYER_III")
    else:
        rate = min((r for r in OPUS_RATES if r >= sample_rate), default=48000)
        sf.write(out, soxr.resample(samples, sample_rate, rate), rate, format="OGG", subtype="OPUS")
    return out.getvalue()


def _stamp(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def subtitles(text: str, duration_s: float, fmt: Literal["srt", "vtt"]) -> str:
    """One cue spanning the whole audio, as SRT or WebVTT."""
    if fmt == "srt":
        return f"1\n{_stamp(0, ',')} --> {_stamp(duration_s, ',')}\n{text}\n"
    return f"WEBVTT\n\n{_stamp(0, '.')} --> {_stamp(duration_s, '.')}\n{text}\n"
