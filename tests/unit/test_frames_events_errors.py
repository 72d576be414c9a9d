import asyncio
import dataclasses

import numpy as np
import pytest

from vocable.errors import EngineTimeoutError, PipelineClosedError, VocableError
from vocable.frames import (
    AudioChunk,
    AudioFrame,
    Cancel,
    EndOfStream,
    Interrupt,
    LLMToken,
    PipelineEventType,
    UserTurn,
)
from vocable.pipeline import EventBus, FakeClock, SystemClock


def test_frames_are_frozen() -> None:
    token = LLMToken("hi", turn_id=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        token.text = "changed"  # type: ignore[misc]


def test_audio_frame_checks_and_converts() -> None:
    pcm = np.array([0, 16384, -32768], dtype="<i2").tobytes()
    frame = AudioFrame(pcm, 16000)
    assert frame.num_samples == 3
    assert frame.duration_s == pytest.approx(3 / 16000)
    assert frame.samples().tolist() == [0.0, 0.5, -1.0]
    with pytest.raises(ValueError, match="whole 16-bit"):
        AudioFrame(b"\x00", 16000)
    with pytest.raises(ValueError, match="positive"):
        AudioFrame(b"", 0)


def test_durations() -> None:
    assert AudioChunk(b"\x00\x00" * 2205, 22050).duration_s == pytest.approx(0.1)
    turn = UserTurn(audio=np.zeros(8000, np.float32), sample_rate=16000)
    assert turn.duration_s == 0.5


def test_urgency_of_control_frames() -> None:
    assert Interrupt.urgent and Cancel.urgent
    assert not EndOfStream.urgent


def test_errors_carry_code_and_transience() -> None:
    err = VocableError("something broke", code="x.y")
    assert (err.code, err.message, err.transient) == ("x.y", "something broke", False)
    assert "x.y" in repr(err)
    assert EngineTimeoutError("slow").transient
    assert EngineTimeoutError("slow").code == "engine.timeout"
    assert PipelineClosedError("closed", transient=True).transient


def test_fake_clock() -> None:
    clock = FakeClock(10)
    clock.advance(1.5)
    assert clock.monotonic() == 11.5
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    assert SystemClock().monotonic() > 0


async def test_bus_stamps_events_and_fans_out() -> None:
    clock = FakeClock(5)
    bus = EventBus(clock, log_size=3)
    heard: list[str] = []
    remove = bus.add_listener(lambda e: heard.append(e.kind))
    with bus.subscribe(maxsize=2) as sub:
        for i in range(4):
            clock.advance(1)
            bus.emit("stt", PipelineEventType.TRANSCRIPT, turn_id=i, text=str(i))
        # The log keeps the newest 3, the slow subscriber the newest 2 (2 dropped and counted).
        assert [e.turn_id for e in bus.log] == [1, 2, 3]
        assert bus.log[-1].timestamp == 9 and bus.log[-1].payload == {"text": "3"}
        assert sub.dropped == 2
        first = await asyncio.wait_for(anext(sub), 1)
        assert first.turn_id == 2
        assert sub.get_nowait() is not None and sub.get_nowait() is None
    remove()
    bus.emit("stt", PipelineEventType.TRANSCRIPT, turn_id=9)
    assert len(heard) == 4
    assert sub.dropped == 2  # closed subscriptions receive nothing more
    seqs = [e.seq for e in bus.log]
    assert seqs == sorted(seqs)
