"""Every frame that travels between pipeline stages, and the one event type they all report.

Frames are frozen, slotted dataclasses. Data frames carry audio or text. Control frames are never
dropped; the urgent ones (`Interrupt`, `Cancel`) also overtake queued data frames, while
`EndOfStream` keeps its place behind the data it ends (overtaking would lose that data).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

PCM16_BYTES = 2


@dataclass(frozen=True, slots=True)
class Frame:
    """Base of every frame. `turn_id` ties a frame to one user turn (0 before the first)."""

    turn_id: int = field(default=0, kw_only=True)


@dataclass(frozen=True, slots=True)
class ControlFrame(Frame):
    """A frame that is never dropped; `urgent` ones overtake queued data frames."""

    urgent: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class AudioFrame(Frame):
    """Mono PCM16 audio from the user (input side), usually 16 kHz in 20-32 ms pieces."""

    pcm: bytes
    sample_rate: int

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        if len(self.pcm) % PCM16_BYTES:
            raise ValueError("pcm must hold whole 16-bit samples")

    @property
    def num_samples(self) -> int:
        """Number of samples in the frame."""
        return len(self.pcm) // PCM16_BYTES

    @property
    def duration_s(self) -> float:
        """Duration of the frame in seconds."""
        return self.num_samples / self.sample_rate

    def samples(self) -> npt.NDArray[np.float32]:
        """The audio as float32 in [-1, 1]."""
        return np.frombuffer(self.pcm, dtype=np.int16).astype(np.float32) / 32768.0


@dataclass(frozen=True, slots=True)
class SpeechStarted(Frame):
    """The VAD heard speech start at `audio_time_s` (seconds of input audio so far)."""

    audio_time_s: float


@dataclass(frozen=True, slots=True)
class SpeechStopped(Frame):
    """The VAD decided speech ended at `audio_time_s`."""

    audio_time_s: float


@dataclass(frozen=True, slots=True)
class UserTurn(Frame):
    """One complete user utterance, float32 mono audio at `sample_rate`."""

    audio: npt.NDArray[np.float32]
    sample_rate: int

    @property
    def duration_s(self) -> float:
        """Duration of the utterance in seconds."""
        return len(self.audio) / self.sample_rate


@dataclass(frozen=True, slots=True)
class Transcript(Frame):
    """Text recognised from one user turn. `final` is False for streaming partials."""

    text: str
    final: bool = True
    language: str = "en"


@dataclass(frozen=True, slots=True)
class LLMToken(Frame):
    """One piece of streamed model output text."""

    text: str


@dataclass(frozen=True, slots=True)
class LLMDone(Frame):
    """The model finished its reply for this turn; `text` is the whole reply."""

    text: str
    finish_reason: str = "stop"


@dataclass(frozen=True, slots=True)
class Sentence(Frame):
    """A speakable piece of the reply (a sentence, or an early first clause)."""

    text: str
    index: int = 0


@dataclass(frozen=True, slots=True)
class AudioChunk(Frame):
    """Synthesised mono PCM16 audio at the TTS engine's rate. `sentence_index` links to text."""

    pcm: bytes
    sample_rate: int
    sentence_index: int = 0

    @property
    def duration_s(self) -> float:
        """Duration of the chunk in seconds."""
        return len(self.pcm) / PCM16_BYTES / self.sample_rate


@dataclass(frozen=True, slots=True)
class ErrorFrame(Frame):
    """An error that travels downstream instead of crashing the session."""

    code: str
    message: str
    transient: bool = False
    stage: str = ""


@dataclass(frozen=True, slots=True)
class Interrupt(ControlFrame):
    """Barge-in: stop the reply now and drop whatever is queued behind it."""


@dataclass(frozen=True, slots=True)
class Cancel(ControlFrame):
    """Cancel the current turn's work without ending the session."""


@dataclass(frozen=True, slots=True)
class EndOfStream(ControlFrame):
    """No more frames will follow. Each stage flushes and forwards it, then returns.

    Not urgent: it arrives after every data frame sent before it.
    """

    urgent: ClassVar[bool] = False


class PipelineEventType(StrEnum):
    """Kinds of events that stages report to the bus."""

    STAGE_STARTED = "stage_started"
    STAGE_STOPPED = "stage_stopped"
    SPEECH_STARTED = "speech_started"
    SPEECH_STOPPED = "speech_stopped"
    TRANSCRIPT = "transcript"
    LLM_REQUEST = "llm_request"
    LLM_TOKEN = "llm_token"  # noqa: S105 - an event name, not a secret
    """One piece of reply text (payload ``text``); the conversation log persists these."""
    LLM_FIRST_TOKEN = "llm_first_token"  # noqa: S105 - an event name, not a secret
    LLM_DONE = "llm_done"
    TOOL_CALL = "tool_call"
    """A tool is called (payload ``name``, ``arguments``, ``path``: ``intent`` or ``native``)."""
    TOOL_RESULT = "tool_result"
    """A tool call ended (payload ``name``, ``ok``, ``text``, ``code``, ``ms``, ``path``)."""
    SENTENCE = "sentence"
    TTS_REQUEST = "tts_request"
    TTS_FIRST_AUDIO = "tts_first_audio"
    TTS_DONE = "tts_done"
    TURN_STARTED = "turn_started"
    """The user's turn is complete and the assistant's begins; latency is measured from here."""
    TURN_DONE = "turn_done"
    AUDIO_PLAYED = "audio_played"
    """A sentence of the reply went out to the listener (payload ``index``, ``text``)."""
    SPECULATION_DROPPED = "speculation_dropped"
    """The user went on speaking; speculative work for the turn was discarded."""
    INTERRUPTED = "interrupted"
    FRAMES_DROPPED = "frames_dropped"
    FALLBACK_SWITCHED = "fallback_switched"
    DEVICE_FALLBACK = "device_fallback"
    """An engine could not load on its GPU and runs on the CPU (payload ``engine``, ``reason``)."""
    ENGINE_LOADED = "engine_loaded"
    ERROR = "error"


_event_seq = itertools.count()


@dataclass(frozen=True, slots=True)
class PipelineEvent:
    """What a stage reports: which stage, what kind, which turn, when (monotonic seconds)."""

    stage: str
    kind: PipelineEventType
    turn_id: int
    timestamp: float = field(default_factory=time.monotonic)
    payload: dict[str, Any] = field(default_factory=dict)
    seq: int = field(default_factory=lambda: next(_event_seq))
