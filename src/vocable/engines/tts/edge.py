"""Edge-TTS: Microsoft Edge's online read-aloud voices, streamed as MP3 and decoded to PCM.

This is the one online engine: text leaves the machine. In the default chain it comes after the
offline Piper (a fallback only), and loads only when edge-tts is installed; remove ``edge`` from
``tts.engines`` to keep text on the machine. Whether the service is reachable is probed lazily,
on the first sentence it must speak (``PROBE_TIMEOUT_S``, cached for ``PROBE_TTL_S``), so an
offline machine starts at once and the chain moves on to the next engine in about a second.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import io
import time
from collections.abc import AsyncGenerator
from typing import Any, Self

import numpy as np
import soundfile as sf

from vocable.audio.convert import float_to_pcm16
from vocable.config import Settings
from vocable.engines.base import EngineInfo
from vocable.errors import EngineError, EngineUnavailableError
from vocable.frames import PCM16_BYTES, AudioChunk

HOST = "speech.platform.bing.com"
RATE = 24000
"""Edge-TTS's default output is 24 kHz mono MP3."""
DECODE_EVERY_BYTES = 2000
"""Decode the MP3 received so far each time this much more has arrived."""
PROBE_TIMEOUT_S = 1.0
"""How long the reachability probe waits for a TCP connection."""
PROBE_TTL_S = 60.0
"""How long a probe result is trusted."""
HOLD_BACK = 2304
"""Samples kept back from each partial decode (two MP3 frames), emitted once more audio came."""


async def reachable(host: str = HOST, timeout_s: float = 2.0) -> bool:
    """Whether a TCP connection to `host`:443 opens within `timeout_s`."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, 443), timeout_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True


class EdgeTTS:
    """Streams speech from the Edge read-aloud service. Build it with `load`."""

    def __init__(self, module: Any, voice: str, chunk_ms: int) -> None:
        self._edge = module
        self.voice = voice
        self.sample_rate = RATE
        self.chunk_bytes = max(1, RATE * chunk_ms // 1000) * PCM16_BYTES
        self._probed: tuple[float, bool] | None = None
        self.info = EngineInfo(
            kind="tts",
            name="edge",
            model=voice,
            device="online",
            version=_version(),
        )

    @classmethod
    async def load(cls, settings: Settings) -> Self:
        """Check the package; the network is probed later, when speech is first asked for.

        Raises:
            EngineUnavailableError: edge-tts is not installed.
        """
        try:
            module = importlib.import_module("edge_tts")
        except ImportError as err:
            raise EngineUnavailableError("Edge-TTS needs edge-tts: pip install edge-tts") from err
        return cls(module, settings.tts.edge_voice, settings.tts.chunk_ms)

    async def _check_online(self) -> None:
        now = time.monotonic()
        if self._probed is None or now - self._probed[0] > PROBE_TTL_S:
            self._probed = (now, await reachable(timeout_s=PROBE_TIMEOUT_S))
        if not self._probed[1]:
            raise EngineUnavailableError(f"Edge-TTS is online only and {HOST} is not reachable")

    async def synthesize(
        self, text: str, voice: str | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        """Yield PCM16 chunks as the MP3 stream arrives and decodes.

        Raises:
            EngineUnavailableError: the service is not reachable (probed at most once a minute).
            EngineError: the service failed or sent audio that does not decode (``tts.failed``).
        """
        if not text.strip():
            return
        await self._check_online()
        mp3 = bytearray()
        decoded_at = 0
        emitted = 0
        try:
            async for message in self._edge.Communicate(text, voice or self.voice).stream():
                if message.get("type") != "audio":
                    continue
                mp3.extend(message["data"])
                if len(mp3) - decoded_at < DECODE_EVERY_BYTES:
                    continue
                decoded_at = len(mp3)
                samples = _decode(bytes(mp3), final=False)
                if samples is None or len(samples) - HOLD_BACK <= emitted:
                    continue
                for chunk in self._chunks(samples[emitted : len(samples) - HOLD_BACK]):
                    yield chunk
                emitted = len(samples) - HOLD_BACK
        except Exception as err:
            raise EngineError(f"Edge-TTS failed: {err}", code="tts.failed") from err
        samples = _decode(bytes(mp3), final=True) if mp3 else None
        if samples is not None and len(samples) > emitted:
            for chunk in self._chunks(samples[emitted:]):
                yield chunk

    def _chunks(self, samples: np.ndarray) -> list[AudioChunk]:
        pcm = float_to_pcm16(samples)
        step = self.chunk_bytes
        return [AudioChunk(pcm[i : i + step], RATE) for i in range(0, len(pcm), step)]

    async def close(self) -> None:
        """Nothing to release."""


def _version() -> str:
    try:
        return importlib.metadata.version("edge-tts")
    except importlib.metadata.PackageNotFoundError:
        return ""


def _decode(mp3: bytes, *, final: bool) -> np.ndarray | None:
    """Decode MP3 bytes to float32 mono; a partial stream that does not decode yet gives None."""
    try:
        data, _ = sf.read(io.BytesIO(mp3), dtype="float32", always_2d=True)
    except Exception as err:  # noqa: BLE001 - a cut-off frame: wait for more bytes
        if final:
            raise EngineError(
                f"Edge-TTS sent audio that does not decode: {err}", code="tts.failed"
            ) from err
        return None
    return np.asarray(data[:, 0], dtype=np.float32)
