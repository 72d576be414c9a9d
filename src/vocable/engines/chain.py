"""Fallback and latency budgets across engines of one kind; `TTSChain` is the chain for speech.

The generic strategy (`FallbackChain`) lives in `vocable.engines.fallback` and is re-exported here.
`TTSChain` adds what speech needs on top of it, with one call per sentence:

- **first-audio budget**: an engine with no audio after ``first_audio_budget_s`` is abandoned
  and the next one speaks the same sentence (nothing was heard yet, so nothing repeats);
- **hang**: an engine that goes quiet mid-sentence for ``stall_timeout_s``, or fails there, is
  dropped and the next engine speaks the *rest* of the sentence: the words already heard are
  estimated from the audio played and the engine's speaking rate, so no sentence is heard twice
  and none is lost;
- **real-time factor**: after each sentence the chain averages synthesis time over audio time for
  the last ``rtf_window`` sentences; above ``max_rtf`` it switches before the next sentence
  (a sentence boundary);
- **recovery**: after the cool-down the primary is tried again;
- every switch calls ``on_switch`` (the stages turn it into a ``fallback_switched`` event).
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from vocable.audio.convert import StreamResampler, float_to_pcm16, pcm16_to_float
from vocable.engines.base import EngineInfo
from vocable.engines.fallback import (
    DEFAULT_COOLDOWN_S,
    FallbackChain,
    SwitchCallback,
    describe_error,
)
from vocable.engines.tts.base import TextToSpeech
from vocable.errors import EngineTimeoutError, VocableError
from vocable.frames import AudioChunk

__all__ = ["DEFAULT_COOLDOWN_S", "FallbackChain", "SwitchCallback", "TTSChain", "describe_error"]

DEFAULT_WORDS_PER_S = 2.5
"""Speaking rate assumed for an engine before it has finished a sentence (150 words/min)."""
SNAP_WORDS = 2.0
"""A sentence end this close (in words) to the estimated resume point is taken as the point."""


@dataclass(slots=True)
class _Meter:
    """What one engine call produced: audio seconds and the time spent waiting for it."""

    index: int
    audio_s: float = 0.0
    wait_s: float = 0.0


class TTSChain(FallbackChain[TextToSpeech]):
    """A fallback chain of speech engines that is itself a `TextToSpeech`.

    Audio always comes out at the primary engine's `sample_rate`: a fallback engine's audio at
    another rate is resampled (as one continuous stream per call). `voice` ids are engine-specific,
    so a requested voice goes to the primary only; fallbacks speak in their configured voice.

    Args:
        engines: Speech engines, first choice first.
        first_item_timeout_s: First-audio budget per call (sentence); None for no budget.
        item_timeout_s: Longest silence between two chunks of one call; None for no limit.
        max_rtf: Real-time factor above which the engine is too slow for the listener.
        rtf_window: Sentences the real-time factor is averaged over.
        cooldown_s: Time on a fallback before the primary is tried again.
        on_switch: Called as ``(from_name, to_name, reason)`` on every switch.
        clock: Monotonic clock in seconds (cool-down and real-time factor).
        skipped: Engines left out because they could not load, with the reason.
        load_s: Seconds each engine took to load, by name.
    """

    def __init__(
        self,
        engines: Sequence[TextToSpeech],
        *,
        first_item_timeout_s: float | None = None,
        item_timeout_s: float | None = None,
        max_rtf: float = 1.0,
        rtf_window: int = 3,
        cooldown_s: float = DEFAULT_COOLDOWN_S,
        on_switch: SwitchCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
        skipped: Mapping[str, str] | None = None,
        load_s: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(
            engines,
            kind="tts",
            first_item_timeout_s=first_item_timeout_s,
            item_timeout_s=item_timeout_s,
            cooldown_s=cooldown_s,
            on_switch=on_switch,
            clock=clock,
            skipped=skipped,
            load_s=load_s,
        )
        self.max_rtf = max_rtf
        self.rtf_window = rtf_window
        """Sentences the real-time factor is averaged over."""
        self.sample_rate: int = self.engines[0].sample_rate
        """Rate of every chunk this chain yields: the primary engine's rate."""
        self.info: EngineInfo = self.active.info
        """The active engine's identity."""
        self._rtf: list[deque[tuple[float, float]]] = [
            deque(maxlen=rtf_window) for _ in self.engines
        ]
        self._pace: list[deque[tuple[int, float]]] = [deque(maxlen=8) for _ in self.engines]

    def _switch(self, to: int, reason: str) -> None:
        self._rtf[self._active].clear()
        super()._switch(to, reason)
        self.info = self.active.info

    def rtf(self, index: int | None = None) -> float | None:
        """Real-time factor of engine `index` (default: the active one) over the window."""
        window = self._rtf[self._active if index is None else index]
        audio = sum(a for _, a in window)
        return sum(w for w, _ in window) / audio if window and audio > 0 else None

    def words_per_s(self, index: int) -> float:
        """Speaking rate of engine `index` from its recent sentences."""
        pace = self._pace[index]
        audio = sum(a for _, a in pace)
        return sum(w for w, _ in pace) / audio if audio > 0 else DEFAULT_WORDS_PER_S

    async def synthesize(
        self, text: str, voice: str | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        """Speak `text` (one sentence) with the first engine that works, at `sample_rate`.

        Raises:
            EngineError: every engine failed (``tts.all_failed``), or the last engine failed
                mid-sentence.
            VocableError: a transient error, which a retry may fix.
        """
        remaining = text
        for _attempt in range(len(self.engines)):
            meters: list[_Meter] = []
            try:
                call = functools.partial(self._metered, text=remaining, voice=voice, meters=meters)
                async with contextlib.aclosing(self.stream(call)) as chunks:
                    async for chunk in chunks:
                        yield chunk
            except Exception as err:
                heard = meters[-1] if meters else None
                last_try = _attempt == len(self.engines) - 1
                if (
                    heard is None
                    or heard.audio_s <= 0
                    or last_try
                    or not self._can_resume(err, heard)
                ):
                    raise
                remaining = self._resume(err, heard, remaining)
                if not remaining:
                    return
                continue
            if meters:
                self._after_sentence(meters[-1], remaining)
            return

    def _can_resume(self, err: Exception, heard: _Meter) -> bool:
        transient = isinstance(err, VocableError) and err.transient
        if transient and not isinstance(err, EngineTimeoutError):
            return False
        return heard.index + 1 < len(self.engines)

    def _resume(self, err: Exception, heard: _Meter, text: str) -> str:
        """Switch past the engine that failed mid-sentence; return the words not yet heard."""
        words = text.split()
        said = resume_index(words, heard.audio_s * self.words_per_s(heard.index))
        rest = " ".join(words[said:])
        self._switch(
            heard.index + 1,
            f"{self._name(heard.index)}: {describe_error(err)} after {heard.audio_s:.2f} s of "
            f"audio; {len(words) - said} of {len(words)} words left for the next engine",
        )
        return rest

    def _after_sentence(self, meter: _Meter, text: str) -> None:
        """Record the sentence's pace and real-time factor; switch if the budget is broken."""
        if meter.audio_s <= 0:
            return
        index = meter.index
        self._pace[index].append((len(text.split()), meter.audio_s))
        window = self._rtf[index]
        window.append((meter.wait_s, meter.audio_s))
        rtf = self.rtf(index)
        if (
            len(window) == window.maxlen
            and rtf is not None
            and rtf > self.max_rtf
            and index == self._active
            and index + 1 < len(self.engines)
        ):
            self._switch(
                index + 1,
                f"{self._name(index)}: real-time factor {rtf:.2f} over the last {len(window)} "
                f"sentences is above {self.max_rtf:g}",
            )

    async def _metered(
        self, engine: TextToSpeech, text: str, voice: str | None, meters: list[_Meter]
    ) -> AsyncGenerator[AudioChunk, None]:
        meter = _Meter(self.engines.index(engine))
        meters.append(meter)
        primary = self.engines[0]
        speech = self._speak(engine, text, voice if engine is primary else None)
        async with contextlib.aclosing(speech) as chunks:
            asked = self.clock()
            async for chunk in chunks:
                meter.wait_s += self.clock() - asked
                meter.audio_s += chunk.duration_s
                yield chunk
                asked = self.clock()

    async def _speak(
        self, engine: TextToSpeech, text: str, voice: str | None
    ) -> AsyncGenerator[AudioChunk, None]:
        rate = self.sample_rate
        resampler: StreamResampler | None = None
        last: AudioChunk | None = None
        async with contextlib.aclosing(engine.synthesize(text, voice)) as chunks:
            async for chunk in chunks:
                if chunk.sample_rate == rate:
                    yield chunk
                    continue
                if resampler is None or resampler.src_rate != chunk.sample_rate:
                    resampler = StreamResampler(chunk.sample_rate, rate)
                last = chunk
                out = resampler.push(pcm16_to_float(chunk.pcm))
                if len(out):
                    yield _rechunk(chunk, out, rate)
        if resampler is not None and last is not None:
            tail = resampler.push(np.zeros(0, dtype=np.float32), last=True)
            if len(tail):
                yield _rechunk(last, tail, rate)


def resume_index(words: Sequence[str], spoken: float) -> int:
    """Index of the first word not yet heard, given an estimate of the words `spoken`.

    Engines speak a multi-sentence call sentence by sentence, so an end of sentence within
    `SNAP_WORDS` of the estimate (once a word has been heard) is taken as the exact point;
    otherwise the estimate is rounded down (a word may be repeated at the seam, not lost).
    """
    ends = [i + 1 for i, w in enumerate(words) if w.endswith((".", "!", "?", ";", ":"))]
    near = [e for e in ends if abs(e - spoken) <= SNAP_WORDS and e < len(words) and spoken >= 1]
    if near:
        return min(near, key=lambda e: abs(e - spoken))
    return min(len(words), math.floor(spoken))


def _rechunk(like: AudioChunk, samples: np.ndarray, rate: int) -> AudioChunk:
    return AudioChunk(
        float_to_pcm16(samples), rate, sentence_index=like.sentence_index, turn_id=like.turn_id
    )
