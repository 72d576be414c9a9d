"""The VAD stage: scores input audio and marks where speech starts and stops."""

from __future__ import annotations

import numpy as np

from vocable.audio.convert import StreamResampler, float_to_pcm16
from vocable.engines.vad.base import VoiceActivityDetector
from vocable.engines.worker import BlockingWorker
from vocable.errors import AudioInputError
from vocable.frames import AudioFrame, Frame, PipelineEventType, SpeechStarted, SpeechStopped
from vocable.pipeline.channel import Receive, Send
from vocable.pipeline.stage import FrameProcessor, StageContext


class DetectSpeech(FrameProcessor):
    """AudioFrame in; the same audio out at the detector's rate, with SpeechStarted/Stopped between.

    Speech starts after `vad.min_speech_ms` of frames above `vad.threshold` and stops after
    `vad.min_silence_ms` below it. Each speech start opens a new turn id. Audio at another rate
    than the detector's is resampled (as one continuous stream), and forwarded at that rate.
    Scoring runs on the stage's own worker thread.
    """

    name = "vad"

    def __init__(self, ctx: StageContext, vad: VoiceActivityDetector) -> None:
        super().__init__(ctx)
        self.vad = vad
        cfg = ctx.settings.vad
        self.threshold = cfg.threshold
        frame_s = vad.frame_samples / vad.sample_rate
        self._start_frames = max(1, round(cfg.min_speech_ms / 1000 / frame_s))
        self._stop_frames = max(1, round(cfg.min_silence_ms / 1000 / frame_s))
        self._pending = np.zeros(0, dtype=np.float32)
        self._frames_seen = 0
        self._run = 0
        self.in_speech = False
        self._worker = BlockingWorker("vad")
        self._resampler: StreamResampler | None = None

    def _time(self, frame_index: int) -> float:
        return frame_index * self.vad.frame_samples / self.vad.sample_rate

    def _score(self, block: np.ndarray) -> list[float]:
        n = self.vad.frame_samples
        return [self.vad.speech_probability(block[i : i + n]) for i in range(0, len(block), n)]

    async def process(self, frame: Frame, outbox: Send) -> None:
        """Score the audio, emit speech boundaries, forward the audio tagged with the turn."""
        if not isinstance(frame, AudioFrame):
            await outbox.send(frame)
            return
        samples = frame.samples()
        if frame.sample_rate == self.vad.sample_rate:
            await self._accept(samples, frame.pcm, outbox)
            return
        if self._resampler is None or self._resampler.src_rate != frame.sample_rate:
            self._resampler = StreamResampler(frame.sample_rate, self.vad.sample_rate)
        samples = self._resampler.push(samples)
        await self._accept(samples, float_to_pcm16(samples), outbox)

    async def _accept(self, samples: np.ndarray, pcm: bytes, outbox: Send) -> None:
        self._pending = np.concatenate([self._pending, samples])
        usable = len(self._pending) - len(self._pending) % self.vad.frame_samples
        block, self._pending = self._pending[:usable], self._pending[usable:]
        probs = await self._worker.run(self._score, block) if usable else []
        turn_before = self.turn_id
        boundaries = [b for p in probs if (b := self._step(p)) is not None]
        # Audio goes first, so the boundaries after it can point into audio already sent.
        if pcm:
            await outbox.send(AudioFrame(pcm, self.vad.sample_rate, turn_id=turn_before))
        for boundary in boundaries:
            await outbox.send(boundary)

    def _step(self, prob: float) -> Frame | None:
        """Advance the state machine by one scored frame; return a boundary frame if crossed."""
        self._frames_seen += 1
        is_speech = prob >= self.threshold
        self._run = self._run + 1 if is_speech != self.in_speech else 0
        if not self.in_speech and self._run >= self._start_frames:
            self.in_speech, self._run = True, 0
            self.turn_id += 1
            start = self._time(self._frames_seen - self._start_frames)
            self.emit(PipelineEventType.SPEECH_STARTED, audio_time_s=start)
            return SpeechStarted(audio_time_s=start, turn_id=self.turn_id)
        if self.in_speech and self._run >= self._stop_frames:
            self.in_speech, self._run = False, 0
            return self._stopped(self._time(self._frames_seen - self._stop_frames))
        return None

    def _stopped(self, at: float) -> SpeechStopped:
        self.emit(PipelineEventType.SPEECH_STOPPED, audio_time_s=at)
        return SpeechStopped(audio_time_s=at, turn_id=self.turn_id)

    async def flush(self, outbox: Send) -> None:
        """At end of input, speech still going is stopped at the end of the audio."""
        if self._resampler is not None:
            tail = self._resampler.push(np.zeros(0, np.float32), last=True)
            await self._accept(tail, float_to_pcm16(tail), outbox)
        if self.in_speech:
            self.in_speech = False
            await outbox.send(self._stopped(self._time(self._frames_seen)))

    async def run(self, inbox: Receive, outbox: Send) -> None:
        """Run the stage, then stop its worker thread."""
        await self._worker.run(self.vad.reset)
        try:
            await super().run(inbox, outbox)
        finally:
            await self._worker.close()


def require_speech(found: bool) -> None:
    """Raise the "no speech found" error when a whole input held no speech."""
    if not found:
        raise AudioInputError(
            "no speech found in the audio; check the microphone or file and speak clearly",
            code="audio.no_speech",
        )
