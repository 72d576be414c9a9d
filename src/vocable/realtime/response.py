"""One spoken reply of a realtime session: LLM → sentences → TTS, into a paced `Playout`."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vocable.audio.convert import StreamResampler, float_to_pcm16, pcm16_to_float
from vocable.engines.loader import Engines
from vocable.frames import (
    AudioChunk,
    ErrorFrame,
    Frame,
    LLMDone,
    LLMToken,
    PipelineEvent,
    PipelineEventType,
    Sentence,
    Transcript,
)
from vocable.pipeline.channel import Send
from vocable.pipeline.runner import Pipeline
from vocable.pipeline.stage import FrameProcessor, StageContext
from vocable.pipeline.tasks import cancel_and_wait
from vocable.realtime.playout import Playout
from vocable.realtime.protocol import new_id, server_event
from vocable.stages.chunk_sentences import ChunkSentences
from vocable.stages.respond import Conversation, Respond
from vocable.stages.synthesize import Synthesize

SendJson = Callable[[dict[str, Any]], Awaitable[None]]
SendBytes = Callable[[bytes], Awaitable[None]]


@dataclass
class Response:
    """A reply in flight. It may start speculatively; `playout.release()` lets it out."""

    turn_id: int
    user_text: str
    id: str = field(default_factory=lambda: new_id("resp"))
    item_id: str = field(default_factory=lambda: new_id("item"))
    task: asyncio.Task[None] | None = None
    status: str = "in_progress"
    text: str = ""
    playout: Playout = field(init=False)

    @property
    def speaking(self) -> bool:
        """True while audio may still go out."""
        return self.task is not None and not self.task.done()


class WholeReply(FrameProcessor):
    """The baseline's chunker: the whole reply as one piece, once the model has finished."""

    name = "chunk_sentences"

    async def process(self, frame: Frame, outbox: Send) -> None:
        """Drop tokens; turn LLMDone into one Sentence, then forward it."""
        if isinstance(frame, LLMToken):
            return
        if isinstance(frame, LLMDone) and frame.text:
            self.emit(PipelineEventType.SENTENCE, turn_id=frame.turn_id, index=0, text=frame.text)
            await outbox.send(Sentence(frame.text, 0, turn_id=frame.turn_id))
        await outbox.send(frame)


def new_response(
    turn_id: int,
    user_text: str,
    *,
    ctx: StageContext,
    rate: int,
    lead_s: float,
    send_json: SendJson,
    send_bytes: SendBytes | None,
) -> Response:
    """A response whose audio goes out as binary frames or ``response.output_audio.delta``."""
    response = Response(turn_id, user_text)

    async def send_audio(pcm: bytes, index: int) -> None:
        if send_bytes is not None:
            await send_bytes(pcm)
            return
        await send_json(
            server_event(
                "response.output_audio.delta",
                turn_id,
                response_id=response.id,
                item_id=response.item_id,
                output_index=0,
                content_index=0,
                delta=base64.b64encode(pcm).decode(),
            )
        )

    def sentence_sent(index: int, text: str) -> None:
        ctx.bus.emit("playout", PipelineEventType.AUDIO_PLAYED, turn_id, index=index, text=text)

    response.playout = Playout(send_audio, rate, lead_s=lead_s, on_sentence_sent=sentence_sent)
    return response


async def run_response(
    response: Response,
    *,
    ctx: StageContext,
    engines: Engines,
    conversation: Conversation,
    send_json: SendJson,
    voice: str | None,
) -> None:
    """Generate, synthesise and play `response` to the end (or until cancelled)."""
    playout = response.playout
    out_rate = playout.rate
    resampler: StreamResampler | None = None
    turn = response.turn_id
    sentences: dict[int, str] = {}
    last_index = 0

    def queue_json(kind: str, **fields: Any) -> None:
        event = server_event(
            kind,
            turn,
            response_id=response.id,
            item_id=response.item_id,
            output_index=0,
            content_index=0,
            **fields,
        )

        async def send() -> None:
            await send_json(event)

        playout.put_event(send)

    chunker = ChunkSentences(ctx) if ctx.settings.realtime.stream_tts else WholeReply(ctx)
    stages = [
        Respond(ctx, engines.llm, conversation, remember=False),
        chunker,
        Synthesize(ctx, engines.tts, voice),
    ]

    def on_event(event: PipelineEvent) -> None:
        # The chunker consumes the tokens; the text deltas come from the event stream.
        if event.kind is PipelineEventType.LLM_TOKEN and event.turn_id == turn:
            queue_json("response.output_text.delta", delta=event.payload["text"])

    def flush_resampler() -> None:
        """Queue what the resampler still holds (the end of the audio so far) and drop it."""
        nonlocal resampler
        if resampler is not None:
            tail = resampler.push(np.zeros(0, np.float32), last=True)
            playout.put_audio(float_to_pcm16(tail), last_index, sentences.get(last_index, ""))
            resampler = None

    remove_listener = ctx.bus.add_listener(on_event)
    play = asyncio.create_task(playout.run(), name=f"playout:{response.id}")
    try:
        async with Pipeline(stages, bus=ctx.bus) as pipe:
            await pipe.send(Transcript(response.user_text, turn_id=turn))
            await pipe.end()
            async for frame in pipe:
                if isinstance(frame, Sentence):
                    sentences[frame.index] = frame.text
                    queue_json("response.output_audio_transcript.delta", delta=frame.text + " ")
                elif isinstance(frame, AudioChunk):
                    samples = pcm16_to_float(frame.pcm)
                    if resampler is not None and resampler.src_rate != frame.sample_rate:
                        flush_resampler()  # the engine's rate changed (a fallback took over)
                    if frame.sample_rate != out_rate:
                        resampler = resampler or StreamResampler(frame.sample_rate, out_rate)
                        samples = resampler.push(samples)
                    last_index = frame.sentence_index
                    text = sentences.get(last_index, "")
                    playout.put_audio(float_to_pcm16(samples), last_index, text)
                elif isinstance(frame, LLMDone):
                    response.text = frame.text
                elif isinstance(frame, ErrorFrame):
                    await send_json(
                        server_event(
                            "error",
                            turn,
                            error={
                                "type": "server_error",
                                "code": frame.code,
                                "message": frame.message,
                            },
                        )
                    )
        flush_resampler()
        playout.finish()
        await play
        response.status = "completed"
    finally:
        remove_listener()
        await cancel_and_wait(play)
