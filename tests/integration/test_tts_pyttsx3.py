"""The pyttsx3 / espeak-ng fallback voice: repeated and concurrent calls, files, bad voices."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.integration.conftest import wer, with_settings, worker_threads
from vocable.audio.convert import pcm16_to_float, resample
from vocable.config import Settings
from vocable.engines.stt.faster_whisper import FasterWhisperSTT
from vocable.engines.tts.pyttsx3 import Pyttsx3TTS
from vocable.errors import ConfigError, EngineUnavailableError, PipelineClosedError
from vocable.frames import AudioChunk


async def speak(tts: Pyttsx3TTS, text: str, voice: str | None = None) -> list[AudioChunk]:
    return [chunk async for chunk in tts.synthesize(text, voice)]


def test_info_and_rate(pyttsx3_tts: Pyttsx3TTS) -> None:
    assert pyttsx3_tts.sample_rate == 22050
    assert (pyttsx3_tts.info.kind, pyttsx3_tts.info.name) == ("tts", "pyttsx3")
    assert pyttsx3_tts.info.model == "default" and pyttsx3_tts.info.version


async def test_many_calls_in_a_row_all_speak(
    pyttsx3_tts: Pyttsx3TTS, session_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pyttsx3_tts._tmp_dir is not None
    chunk_s = session_settings.tts.chunk_ms / 1000
    for i in range(6):
        chunks = await speak(pyttsx3_tts, f"This is sentence number {i + 1}.")
        assert chunks and all(c.duration_s <= chunk_s + 1e-9 for c in chunks)
        assert {c.sample_rate for c in chunks} == {pyttsx3_tts.sample_rate}
        samples = pcm16_to_float(b"".join(c.pcm for c in chunks))
        assert 0.5 <= len(samples) / pyttsx3_tts.sample_rate <= 10
        assert float(np.sqrt(np.mean(samples**2))) > 0.01
        assert list(pyttsx3_tts._tmp_dir.iterdir()) == []  # each call deletes its file
    assert capsys.readouterr().out == ""  # the driver's print() does not reach stdout


async def test_speech_is_intelligible(
    pyttsx3_tts: Pyttsx3TTS, whisper_stt: FasterWhisperSTT
) -> None:
    text = "The kitchen lights are now on."
    pcm = b"".join(c.pcm for c in await speak(pyttsx3_tts, text))
    heard = await whisper_stt.transcribe(resample(pcm16_to_float(pcm), 22050, 16000))
    assert wer(text, heard.text) <= 0.35, heard.text


@pytest.mark.parametrize("text", ["", "  \n"])
async def test_blank_text_yields_nothing(pyttsx3_tts: Pyttsx3TTS, text: str) -> None:
    assert await speak(pyttsx3_tts, text) == []


async def test_unknown_voice_is_a_config_error_and_the_engine_keeps_working(
    pyttsx3_tts: Pyttsx3TTS,
) -> None:
    with pytest.raises(ConfigError, match="no-such-voice") as caught:
        await speak(pyttsx3_tts, "Hello.", voice="no-such-voice")
    assert caught.value.code == "tts.unknown_voice"
    assert await speak(pyttsx3_tts, "Still here.")
    assert await speak(pyttsx3_tts, "Hello.", voice="en-us")


async def test_unknown_configured_voice_fails_at_load(session_settings: Settings) -> None:
    before = worker_threads()
    with pytest.raises(ConfigError, match="tts.pyttsx3_voice"):
        await Pyttsx3TTS.load(with_settings(session_settings, tts={"pyttsx3_voice": "nope"}))
    assert worker_threads() == before


async def test_concurrent_calls_from_two_instances_all_speak(
    pyttsx3_tts: Pyttsx3TTS, session_settings: Settings
) -> None:
    other = await Pyttsx3TTS.load(with_settings(session_settings, tts={"pyttsx3_voice": "en-us"}))
    try:
        results = await asyncio.gather(
            *(speak(t, f"Voice {i}.") for i in range(3) for t in (pyttsx3_tts, other))
        )
        assert all(results)
    finally:
        await other.close()
    assert await speak(pyttsx3_tts, "The first one still works.")


async def test_without_pyttsx3_the_error_says_what_to_install(
    session_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vocable.engines.tts import pyttsx3 as module

    real = module.importlib.util.find_spec
    monkeypatch.setattr(
        module.importlib.util, "find_spec", lambda name: None if name == "pyttsx3" else real(name)
    )
    with pytest.raises(EngineUnavailableError, match="espeak-ng"):
        await Pyttsx3TTS.load(session_settings)


async def test_close_removes_files_and_thread(session_settings: Settings) -> None:
    before = worker_threads()
    tts = await Pyttsx3TTS.load(session_settings)
    folder = tts._tmp_dir
    assert folder is not None and folder.is_dir()
    await speak(tts, "Goodbye.")
    await tts.close()
    await tts.close()
    assert not folder.exists()
    assert worker_threads() == before
    with pytest.raises(PipelineClosedError):
        await speak(tts, "Hello.")
