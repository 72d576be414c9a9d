"""`/v1/realtime` on a real server with the real engines, driven by the official `openai` SDK."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
import websockets
from openai import AsyncOpenAI

from tests.authhelp import sign_up_and_use
from tests.e2e.test_server import serving
from vocable.audio.convert import float_to_pcm16
from vocable.audio.io import read_audio_file
from vocable.bench.corpus import synthesize_speech
from vocable.bench.stats import word_error_rate
from vocable.config import Settings

QUESTION = "What is the capital of France?"


async def ready(client: httpx.AsyncClient) -> None:
    for _ in range(300):
        if (await client.get("/health")).json()["status"] == "ready":
            return
        await asyncio.sleep(0.1)
    raise AssertionError("server not ready")


@pytest.mark.slow
async def test_the_openai_sdk_holds_a_spoken_turn(settings: Settings, tmp_path: Path) -> None:
    speech = read_audio_file(
        synthesize_speech(QUESTION, tmp_path / "q.wav", voice="slt"), target_rate=24000
    ).samples
    audio = np.concatenate([np.zeros(7200, np.float32), speech, np.zeros(36000, np.float32)])
    async with serving(settings) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        await ready(http)
        tokens = await sign_up_and_use(http)
        client = AsyncOpenAI(
            api_key=tokens["access_token"],
            base_url=f"{base}/v1",
            websocket_base_url=base.replace("http", "ws") + "/v1",
        )
        events = []
        audio_bytes = 0
        async with client.realtime.connect(model="vocable") as conn:
            await conn.session.update(session={"type": "realtime", "output_modalities": ["audio"]})
            for i in range(0, len(audio), 480):
                piece = float_to_pcm16(audio[i : i + 480])
                await conn.input_audio_buffer.append(audio=base64.b64encode(piece).decode())
            async with asyncio.timeout(60):
                async for event in conn:
                    events.append(event)
                    if event.type == "response.output_audio.delta":
                        audio_bytes += len(base64.b64decode(event.delta))
                    if event.type == "response.done":
                        break
        await client.close()
    types = [e.type for e in events]
    assert types[0] == "session.created" and "session.updated" in types
    assert types.index("input_audio_buffer.speech_started") < types.index(
        "input_audio_buffer.speech_stopped"
    )
    done = [e for e in events if e.type == "conversation.item.input_audio_transcription.completed"]
    assert word_error_rate(QUESTION, done[0].transcript) <= 0.2, done[0].transcript
    assert audio_bytes > 24000  # at least half a second of reply at 24 kHz
    assert events[-1].response.status == "completed"
    raw = [e.model_dump() for e in events]
    assert all("turn_id" in e and e["server_ts_ms"] > 0 for e in raw)


async def test_bad_input_over_the_socket_and_the_conversation_log(
    settings: Settings, tmp_path: Path
) -> None:
    async with serving(settings) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        await ready(http)
        tokens = await sign_up_and_use(http)
        url = base.replace("http", "ws") + "/v1/realtime"
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        async with websockets.connect(url, additional_headers=headers) as ws:
            created = json.loads(await ws.recv())
            assert created["type"] == "session.created"
            for bad in [
                "{nope",
                json.dumps({"type": "what.is.this"}),
                json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA"}),
            ]:
                await ws.send(bad)
            await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
            await ws.send(b"\x01")  # an odd-sized binary frame
            codes, updated = [], False
            async with asyncio.timeout(10):
                while len(codes) < 4 or not updated:
                    event = json.loads(await ws.recv())
                    if event["type"] == "error":
                        codes.append(event["error"]["code"])
                    updated = updated or event["type"] == "session.updated"
            assert codes == [
                "invalid_json",
                "unknown_event",
                "session_not_configured",
                "invalid_audio_length",
            ]
        conversations = (await http.get("/v1/conversations")).json()
        assert [c["id"] for c in conversations] == [created["conversation_id"]], (
            "each realtime session is a conversation, announced in session.created"
        )
        async with websockets.connect(url) as unauthenticated:  # no credentials at all
            await unauthenticated.send("{}")
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await unauthenticated.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
