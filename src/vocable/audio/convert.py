"""Sample format and rate conversions used everywhere audio moves."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

FloatAudio = npt.NDArray[np.float32]


def pcm16_to_float(pcm: bytes) -> FloatAudio:
    """Little-endian PCM16 bytes to float32 in [-1, 1]."""
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def float_to_pcm16(samples: npt.NDArray[np.floating]) -> bytes:
    """Float audio to little-endian PCM16 bytes, clipping to [-1, 1]."""
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    return (clipped * 32767.0).round().astype("<i2").tobytes()


def to_mono(samples: npt.NDArray[np.floating]) -> FloatAudio:
    """Average the channels of a (frames, channels) array; mono input passes through."""
    arr = np.asarray(samples, dtype=np.float32)
    if arr.ndim == 1:
        return arr
    mono: FloatAudio = arr.mean(axis=1, dtype=np.float32)
    return mono


def resample(samples: FloatAudio, src_rate: int, dst_rate: int) -> FloatAudio:
    """Resample mono float32 audio (soxr, high quality). Same rate returns the input."""
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {src_rate} -> {dst_rate}")
    if src_rate == dst_rate or len(samples) == 0:
        return np.asarray(samples, dtype=np.float32)
    out = soxr.resample(np.asarray(samples, dtype=np.float32), src_rate, dst_rate, quality="HQ")
    return np.asarray(out, dtype=np.float32)


def resample_pcm16(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Resample PCM16 bytes."""
    if src_rate == dst_rate:
        return pcm
    return float_to_pcm16(resample(pcm16_to_float(pcm), src_rate, dst_rate))


class StreamResampler:
    """Resamples a continuous stream chunk by chunk, without seams between chunks."""

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self._stream = soxr.ResampleStream(src_rate, dst_rate, 1, dtype="float32", quality="HQ")

    def push(self, samples: FloatAudio, *, last: bool = False) -> FloatAudio:
        """Resample the next chunk; pass ``last=True`` once, at the end, to flush."""
        out = self._stream.resample_chunk(np.asarray(samples, dtype=np.float32), last=last)
        return np.asarray(out, dtype=np.float32)


SILENCE_DBFS = -50.0
"""Audio quieter than this ahead of the first sound counts as lead-in silence (TTS and playout)."""


def first_sound(samples: FloatAudio, rate: int, dbfs: float, window_ms: float = 5.0) -> int | None:
    """Index of the first `window_ms` window whose RMS level is above `dbfs` (None: none is)."""
    window = max(1, int(rate * window_ms / 1000))
    floor = 10 ** (dbfs / 20)
    for start in range(0, len(samples), window):
        if float(np.sqrt(np.mean(samples[start : start + window] ** 2))) > floor:
            return start
    return None
