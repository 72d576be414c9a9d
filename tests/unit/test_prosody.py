"""The final-rise tracker that turn-taking reads."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vocable.audio.convert import resample
from vocable.realtime.prosody import final_rise, rises

RATE = 16000


def chirp(f0_start: float, f0_end: float, seconds: float = 1.0) -> np.ndarray:
    f0 = np.linspace(f0_start, f0_end, int(seconds * RATE))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    return (0.3 * sum(np.sin(k * phase) / k for k in range(1, 6))).astype(np.float32)


def test_a_glide_up_down_or_level() -> None:
    up = final_rise(np.concatenate([chirp(120, 180), np.zeros(8000, np.float32)]), RATE)
    assert up is not None and 2.0 < up < 4.0  # the last 0.6 s of a 7-semitone glide
    down = final_rise(chirp(180, 120), RATE)
    assert down is not None and down < -2.0
    assert final_rise(chirp(150, 150), RATE) == pytest.approx(0.0, abs=0.2)
    assert rises(chirp(120, 200), RATE) and not rises(chirp(200, 120), RATE)


def test_too_little_voice_reads_as_unknown() -> None:
    assert final_rise(np.zeros(RATE, np.float32), RATE) is None
    noise = np.random.default_rng(0).normal(0, 0.1, RATE).astype(np.float32)
    assert final_rise(noise, RATE) is None  # noise is never voiced
    assert final_rise(chirp(120, 200, 0.05), RATE) is None
    assert not rises(np.zeros(0, np.float32), RATE)


def test_spoken_statements_fall(tmp_path: Path) -> None:
    path = tmp_path / "s.wav"
    for voice in ("kal", "slt", "rms"):
        subprocess.run(
            ["flite", "-voice", voice, "-t", "I went to the shop.", "-o", str(path)], check=True
        )
        audio, rate = sf.read(str(path), dtype="float32")
        rise = final_rise(resample(audio, rate, RATE), RATE)
        assert rise is not None and rise < 0, voice
