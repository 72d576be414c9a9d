"""Edge-TTS: MP3 streaming and decoding against a scripted service; the real one when online."""

from __future__ import annotations

import io
import sys
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from vocable.audio.convert import pcm16_to_float
from vocable.config import Settings
from vocable.engines.tts import edge
from vocable.engines.tts.edge import EdgeTTS
from vocable.errors import EngineError, EngineUnavailableError


def tone_mp3(seconds: float = 2.0) -> bytes:
    t = np.arange(int(edge.RATE * seconds)) / edge.RATE
    buf = io.BytesIO()
    sf.write(buf, (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), edge.RATE, format="MP3")
    return buf.getvalue()


class FakeService:
    """Stands in for the edge_tts module: streams `mp3` in 500-byte messages."""

    def __init__(self, mp3: bytes) -> None:
        self.mp3 = mp3
        self.sent = 0
        self.asked: list[tuple[str, str]] = []

    def Communicate(self, text: str, voice: str) -> Any:  # noqa: N802 - edge_tts's name
        self.asked.append((text, voice))

        async def stream() -> AsyncIterator[dict[str, Any]]:
            yield {"type": "WordBoundary", "offset": 0, "text": text.split()[0]}
            for i in range(0, len(self.mp3), 500):
                self.sent += 1
                yield {"type": "audio", "data": self.mp3[i : i + 500]}

        return SimpleNamespace(stream=stream)


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The reachability probe answers yes; returns the timeouts it was called with."""
    calls: list[float] = []

    async def yes(host: str = edge.HOST, timeout_s: float = 2.0) -> bool:
        calls.append(timeout_s)
        return True

    monkeypatch.setattr(edge, "reachable", yes)
    return calls


async def test_the_mp3_stream_is_decoded_to_pcm_while_it_arrives(online: list[float]) -> None:
    mp3 = tone_mp3(6.0)
    service = FakeService(mp3)
    tts = EdgeTTS(service, "en-US-AriaNeural", chunk_ms=200)
    sent_at_first: int | None = None
    chunks = []
    async for chunk in tts.synthesize("Hello there."):
        sent_at_first = service.sent if sent_at_first is None else sent_at_first
        chunks.append(chunk)
    assert service.asked == [("Hello there.", "en-US-AriaNeural")]
    assert sent_at_first is not None and sent_at_first < service.sent  # streamed, not at the end
    assert {c.sample_rate for c in chunks} == {24000}
    assert all(c.duration_s <= 0.2 + 1e-9 for c in chunks)
    samples = pcm16_to_float(b"".join(c.pcm for c in chunks))
    assert len(samples) / 24000 == pytest.approx(6.0, abs=0.1)  # nothing lost or doubled
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.argmax(spectrum) * 24000 / len(samples) == pytest.approx(440, abs=3)
    assert [c async for c in tts.synthesize("  ")] == []
    assert online == [edge.PROBE_TIMEOUT_S]  # probed once, on first use, with a short timeout


async def test_audio_that_does_not_decode_is_an_engine_error(online: list[float]) -> None:
    tts = EdgeTTS(FakeService(b"this is not mp3" * 10), "v", chunk_ms=200)
    with pytest.raises(EngineError) as caught:
        [c async for c in tts.synthesize("Hello.")]
    assert caught.value.code == "tts.failed"


async def test_without_the_package_the_error_says_what_to_install(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "edge_tts", None)
    with pytest.raises(EngineUnavailableError, match="pip install edge-tts"):
        await EdgeTTS.load(settings)


async def test_an_unreachable_service_is_unavailable(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "edge_tts", SimpleNamespace())
    monkeypatch.setattr(edge, "HOST", "unreachable.invalid")
    assert not await edge.reachable("unreachable.invalid", timeout_s=0.5)

    async def offline(*_: object, **__: object) -> bool:
        return False

    monkeypatch.setattr(edge, "reachable", offline)
    tts = await EdgeTTS.load(settings)  # loading never waits for the network
    with pytest.raises(EngineUnavailableError, match="online only"):
        [c async for c in tts.synthesize("Hello.")]


@pytest.mark.slow
async def test_the_real_service_speaks(settings: Settings) -> None:
    pytest.importorskip("edge_tts", reason="edge-tts is not installed")
    if not await edge.reachable():
        pytest.skip(f"Edge-TTS is online only and {edge.HOST} is not reachable")
    tts = await EdgeTTS.load(settings)
    chunks = [c async for c in tts.synthesize("Hello there.")]
    assert sum(c.duration_s for c in chunks) > 0.3
