"""Both Whisper encoder windows on real speech; `fit` is the default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vocable.audio.io import read_audio_file
from vocable.bench.corpus import synthesize_speech
from vocable.bench.stats import word_error_rate
from vocable.config import Settings
from vocable.engines.stt import faster_whisper as faster_whisper_module
from vocable.engines.stt.faster_whisper import FasterWhisperSTT
from vocable.engines.stt.fitted_window import MAX_FIT_S

TEXT = "How many days are there in a week, and which one is the longest?"


@pytest.mark.parametrize("window", ["fit", "full"])
async def test_window_transcribes_accurately(
    settings: Settings, tmp_path: Path, window: str
) -> None:
    audio = read_audio_file(synthesize_speech(TEXT, tmp_path / "q.wav", voice="awb")).samples
    cfg = settings.model_copy(update={"stt": settings.stt.model_copy(update={"window": window})})
    stt = await FasterWhisperSTT.load(cfg)
    try:
        assert stt.window == window
        assert word_error_rate(TEXT, (await stt.transcribe(audio)).text) <= 0.1
        # Longer than the fitted window allows: the full window takes over, pauses and all.
        padded = np.concatenate([audio, np.zeros(int(MAX_FIT_S * 16000), np.float32)])
        assert word_error_rate(TEXT, (await stt.transcribe(padded)).text) <= 0.1
    finally:
        await stt.close()


async def test_a_thorough_pass_uses_the_full_window(
    whisper_stt: FasterWhisperSTT, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audio = read_audio_file(synthesize_speech(TEXT, tmp_path / "q.wav", voice="awb")).samples
    assert whisper_stt.window == "fit"
    fitted: list[int] = []
    real = faster_whisper_module.transcribe_fitted

    def counting(*args: Any) -> str:
        fitted.append(1)
        return real(*args)

    monkeypatch.setattr(faster_whisper_module, "transcribe_fitted", counting)
    thorough = (await whisper_stt.transcribe(audio, thorough=True)).text
    assert fitted == [] and word_error_rate(TEXT, thorough) <= 0.1
    assert word_error_rate(TEXT, (await whisper_stt.transcribe(audio)).text) <= 0.1
    assert fitted == [1]
