"""A real `vocable` server on loopback, with real engines, answering a spoken question."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
import pytest

from tests.authhelp import sign_up_and_use
from tests.security.helpers import serving as serve_app
from vocable.api.app import create_app
from vocable.bench.corpus import synthesize_speech
from vocable.config import Settings


def serving(settings: Settings) -> contextlib.AbstractAsyncContextManager[str]:
    """A real server for `settings` on a free loopback port; yields its base URL."""
    return serve_app(create_app(settings))


@pytest.mark.slow
async def test_server_loads_every_engine_and_answers_a_turn(
    settings: Settings, tmp_path: Path
) -> None:
    wav = synthesize_speech("How many days are in a week?", tmp_path / "q.wav", voice="awb")
    async with serving(settings) as base, httpx.AsyncClient(base_url=base, timeout=60) as client:
        for _ in range(300):
            health = await client.get("/health")
            if health.json()["status"] != "loading":
                break
            await asyncio.sleep(0.1)
        assert health.status_code == 200, health.text
        engines = health.json()["engines"]
        assert set(engines) == {"vad", "stt", "llm", "tts"}
        assert all(e["ready"] for e in engines.values()), engines
        await sign_up_and_use(client)
        r = await client.post("/v1/turns", files={"file": ("q.wav", wav.read_bytes(), "audio/wav")})
        assert r.status_code == 200, r.text
        body = r.json()
        assert "days" in body["transcript"].lower() and "week" in body["transcript"].lower()
        assert body["reply"]
        audio = await client.get(body["audio_url"])
        assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
        corrupt = await client.post(
            "/v1/turns",
            content=wav.read_bytes()[:60] + b"\xff" * 500,
            headers={"content-type": "audio/wav"},
        )
        assert corrupt.status_code in (415, 422), corrupt.text
        assert (await client.get("/health")).status_code == 200  # still up after bad input
