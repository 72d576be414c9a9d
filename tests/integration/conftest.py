"""Real engines, each loaded once per session, and test speech made by Debian's flite.

Engines are loaded and closed with `asyncio.run`: a `BlockingWorker` is not tied to an event
loop, so tests on their own function-scoped loops can share them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import jiwer
import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from tests.tiny_gguf import write_tiny_gguf
from vocable.audio.convert import resample
from vocable.config import Settings, load_settings
from vocable.engines.llm.llama_cpp import LlamaCppLLM
from vocable.engines.stt.faster_whisper import FasterWhisperSTT
from vocable.engines.tts.piper import PiperTTS
from vocable.engines.tts.pyttsx3 import Pyttsx3TTS
from vocable.engines.vad.silero import SileroVAD

RATE = 16000


class FliteWav(Protocol):
    def __call__(self, text: str, voice: str = "kal") -> Path: ...


def worker_threads(prefix: str = "vocable-") -> list[str]:
    """Names of the live engine worker threads."""
    return sorted(t.name for t in threading.enumerate() if t.name.startswith(prefix))


def read_16k(path: Path) -> npt.NDArray[np.float32]:
    """A WAV file as 16 kHz mono float32."""
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return resample(data[:, 0], int(rate), RATE)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate, ignoring case and punctuation."""
    clean = jiwer.Compose(
        [
            jiwer.ToLowerCase(),
            jiwer.RemovePunctuation(),
            jiwer.RemoveMultipleSpaces(),
            jiwer.Strip(),
            jiwer.ReduceToListOfListOfWords(),
        ]
    )
    return float(
        jiwer.wer(reference, hypothesis, reference_transform=clean, hypothesis_transform=clean)
    )


def with_settings(settings: Settings, **sections: dict[str, Any]) -> Settings:
    """A copy of `settings` with some fields of some sections replaced (validated)."""
    data = settings.model_dump()
    for section, values in sections.items():
        data[section] = {**data[section], **values}
    return load_settings(**data)


@pytest.fixture(scope="session")
def session_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Default settings, free of the shell's VOCABLE_* variables, with a session data dir."""
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("VOCABLE_"):
                mp.delenv(key)
        return load_settings(data_dir=tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def flite_wav(tmp_path_factory: pytest.TempPathFactory) -> FliteWav:
    """Factory: ``flite_wav(text, voice="kal")`` speaks `text` into a WAV file (cached)."""
    folder = tmp_path_factory.mktemp("flite")
    made: dict[tuple[str, str], Path] = {}

    def speak(text: str, voice: str = "kal") -> Path:
        key = (text, voice)
        if key not in made:
            out = folder / f"speech-{len(made)}.wav"
            subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(out)], check=True)
            made[key] = out
        return made[key]

    return speak


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random two-layer llama GGUF (about 0.5 MB) with a byte-fallback vocabulary."""
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def _session_engine(load: Callable[[], Any]) -> Iterator[Any]:
    engine = asyncio.run(load())
    yield engine
    asyncio.run(engine.close())


@pytest.fixture(scope="session")
def silero_vad(session_settings: Settings) -> Iterator[SileroVAD]:
    yield from _session_engine(lambda: SileroVAD.load(session_settings))


@pytest.fixture(scope="session")
def whisper_stt(session_settings: Settings) -> Iterator[FasterWhisperSTT]:
    yield from _session_engine(lambda: FasterWhisperSTT.load(session_settings))


@pytest.fixture(scope="session")
def tiny_llm_settings(session_settings: Settings, tiny_gguf: Path) -> Settings:
    return with_settings(
        session_settings, llm={"model_path": tiny_gguf, "n_ctx": 4096, "max_tokens": 32}
    )


@pytest.fixture(scope="session")
def tiny_llm(tiny_llm_settings: Settings) -> Iterator[LlamaCppLLM]:
    yield from _session_engine(lambda: LlamaCppLLM.load(tiny_llm_settings))


@pytest.fixture(scope="session")
def piper_tts(session_settings: Settings) -> Iterator[PiperTTS]:
    yield from _session_engine(lambda: PiperTTS.load(session_settings))


@pytest.fixture(scope="session")
def pyttsx3_tts(session_settings: Settings) -> Iterator[Pyttsx3TTS]:
    yield from _session_engine(lambda: Pyttsx3TTS.load(session_settings))
