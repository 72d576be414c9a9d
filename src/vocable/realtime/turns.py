"""Adaptive turn-taking: when has the user finished speaking?

The detector reads one VAD probability per frame. A short pause (`speculative_pause_ms`) raises a
``pause`` so the session can transcribe and start the reply speculatively. How much silence ends
the turn depends on what was said: a transcript that reads as a finished sentence ends it after the
short silence of the eagerness level, an unfinished one ("… and", "um", no final punctuation) only
after the long one. Speech before the end raises ``resume`` and the speculative work is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

ENDPOINT_MS: dict[str, tuple[int, int]] = {
    "high": (200, 700),
    "auto": (300, 1000),
    "medium": (300, 1000),
    "low": (500, 1500),
}
"""Silence (ms) that ends a turn, per eagerness: (finished sentence, unfinished one)."""

UNFINISHED_WORDS = frozenset(
    "and or but so because um uh er erm the a an to of with for in on at my your our their his "
    "her its is are was were if then like which that when where who whose than as from into "
    "about".split()
)
"""A transcript ending in one of these words is not a finished turn."""


def looks_complete(text: str) -> bool:
    """True when `text` reads as a finished sentence or question."""
    clean = text.strip()
    if not clean or clean.endswith(("...", "…", ",", "-", "—")):
        return False
    words = re.findall(r"[a-z']+", clean.lower())
    if not words or words[-1] in UNFINISHED_WORDS:
        return False
    return clean[-1] in ".?!"


class TurnEvent(StrEnum):
    """What a frame changed."""

    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    END = "end"


@dataclass
class TurnDetector:
    """Frame-by-frame turn state. Times are in frames of `frame_ms`.

    Protocol: call `step` with each frame's speech probability, in order; set `complete` when a
    transcript of the utterance so far is known (None while unknown, which waits for the long
    silence), and `reset` after the turn ends.
    """

    frame_ms: float
    threshold: float = 0.5
    min_speech_ms: int = 96
    speculative_pause_ms: int = 120
    eagerness: str = "auto"
    fixed_endpoint_ms: int | None = None
    complete: bool | None = None
    in_utterance: bool = False
    frames: int = 0
    utterance_start: int = 0
    last_speech: int = 0
    _run: int = 0
    _silence: int = 0
    _paused: bool = False

    def _frames(self, ms: float) -> int:
        return max(1, round(ms / self.frame_ms))

    @property
    def required_silence_frames(self) -> int:
        """Silence that ends the turn now, given what is known of the transcript."""
        if self.fixed_endpoint_ms is not None:
            return self._frames(self.fixed_endpoint_ms)
        short, long = ENDPOINT_MS[self.eagerness]
        return self._frames(short if self.complete else long)

    def step(self, prob: float) -> TurnEvent | None:
        """Advance one frame."""
        self.frames += 1
        speech = prob >= self.threshold
        if not self.in_utterance:
            self._run = self._run + 1 if speech else 0
            if self._run >= self._frames(self.min_speech_ms):
                self.in_utterance, self._silence, self._paused = True, 0, False
                self.utterance_start = self.frames - self._run
                self.last_speech = self.frames
                self.complete = None
                return TurnEvent.START
            return None
        if speech:
            self.last_speech = self.frames
            self._silence = 0
            if self._paused:
                self._paused = False
                self.complete = None
                return TurnEvent.RESUME
            return None
        self._silence += 1
        if self._silence >= self.required_silence_frames:
            self.in_utterance, self._run = False, 0
            return TurnEvent.END
        if not self._paused and self._silence >= self._frames(self.speculative_pause_ms):
            self._paused = True
            return TurnEvent.PAUSE
        return None

    def check_end(self) -> bool:
        """After `complete` changed: True (and the turn ends) if the silence already suffices."""
        if self.in_utterance and self._paused and self._silence >= self.required_silence_frames:
            self.in_utterance, self._run = False, 0
            return True
        return False

    def ms(self, frame: int) -> float:
        """Audio time of the end of `frame`, in milliseconds."""
        return frame * self.frame_ms
