"""Prosody for turn-taking: does the voice rise at the end of the utterance?

A statement that ends on a rising tone ("I went to the shop, and then↗") usually goes on; a
falling one ends. `final_rise` tracks the pitch over the last voiced stretch with a plain
autocorrelation (no model, about a millisecond) and returns the rise in semitones.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FRAME_S = 0.04
HOP_S = 0.01
TAIL_S = 0.6
"""How much of the end of the utterance is read."""
F0_MIN, F0_MAX = 70.0, 400.0
VOICED = 0.5
"""Normalised autocorrelation peak above which a frame counts as voiced."""
MIN_VOICED_FRAMES = 8
RISE_SEMITONES = 2.0
"""A final rise of at least this much reads as "more to come"."""


def _pitch(frame: npt.NDArray[np.float32], rate: int) -> float | None:
    """F0 of one frame in Hz, or None when it is unvoiced."""
    frame = frame - float(np.mean(frame))
    energy = float(np.dot(frame, frame))
    if energy <= 1e-6:
        return None
    spectrum = np.fft.rfft(frame, 2 * len(frame))
    corr = np.fft.irfft(spectrum * np.conj(spectrum))[: len(frame)] / energy
    lo, hi = int(rate / F0_MAX), min(len(corr) - 1, int(rate / F0_MIN))
    if hi <= lo:
        return None
    lag = lo + int(np.argmax(corr[lo:hi]))
    return rate / lag if corr[lag] >= VOICED else None


def _trim_silence(audio: npt.NDArray[np.float32], rate: int) -> npt.NDArray[np.float32]:
    """`audio` without the quiet after the last loud 10 ms (the endpoint's silence)."""
    hop = int(HOP_S * rate)
    count = len(audio) // hop
    if count == 0:
        return audio
    rms = np.sqrt(np.mean(audio[: count * hop].reshape(count, hop) ** 2, axis=1))
    loud = np.nonzero(rms > 0.1 * float(np.max(rms)))[0]
    return audio[: (int(loud[-1]) + 1) * hop] if len(loud) else audio[:0]


def final_rise(audio: npt.NDArray[np.float32], rate: int) -> float | None:
    """Semitones the pitch rises over the last voiced stretch (negative: it falls).

    The last `TAIL_S` of audio is split into frames; the median pitch of the last third of the
    voiced frames is compared with that of the first third. None when too little is voiced.
    """
    tail = _trim_silence(audio, rate)[-int(TAIL_S * rate) :]
    size, hop = int(FRAME_S * rate), int(HOP_S * rate)
    pitches = [
        p
        for start in range(0, max(0, len(tail) - size), hop)
        if (p := _pitch(tail[start : start + size], rate)) is not None
    ]
    if len(pitches) < MIN_VOICED_FRAMES:
        return None
    third = len(pitches) // 3
    first, last = np.median(pitches[:third]), np.median(pitches[-third:])
    return float(12 * np.log2(last / first))


def rises(audio: npt.NDArray[np.float32], rate: int) -> bool:
    """True when the utterance ends on a rising tone (`RISE_SEMITONES` or more)."""
    rise = final_rise(audio, rate)
    return rise is not None and rise >= RISE_SEMITONES
