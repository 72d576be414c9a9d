import asyncio
import os
import threading

import pytest

from tests.fakes import FakeLLM, FakeTTS
from vocable.errors import VocableError
from vocable.frames import (
    AudioChunk,
    Cancel,
    ErrorFrame,
    Frame,
    Interrupt,
    LLMDone,
    LLMToken,
    PipelineEventType,
    Sentence,
    Transcript,
)
from vocable.pipeline import FrameProcessor, Pipeline, StageContext, run_pipeline
from vocable.pipeline.channel import Send
from vocable.pipeline.testing import run_stage
from vocable.stages.respond import Respond
from vocable.stages.synthesize import Synthesize


class Tag(FrameProcessor):
    """Appends its name to every token."""

    def __init__(self, ctx: StageContext, name: str, delay_s: float = 0.0) -> None:
        super().__init__(ctx)
        self.name = name
        self.delay_s = delay_s
        self.seen = 0

    async def process(self, frame: Frame, outbox: Send) -> None:
        self.seen += 1
        await asyncio.sleep(self.delay_s)
        assert isinstance(frame, LLMToken)
        await outbox.send(LLMToken(frame.text + self.name, turn_id=frame.turn_id))


class Boom(FrameProcessor):
    name = "boom"

    async def process(self, frame: Frame, outbox: Send) -> None:
        if isinstance(frame, LLMToken) and frame.text == "bad":
            raise ZeroDivisionError("kaboom")
        if isinstance(frame, LLMToken) and frame.text == "typed":
            raise VocableError("typed failure", code="boom.typed", transient=True)
        await outbox.send(frame)


@pytest.fixture
def ctx(settings):  # type: ignore[no-untyped-def]
    return StageContext.for_settings(settings)


async def test_frames_pass_through_stages_in_order(ctx: StageContext) -> None:
    stages = [Tag(ctx, "a"), Tag(ctx, "b"), Tag(ctx, "c")]
    out = await run_pipeline(stages, [LLMToken(str(i)) for i in range(200)], channel_size=4)
    assert [f.text for f in out] == [f"{i}abc" for i in range(200)]  # type: ignore[attr-defined]


async def test_slow_consumer_applies_backpressure(ctx: StageContext) -> None:
    fast, slow = Tag(ctx, "fast"), Tag(ctx, "slow", delay_s=0.001)
    pipe = Pipeline([fast, slow], channel_size=8)
    async with pipe:

        async def feed() -> None:
            for i in range(400):
                await pipe.send(LLMToken(str(i)))
            await pipe.end()

        async with asyncio.TaskGroup() as tg:
            tg.create_task(feed())
            received = [f async for f in pipe]
    assert len(received) == 401
    # Queues never grew past their capacity, however far ahead the producer could have run.
    assert all(ch.high_water <= 8 for ch in pipe.channels)
    assert max(ch.high_water for ch in pipe.channels) == 8


async def test_stage_errors_become_error_frames_and_the_stage_goes_on(
    ctx: StageContext,
) -> None:
    stage = Boom(ctx)
    out = await run_stage(stage, [LLMToken("bad"), LLMToken("typed"), LLMToken("ok")], bus=ctx.bus)
    assert isinstance(out[0], ErrorFrame)
    assert out[0].code == "boom.failed" and "kaboom" in out[0].message
    assert isinstance(out[1], ErrorFrame) and out[1].code == "boom.typed" and out[1].transient
    assert out[2] == LLMToken("ok")
    errors = [e for e in ctx.bus.log if e.kind is PipelineEventType.ERROR]
    assert [e.payload["code"] for e in errors] == ["boom.failed", "boom.typed"]


async def test_interrupt_overtakes_queued_sentences_and_stops_speech(ctx: StageContext) -> None:
    tts = FakeTTS(delay_s=0.05, chunks_per_sentence=4)
    stage = Synthesize(ctx, tts)
    out: list[Frame] = []
    async with Pipeline([stage], channel_size=16, bus=ctx.bus) as pipe:
        for i in range(6):
            await pipe.send(Sentence(f"sentence {i}", index=i, turn_id=1))
        await asyncio.sleep(0.08)  # the first sentence is being spoken
        await pipe.send(Interrupt(turn_id=1))
        await pipe.send(Sentence("after", index=0, turn_id=2))
        await pipe.send(LLMDone("after", turn_id=2))
        await pipe.end()
        out = [f async for f in pipe]
    assert tts.spoken == ["sentence 0", "after"]
    assert tts.finished == ["after"]  # sentence 0 was cut off mid-way
    assert pipe.channels[0].dropped == 5
    kinds = [type(f).__name__ for f in out]
    assert kinds.index("Interrupt") < kinds.index("AudioChunk", kinds.index("Interrupt") - 0)
    turn1_audio = [f for f in out if isinstance(f, AudioChunk) and f.turn_id == 1]
    assert len(turn1_audio) < 4
    interrupted = [e for e in ctx.bus.log if e.kind is PipelineEventType.INTERRUPTED]
    assert interrupted and interrupted[0].payload["reason"] == "Interrupt"


async def test_cancel_stops_llm_generation_at_once(ctx: StageContext) -> None:
    llm = FakeLLM([f"w{i} " for i in range(1000)], delay_s=0.002)
    stage = Respond(ctx, llm)
    async with Pipeline([stage], bus=ctx.bus) as pipe:
        await pipe.send(Transcript("talk forever", turn_id=1))
        await asyncio.sleep(0.05)
        await pipe.send(Cancel(turn_id=1))
        await pipe.end()
        out = [f async for f in pipe]
    assert llm.closed_early
    assert llm.yielded < 200
    assert not any(isinstance(f, LLMDone) for f in out)
    assert stage.conversation.messages == []  # an unfinished reply is not remembered


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate()}


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_cancelled_session_leaves_no_task_thread_or_file(ctx: StageContext) -> None:
    async def session() -> None:
        stages = [Respond(ctx, FakeLLM(["x "] * 10_000, delay_s=0.001)), Synthesize(ctx, FakeTTS())]
        async with Pipeline(stages, channel_size=4, bus=ctx.bus) as pipe:
            await pipe.send(Transcript("go", turn_id=1))
            await asyncio.sleep(0.05)
            raise asyncio.CancelledError  # the client went away

    baseline_tasks = len(asyncio.all_tasks())
    baseline_threads, baseline_fds = _threads(), _fds()
    task = asyncio.create_task(session())
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert len(asyncio.all_tasks()) == baseline_tasks
    assert _threads() == baseline_threads
    assert _fds() == baseline_fds


async def test_session_cancelled_from_outside_leaves_no_task(ctx: StageContext) -> None:
    started = asyncio.Event()

    async def session() -> None:
        async with Pipeline([Tag(ctx, "a", delay_s=10)]) as pipe:
            await pipe.send(LLMToken("x"))
            started.set()
            await pipe.receive()

    baseline = len(asyncio.all_tasks())
    task = asyncio.create_task(session())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(asyncio.all_tasks()) == baseline


async def test_a_crashing_stage_task_ends_the_session(ctx: StageContext) -> None:
    class Broken(FrameProcessor):
        name = "broken"

        async def run(self, inbox, outbox):  # type: ignore[no-untyped-def]
            raise RuntimeError("broken stage")

    with pytest.raises(ExceptionGroup) as info:
        await run_pipeline([Tag(ctx, "a"), Broken(ctx)], [LLMToken("x")])
    assert info.group_contains(RuntimeError, match="broken stage")


async def test_dropped_frames_are_reported_as_an_event(ctx: StageContext) -> None:
    pipe = Pipeline([Tag(ctx, "a", delay_s=1)], channel_size=8, bus=ctx.bus)
    async with pipe:
        for i in range(3):
            await pipe.send(LLMToken(str(i)))
        await asyncio.sleep(0.01)
        await pipe.send(Interrupt())
        await pipe.end()
        async for _ in pipe:
            pass
    drops = [e for e in ctx.bus.log if e.kind is PipelineEventType.FRAMES_DROPPED]
    assert drops and drops[0].payload == {"channel": "a.inbox", "count": 2}


def test_pipeline_needs_a_stage() -> None:
    with pytest.raises(ValueError, match="at least one stage"):
        Pipeline([])
