"""``POST /v1/audio/speech`` in a profile voice streams sentence by sentence (real Piper, Praat).

The server runs on loopback; the profile is stored directly (no speaker model needed).
"""

from __future__ import annotations

import struct
import time
from collections.abc import AsyncGenerator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.authhelp import bearer, sign_up
from tests.fakes import FakeLLM, FakeSTT, ThresholdVAD
from tests.security.helpers import serving
from vocable.api.app import create_app
from vocable.assistant import Assistant
from vocable.audio.convert import pcm16_to_float
from vocable.config import Settings
from vocable.engines.chain import TTSChain
from vocable.engines.loader import Engines
from vocable.engines.tts.piper import PiperTTS
from vocable.frames import AudioChunk
from vocable.stages.chunk_sentences import SentenceChunker
from vocable.storage import repo
from vocable.storage.db import Database
from vocable.voices import analysis, store
from vocable.voices.matching import MatchParams

pytestmark = pytest.mark.slow

SENTENCES = [
    "The train to the coast leaves at nine in the morning.",
    "Bring a warm coat, because the wind by the sea is cold.",
    "We will stop for lunch in a small town on the way.",
    "The museum there has a fine collection of old maps.",
    "In the afternoon we walk along the cliffs to the lighthouse.",
    "Dinner is at a fish restaurant near the harbour.",
    "The last train home leaves a little after ten.",
    "Please be at the station at least ten minutes early.",
]
TARGET_HZ = 200.0


class Timed:
    """Piper, noting when each call's synthesis ended (monotonic clock)."""

    def __init__(self, inner: PiperTTS) -> None:
        self.inner = inner
        self.info = inner.info
        self.sample_rate = inner.sample_rate
        self.calls: list[str] = []
        self.ended: list[float] = []

    async def synthesize(
        self, text: str, voice: str | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        self.calls.append(text)
        async for chunk in self.inner.synthesize(text, voice):
            yield chunk
        self.ended.append(time.monotonic())

    async def close(self) -> None:
        pass  # the session's Piper is shared


async def add_profile(db: Database, root: Path, name: str) -> None:
    async with db.uow(readonly=True) as tx:
        user = await repo.find_user(tx, name="ann")
    assert user is not None
    await store.save_profile(
        db,
        root,
        user_id=user.id,
        name=name,
        audio=np.zeros(16000, dtype=np.float32),
        vector=np.ones(256, dtype=np.float32) / 16,
        details={"match": MatchParams(TARGET_HZ, 1.0, 1.05, 1.0).as_dict(), "similarity": 0.8},
    )


async def test_a_profile_voice_streams_its_first_sentence_before_the_rest_is_made(
    settings: Settings, piper_tts: PiperTTS
) -> None:
    timed = Timed(piper_tts)
    engines = Engines(
        vad=ThresholdVAD(), stt=FakeSTT("hi"), llm=FakeLLM(["Hi."]), tts=TTSChain([timed])
    )
    app = create_app(settings, assistant=Assistant(settings, engines))
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=120) as c:
        ann = await sign_up(c, "ann")
        await add_profile(app.state.db, settings.data_dir / "voices", "Sal")
        body = {"input": " ".join(SENTENCES), "voice": "Sal", "response_format": "wav"}
        received: list[tuple[float, int]] = []
        started = time.monotonic()
        async with c.stream("POST", "/v1/audio/speech", json=body, headers=bearer(ann)) as r:
            assert r.status_code == 200 and r.headers["x-vocable-voice"] == "Sal"
            data = b""
            async for piece in r.aiter_bytes():
                data += piece
                received.append((time.monotonic(), len(data)))
        finished = time.monotonic()

    # one engine call per piece: the sentences, the first cut early as a reply's would be
    chunker = SentenceChunker(settings.chunker)
    assert timed.calls == chunker.feed(" ".join(SENTENCES)) + chunker.flush()
    assert timed.calls[2:] == SENTENCES[1:] and len(timed.calls) == len(SENTENCES) + 1
    first_audio = next(t for t, size in received if size > 44)
    # the first audio came before the second sentence was even synthesised, and long before
    # the last one: time to first byte does not grow with the input
    assert first_audio < timed.ended[1] < timed.ended[-1]
    ttfb, total = first_audio - started, finished - started
    assert ttfb < 0.3 * total, (ttfb, total)
    # a valid streamed WAV: header at Piper's rate, then every sentence's matched audio
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt " and data[36:40] == b"data"
    assert struct.unpack("<I", data[24:28])[0] == timed.sample_rate
    assert (len(data) - 44) % 2 == 0
    audio = pcm16_to_float(data[44:])
    seconds = len(audio) / timed.sample_rate
    assert 15 < seconds < 45, seconds  # eight sentences of about 3 s
    pitch = analysis.pitch_stats(audio, timed.sample_rate)["f0_median_hz"]
    assert pitch == pytest.approx(TARGET_HZ, rel=0.15)  # the profile's voice, not Piper's joe
    print(f"ttfb {ttfb * 1000:.0f} ms, total {total * 1000:.0f} ms, audio {seconds:.1f} s")
