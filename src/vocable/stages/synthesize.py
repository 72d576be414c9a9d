"""The synthesize stage: speakable sentences in, audio chunks out."""

from __future__ import annotations

import contextlib

from vocable.engines.tts.base import TextToSpeech
from vocable.frames import ControlFrame, Frame, LLMDone, PipelineEventType, Sentence
from vocable.pipeline.channel import Send
from vocable.pipeline.stage import FrameProcessor, StageContext


class Synthesize(FrameProcessor):
    """Sentence in; the Sentence then its AudioChunk… out, in order. LLMDone closes the turn.

    An Interrupt cancels the sentence being spoken and the channel drops the queued ones.
    """

    name = "synthesize"

    def __init__(self, ctx: StageContext, tts: TextToSpeech, voice: str | None = None) -> None:
        super().__init__(ctx)
        self.tts = tts
        self.voice = voice
        self._first_audio_turn = -1
        self._audio_s: dict[int, float] = {}

    async def process(self, frame: Frame, outbox: Send) -> None:
        """Speak a sentence; on LLMDone report the turn as done; pass the rest through."""
        if isinstance(frame, LLMDone):
            await outbox.send(frame)
            self.emit(
                PipelineEventType.TURN_DONE,
                turn_id=frame.turn_id,
                audio_s=round(self._audio_s.pop(frame.turn_id, 0.0), 3),
            )
            return
        if not isinstance(frame, Sentence):
            await outbox.send(frame)
            return
        turn = frame.turn_id
        await outbox.send(frame)  # the text goes ahead of its audio
        self.emit(PipelineEventType.TTS_REQUEST, turn_id=turn, index=frame.index)
        first = True
        async with contextlib.aclosing(self.tts.synthesize(frame.text, self.voice)) as chunks:
            async for chunk in chunks:
                if first:
                    first = False
                    self.emit(
                        PipelineEventType.TTS_FIRST_AUDIO,
                        turn_id=turn,
                        index=frame.index,
                        first_of_turn=self._first_audio_turn != turn,
                        engine=self.tts.info.name,
                    )
                    self._first_audio_turn = turn
                self._audio_s[turn] = self._audio_s.get(turn, 0.0) + chunk.duration_s
                await outbox.send(
                    type(chunk)(
                        chunk.pcm, chunk.sample_rate, sentence_index=frame.index, turn_id=turn
                    )
                )
        self.emit(PipelineEventType.TTS_DONE, turn_id=turn, index=frame.index)

    async def on_interrupt(self, frame: ControlFrame) -> None:
        """Forget the interrupted turn's audio total."""
        self._audio_s.clear()
