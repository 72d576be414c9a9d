"""The HTTP layer over an assistant built from recording fakes (the real one: tests/e2e)."""

from __future__ import annotations

import io
import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.authhelp import bearer, log_in, sign_up_and_use
from tests.fakes import FakeLLM, FakeSTT, FakeTTS, ThresholdVAD
from vocable.api.app import create_app
from vocable.assistant import Assistant
from vocable.audio.io import encode_wav
from vocable.config import Settings
from vocable.engines.loader import Engines

RATE = 16000


def question_wav(seconds: float = 1.0, rate: int = RATE) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    speech = 0.3 * np.sin(2 * np.pi * 220 * t)
    pad = np.zeros(int(0.3 * rate))
    return encode_wav(np.concatenate([pad, speech, pad]).astype(np.float32), rate)


@pytest.fixture
def fake_assistant(settings: Settings) -> Assistant:
    engines = Engines(
        vad=ThresholdVAD(),
        stt=FakeSTT("how was your day"),
        llm=FakeLLM(["It is ", "noon. ", "Have a ", "nice day."]),
        tts=FakeTTS(),  # type: ignore[arg-type]
    )
    return Assistant(settings, engines)


@pytest.fixture
async def client(settings: Settings, fake_assistant: Assistant) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, assistant=fake_assistant)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as c,
    ):
        await sign_up_and_use(c)
        yield c


async def test_health_lists_each_engine(client: httpx.AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready"
    assert set(body["engines"]) == {"vad", "stt", "llm", "tts"}
    assert body["engines"]["stt"]["name"] == "fake-stt"


async def test_multipart_turn_returns_reply_and_audio(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    r = await client.post("/v1/turns", files={"file": ("q.wav", question_wav(), "audio/wav")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["transcript"] == "how was your day"
    assert body["reply"] == "It is noon. Have a nice day."
    assert set(body["timings_ms"]) == {
        "stt",
        "llm_first_token",
        "first_sentence",
        "tts_first_audio",
        "total",
    }
    assert all(v is not None and v >= 0 for v in body["timings_ms"].values())
    audio = await client.get(body["audio_url"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(audio.content)) as wav:
        assert wav.getnframes() / wav.getframerate() == pytest.approx(body["audio_s"], abs=0.01)
    assert list((settings.data_dir / "turns").glob(f"*/{body['id']}.wav"))


async def test_raw_body_turn_at_another_rate(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/turns", content=question_wav(rate=44100), headers={"content-type": "audio/wav"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["reply"]


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"hello", "text/plain", 415, "audio.unsupported_type"),
        (b"not audio at all" * 10, "audio/wav", 415, "audio.not_audio"),
        (b"", "audio/wav", 422, "audio.empty"),
        (encode_wav(np.zeros(RATE, np.float32), RATE), "audio/wav", 422, "audio.silent"),
        (
            encode_wav(
                np.zeros(RATE, np.float32) + 1e-3 * np.random.default_rng(0).standard_normal(RATE),
                RATE,
            ),
            "audio/wav",
            422,
            "audio.no_speech",
        ),
    ],
)
async def test_bad_audio_is_a_problem_detail(
    client: httpx.AsyncClient, content: bytes, content_type: str, status: int, code: str
) -> None:
    r = await client.post("/v1/turns", content=content, headers={"content-type": content_type})
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["title"] == code and problem["status"] == status and problem["detail"]


async def test_multipart_without_a_file_field(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/turns", files={"audio": ("q.wav", question_wav(), "audio/wav")})
    assert r.status_code == 422 and r.json()["title"] == "audio.missing"


async def test_malformed_multipart(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/turns",
        content=b"--x\r\nContent-Disposition: form-data\r\n\r\nbroken",
        headers={"content-type": "multipart/form-data"},
    )
    assert r.status_code == 422 and r.json()["title"] == "audio.invalid"


async def test_upload_and_duration_limits(settings: Settings, fake_assistant: Assistant) -> None:
    small = settings.model_copy(
        update={
            "audio": settings.audio.model_copy(
                update={"max_upload_bytes": 200_000, "max_input_seconds": 2.0}
            )
        }
    )
    app = create_app(small, assistant=fake_assistant)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as c,
    ):
        await sign_up_and_use(c)
        big = await c.post(
            "/v1/turns", content=b"\0" * 300_000, headers={"content-type": "audio/wav"}
        )
        assert big.status_code == 413 and big.json()["title"] == "audio.too_large"

        async def chunked() -> AsyncIterator[bytes]:  # no content-length: counted as it streams
            for _ in range(30):
                yield b"\0" * 10_000

        streamed = await c.post(
            "/v1/turns", content=chunked(), headers={"content-type": "audio/wav"}
        )
        assert streamed.status_code == 413
        long = await c.post(
            "/v1/turns", content=question_wav(seconds=3.0), headers={"content-type": "audio/wav"}
        )
        assert long.status_code == 413 and long.json()["title"] == "audio.too_long"


@pytest.mark.parametrize("turn_id", ["0" * 32, "..%2F..%2Fetc%2Fpasswd", "abc"])
async def test_unknown_turn_audio_is_404(client: httpx.AsyncClient, turn_id: str) -> None:
    r = await client.get(f"/v1/turns/{turn_id}/audio")
    assert r.status_code == 404


async def test_not_ready_yet_is_503(settings: Settings, fake_assistant: Assistant) -> None:
    app = create_app(settings)  # no lifespan run: the engines never load
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        health = await c.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "loading"
        r = await c.post("/v1/turns", content=question_wav(), headers={"content-type": "audio/wav"})
        assert r.status_code == 503 and r.json()["transient"] is True
    app = create_app(settings, assistant=fake_assistant)  # engines, but no database yet
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.post("/v1/turns", content=question_wav(), headers={"content-type": "audio/wav"})
        assert r.status_code == 503 and r.json()["title"] == "storage.unavailable"


def test_failed_engine_load_is_reported_on_health(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from vocable.config import load_settings

    broken = load_settings(
        data_dir=tmp_path / "d", stt={"model_path": str(tmp_path / "no-such-model")}
    )
    with TestClient(create_app(broken)) as c:
        for _ in range(200):
            body = c.get("/health").json()
            if body["status"] != "loading":
                break
            import time

            time.sleep(0.05)
        assert body["status"] == "failed"
        assert "no-such-model" in body["error"]


class BrokenTTS(FakeTTS):
    """A primary TTS that fails before producing audio."""

    info = FakeTTS.info.__class__(kind="tts", name="broken-tts", model="none")

    async def synthesize(self, text: str, voice: str | None = None):  # type: ignore[no-untyped-def,override]
        raise RuntimeError("voice model crashed")
        yield  # pragma: no cover - makes this an async generator


async def test_a_tts_fallback_switch_is_an_event_of_the_turn(settings: Settings) -> None:
    from vocable.audio.io import decode_audio
    from vocable.engines.chain import TTSChain
    from vocable.frames import PipelineEventType

    chain = TTSChain([BrokenTTS(), FakeTTS()])  # type: ignore[list-item]
    engines = Engines(
        vad=ThresholdVAD(), stt=FakeSTT(), llm=FakeLLM(["Fine. ", "Thanks."]), tts=chain
    )
    result = await Assistant(settings, engines).run_turn(decode_audio(question_wav()))
    assert result.pcm  # the fallback spoke
    (switch,) = [e for e in result.events if e.kind is PipelineEventType.FALLBACK_SWITCHED]
    assert switch.payload["from_engine"] == "broken-tts"
    assert switch.payload["to_engine"] == "fake-tts"
    assert "crashed" in switch.payload["reason"]


async def test_turns_are_stored_and_continue_a_conversation(
    client: httpx.AsyncClient, fake_assistant: Assistant, settings: Settings
) -> None:
    first = await client.post("/v1/turns", files={"file": ("q.wav", question_wav(), "audio/wav")})
    conversation_id = first.json()["conversation_id"]
    second = await client.post(
        f"/v1/turns?conversation_id={conversation_id}",
        files={"file": ("q.wav", question_wav(), "audio/wav")},
    )
    assert second.status_code == 200, second.text
    llm = fake_assistant.engines.llm
    assert [m.role for m in llm.prompts[1]] == ["system", "user", "assistant", "user"]  # type: ignore[attr-defined]
    stored = (await client.get(f"/v1/conversations/{conversation_id}")).json()
    assert stored["turn_count"] == 2
    roles = [(m["role"], m["status"]) for m in stored["messages"]]
    assert roles == [("user", "complete"), ("assistant", "complete")] * 2
    reply = stored["messages"][1]
    assert reply["text"] == "It is noon. Have a nice day."
    assert reply["heard_text"] == reply["text"]  # every sentence was spoken
    turn = stored["turns"][0]
    assert turn["number"] == 1 and not turn["interrupted"]
    assert turn["timings_ms"]["tts_first_audio"] == first.json()["timings_ms"]["tts_first_audio"]


async def test_history_survives_a_restart(settings: Settings, fake_assistant: Assistant) -> None:
    async def turn(conversation_id: int | None) -> dict[str, object]:
        app = create_app(settings, assistant=fake_assistant)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as c,
        ):
            if conversation_id is None:
                await sign_up_and_use(c)
            else:
                c.headers.update(bearer(await log_in(c, "ann")))
            query = "" if conversation_id is None else f"?conversation_id={conversation_id}"
            r = await c.post(
                f"/v1/turns{query}", content=question_wav(), headers={"content-type": "audio/wav"}
            )
            assert r.status_code == 200, r.text
            return dict(r.json())

    first = await turn(None)
    await turn(int(first["conversation_id"]))  # a new app: the history comes from the database
    prompt = fake_assistant.engines.llm.prompts[1]  # type: ignore[attr-defined]
    assert [(m.role, m.content) for m in prompt[1:3]] == [
        ("user", "how was your day"),
        ("assistant", "It is noon. Have a nice day."),
    ]


async def test_unknown_conversation_is_404(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/turns?conversation_id=999",
        content=question_wav(),
        headers={"content-type": "audio/wav"},
    )
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/conversations/999")).status_code == 404


async def test_a_spoken_command_is_answered_by_its_tool(settings: Settings) -> None:
    """The same tools as `vocable chat`: "what time is it" is answered from the clock."""
    engines = Engines(
        vad=ThresholdVAD(),
        stt=FakeSTT("what time is it"),
        llm=FakeLLM(["The model should not be asked."]),
        tts=FakeTTS(),  # type: ignore[arg-type]
    )
    app = create_app(settings, assistant=Assistant(settings, engines))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as http,
    ):
        await sign_up_and_use(http)
        r = await http.post("/v1/turns", files={"file": ("q.wav", question_wav(), "audio/wav")})
    assert r.status_code == 200, r.text
    reply = r.json()["reply"]
    assert str(datetime.now(UTC).year) in reply and "model" not in reply
