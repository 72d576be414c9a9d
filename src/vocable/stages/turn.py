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
    """SpeechStarted, AudioFrame…, SpeechStopped in; one UserTurn out per utterance.

    `pad_ms` of audio before speech start is kept so the first phoneme is not cut. With
    `whole_input=True` (one turn from a file), every stretch of speech until end of input becomes
    a single turn, pauses included, emitted at end of stream. Boundary frames are forwarded;
    raw audio is not.
    """

    name = "turn"

    def __init__(self, ctx: StageContext, *, whole_input: bool = False) -> None:
        super().__init__(ctx)
        self.whole_input = whole_input
        self.sample_rate = ctx.settings.audio.sample_rate
        self._pad_samples = int(ctx.settings.vad.pad_ms / 1000 * self.sample_rate)
        self._max_samples = int(ctx.settings.audio.max_input_seconds * self.sample_rate)
        self._preroll: deque[np.ndarray] = deque()
        self._preroll_len = 0
        self._turn: list[np.ndarray] = []
        self._turn_len = 0
        self._collecting = False
        self._first_turn_id = 0

    async def process(self, frame: Frame, outbox: Send) -> None:
        """Buffer audio and emit the utterance when speech stops."""
        if isinstance(frame, AudioFrame):
            self._add_audio(frame.samples())
            return
        if isinstance(frame, SpeechStarted):
            if not self._collecting:
                self._collecting = True
                self._first_turn_id = self._first_turn_id or frame.turn_id
                self._turn = list(self._preroll)
                self._turn_len = self._preroll_len
        elif isinstance(frame, SpeechStopped) and not self.whole_input:
            await outbox.send(frame)
            await self._emit_turn(outbox, frame.turn_id)
            return
        await outbox.send(frame)

    def _add_audio(self, samples: np.ndarray) -> None:
        if self._collecting:
            room = self._max_samples - self._turn_len
            if room > 0:
                self._turn.append(samples[:room])
                self._turn_len += min(room, len(samples))
            return
        self._preroll.append(samples)
        self._preroll_len += len(samples)
        while self._preroll and self._preroll_len - len(self._preroll[0]) >= self._pad_samples:
            self._preroll_len -= len(self._preroll.popleft())

    async def _emit_turn(self, outbox: Send, turn_id: int) -> None:
        audio = np.concatenate(self._turn) if self._turn else np.zeros(0, np.float32)
        self._turn, self._turn_len, self._collecting = [], 0, False
        self._preroll.clear()
        self._preroll_len = 0
        self.emit(
            PipelineEventType.TURN_STARTED,
            turn_id=turn_id,
            audio_s=round(len(audio) / self.sample_rate, 3),
        )
        await outbox.send(UserTurn(audio=audio, sample_rate=self.sample_rate, turn_id=turn_id))

    async def flush(self, outbox: Send) -> None:
        """At end of input, emit what was gathered as a turn."""
        if self._collecting:
            await self._emit_turn(outbox, self._first_turn_id if self.whole_input else self.turn_id)

    async def on_interrupt(self, frame: ControlFrame) -> None:
        """Drop a half-gathered utterance."""
        self._turn, self._turn_len, self._collecting = [], 0, False
