"""One voice turn end to end: audio in, transcript, streamed reply, spoken audio out."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vocable.audio.io import DecodedAudio, frames_from_samples
from vocable.config import Settings
from vocable.engines.llm.chain import LLMChain
from vocable.engines.loader import Engines, load_engines
from vocable.errors import VocableError
from vocable.frames import (
    AudioChunk,
    ErrorFrame,
    Frame,
    LLMDone,
    PipelineEvent,
    PipelineEventType,
    Transcript,
)
from vocable.memory.recorder import ConversationRecorder
from vocable.metrics.timings import TurnTimings, turn_timings
from vocable.pipeline.runner import run_pipeline
from vocable.pipeline.stage import Stage, StageContext
from vocable.stages.chunk_sentences import ChunkSentences
from vocable.stages.respond import Conversation, Respond
from vocable.stages.synthesize import Synthesize
from vocable.stages.transcribe import Transcribe
from vocable.stages.turn import CollectTurn
from vocable.stages.vad import DetectSpeech, require_speech


@dataclass(frozen=True)
class TurnResult:
    """What one voice turn produced, with its timings (ms from the end of the user's turn)."""

    transcript: str
    reply: str
    pcm: bytes
    sample_rate: int
    timings: TurnTimings
    engines: dict[str, dict[str, Any]]
    events: list[PipelineEvent] = field(repr=False)

    @property
    def audio_s(self) -> float:
        """Length of the spoken reply in seconds."""
        return len(self.pcm) / 2 / self.sample_rate


class Assistant:
    """Loaded engines plus the stage layout of a voice turn.

    Turns run one at a time: the engines are single-threaded and the VAD is stateful.
    """

    def __init__(self, settings: Settings, engines: Engines) -> None:
        self.settings = settings
        self.engines = engines
        self._lock = asyncio.Lock()

    @classmethod
    async def load(cls, settings: Settings) -> Assistant:
        """Load every default engine."""
        return cls(settings, await load_engines(settings))

    async def close(self) -> None:
        """Release every engine."""
        await self.engines.close()

    def engine_infos(self) -> dict[str, dict[str, Any]]:
        """Each engine's identity (name, model, path, device), by kind."""
        e = self.engines
        return {
            "vad": e.vad.info.as_dict(),
            "stt": e.stt.info.as_dict(),
            "llm": e.llm.info.as_dict(),
            "tts": e.tts.info.as_dict(),
        }

    def stages(
        self, ctx: StageContext, *, whole_input: bool, conversation: Conversation | None = None
    ) -> list[Stage]:
        """The voice pipeline, in flow order."""
        e = self.engines
        return [
            DetectSpeech(ctx, e.vad),
            CollectTurn(ctx, whole_input=whole_input),
            Transcribe(ctx, e.stt),
            Respond(ctx, e.llm, conversation),
            ChunkSentences(ctx),
            Synthesize(ctx, e.tts),
        ]

    async def run_turn(
        self,
        audio: DecodedAudio,
        conversation: Conversation | None = None,
        recorder: ConversationRecorder | None = None,
    ) -> TurnResult:
        """Answer one spoken turn given as decoded 16 kHz audio.

        `conversation` is the prompt history (a fresh one when None); `recorder` persists the
        turn from its events and has written it all when this returns.

        Raises:
            AudioInputError: no speech was found (``audio.no_speech``).
            VocableError: a stage failed; the code says which.
        """
        async with self._lock:
            ctx = StageContext.for_settings(self.settings)

            def on_switch(old: str, new: str, reason: str) -> None:
                ctx.bus.emit(
                    "engines",
                    PipelineEventType.FALLBACK_SWITCHED,
                    0,
                    from_engine=old,
                    to_engine=new,
                    reason=reason,
                )

            self.engines.tts.on_switch = on_switch
            if isinstance(self.engines.llm, LLMChain):
                self.engines.llm.on_switch = on_switch
            detach = recorder.attach(ctx.bus) if recorder is not None else None
            frame_samples = self.engines.vad.frame_samples
            frames = frames_from_samples(audio.samples, audio.sample_rate, frame_samples)
            try:
                out = await run_pipeline(
                    self.stages(ctx, whole_input=True, conversation=conversation),
                    frames,
                    channel_size=self.settings.pipeline.channel_size,
                    bus=ctx.bus,
                )
            finally:
                if detach is not None and recorder is not None:
                    detach()
                    await recorder.drain()
        return self._result(out, ctx.bus.log)

    def _result(self, out: Sequence[Frame], events: list[PipelineEvent]) -> TurnResult:
        for frame in out:
            if isinstance(frame, ErrorFrame):
                raise VocableError(frame.message, code=frame.code, transient=frame.transient)
        transcripts = [f for f in out if isinstance(f, Transcript) and f.final]
        require_speech(bool(transcripts))
        done = [f for f in out if isinstance(f, LLMDone)]
        chunks = [f for f in out if isinstance(f, AudioChunk)]
        turn_id = transcripts[0].turn_id
        engines = self.engine_infos()
        return TurnResult(
            transcript=transcripts[0].text,
            reply=done[0].text if done else "",
            pcm=b"".join(c.pcm for c in chunks),
            sample_rate=chunks[0].sample_rate if chunks else self.engines.tts.sample_rate,
            timings=turn_timings(events, turn_id),
            engines=engines,
            events=events,
        )
