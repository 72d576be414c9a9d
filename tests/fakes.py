"""Recording fakes for unit tests of one stage. Each has a real-engine test beside it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import numpy as np
import numpy.typing as npt

from vocable.engines.base import EngineInfo
from vocable.engines.llm.base import ChatMessage
from vocable.frames import AudioChunk, Transcript


class ThresholdVAD:
    """Speech wherever the frame's RMS is above 0.05."""

    info = EngineInfo(kind="vad", name="fake-vad", model="rms")
    sample_rate = 16000
    frame_samples = 512

    def __init__(self) -> None:
        self.frames = 0
        self.resets = 0

    def speech_probability(self, frame: npt.NDArray[np.float32]) -> float:
        assert len(frame) == self.frame_samples
        self.frames += 1
        return 0.9 if float(np.sqrt(np.mean(frame**2))) > 0.05 else 0.05

    def reset(self) -> None:
        self.resets += 1

    async def close(self) -> None:
        pass


class FakeSTT:
    """Returns a fixed text and records the audio lengths it got."""

    info = EngineInfo(kind="stt", name="fake-stt", model="fixed")

    def __init__(self, text: str = "what time is it", delay_s: float = 0.0) -> None:
        self.text = text
        self.delay_s = delay_s
        self.received: list[int] = []
        self.thorough_calls = 0

    async def transcribe(
        self, audio: npt.NDArray[np.float32], *, thorough: bool = False
    ) -> Transcript:
        self.received.append(len(audio))
        self.thorough_calls += thorough
        await asyncio.sleep(self.delay_s)
        return Transcript(self.text)

    async def close(self) -> None:
        pass


class FakeLLM:
    """Streams a scripted reply piece by piece, recording prompts and how far it got."""

    info = EngineInfo(kind="llm", name="fake-llm", model="script")

    def __init__(self, pieces: Sequence[str], delay_s: float = 0.0) -> None:
        self.pieces = list(pieces)
        self.delay_s = delay_s
        self.prompts: list[list[ChatMessage]] = []
        self.yielded = 0
        self.closed_early = False

    async def stream(self, messages: Sequence[ChatMessage]) -> AsyncIterator[str]:
        self.prompts.append(list(messages))
        done = False
        try:
            for piece in self.pieces:
                await asyncio.sleep(self.delay_s)
                self.yielded += 1
                yield piece
            done = True
        finally:
            self.closed_early = not done

    async def close(self) -> None:
        pass


class FakeTTS:
    """Speaks 10 ms of a constant -18 dBFS per character, in chunks; records what it was asked."""

    info = EngineInfo(kind="tts", name="fake-tts", model="tone")
    sample_rate = 16000

    def __init__(self, delay_s: float = 0.0, chunks_per_sentence: int = 2) -> None:
        self.delay_s = delay_s
        self.chunks_per_sentence = chunks_per_sentence
        self.spoken: list[str] = []
        self.finished: list[str] = []

    async def synthesize(self, text: str, voice: str | None = None) -> AsyncIterator[AudioChunk]:
        self.spoken.append(text)
        samples = max(1, len(text)) * 160 // self.chunks_per_sentence
        for _ in range(self.chunks_per_sentence):
            await asyncio.sleep(self.delay_s)
            yield AudioChunk(b"\x00\x10" * samples, self.sample_rate)  # -18 dBFS
        self.finished.append(text)

    async def close(self) -> None:
        pass
