import asyncio

import pytest

from vocable.errors import PipelineClosedError
from vocable.frames import Cancel, EndOfStream, Interrupt, LLMToken, Sentence
from vocable.pipeline.channel import Channel


async def test_data_frames_keep_their_order() -> None:
    ch = Channel(100)
    for i in range(50):
        await ch.send(LLMToken(str(i)))
    got = [await ch.receive() for _ in range(50)]
    assert [f.text for f in got] == [str(i) for i in range(50)]  # type: ignore[attr-defined]


async def test_full_channel_makes_the_sender_wait() -> None:
    ch = Channel(3)
    for i in range(3):
        await ch.send(LLMToken(str(i)))
    blocked = asyncio.create_task(ch.send(LLMToken("3")))
    await asyncio.sleep(0.05)
    assert not blocked.done()
    assert len(ch) == 3
    await ch.receive()
    await asyncio.wait_for(blocked, 1)
    assert len(ch) == 3
    assert ch.high_water == 3


async def test_urgent_control_frames_overtake_data_and_never_wait() -> None:
    ch = Channel(2)
    await ch.send(LLMToken("a"))
    await ch.send(LLMToken("b"))
    await asyncio.wait_for(ch.send(Cancel()), 0.5)  # full channel: still goes through at once
    await asyncio.wait_for(ch.send(EndOfStream()), 0.5)
    assert isinstance(await ch.receive(), Cancel)
    assert (await ch.receive()).text == "a"  # type: ignore[attr-defined]
    assert (await ch.receive()).text == "b"  # type: ignore[attr-defined]
    assert isinstance(await ch.receive(), EndOfStream)  # in order: it ends the data before it


async def test_interrupt_never_drops_an_end_of_stream() -> None:
    ch = Channel(4)
    await ch.send(LLMToken("a"))
    await ch.send(EndOfStream())
    await ch.send(Interrupt())
    assert isinstance(await ch.receive(), Interrupt)
    assert isinstance(await ch.receive(), EndOfStream)
    assert ch.dropped == 1


async def test_interrupt_overtakes_and_drops_queued_sentences() -> None:
    ch = Channel(10)
    for i in range(5):
        await ch.send(Sentence(f"s{i}", index=i, turn_id=1))
    await ch.send(Interrupt(turn_id=1))
    await ch.send(Sentence("next turn", turn_id=2))
    assert isinstance(await ch.receive(), Interrupt)
    assert (await ch.receive()).text == "next turn"  # type: ignore[attr-defined]
    assert ch.dropped == 5


async def test_control_pending_waits_for_a_control_frame() -> None:
    ch = Channel(4)
    waiter = asyncio.create_task(ch.control_pending())
    await ch.send(LLMToken("data does not wake it"))
    await asyncio.sleep(0.02)
    assert not waiter.done()
    await ch.send(Interrupt())
    await asyncio.wait_for(waiter, 1)


async def test_closed_channel_refuses_sends_and_drains() -> None:
    ch = Channel(4)
    await ch.send(LLMToken("last"))
    await ch.close()
    with pytest.raises(PipelineClosedError):
        await ch.send(LLMToken("late"))
    assert (await ch.receive()).text == "last"  # type: ignore[attr-defined]
    with pytest.raises(PipelineClosedError):
        await ch.receive()


async def test_close_wakes_a_blocked_sender() -> None:
    ch = Channel(1)
    await ch.send(LLMToken("a"))
    blocked = asyncio.create_task(ch.send(LLMToken("b")))
    await asyncio.sleep(0.01)
    await ch.close()
    with pytest.raises(PipelineClosedError):
        await asyncio.wait_for(blocked, 1)


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        Channel(0)
