"""The turn stage: gathers the audio of one user utterance between speech start and stop."""

from __future__ import annotations

from collections import deque

import numpy as np

from vocable.frames import (
    AudioFrame,
    ControlFrame,
    Frame,
    PipelineEventType,
    SpeechStarted,
    SpeechStopped,
    UserTurn,
)
from vocable.pipeline.channel import Send
from vocable.pipeline.stage import FrameProcessor, StageContext


class CollectTurn(FrameProcessor):
    """AudioFrame… with SpeechStarted/SpeechStopped in; one UserTurn out per utterance.

    Expects the VAD's order: audio first, then the boundaries found in it. The turn runs from
    `vad.pad_ms` before speech start to `vad.pad_ms` after speech stop, capped at
    `audio.max_input_seconds`. With `whole_input=True` (one turn from a file), all speech until
    end of input is one turn, pauses included, emitted at end of stream. Boundary frames are
    forwarded; raw audio is not.
    """

    name = "turn"

    def __init__(self, ctx: StageContext, *, whole_input: bool = False) -> None:
        super().__init__(ctx)
        self.whole_input = whole_input
        cfg = ctx.settings
        self.rate = cfg.audio.sample_rate
        self._pad = cfg.vad.pad_ms / 1000
        self._max_samples = int(cfg.audio.max_input_seconds * self.rate)
        self._keep = int((cfg.vad.pad_ms + cfg.vad.min_speech_ms + 250) / 1000 * self.rate)
        self._recent: deque[np.ndarray] = deque()
        self._recent_len = 0
        self._seen = 0
        self._turn: list[np.ndarray] = []
        self._turn_start = 0
        self._turn_len = 0
        self._collecting = False
        self._stop_at: float | None = None
        self._first_turn_id = 0

    async def process(self, frame: Frame, outbox: Send) -> None:
        """Buffer audio; emit the utterance when speech stops."""
        if isinstance(frame, AudioFrame):
            self._add_audio(frame.samples())
            return
        if isinstance(frame, SpeechStarted) and not self._collecting:
            self._start(frame.audio_time_s)
            self._first_turn_id = self._first_turn_id or frame.turn_id
        await outbox.send(frame)
        if isinstance(frame, SpeechStopped) and self._collecting:
            self._stop_at = frame.audio_time_s
            if not self.whole_input:
                await self._emit_turn(outbox, frame.turn_id)

    def _add_audio(self, samples: np.ndarray) -> None:
        self._recent.append(samples)
        self._recent_len += len(samples)
        self._seen += len(samples)
        while self._recent_len - len(self._recent[0]) >= self._keep:
            self._recent_len -= len(self._recent.popleft())
        if self._collecting and self._turn_len < self._max_samples:
            self._turn.append(samples)
            self._turn_len += len(samples)

    def _start(self, speech_at: float) -> None:
        recent_start = self._seen - self._recent_len
        start = max(recent_start, round((speech_at - self._pad) * self.rate))
        head = np.concatenate(self._recent)[start - recent_start :] if self._recent else None
        self._turn = [] if head is None else [head]
        self._turn_len = 0 if head is None else len(head)
        self._turn_start = start
        self._collecting, self._stop_at = True, None

    async def _emit_turn(self, outbox: Send, turn_id: int) -> None:
        audio = np.concatenate(self._turn) if self._turn else np.zeros(0, np.float32)
        if self._stop_at is not None:
            audio = audio[
                : max(0, round((self._stop_at + self._pad) * self.rate) - self._turn_start)
            ]
        audio = audio[: self._max_samples]
        self._turn, self._turn_len, self._collecting = [], 0, False
        self.emit(
            PipelineEventType.TURN_STARTED,
            turn_id=turn_id,
            audio_s=round(len(audio) / self.rate, 3),
        )
        await outbox.send(UserTurn(audio=audio, sample_rate=self.rate, turn_id=turn_id))

    async def flush(self, outbox: Send) -> None:
        """At end of input, emit what was gathered as a turn."""
        if self._collecting:
            await self._emit_turn(outbox, self._first_turn_id if self.whole_input else self.turn_id)

    async def on_interrupt(self, frame: ControlFrame) -> None:
        """Drop a half-gathered utterance."""
        self._turn, self._turn_len, self._collecting = [], 0, False
