"""Paced, gapless reply audio for one response, and what of it the user has heard.

Chunks go out back to back at real-time pace, `lead_s` ahead of the listener, so a barge-in can
stop the reply within one frame. The first chunk of each sentence gets a short fade-in, so
sentence boundaries do not click. The silence a TTS engine puts before the reply's first word
(Piper: 25-55 ms, at times 450) is cut, so the first sound plays as soon as it arrives.
Anything else queued for the response (text deltas) goes out in order between the audio.
Nothing is sent before `release` (a speculative reply waits for the end of the user's turn).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from vocable.audio.convert import SILENCE_DBFS, first_sound, float_to_pcm16, pcm16_to_float

FADE_MS = 5.0
LEAD_KEEP_MS = 5.0
"""Silence kept before the first sound, so its onset is not cut."""
LEAD_CUT_MAX_MS = 600.0
"""The most lead-in silence cut from a reply. Piper's durations are random: now and then a
sentence opens with 300-450 ms of silence instead of 25-55 ms."""

SendAudio = Callable[[bytes, int], Awaitable[None]]
"""``send_audio(pcm16, sentence_index)``."""
SendEvent = Callable[[], Awaitable[None]]


@dataclass
class _Sentence:
    index: int
    text: str
    start_s: float
    duration_s: float = 0.0


class Playout:
    """The output side of one response."""

    def __init__(
        self,
        send_audio: SendAudio,
        rate: int,
        *,
        lead_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
        on_sentence_sent: Callable[[int, str], None] | None = None,
    ) -> None:
        self.rate = rate
        self._on_sentence_sent = on_sentence_sent
        self.lead_s = lead_s
        self._send_audio = send_audio
        self._clock = clock
        self._queue: asyncio.Queue[tuple[bytes, int, str] | SendEvent | None] = asyncio.Queue()
        self._released = asyncio.Event()
        self._running = asyncio.Event()
        self._running.set()
        self.sent_s = 0.0
        self._cut_left = int(rate * LEAD_CUT_MAX_MS / 1000)
        """Lead-in silence that may still be cut (samples)."""
        self._started_at: float | None = None
        self._paused_at: float | None = None
        self._paused_total = 0.0
        self.sentences: list[_Sentence] = []
        self.last_sent_at: float | None = None
        self.first_sent_at: float | None = None

    def put_audio(self, pcm: bytes, index: int, text: str) -> None:
        """Queue a chunk of sentence `index` (PCM16 at `rate`)."""
        self._queue.put_nowait((pcm, index, text))

    def put_event(self, send: SendEvent) -> None:
        """Queue an event to send in order with the audio."""
        self._queue.put_nowait(send)

    def finish(self) -> None:
        """No more audio will be queued; `run` returns once everything is out."""
        self._queue.put_nowait(None)

    def release(self) -> None:
        """Let the response out (the user's turn is confirmed)."""
        self._released.set()

    @property
    def released(self) -> bool:
        """True once `release` was called."""
        return self._released.is_set()

    def pause(self) -> None:
        """Stop sending at once (the user may be barging in)."""
        if self._running.is_set():
            self._running.clear()
            self._paused_at = self._clock()

    def resume(self) -> None:
        """Carry on after a `pause` (it was only a backchannel)."""
        if not self._running.is_set():
            if self._paused_at is not None:
                self._paused_total += self._clock() - self._paused_at
            self._paused_at = None
            self._running.set()

    def played_s(self) -> float:
        """Seconds of this response the listener has heard so far (estimated from the pace)."""
        if self._started_at is None:
            return 0.0
        now = self._paused_at if self._paused_at is not None else self._clock()
        return max(0.0, min(self.sent_s, now - self._started_at - self._paused_total))

    def heard_text(self, played_s: float | None = None) -> str:
        """The words heard up to `played_s` (default: now): whole sentences, then a share."""
        at = self.played_s() if played_s is None else played_s
        words: list[str] = []
        for sentence in self.sentences:
            if at >= sentence.start_s + sentence.duration_s - 1e-6:
                words += sentence.text.split()
            elif at > sentence.start_s and sentence.duration_s > 0:
                share = (at - sentence.start_s) / sentence.duration_s
                parts = sentence.text.split()
                words += parts[: int(len(parts) * share)]
                break
            else:
                break
        return " ".join(words)

    async def run(self) -> None:
        """Send everything queued, paced, until `finish`."""
        await self._released.wait()
        while (item := await self._queue.get()) is not None:
            await self._running.wait()
            if callable(item):
                await item()
                continue
            pcm, index, text = item
            if self._cut_left:
                trimmed = trim_lead(pcm, self.rate, self._cut_left)
                if not trimmed:  # all silence, before anything was heard
                    self._cut_left -= len(pcm) // 2
                    continue
                pcm, self._cut_left = trimmed, 0
            await self._pace()
            if not self.sentences or self.sentences[-1].index != index:
                self._sentence_sent()
                self.sentences.append(_Sentence(index, text, self.sent_s))
                pcm = fade_in(pcm, self.rate)
            duration = len(pcm) / 2 / self.rate
            await self._send_audio(pcm, index)
            now = self._clock()
            if self._started_at is None:
                self._started_at = self.first_sent_at = now
            self.last_sent_at = now
            self.sent_s += duration
            self.sentences[-1].duration_s += duration
        self._sentence_sent()

    def _sentence_sent(self) -> None:
        if self.sentences and self._on_sentence_sent is not None:
            last = self.sentences[-1]
            self._on_sentence_sent(last.index, last.text)

    async def _pace(self) -> None:
        while self._started_at is not None:
            ahead = self.sent_s - (self._clock() - self._started_at - self._paused_total)
            if ahead <= self.lead_s:
                return
            await asyncio.sleep(ahead - self.lead_s)
            await self._running.wait()


def trim_lead(pcm: bytes, rate: int, limit: int) -> bytes:
    """`pcm` from `LEAD_KEEP_MS` before its first sound (5 ms above `SILENCE_DBFS`).

    At most `limit` samples are cut, so a reply that is quiet throughout is not lost; b"" when
    `pcm` is all silence and no longer than `limit`.
    """
    samples = pcm16_to_float(pcm)
    start = first_sound(samples, rate, SILENCE_DBFS)
    cut = len(samples) if start is None else max(0, start - int(rate * LEAD_KEEP_MS / 1000))
    return pcm[min(cut, limit) * 2 :]


def fade_in(pcm: bytes, rate: int, ms: float = FADE_MS) -> bytes:
    """`pcm` with a linear fade-in over its first `ms` milliseconds."""
    samples = pcm16_to_float(pcm)
    n = min(len(samples), int(rate * ms / 1000))
    if n == 0:
        return pcm
    samples[:n] *= np.linspace(0.0, 1.0, n, endpoint=False, dtype=np.float32)
    return float_to_pcm16(samples)
