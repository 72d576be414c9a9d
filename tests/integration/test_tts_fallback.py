"""The real TTS chain: Piper is made to fail, pyttsx3 (espeak-ng) takes over."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import wer
from vocable.audio.convert import pcm16_to_float, resample
from vocable.config import Settings
from vocable.engines.chain import TTSChain
from vocable.engines.stt.faster_whisper import FasterWhisperSTT
from vocable.engines.tts.piper import PiperTTS
from vocable.engines.tts.pyttsx3 import Pyttsx3TTS

pytestmark = pytest.mark.slow


class BrokenSession:
    """An ONNX session that works `ok_runs` times, then fails like a corrupt model."""

    def __init__(self, real: Any, ok_runs: int) -> None:
        self.real = real
        self.ok_runs = ok_runs

    def run(self, *args: Any, **kwargs: Any) -> Any:
        if self.ok_runs <= 0:
            raise RuntimeError("ONNXRuntimeError: invalid model graph")
        self.ok_runs -= 1
        return self.real.run(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def fail_after(tts: PiperTTS, sentences: int) -> None:
    """Piper's model fails like a corrupt one after synthesising `sentences` sentences."""
    if tts.split is not None:  # one encoder run per sentence, then the decoder in chunks
        tts.split.encoder = BrokenSession(tts.split.encoder, sentences)
    else:
        tts._voice.session = BrokenSession(tts._voice.session, sentences)


@pytest.fixture
def broken_piper(session_settings: Settings) -> Iterator[PiperTTS]:
    import asyncio

    tts = asyncio.run(PiperTTS.load(session_settings))
    yield tts
    asyncio.run(tts.close())


async def hear(chain: TTSChain, text: str, stt: FasterWhisperSTT) -> str:
    pcm = b"".join([c.pcm async for c in chain.synthesize(text)])
    heard = await stt.transcribe(resample(pcm16_to_float(pcm), chain.sample_rate, 16000))
    return heard.text


async def test_piper_failing_before_audio_hands_the_sentence_to_pyttsx3(
    broken_piper: PiperTTS, pyttsx3_tts: Pyttsx3TTS, whisper_stt: FasterWhisperSTT
) -> None:
    switches: list[tuple[str, str, str]] = []
    chain = TTSChain(
        [broken_piper, pyttsx3_tts],
        first_item_timeout_s=5.0,
        on_switch=lambda *s: switches.append(s),
    )
    fail_after(broken_piper, 0)
    text = "The kitchen lights are now on."
    heard = await hear(chain, text, whisper_stt)
    assert wer(text, heard) <= 0.2, heard
    assert chain.info.name == "pyttsx3" and chain.sample_rate == 22050
    assert len(switches) == 1 and switches[0][:2] == ("piper", "pyttsx3")
    assert "invalid model graph" in switches[0][2]


async def test_piper_failing_mid_reply_loses_and_repeats_nothing(
    broken_piper: PiperTTS, pyttsx3_tts: Pyttsx3TTS, whisper_stt: FasterWhisperSTT
) -> None:
    switches: list[tuple[str, str, str]] = []
    chain = TTSChain([broken_piper, pyttsx3_tts], on_switch=lambda *s: switches.append(s))
    fail_after(broken_piper, 1)
    # Piper speaks its first sentence, then fails inside the same call.
    text = "Good morning. It will rain in the afternoon today."
    heard = await hear(chain, text, whisper_stt)
    assert wer(text, heard) <= 0.25, heard
    assert len(switches) == 1 and "words left for the next engine" in switches[0][2]
