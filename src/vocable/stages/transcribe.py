"""The transcribe stage: one user utterance in, its transcript out."""

from __future__ import annotations

import dataclasses

from vocable.engines.stt.base import SpeechToText
from vocable.errors import AudioInputError
from vocable.frames import Frame, PipelineEventType, UserTurn
from vocable.pipeline.channel import Send
from vocable.pipeline.stage import FrameProcessor, StageContext


class Transcribe(FrameProcessor):
    """UserTurn in; a final Transcript out. An empty transcript becomes ``audio.no_speech``."""

    name = "transcribe"

    def __init__(self, ctx: StageContext, stt: SpeechToText) -> None:
        super().__init__(ctx)
        self.stt = stt

    async def process(self, frame: Frame, outbox: Send) -> None:
        """Transcribe a UserTurn; pass anything else through."""
        if not isinstance(frame, UserTurn):
            await outbox.send(frame)
            return
        if frame.sample_rate != 16000:
            raise AudioInputError(
                f"the STT stage needs 16 kHz audio, got {frame.sample_rate} Hz",
                code="audio.bad_rate",
            )
        start = self.ctx.clock.monotonic()
        transcript = await self.stt.transcribe(frame.audio)
        text = transcript.text.strip()
        self.emit(
            PipelineEventType.TRANSCRIPT,
            turn_id=frame.turn_id,
            text=text,
            audio_s=round(frame.duration_s, 3),
            stt_s=round(self.ctx.clock.monotonic() - start, 4),
        )
        if not text:
            raise AudioInputError(
                "no speech found: the speech recogniser heard no words", code="audio.no_speech"
            )
        await outbox.send(dataclasses.replace(transcript, text=text, turn_id=frame.turn_id))
