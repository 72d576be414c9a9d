"""The bounded input of a realtime session: PCM16 at the client's rate in, 16 kHz float out.

Audio waits here for the VAD. At most `max_s` seconds may wait: a client sending faster than real
time has the excess dropped and counted, so memory stays flat.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

import numpy as np

from vocable.audio.convert import StreamResampler, pcm16_to_float
from vocable.engines.vad.base import VoiceActivityDetector
from vocable.engines.worker import BlockingWorker


class Inbox:
    """Audio waiting to be scored, resampled to `rate` as it arrives."""

    def __init__(self, rate: int, max_s: float) -> None:
        self.rate = rate
        self.max_s = max_s
        self.dropped_s = 0.0
        self._resampler: StreamResampler | None = None
        self._chunks: deque[np.ndarray] = deque()
        self._seconds = 0.0
        self._ready = asyncio.Event()

    def push(self, pcm: bytes, rate: int) -> float:
        """Add PCM16 mono audio at `rate`; returns the seconds dropped (0.0 when it fits)."""
        samples = pcm16_to_float(pcm)
        if rate != self.rate:
            if self._resampler is None or self._resampler.src_rate != rate:
                self._resampler = StreamResampler(rate, self.rate)
            samples = self._resampler.push(samples)
        seconds = len(samples) / self.rate
        if self._seconds + seconds > self.max_s:
            self.dropped_s += seconds
            return seconds
        self._chunks.append(samples)
        self._seconds += seconds
        self._ready.set()
        return 0.0

    async def take(self) -> list[np.ndarray]:
        """Wait until audio is waiting, then take all of it."""
        await self._ready.wait()
        chunks = list(self._chunks)
        self._chunks.clear()
        self._seconds = 0.0
        self._ready.clear()
        return chunks


async def scored_frames(
    inbox: Inbox, vad: VoiceActivityDetector, worker: BlockingWorker
) -> AsyncIterator[tuple[np.ndarray, float]]:
    """The audio of `inbox` in VAD frames, each with its speech probability (scored on `worker`)."""
    n = vad.frame_samples

    def score(block: np.ndarray) -> list[float]:
        return [vad.speech_probability(block[i : i + n]) for i in range(0, len(block), n)]

    pending = np.zeros(0, np.float32)
    while True:
        pending = np.concatenate([pending, *await inbox.take()])
        usable = len(pending) - len(pending) % n
        block, pending = pending[:usable], pending[usable:]
        if usable:
            for i, prob in enumerate(await worker.run(score, block)):
                yield block[i * n : (i + 1) * n], prob
