"""A realtime client that streams audio at wall-clock pace and records what comes back.

Used by `vocable talk --input/--output` and by `vocable bench latency`: audio goes out in 20 ms
frames, never faster than real time, so the server cannot read ahead.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import websockets

from vocable.audio.convert import first_sound, float_to_pcm16, pcm16_to_float

FRAME_MS = 20


@dataclass
class Received:
    """One thing the server sent, with its arrival time (seconds since streaming began)."""

    t: float
    event: dict[str, Any] | None = None
    audio: bytes | None = None
    response_id: str = ""


@dataclass
class Conversation:
    """Everything a client run sent and received."""

    rate: int
    received: list[Received] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)
    """When each 20 ms frame actually went out (seconds since streaming began)."""

    def sent_time(self, sample: int) -> float | None:
        """When the frame holding input sample `sample` went out (None: not sent)."""
        frame = sample * 1000 // (self.rate * FRAME_MS)
        return self.sent_at[frame] if frame < len(self.sent_at) else None

    def summary(self) -> str:
        """What came in, for a client that gave up waiting."""
        events = [r for r in self.received if r.event is not None]
        chunks = self.audio()
        seconds = sum(len(c.audio or b"") for c in chunks) / 2 / self.rate
        last_audio = f", the last at {chunks[-1].t:.1f} s" if chunks else ""
        kinds = [r.event["type"] for r in events[-6:] if r.event is not None]
        return (
            f"{len(events)} events, the last {kinds} at "
            f"{events[-1].t if events else 0.0:.1f} s; {seconds:.1f} s of reply audio{last_audio}"
        )

    def events(self, kind: str) -> list[Received]:
        """Events of one type, in arrival order."""
        return [r for r in self.received if r.event is not None and r.event["type"] == kind]

    def audio(self, response_id: str | None = None) -> list[Received]:
        """Reply audio chunks (of one response, or all)."""
        return [
            r
            for r in self.received
            if r.audio is not None and (response_id is None or r.response_id == response_id)
        ]

    def reply_pcm(self) -> bytes:
        """All reply audio, concatenated."""
        return b"".join(r.audio for r in self.audio() if r.audio is not None)


StopWhen = Callable[[Conversation, float], bool]
Inject = Callable[[Conversation, float], "npt.NDArray[np.float32] | None"]
"""Called before each frame; audio it returns replaces what is left to send."""


def response_done(conv: Conversation, _: float) -> bool:
    """Stop once a response has finished."""
    return bool(conv.events("response.done"))


NO_WORDS = "(no words heard)"
"""How clients show an empty transcript: the server heard speech but no words."""


def reply_or_nothing(conv: Conversation, t: float) -> bool:
    """Stop once a response has finished, or once the server heard no words (no reply comes)."""
    heard = conv.events("conversation.item.input_audio_transcription.completed")
    nothing = any(r.event is not None and not r.event["transcript"] for r in heard)
    return nothing or response_done(conv, t)


async def converse(
    url: str,
    audio: npt.NDArray[np.float32],
    *,
    rate: int = 24000,
    stop_when: StopWhen = response_done,
    timeout_s: float = 30.0,
    headers: dict[str, str] | None = None,
    session: dict[str, Any] | None = None,
    inject: Inject | None = None,
    on_timeout: Callable[[], Awaitable[None]] | None = None,
) -> Conversation:
    """Stream `audio` (mono float at `rate`) in real time, then silence, until `stop_when`.

    `on_timeout` runs when `timeout_s` is up, while the connection is still open (to look at
    the server in the state it is stuck in).

    Raises:
        TimeoutError: `stop_when` was not met within `timeout_s`; its message says what the
            client had received.
    """
    conv = Conversation(rate)
    frame = int(rate * FRAME_MS / 1000)
    async with websockets.connect(url, max_size=None, additional_headers=headers) as ws:
        update = {
            "type": "realtime",
            "audio": {
                "input": {"format": {"type": "audio/pcm", "rate": rate}},
                "output": {"format": {"type": "audio/pcm", "rate": rate}},
            },
            **(session or {}),
        }
        await ws.send(json.dumps({"type": "session.update", "session": update}))
        while json.loads(await ws.recv())["type"] != "session.updated":
            pass
        t0 = time.monotonic()
        current = ""

        async def receive() -> None:
            nonlocal current
            async for message in ws:
                t = time.monotonic() - t0
                event = json.loads(message)
                kind = event["type"]
                if kind == "response.created":
                    current = event["response"]["id"]
                if kind == "response.output_audio.delta":
                    pcm = base64.b64decode(event["delta"])
                    conv.received.append(Received(t, audio=pcm, response_id=event["response_id"]))
                else:
                    conv.received.append(Received(t, event=event, response_id=current))

        receiver = asyncio.create_task(receive())
        try:
            async with asyncio.timeout(timeout_s) as limit:
                i = 0
                while not stop_when(conv, time.monotonic() - t0):
                    due = t0 + i * FRAME_MS / 1000
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    extra = inject(conv, time.monotonic() - t0) if inject else None
                    if extra is not None:
                        sent = audio[: i * frame]
                        gap = np.zeros(i * frame - len(sent), np.float32)  # silence sent so far
                        audio = np.concatenate([sent, gap, extra])
                    piece = audio[i * frame : (i + 1) * frame]
                    if len(piece) < frame:
                        piece = np.pad(piece, (0, frame - len(piece)))
                    payload = base64.b64encode(float_to_pcm16(piece)).decode()
                    await ws.send(
                        json.dumps({"type": "input_audio_buffer.append", "audio": payload})
                    )
                    conv.sent_at.append(time.monotonic() - t0)
                    i += 1
                    if receiver.done():
                        break
        except TimeoutError as err:
            if not limit.expired():
                raise
            if on_timeout is not None:
                await on_timeout()
            raise TimeoutError(f"no end after {timeout_s:g} s; {conv.summary()}") from err
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await receiver
    return conv


def first_loud(chunks: list[Received], rate: int, dbfs: float = -45.0) -> float | None:
    """Arrival time of the first chunk whose RMS level is above `dbfs`."""
    floor = 10 ** (dbfs / 20)
    for chunk in chunks:
        samples = pcm16_to_float(chunk.audio or b"")
        if len(samples) and float(np.sqrt(np.mean(samples**2))) > floor:
            return chunk.t
    return None


def first_heard(chunks: list[Received], rate: int, dbfs: float = -45.0) -> float | None:
    """When the first 5 ms above `dbfs` plays, for a listener who plays chunks as they arrive.

    Never earlier than the arrival of the chunk that holds it (`first_loud`): silence ahead of
    the first sound, in that chunk or before it, plays first.
    """
    play_end: float | None = None
    for chunk in chunks:
        samples = pcm16_to_float(chunk.audio or b"")
        start = chunk.t if play_end is None else max(play_end, chunk.t)
        if (at := first_sound(samples, rate, dbfs)) is not None:
            return start + at / rate
        play_end = start + len(samples) / rate
    return None


def playback_gaps(chunks: list[Received], rate: int, gap_ms: float = 40.0) -> int:
    """Gaps longer than `gap_ms` a listener would hear, playing chunks as they arrive."""
    gaps = 0
    play_end: float | None = None
    for chunk in chunks:
        duration = len(chunk.audio or b"") / 2 / rate
        if play_end is None:
            play_end = chunk.t
        elif chunk.t - play_end > gap_ms / 1000:
            gaps += 1
        play_end = max(play_end, chunk.t) + duration
    return gaps
