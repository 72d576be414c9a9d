"""Long-term spectrum matching: a static equaliser that moves one voice's timbre toward another.

The long-term average spectrum (LTAS) of the louder frames of each voice is measured on a fixed
frequency grid up to 8 kHz; the equaliser is their smoothed difference in dB, limited to
``MAX_GAIN_DB`` either way and centred on 0 dB. It is applied in the frequency domain to one
whole sentence at a time (zero phase), which takes about a millisecond.
"""

from __future__ import annotations

import numpy as np

from vocable.voices.analysis import FloatAudio

GRID_HZ = np.linspace(0.0, 8000.0, 65)
"""Frequencies the equaliser gains are given at (every 125 Hz up to 8 kHz)."""
MAX_GAIN_DB = 12.0
N_FFT = 1024


def ltas_db(samples: FloatAudio, rate: int) -> np.ndarray:
    """Mean power spectrum (dB) of the louder 60 % of frames, on `GRID_HZ`."""
    hop = N_FFT // 2
    count = max(0, (len(samples) - N_FFT) // hop + 1)
    if count == 0:
        return np.zeros(len(GRID_HZ))
    index = np.arange(N_FFT)[None, :] + hop * np.arange(count)[:, None]
    frames = samples[index] * np.hanning(N_FFT)[None, :]
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    energy = power.sum(axis=1)
    loud = power[energy >= np.quantile(energy, 0.4)]
    mean = loud.mean(axis=0) + 1e-12
    freqs = np.fft.rfftfreq(N_FFT, 1 / rate)
    smooth = np.convolve(10 * np.log10(mean), np.ones(5) / 5, mode="same")
    return np.asarray(np.interp(GRID_HZ, freqs, smooth))


def equaliser(target: FloatAudio, target_rate: int, source: FloatAudio, rate: int) -> np.ndarray:
    """Gains (dB, on `GRID_HZ`) that move `source`'s long-term spectrum toward `target`'s."""
    diff = ltas_db(target, target_rate) - ltas_db(source, rate)
    diff = np.convolve(diff, np.ones(3) / 3, mode="same")
    diff -= np.average(diff[4:40])  # keep the level of the speech band (0.5-5 kHz)
    return np.clip(diff, -MAX_GAIN_DB, MAX_GAIN_DB)


def apply_eq(samples: FloatAudio, rate: int, gains_db: np.ndarray) -> FloatAudio:
    """Filter `samples` with the equaliser `gains_db` (on `GRID_HZ`; flat above 8 kHz)."""
    if len(gains_db) == 0 or len(samples) == 0:
        return samples
    n = len(samples) + N_FFT
    spectrum = np.fft.rfft(samples, n=n)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    gain = 10 ** (np.interp(freqs, GRID_HZ, gains_db) / 20)
    out = np.fft.irfft(spectrum * gain, n=n)[: len(samples)]
    return out.astype(np.float32)
