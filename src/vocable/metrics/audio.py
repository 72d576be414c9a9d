"""Quality of the reply audio that goes out: gaps in the stream, clipping, loudness."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

GAP_S = 0.040
"""Silence longer than this between the end of the audio sent so far and the next chunk."""
CLIP_LEVEL = 32767
"""A PCM16 sample at or beyond this magnitude counts as clipped."""


class AudioQuality:
    """Server-wide counts of the reply audio: samples, clipped samples, gaps, recent loudness.

    Args:
        window: How many recent replies the loudness is measured over.
    """

    def __init__(self, window: int = 100) -> None:
        self.samples = 0
        self.clipped = 0
        self.gaps = 0
        self._energy: deque[tuple[float, int]] = deque(maxlen=window)

    def add_reply(self, pcm: bytes) -> None:
        """Count one whole reply (PCM16 mono) towards clipping and loudness."""
        self._add(pcm, new_reply=True)

    def _add(self, pcm: bytes, *, new_reply: bool) -> None:
        usable = len(pcm) - len(pcm) % 2
        if usable <= 0:
            return
        ints = np.frombuffer(pcm[:usable], dtype=np.int16).astype(np.int32)
        self.samples += int(ints.size)
        self.clipped += int(np.count_nonzero(np.abs(ints) >= CLIP_LEVEL))
        floats = ints.astype(np.float64) / 32768.0
        energy = float(np.dot(floats, floats))
        if new_reply or not self._energy:
            self._energy.append((energy, int(ints.size)))
        else:
            last_energy, last_n = self._energy[-1]
            self._energy[-1] = (last_energy + energy, last_n + int(ints.size))

    @property
    def clipping_ratio(self) -> float | None:
        """Clipped samples over all reply samples so far (None before any audio)."""
        return round(self.clipped / self.samples, 6) if self.samples else None

    @property
    def loudness_dbfs(self) -> float | None:
        """RMS level of the recent replies in dBFS (None before any audio; -120 for silence)."""
        n = sum(count for _, count in self._energy)
        if not n:
            return None
        mean_square = sum(e for e, _ in self._energy) / n
        return round(10 * math.log10(mean_square), 2) if mean_square > 1e-12 else -120.0


class StreamMonitor:
    """Watches one output stream as chunks go out, for gaps, clipping and loudness.

    A gap is counted when a chunk goes out more than `GAP_S` after the audio sent before it
    (in the same reply) has finished playing. `reset` starts a new reply.
    """

    def __init__(self, quality: AudioQuality) -> None:
        self._quality = quality
        self._playing_until: float | None = None
        self._new_reply = True

    def reset(self) -> None:
        """A new reply starts: silence before its first chunk is not a gap."""
        self._playing_until = None
        self._new_reply = True

    def chunk(self, pcm: bytes, sample_rate: int, now: float) -> None:
        """One chunk of PCM16 mono audio went out at monotonic time `now`."""
        if sample_rate <= 0 or len(pcm) < 2:
            return
        duration = len(pcm) // 2 / sample_rate
        until = self._playing_until
        if until is not None and now - until > GAP_S:
            self._quality.gaps += 1
        self._playing_until = max(until if until is not None else now, now) + duration
        self._quality._add(pcm, new_reply=self._new_reply)
        self._new_reply = False
