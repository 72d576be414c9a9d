"""Metrics on a real server on loopback: turns through /v1/turns, then /v1/metrics and /metrics."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from tests.authhelp import bearer, sign_up_and_use
from tests.e2e.test_server import serving as serve_real
from tests.security.helpers import admin_and_user, fake_assistant, serving, with_overrides
from tests.unit.test_api import question_wav
from vocable.api.app import create_app
from vocable.audio.convert import float_to_pcm16
from vocable.audio.io import read_audio_file
from vocable.bench.corpus import synthesize_speech
from vocable.config import Settings

WATERFALL = ("stt_ms", "first_token_ms", "first_sentence_ms", "first_audio_ms")


def parse(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


async def turn(client: httpx.AsyncClient, tokens: dict[str, Any]) -> dict[str, Any]:
    files = {"file": ("q.wav", question_wav(), "audio/wav")}
    r = await client.post("/v1/turns", files=files, headers=bearer(tokens))
    assert r.status_code == 200, r.text
    return dict(r.json())


def assert_consistent(snap: dict[str, Any], scraped: str, turns: int) -> None:
    """The JSON and the Prometheus text describe the same turns."""
    m = parse(scraped)
    cumulative = list(itertools.accumulate(snap["v2v_histogram"]["counts"]))
    buckets = m["vocable_voice_to_voice_seconds_bucket"]
    edges = [f"{e / 1000:g}" for e in snap["v2v_histogram"]["edges_ms"]] + ["+Inf"]
    assert [buckets[(("le", le),)] for le in edges] == cumulative
    assert cumulative[-1] == turns == m["vocable_voice_to_voice_seconds_count"][()]
    v2v_sum = m["vocable_voice_to_voice_seconds_sum"][()] * 1000
    assert v2v_sum == pytest.approx(sum(t["v2v_ms"] for t in snap["turns"]), abs=0.01)
    for stage, key in zip(
        ("stt", "llm_first_token", "first_sentence", "tts_first_audio"), WATERFALL, strict=True
    ):
        labels = (("stage", stage),)
        assert m["vocable_turn_stage_seconds_count"][labels] == turns
        total_ms = m["vocable_turn_stage_seconds_sum"][labels] * 1000
        assert total_ms == pytest.approx(sum(t[key] for t in snap["turns"]), abs=0.01)
    assert m["vocable_turns_total"][(("kind", "turn"),)] == turns


def assert_waterfall(turn: dict[str, Any]) -> None:
    values = [turn[k] for k in WATERFALL]
    assert all(v is not None and v >= 0 for v in values), turn
    first_token, first_sentence, first_audio = values[1:]
    assert first_token <= first_sentence <= first_audio <= turn["v2v_ms"], turn
    assert turn["interrupted"] is False


async def test_turns_show_up_in_json_and_prometheus_per_user(settings: Settings) -> None:
    app = create_app(settings, assistant=fake_assistant(settings))
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as c:
        ann, bob = await admin_and_user(c)
        await turn(c, ann)
        bob_turns = [await turn(c, bob), await turn(c, bob)]
        r = await c.get("/v1/metrics", headers=bearer(ann))
        assert r.status_code == 200, r.text
        everyone = r.json()
        assert len(everyone["turns"]) == 3
        for t in everyone["turns"]:
            assert_waterfall(t)
            assert t["v2v_ms"] == t["first_audio_ms"]  # a file turn releases audio at once
        assert everyone["turns"][0]["started_at"] < everyone["turns"][-1]["started_at"]
        mine = (await c.get("/v1/metrics", headers=bearer(bob))).json()
        assert [t["turn_id"] for t in mine["turns"]] == [t["turn_id"] for t in everyone["turns"]][
            1:
        ]
        assert len(bob_turns) == len(mine["turns"])
        assert mine["v2v_histogram"] == everyone["v2v_histogram"]  # server-wide
        assert everyone["sessions"] == 0
        assert everyone["tokens_per_s"] > 0
        # The fake TTS is nearly instant: its real-time factor may round to 0.0, never to None.
        assert everyone["tts_rtf"] is not None and 0 <= everyone["tts_rtf"] < 1
        assert everyone["audio"]["loudness_dbfs"] < 0 and everyone["audio"]["clipping_ratio"] == 0
        scraped = await c.get("/metrics", headers=bearer(ann))
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert_consistent(everyone, scraped.text, turns=3)
        speech = await c.post(
            "/v1/audio/speech",
            json={"input": "Hello there.", "response_format": "wav"},
            headers=bearer(ann),
        )
        assert speech.status_code == 200
        after = parse((await c.get("/metrics", headers=bearer(ann))).text)
        samples = after["vocable_audio_output_samples_total"][()]
        assert (
            samples - parse(scraped.text)["vocable_audio_output_samples_total"][()]
            == (len(speech.content) - 44) // 2
        )
        assert after["vocable_sessions"][(("kind", "speech"),)] == 0


async def test_who_may_scrape(settings: Settings) -> None:
    app = create_app(settings, assistant=fake_assistant(settings))
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as c:
        ann, bob = await admin_and_user(c)

        async def key(tokens: dict[str, Any], scopes: list[str]) -> str:
            r = await c.post(
                "/v1/keys", json={"name": "k", "scopes": scopes}, headers=bearer(tokens)
            )
            assert r.status_code == 201, r.text
            return str(r.json()["key"])

        assert (await c.get("/metrics")).status_code == 401
        bad = await c.get("/metrics", headers=bearer("not-a-token"))
        assert bad.status_code == 401
        assert bad.headers["content-type"] == "application/problem+json"
        assert (await c.get("/metrics", headers=bearer(ann))).status_code == 200
        denied = await c.get("/metrics", headers=bearer(bob))
        assert denied.status_code == 403 and denied.json()["code"] == "auth.missing_scope"
        assert (await c.get("/metrics", headers=bearer(await key(bob, ["metrics"])))).is_success
        assert (
            await c.get("/metrics", headers=bearer(await key(bob, ["turns"])))
        ).status_code == 403
        assert (
            await c.get("/metrics", headers=bearer(await key(ann, ["turns"])))
        ).status_code == 403
        scrape_key = await key(ann, ["metrics"])
        assert (await c.get("/metrics", headers={"X-API-Key": scrape_key})).is_success
        assert (await c.get("/v1/metrics")).status_code == 401
        no_scope = await c.get("/v1/metrics", headers=bearer(await key(bob, ["audio"])))
        assert no_scope.status_code == 403


async def test_public_metrics_need_no_credentials(settings: Settings) -> None:
    public = with_overrides(settings, metrics={"public": True})
    app = create_app(public, assistant=fake_assistant(public))
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as c:
        r = await c.get("/metrics")
        assert r.status_code == 200
        assert "vocable_voice_to_voice_seconds_count 0.0" in r.text
        assert (await c.get("/v1/metrics")).status_code == 401  # the JSON stays per user


async def test_two_apps_in_one_process_keep_their_own_figures(settings: Settings) -> None:
    first = create_app(settings, assistant=fake_assistant(settings))
    other = with_overrides(settings, metrics={"public": True})
    second = create_app(other, assistant=fake_assistant(other))
    async with (
        serving(first) as a,
        serving(second) as b,
        httpx.AsyncClient(base_url=a) as ca,
        httpx.AsyncClient(base_url=b) as cb,
    ):
        ann = await sign_up_and_use(ca)
        await turn(ca, ann)
        one = parse((await ca.get("/metrics")).text)
        two = parse((await cb.get("/metrics")).text)
    assert one["vocable_voice_to_voice_seconds_count"][()] == 1
    assert two["vocable_voice_to_voice_seconds_count"][()] == 0


async def test_openapi_documents_both_routes(settings: Settings) -> None:
    app = create_app(settings, assistant=fake_assistant(settings))
    schema = app.openapi()
    json_op = schema["paths"]["/v1/metrics"]["get"]
    assert json_op["operationId"] == "getMetrics" and json_op["tags"] == ["metrics"]
    assert json_op["security"]
    example = json_op["responses"]["200"]["content"]["application/json"]["example"]
    assert set(example) == set(schema["components"]["schemas"]["MetricsOut"]["properties"])
    prom = schema["paths"]["/metrics"]["get"]
    assert prom["operationId"] == "getPrometheusMetrics"
    assert "text/plain" in prom["responses"]["200"]["content"]
    assert {"401", "403"} <= set(prom["responses"])
    await asyncio.sleep(0)


@pytest.mark.slow
async def test_a_real_spoken_turn_fills_the_waterfall(settings: Settings, tmp_path: Path) -> None:
    wav = synthesize_speech("How many days are in a week?", tmp_path / "q.wav", voice="awb")
    async with serve_real(settings) as base, httpx.AsyncClient(base_url=base, timeout=60) as c:
        for _ in range(300):
            if (await c.get("/health")).json()["status"] != "loading":
                break
            await asyncio.sleep(0.1)
        await sign_up_and_use(c)
        r = await c.post("/v1/turns", files={"file": ("q.wav", wav.read_bytes(), "audio/wav")})
        assert r.status_code == 200, r.text
        snap = (await c.get("/v1/metrics")).json()
        scraped = (await c.get("/metrics")).text
    [real] = snap["turns"]
    assert_waterfall(real)
    assert real["stt_ms"] >= r.json()["timings_ms"]["stt"]  # measured from the end of speech
    assert snap["tokens_per_s"] > 0 and 0 < snap["tts_rtf"] < 5
    assert -60 < snap["audio"]["loudness_dbfs"] < 0
    assert_consistent(snap, scraped, turns=1)


async def test_a_realtime_session_is_watched(settings: Settings, tmp_path: Path) -> None:
    """Real VAD and pipeline over the WebSocket; fake STT, LLM and TTS keep it fast."""
    speech = read_audio_file(
        synthesize_speech("What time is it?", tmp_path / "q.wav", voice="slt"), target_rate=24000
    ).samples
    audio = np.concatenate([np.zeros(7200, np.float32), speech, np.zeros(36000, np.float32)])
    app = create_app(settings, assistant=fake_assistant(settings))
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as c:
        tokens = await sign_up_and_use(c)
        url = base.replace("http", "ws") + "/v1/realtime"
        async with websockets.connect(url, additional_headers=bearer(tokens)) as ws:
            await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime"}}))
            for i in range(0, len(audio), 480):
                await ws.send(float_to_pcm16(audio[i : i + 480]))
            audio_frames = 0
            async with asyncio.timeout(30):
                while True:
                    message = await ws.recv()
                    if isinstance(message, bytes):  # binary audio in, binary audio out
                        audio_frames += 1
                    elif json.loads(message)["type"] == "response.done":
                        break
            during = (await c.get("/v1/metrics")).json()
        for _ in range(100):  # the server closes its side after ours
            after = (await c.get("/v1/metrics")).json()
            if after["sessions"] == 0:
                break
            await asyncio.sleep(0.05)
    assert during["sessions"] == 1 and after["sessions"] == 0
    assert audio_frames > 0
    [live] = after["turns"]
    assert live["turn_id"].startswith("realtime-")
    assert_waterfall(live)
    assert live["stt_ms"] > 0  # the transcription ran after the end of speech
    assert after["audio"]["loudness_dbfs"] < 0
    assert isinstance(after["audio"]["gaps"], int)
