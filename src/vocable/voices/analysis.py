"""Signal measurements of a voice sample: clipping, noise, speech, loudness, pitch.

The numpy measurements need nothing beyond the core install. Loudness (pyloudnorm, ITU-R
BS.1770) and pitch (praat-parselmouth) come with the ``voices`` extra; each is imported only when
used, and raises `EngineUnavailableError` with the install line when missing.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from vocable.errors import EngineUnavailableError

FloatAudio = npt.NDArray[np.float32]

VOICES_INSTALL = (
    "pip install 'vocable[voices]' (CPU torch first: pip install torch==2.13.0 "
    "--index-url https://download.pytorch.org/whl/cpu; then pip install --no-deps resemblyzer)"
)
"""How to install what voice profiles need."""

CLIP_LEVEL = 0.99
"""A sample at or above this magnitude counts as clipped."""
SNR_CEILING_DB = 60.0
"""Estimated SNR is capped here (digital silence between words would make it infinite)."""


def optional_module(name: str, what: str) -> Any:
    """Import `name`, or raise `EngineUnavailableError` saying how to install it.

    Args:
        name: Module to import, e.g. ``pyloudnorm``.
        what: What it is needed for, for the message.
    """
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise EngineUnavailableError(f"{what} needs {name}: {VOICES_INSTALL}") from err


def clipping_ratio(samples: FloatAudio) -> float:
    """Fraction of samples at or above `CLIP_LEVEL` in magnitude."""
    if samples.size == 0:
        return 0.0
    return float(np.mean(np.abs(samples) >= CLIP_LEVEL))


def frame_power(samples: FloatAudio, rate: int, frame_ms: float = 20.0) -> FloatAudio:
    """Mean power of consecutive frames of `frame_ms`."""
    n = max(1, int(rate * frame_ms / 1000))
    usable = len(samples) // n * n
    if usable == 0:
        return np.zeros(0, dtype=np.float32)
    frames = samples[:usable].astype(np.float64).reshape(-1, n)
    power: FloatAudio = np.mean(frames**2, axis=1).astype(np.float32)
    return power


def estimate_snr_db(samples: FloatAudio, rate: int) -> float:
    """Signal-to-noise ratio from frame powers: loudest 20 % against quietest 10 % (dB).

    Speech has pauses, so its quietest frames are the noise floor; stationary noise has no
    pauses, so its loudest and quietest frames are alike and the estimate is near 0 dB.
    """
    power = np.sort(frame_power(samples, rate))
    if power.size < 10:
        return 0.0
    noise = float(np.mean(power[: max(1, power.size // 10)]))
    signal = float(np.mean(power[-max(1, power.size // 5) :]))
    if signal <= 0:
        return 0.0
    if noise <= signal * 10 ** (-SNR_CEILING_DB / 10):
        return SNR_CEILING_DB
    return round(10 * math.log10(max(signal - noise, 1e-12) / noise), 1)


def speech_ratio(samples16k: FloatAudio, threshold: float = 0.5) -> float:
    """Fraction of 32 ms frames that Silero VAD scores as speech (16 kHz mono input)."""
    from vocable.engines.vad.silero import SileroVAD

    vad = SileroVAD()
    n = vad.frame_samples
    count = len(samples16k) // n
    if count == 0:
        return 0.0
    speech = sum(
        vad.speech_probability(samples16k[i * n : (i + 1) * n]) > threshold for i in range(count)
    )
    return speech / count


def loudness_lufs(samples: FloatAudio, rate: int) -> float:
    """Integrated loudness (ITU-R BS.1770, LUFS); -inf for silence."""
    pyln = optional_module("pyloudnorm", "loudness normalisation")
    return float(pyln.Meter(rate).integrated_loudness(samples.astype(np.float64)))


def normalise_loudness(samples: FloatAudio, rate: int, target_lufs: float) -> FloatAudio:
    """Scale to `target_lufs`, then down again if that would push a peak above -1 dBFS."""
    level = loudness_lufs(samples, rate)
    if not math.isfinite(level):
        return samples
    gain = 10 ** ((target_lufs - level) / 20)
    peak = float(np.max(np.abs(samples))) * gain
    limit = 10 ** (-1 / 20)
    if peak > limit:
        gain *= limit / peak
    out: FloatAudio = (samples * gain).astype(np.float32)
    return out


def pitch_stats(samples: FloatAudio, rate: int) -> dict[str, float]:
    """Median, 10th and 90th percentile of F0 over voiced frames (Hz), with Praat (parselmouth)."""
    pm = optional_module("parselmouth", "pitch analysis")
    sound = pm.Sound(samples.astype(np.float64), sampling_frequency=rate)
    f0 = np.asarray(sound.to_pitch(time_step=0.01).selected_array["frequency"], dtype=np.float64)
    voiced = f0[f0 > 0]
    if voiced.size == 0:
        return {"f0_median_hz": 0.0, "f0_p10_hz": 0.0, "f0_p90_hz": 0.0, "voiced_ratio": 0.0}
    return {
        "f0_median_hz": round(float(np.median(voiced)), 1),
        "f0_p10_hz": round(float(np.percentile(voiced, 10)), 1),
        "f0_p90_hz": round(float(np.percentile(voiced, 90)), 1),
        "voiced_ratio": round(float(voiced.size / f0.size), 3),
    }
