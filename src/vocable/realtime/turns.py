"""Adaptive turn-taking: when has the user finished speaking?

The detector reads one VAD probability per frame. A very short pause (`transcribe_pause_ms`)
raises ``quiet`` so the session can start transcribing, and a short one (`speculative_pause_ms`)
raises ``pause`` so it can start the reply speculatively. How much silence ends the turn depends
on how the transcript ends (`ending_of`): a finished sentence ends it after the short silence of
the eagerness level, an unfinished one ("… and", "um", "… the") only after the long one, and one
that could go either way (no final punctuation, a trailing comma) after the middle one. Speech
before the end raises ``resume`` and the early and speculative work is dropped.

Silence counts from the last loud frame: inside an utterance, a frame `quiet_db` below the loudest
frame so far is silence even if the VAD, whose probability lags the end of speech, still says
speech.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from vocable.engines.stt.base import SpeechToText

log = logging.getLogger(__name__)


class Ending(StrEnum):
    """How a transcript ends, for turn-taking."""

    COMPLETE = "complete"
    UNCERTAIN = "uncertain"
    UNFINISHED = "unfinished"


ENDPOINT_MS: dict[str, tuple[int, int, int]] = {
    "high": (200, 500, 700),
    "auto": (300, 800, 1000),
    "medium": (300, 800, 1000),
    "low": (500, 1200, 1500),
}
"""Silence (ms) that ends a turn, per eagerness: (complete, uncertain, unfinished)."""

UNFINISHED_WORDS = frozenset(
    "and or but so because um uh er erm the a an to of with for in on at my your our their his "
    "her its is are was were if then like which that when where who whose than as from into "
    "about".split()
)
"""A transcript ending in one of these words is not a finished turn."""

QUESTION_WORDS = frozenset("what who whom whose which when where why how".split())
"""A question of `SHORT_QUESTION_WORDS` or fewer that opens with one of these may be cut short."""

SHORT_QUESTION_WORDS = 3
"""tiny.en closes a question cut at a pause with a word it did not hear ("What is" as "What is
it?", "What do" as "What do?"), so such a short question waits the uncertain silence. The cost:
a real "Who are you?" is answered about 500 ms later."""


MAX_WORDS_PER_S = 7.0
"""Faster than people speak (flite's questions run at 3-5 words a second). A transcript denser
than this is Whisper filling in ("What do…" heard as "What do you want to do?"), so it does not
show that the sentence is finished."""


def words_of(text: str) -> list[str]:
    """The lower-case words of `text`, without punctuation ("What is 2 plus 2?" is five)."""
    return re.findall(r"[a-z0-9']+", text.lower())


def ending_of(text: str, speech_s: float | None = None) -> Ending:
    """How `text` ends: a finished sentence, clearly unfinished, or either.

    `speech_s`, the seconds of speech transcribed, makes a finished sentence with more words
    than that much speech can hold uncertain (`MAX_WORDS_PER_S`).
    """
    clean = text.strip()
    words = words_of(clean)
    if not words or words[-1] in UNFINISHED_WORDS or clean.endswith(("...", "…", "-", "—")):
        return Ending.UNFINISHED
    short_question = len(words) <= SHORT_QUESTION_WORDS and words[0] in QUESTION_WORDS
    if clean[-1] not in ".?!" or short_question:
        return Ending.UNCERTAIN
    if speech_s is not None and len(words) > MAX_WORDS_PER_S * speech_s:
        return Ending.UNCERTAIN
    return Ending.COMPLETE


def lacks_only_a_mark(text: str, speech_s: float | None = None) -> bool:
    """True when `text` is uncertain for no reason but its missing final punctuation."""
    clean = text.strip()
    return (
        bool(clean)
        and clean[-1] not in ".?!"
        and ending_of(clean, speech_s) is Ending.UNCERTAIN
        and ending_of(clean + ".", speech_s) is Ending.COMPLETE
    )


async def second_opinion(
    stt: SpeechToText, audio: npt.NDArray[np.float32], text: str, speech_s: float
) -> bool:
    """True when `stt`'s surer pass hears the same words as `text` and ends them as a sentence.

    The words must agree: on a fragment, Whisper's full window invents an ending ("What do…"
    as "What do you do?").
    """
    surer = (await stt.transcribe(audio, thorough=True)).text.strip()
    log.debug("second opinion on %r: %r", text, surer)
    return words_of(surer) == words_of(text) and ending_of(surer, speech_s) is Ending.COMPLETE


def is_backchannel(text: str, backchannels: Collection[str]) -> bool:
    """True when `text` is one of `backchannels` ("mm-hm", "yeah"), punctuation aside."""
    return text.lower().strip(" .,!?") in backchannels


class TurnEvent(StrEnum):
    """What a frame changed."""

    START = "start"
    QUIET = "quiet"
    PAUSE = "pause"
    RESUME = "resume"
    END = "end"


@dataclass
class TurnDetector:
    """Frame-by-frame turn state. Times are in frames of `frame_ms`.

    Protocol: call `step` with each frame's speech probability, in order; set `ending` when a
    transcript of the utterance so far is known (None while unknown, which waits for the long
    silence), then call `check_end`.
    """

    frame_ms: float
    threshold: float = 0.5
    min_speech_ms: int = 96
    speculative_pause_ms: int = 120
    transcribe_pause_ms: int = 0
    eagerness: str = "auto"
    fixed_endpoint_ms: int | None = None
    quiet_db: float = 0.0
    ending: Ending | None = None
    in_utterance: bool = False
    frames: int = 0
    utterance_start: int = 0
    last_speech: int = 0
    _run: int = 0
    _silence: int = 0
    _paused: bool = False
    _quiet: bool = False
    _peak: float = 0.0

    def _frames(self, ms: float) -> int:
        return max(1, round(ms / self.frame_ms))

    @property
    def required_silence_frames(self) -> int:
        """Silence that ends the turn now, given what is known of the transcript."""
        if self.fixed_endpoint_ms is not None:
            return self._frames(self.fixed_endpoint_ms)
        short, middle, long = ENDPOINT_MS[self.eagerness]
        wait = {Ending.COMPLETE: short, Ending.UNCERTAIN: middle}.get(
            self.ending or Ending.UNFINISHED, long
        )
        return self._frames(wait)

    def step(self, prob: float, rms: float | None = None) -> TurnEvent | None:
        """Advance one frame: its speech probability and, for `quiet_db`, its RMS level."""
        self.frames += 1
        speech = prob >= self.threshold
        if not self.in_utterance:
            self._run = self._run + 1 if speech else 0
            if rms is not None:
                self._peak = max(self._peak, rms) if self._run > 1 else rms
            if self._run >= self._frames(self.min_speech_ms):
                self.in_utterance, self._silence = True, 0
                self._paused = self._quiet = False
                self.utterance_start = self.frames - self._run
                self.last_speech = self.frames
                self.ending = None
                return TurnEvent.START
            return None
        if speech and self.quiet_db and rms is not None:
            self._peak = max(self._peak, rms)
            speech = rms > self._peak * 10 ** (-self.quiet_db / 20)
        if speech:
            self.last_speech = self.frames
            self._silence = 0
            if self._quiet:
                self._paused = self._quiet = False
                self.ending = None
                return TurnEvent.RESUME
            return None
        self._silence += 1
        if self._silence >= self.required_silence_frames:
            self.in_utterance, self._run = False, 0
            return TurnEvent.END
        if not self._paused and self._silence >= self._frames(self.speculative_pause_ms):
            self._paused = self._quiet = True
            return TurnEvent.PAUSE
        if (
            not self._quiet
            and self.transcribe_pause_ms
            and self._silence >= self._frames(self.transcribe_pause_ms)
        ):
            self._quiet = True
            return TurnEvent.QUIET
        return None

    def check_end(self) -> bool:
        """After `ending` changed: True (and the turn ends) if the silence already suffices."""
        if self.in_utterance and self._paused and self._silence >= self.required_silence_frames:
            self.in_utterance, self._run = False, 0
            return True
        return False

    @property
    def spoken_ms(self) -> float:
        """Milliseconds from the start of the utterance to its last speech."""
        return self.ms(self.last_speech - self.utterance_start)

    def ms(self, frame: int) -> float:
        """Audio time of the end of `frame`, in milliseconds."""
        return frame * self.frame_ms
