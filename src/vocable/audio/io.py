"""Decode and validate input audio, cut it into frames, and write WAV files.

Decoding goes through libsndfile (`soundfile`): WAV, FLAC and OGG (Vorbis, Opus) at any rate
and channel count, plus whatever else the bundled libsndfile reads (MP3, AIFF, ...). Every
input problem surfaces as an `AudioInputError` with a stable code:

- ``audio.empty``: zero bytes, or no samples;
- ``audio.not_audio``: not decodable (text, images, broken or truncated headers);
- ``audio.too_long``: longer than the limit, checked from the header before decoding;
- ``audio.silent``: peak below `SILENCE_DBFS`;
- ``audio.not_found``: `read_audio_file` was given a path that does not exist.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt
import soundfile as sf

from vocable.audio.convert import FloatAudio, float_to_pcm16, resample, to_mono
from vocable.errors import AudioInputError
from vocable.frames import PCM16_BYTES, AudioFrame

SILENCE_DBFS = -60.0
"""Audio whose peak is below this level (dB relative to full scale) counts as silent."""
MIN_SOURCE_RATE = 1000
"""Lowest source sample rate accepted (Hz); lower rates come from broken headers."""
MAX_SOURCE_RATE = 768_000
"""Highest source sample rate accepted (Hz)."""
MAX_SECONDS_SETTING = "VOCABLE_AUDIO__MAX_INPUT_SECONDS"
_FORMATS_HINT = "Send a WAV, FLAC or OGG file."


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    """Input audio after decoding: float32 mono at `sample_rate`, plus what it came as."""

    samples: FloatAudio
    sample_rate: int
    duration_s: float
    source_rate: int
    source_channels: int
    source_format: str


def decode_audio(
    data: bytes | Path,
    *,
    target_rate: int = 16000,
    max_seconds: float = 60.0,
    filename: str = "",
) -> DecodedAudio:
    """Decode an audio file to float32 mono at `target_rate` and run the cheap signal checks.

    The duration is read from the header and checked against `max_seconds` before any sample
    is decoded; decoding also stops one frame past the limit, so a lying header cannot make
    it read more.

    Args:
        data: The file's bytes, or a path to it.
        target_rate: Sample rate of the result (Hz).
        max_seconds: Longest duration accepted.
        filename: Name used in error messages (e.g. the upload's file name).

    Returns:
        The decoded audio.

    Raises:
        AudioInputError: ``audio.empty``, ``audio.not_audio``, ``audio.too_long``,
            ``audio.silent`` or, for a missing path, ``audio.not_found``.
        ValueError: `target_rate` or `max_seconds` is not positive.
    """
    if target_rate <= 0 or max_seconds <= 0:
        raise ValueError(
            f"target_rate and max_seconds must be positive: {target_rate}, {max_seconds}"
        )
    name = filename or (data.name if isinstance(data, Path) else "the upload")
    if isinstance(data, Path):
        try:
            size = data.stat().st_size
        except FileNotFoundError:
            raise _not_found(data) from None
        except OSError as err:
            raise AudioInputError(
                f"Cannot read {data}: {err.strerror}. Check the path and its permissions.",
                code="audio.not_audio",
            ) from err
        if size == 0:
            raise _empty(name)
        source: str | IO[bytes] = str(data)
    else:
        if not data:
            raise _empty(name)
        source = io.BytesIO(data)
    mono, source_rate, channels, fmt = _read_mono(source, name, max_seconds)
    if mono.size == 0:
        raise _empty(name)
    _check_not_silent(mono)
    samples = resample(mono, source_rate, target_rate)
    return DecodedAudio(
        samples=samples,
        sample_rate=target_rate,
        duration_s=len(samples) / target_rate,
        source_rate=source_rate,
        source_channels=channels,
        source_format=fmt,
    )


def read_audio_file(
    path: str | os.PathLike[str],
    *,
    target_rate: int = 16000,
    max_seconds: float = 60.0,
) -> DecodedAudio:
    """Decode an audio file from disk; see `decode_audio`.

    Raises:
        AudioInputError: ``audio.not_found`` when `path` does not exist or is not a file,
            else as `decode_audio`.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise _not_found(file)
    return decode_audio(file, target_rate=target_rate, max_seconds=max_seconds, filename=file.name)


def encode_wav(samples_or_pcm: bytes | npt.NDArray[np.generic], sample_rate: int) -> bytes:
    """Encode mono audio as a PCM16 WAV file.

    Args:
        samples_or_pcm: PCM16 little-endian bytes, an int16 array, or float audio in [-1, 1]
            (clipped). Multi-channel arrays (frames, channels) are downmixed.
        sample_rate: Sample rate (Hz).

    Returns:
        The WAV file's bytes.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if isinstance(samples_or_pcm, bytes | bytearray | memoryview):
        pcm = bytes(samples_or_pcm)
        if len(pcm) % PCM16_BYTES:
            raise ValueError("pcm must hold whole 16-bit samples")
    else:
        arr = np.asarray(samples_or_pcm)
        if arr.dtype == np.int16:
            pcm = (arr.mean(axis=1).astype("<i2") if arr.ndim == 2 else arr.astype("<i2")).tobytes()
        else:
            pcm = float_to_pcm16(to_mono(arr.astype(np.float32)))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(PCM16_BYTES)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm)
    return out.getvalue()


def write_wav(path: str | os.PathLike[str], pcm: bytes, sample_rate: int) -> Path:
    """Write PCM16 mono audio to a WAV file atomically, creating parent directories.

    Returns:
        The path written.
    """
    target = Path(path)
    data = encode_wav(pcm, sample_rate)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def frames_from_samples(
    samples: npt.NDArray[np.floating],
    sample_rate: int,
    frame_samples: int,
    turn_id: int = 0,
) -> Iterator[AudioFrame]:
    """Cut float audio into PCM16 `AudioFrame`s of exactly `frame_samples` samples.

    The last frame is zero-padded; empty input yields no frame.
    """
    if frame_samples <= 0:
        raise ValueError(f"frame_samples must be positive, got {frame_samples}")
    audio = np.asarray(samples, dtype=np.float32).reshape(-1)
    for start in range(0, len(audio), frame_samples):
        piece = audio[start : start + frame_samples]
        if len(piece) < frame_samples:
            piece = np.pad(piece, (0, frame_samples - len(piece)))
        yield AudioFrame(float_to_pcm16(piece), sample_rate, turn_id=turn_id)


def _read_mono(
    source: str | IO[bytes], name: str, max_seconds: float
) -> tuple[FloatAudio, int, int, str]:
    """Open, check the header, decode at most `max_seconds` (+1 frame) and downmix."""
    try:
        with sf.SoundFile(source) as f:
            rate, channels, frames = int(f.samplerate), int(f.channels), int(f.frames)
            fmt = str(f.format).lower()
            if not MIN_SOURCE_RATE <= rate <= MAX_SOURCE_RATE:
                raise _not_audio(name, f"unsupported sample rate {rate} Hz")
            if channels < 1:
                raise _not_audio(name, "the header names no channels")
            limit = math.floor(max_seconds * rate)
            if frames > limit:
                raise _too_long(frames / rate, max_seconds)
            data = f.read(frames=limit + 1, dtype="float32", always_2d=True)
    except AudioInputError:
        raise
    except Exception as err:  # noqa: BLE001 - any decoder failure means the input is broken
        raise _not_audio(name, _decoder_message(err)) from err
    if len(data) > limit:  # pragma: no cover - soundfile stops at the header's frame count
        raise _too_long(len(data) / rate, max_seconds)
    if not np.isfinite(data).all():
        raise _not_audio(name, "it contains invalid (NaN or infinite) samples")
    return to_mono(data), rate, channels, fmt


def _check_not_silent(samples: FloatAudio) -> None:
    peak = float(np.max(np.abs(samples)))
    if peak < 10.0 ** (SILENCE_DBFS / 20.0):
        level = "-inf" if peak == 0.0 else f"{20.0 * math.log10(peak):.0f}"
        raise AudioInputError(
            f"The audio is silent (peak {level} dBFS, below {SILENCE_DBFS:.0f} dBFS): no speech "
            "found. Check that the microphone is on, unmuted and its input level is up.",
            code="audio.silent",
        )


def _decoder_message(err: Exception) -> str:
    # LibsndfileError's str() names the in-memory file object; its error_string does not.
    text = str(getattr(err, "error_string", "") or err)
    return text.strip().rstrip(".") or type(err).__name__


def _empty(name: str) -> AudioInputError:
    return AudioInputError(
        f"No audio in {name}: it is empty. Record or upload a file with speech in it.",
        code="audio.empty",
    )


def _not_audio(name: str, detail: str) -> AudioInputError:
    return AudioInputError(
        f"Could not decode {name} as audio ({detail}). {_FORMATS_HINT}",
        code="audio.not_audio",
    )


def _too_long(duration_s: float, max_seconds: float) -> AudioInputError:
    return AudioInputError(
        f"The audio is {duration_s:.1f} s long; the limit is {max_seconds:g} s. Send a shorter "
        f"clip, or raise the limit with {MAX_SECONDS_SETTING}.",
        code="audio.too_long",
    )


def _not_found(path: Path) -> AudioInputError:
    return AudioInputError(
        f"No audio file at {path}. Check the path.",
        code="audio.not_found",
    )
