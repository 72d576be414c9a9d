"""The latency bench's spoken corpus: the pauses are as long as the bench says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vocable.bench.latency import RATE, complete_utterance, paused_utterance


def silent_gaps(audio: np.ndarray) -> list[float]:
    """Lengths (s) of the silences between loud samples, longest first."""
    loud = np.nonzero(np.abs(audio) > 0.02 * float(np.max(np.abs(audio))))[0]
    return sorted((np.diff(loud) / RATE).tolist(), reverse=True)


@pytest.mark.parametrize("pause_s", [0.3, 0.7])
def test_a_paused_utterance_pauses_exactly_that_long(tmp_path: Path, pause_s: float) -> None:
    utt = paused_utterance("What is the capital of France?", "awb", pause_s, tmp_path)
    assert silent_gaps(utt.audio)[0] == pytest.approx(pause_s, abs=0.01)
    loud = np.nonzero(np.abs(utt.audio) > 0.02 * float(np.max(np.abs(utt.audio))))[0]
    after = loud[loud >= utt.resume_s * RATE]
    assert after[0] / RATE - utt.resume_s == pytest.approx(0.02, abs=0.005)  # speech resumes
    assert utt.speech_end_s == pytest.approx((loud[-1] + 1) / RATE)


def test_a_complete_utterance_ends_at_its_last_speech(tmp_path: Path) -> None:
    utt = complete_utterance("How many legs does a spider have?", "kal", tmp_path)
    loud = np.nonzero(np.abs(utt.audio) > 0.02 * float(np.max(np.abs(utt.audio))))[0]
    assert utt.speech_end_s == pytest.approx((loud[-1] + 1) / RATE)
    assert utt.resume_s == 0.0
