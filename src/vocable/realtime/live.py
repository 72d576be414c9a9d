"""Live conversation from a terminal: microphone in, speaker out, over `/v1/realtime`.

`talk_live` streams 20 ms microphone frames to the server as they are captured and plays the reply
audio as it arrives. It reports the conversation state (listening, hearing you, thinking,
speaking) and both transcripts through callbacks, so `vocable talk` can print them. The audio
device is an interface: `SoundDevice` uses the system's default microphone and speaker through
``sounddevice`` (PortAudio); tests pass a device that plays a file in real time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import websockets

from vocable.audio.convert import float_to_pcm16, pcm16_to_float
from vocable.errors import VocableError
from vocable.realtime.client import NO_WORDS

FRAME_MS = 20
Samples = npt.NDArray[np.float32]


class AudioDevice(Protocol):
    """A microphone and a speaker at one sample rate (mono float32)."""

    rate: int

    def frames(self) -> AsyncIterator[Samples]:
        """Microphone audio, one 20 ms frame at a time, as it is captured; ends when input ends."""
        ...

    def play(self, samples: Samples) -> None:
        """Queue `samples` for playback after what is already queued."""
        ...

    def flush(self) -> None:
        """Drop queued playback at once (the reply was cancelled)."""
        ...

    def close(self) -> None:
        """Stop the streams."""
        ...


class NoAudioDeviceError(VocableError):
    """No usable microphone or speaker (or sounddevice / PortAudio is missing)."""

    default_code = "talk.no_audio_device"


class SoundDevice:
    """The default microphone and speaker through sounddevice (PortAudio)."""

    def __init__(self, rate: int = 24000) -> None:
        try:
            import sounddevice as sd
        except (ImportError, OSError) as err:
            raise NoAudioDeviceError(
                "live microphone mode needs the sounddevice package and the PortAudio library: "
                "pip install 'vocable[mic]' and apt install libportaudio2 "
                f"(or use --input FILE.wav) [{err}]"
            ) from err
        self.rate = rate
        self._block = rate * FRAME_MS // 1000
        self._queue: asyncio.Queue[Samples] = asyncio.Queue(maxsize=500)
        self._loop = asyncio.get_running_loop()
        self._out: deque[Samples] = deque()
        self._lock = threading.Lock()
        try:
            self._input = sd.InputStream(
                samplerate=rate,
                channels=1,
                dtype="float32",
                blocksize=self._block,
                callback=self._captured,
            )
            self._output = sd.OutputStream(
                samplerate=rate,
                channels=1,
                dtype="float32",
                blocksize=self._block,
                callback=self._playing,
            )
            self._input.start()
            self._output.start()
        except Exception as err:  # PortAudio raises its own error types per platform
            raise NoAudioDeviceError(
                f"could not open the default microphone and speaker: {err}; "
                "check `python -m sounddevice`, or use --input FILE.wav"
            ) from err

    def _captured(self, indata: Any, frames: int, time: Any, status: Any) -> None:
        frame = np.array(indata[:, 0], np.float32)
        self._loop.call_soon_threadsafe(self._offer, frame)

    def _offer(self, frame: Samples) -> None:
        if not self._queue.full():  # a stalled loop drops microphone audio, never blocks PortAudio
            self._queue.put_nowait(frame)

    def _playing(self, outdata: Any, frames: int, time: Any, status: Any) -> None:
        out = np.zeros(frames, np.float32)
        filled = 0
        with self._lock:
            while filled < frames and self._out:
                head = self._out[0]
                take = min(frames - filled, len(head))
                out[filled : filled + take] = head[:take]
                filled += take
                if take == len(head):
                    self._out.popleft()
                else:
                    self._out[0] = head[take:]
        outdata[:, 0] = out

    async def frames(self) -> AsyncIterator[Samples]:
        """Microphone frames until the device is closed."""
        while True:
            yield await self._queue.get()

    def play(self, samples: Samples) -> None:
        """Queue reply audio."""
        with self._lock:
            self._out.append(samples)

    def flush(self) -> None:
        """Drop queued reply audio."""
        with self._lock:
            self._out.clear()

    def close(self) -> None:
        """Stop and close both streams."""
        for stream in (self._input, self._output):
            with contextlib.suppress(Exception):
                stream.stop()
                stream.close()


StateCallback = Callable[[str], None]
LineCallback = Callable[[str, str], None]


async def talk_live(
    url: str,
    device: AudioDevice,
    *,
    headers: dict[str, str] | None = None,
    on_state: StateCallback = lambda _: None,
    on_line: LineCallback = lambda who, text: None,
    turns: int | None = None,
) -> int:
    """Hold a live conversation until the input ends (or after `turns` replies).

    Args:
        url: The server's realtime WebSocket URL.
        device: Microphone and speaker.
        headers: Extra headers, e.g. ``Authorization``.
        on_state: Called with ``listening``, ``hearing you``, ``thinking`` or ``speaking``.
        on_line: Called with ``("you", transcript)`` and ``("vocable", what it said)``.
        turns: Stop after this many finished replies (None: until the input ends).

    Returns:
        How many replies finished.
    """
    rate = device.rate
    finished = 0
    async with websockets.connect(url, max_size=None, additional_headers=headers) as ws:
        fmt = {"type": "audio/pcm", "rate": rate}
        update = {
            "type": "realtime",
            "audio": {"input": {"format": fmt}, "output": {"format": fmt}},
        }
        await ws.send(json.dumps({"type": "session.update", "session": update}))
        on_state("listening")
        done = asyncio.Event()

        async def receive() -> None:
            nonlocal finished
            speaking = False
            async for message in ws:
                if isinstance(message, bytes):
                    device.play(pcm16_to_float(message))
                    continue
                event = json.loads(message)
                kind = event["type"]
                if kind == "response.output_audio.delta":
                    device.play(pcm16_to_float(base64.b64decode(event["delta"])))
                    if not speaking:
                        speaking = True
                        on_state("speaking")
                elif kind == "input_audio_buffer.speech_started":
                    on_state("hearing you")
                elif kind == "input_audio_buffer.speech_stopped":
                    on_state("thinking")
                elif kind == "conversation.item.input_audio_transcription.completed":
                    on_line("you", event["transcript"] or NO_WORDS)
                    if not event["transcript"]:
                        on_state("listening")  # no words, so no reply
                elif kind == "response.output_audio_transcript.done":
                    on_line("vocable", event["transcript"])
                elif kind == "response.done":
                    speaking = False
                    if event["response"]["status"] != "completed":
                        device.flush()
                    finished += 1
                    on_state("listening")
                    if turns is not None and finished >= turns:
                        done.set()
                        return
                elif kind == "error":
                    on_line("error", f"{event['error']['code']}: {event['error']['message']}")

        receiver = asyncio.create_task(receive())
        try:
            async for frame in device.frames():
                payload = base64.b64encode(float_to_pcm16(frame)).decode()
                await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": payload}))
                if receiver.done():
                    break
        finally:
            if turns is not None and not receiver.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), 30)
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await receiver
    return finished
