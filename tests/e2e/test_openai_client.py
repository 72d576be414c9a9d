"""The official `openai` client against a real vocable server on loopback."""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jiwer
import openai
import pytest

from tests.authhelp import bearer, sign_up
from tests.security.helpers import fake_assistant, serving, with_overrides
from tests.unit.test_api import question_wav
from vocable.api.app import create_app
from vocable.config import Settings


async def _client(base: str) -> tuple[openai.AsyncOpenAI, str]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        tokens = await sign_up(c, "ann")
        r = await c.post(
            "/v1/keys", json={"name": "openai", "scopes": ["audio"]}, headers=bearer(tokens)
        )
        key = r.json()["key"]
    return openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0), key


@pytest.fixture
async def fake_server(settings: Settings) -> AsyncIterator[openai.AsyncOpenAI]:
    app = create_app(settings, assistant=fake_assistant(settings))
    async with serving(app) as base:
        client, _ = await _client(base)
        async with client:
            yield client


async def test_models_are_listed(fake_server: openai.AsyncOpenAI) -> None:
    ids = [m.id async for m in fake_server.models.list()]
    assert {"tts-1", "whisper-1", "tts:fake-tts", "stt:fake-stt"} <= set(ids)


async def test_speech_streams_wav_as_it_is_synthesised(fake_server: openai.AsyncOpenAI) -> None:
    chunks: list[bytes] = []
    async with fake_server.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input="Hello there.", response_format="wav"
    ) as response:
        assert response.headers["content-type"] == "audio/wav"
        assert response.headers.get("transfer-encoding") == "chunked"
        async for chunk in response.iter_bytes():
            chunks.append(chunk)
    data = b"".join(chunks)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    # FakeTTS: 10 ms per character, 16 kHz PCM16: 12 characters -> 1920 samples
    assert len(data) - 44 == 12 * 160 * 2


@pytest.mark.parametrize(
    ("fmt", "magic"), [("mp3", (b"ID3", b"\xff\xfb", b"\xff\xf3")), ("opus", (b"OggS",))]
)
async def test_speech_formats(
    fake_server: openai.AsyncOpenAI, fmt: Any, magic: tuple[bytes, ...]
) -> None:
    audio = await fake_server.audio.speech.create(
        model="tts-1", voice="nova", input="Hello there, friend.", response_format=fmt
    )
    assert audio.content.startswith(magic), audio.content[:8]


async def test_speech_speed_shortens_the_audio(fake_server: openai.AsyncOpenAI) -> None:
    normal = await fake_server.audio.speech.create(
        model="tts-1", voice="alloy", input="Hello there.", response_format="pcm"
    )
    fast = await fake_server.audio.speech.create(
        model="tts-1", voice="alloy", input="Hello there.", response_format="pcm", speed=2.0
    )
    assert len(fast.content) == pytest.approx(len(normal.content) / 2, rel=0.05)


async def test_unknown_voice_is_a_404_problem(fake_server: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await fake_server.audio.speech.create(model="tts-1", voice="someone", input="Hi.")
    assert caught.value.body["code"] == "voice.not_found"  # type: ignore[index]


@pytest.mark.parametrize("fmt", ["json", "text", "verbose_json", "srt", "vtt"])
async def test_transcription_formats(fake_server: openai.AsyncOpenAI, fmt: Any) -> None:
    result: Any = await fake_server.audio.transcriptions.create(
        model="whisper-1", file=("q.wav", question_wav(), "audio/wav"), response_format=fmt
    )
    text = result if isinstance(result, str) else result.text
    assert "what time is it" in text
    if fmt == "srt":
        assert "00:00:00,000 --> 00:00:01,6" in result
    if fmt == "vtt":
        assert result.startswith("WEBVTT")
    if fmt == "verbose_json":
        assert result.duration == pytest.approx(1.6, abs=0.01) and result.language == "en"


@pytest.mark.slow
async def test_real_speech_round_trips_through_transcription(settings: Settings) -> None:
    # Piper only, with generous budgets: on a loaded machine the chain may fall back to
    # espeak-ng or cut a stalled sentence, which are TTS questions (tests/integration), not API
    # ones.
    settings = with_overrides(
        settings,
        tts={"engines": ["piper"], "first_audio_budget_s": 60.0, "stall_timeout_s": 60.0},
    )
    async with serving(create_app(settings)) as base, httpx.AsyncClient(base_url=base) as c:
        for _ in range(600):
            if (await c.get("/health")).json()["status"] != "loading":
                break
            await asyncio.sleep(0.1)
        assert (await c.get("/health")).status_code == 200
        client, _ = await _client(base)
        async with client:
            said = "The quick brown fox jumps over the lazy dog near the river bank."
            speech = await client.audio.speech.create(
                model="tts-1", voice="alloy", input=said, response_format="wav"
            )
            with wave.open(io.BytesIO(speech.content)) as w:
                assert w.getframerate() > 0
            heard = await client.audio.transcriptions.create(
                model="whisper-1", file=("speech.wav", speech.content, "audio/wav")
            )
    normalise = jiwer.Compose(
        [
            jiwer.ToLowerCase(),
            jiwer.RemovePunctuation(),
            jiwer.Strip(),
            jiwer.ReduceToListOfListOfWords(),
        ]
    )
    error = jiwer.wer(
        said, heard.text, reference_transform=normalise, hypothesis_transform=normalise
    )
    assert error <= 0.15, (heard.text, error)
