"""The voices API and CLI on real models: flite samples, resemblyzer, Piper and Praat matching.

Reference speakers are flite voices, never our own TTS. The app runs in-process with real auth
and SQLite; its TTS is a chain over the session's Piper.
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from tests.authhelp import bearer
from tests.fakes import FakeLLM, FakeSTT, ThresholdVAD
from tests.security.helpers import admin_and_user
from vocable.api.app import create_app
from vocable.assistant import Assistant
from vocable.config import Settings
from vocable.engines.chain import TTSChain
from vocable.engines.loader import Engines
from vocable.engines.tts.piper import PiperTTS
from vocable.voices import analysis

pytest.importorskip("resemblyzer", reason="the voices extra is not installed")
pytestmark = pytest.mark.slow

TEXT = (
    "The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore. "
    "Peter Piper picked a peck of pickled peppers. How much wood would a woodchuck chuck?"
)
RATE = 16000
SAID = "Good morning. The coffee is ready, and the sun is out."


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("voice-api")
    made: dict[str, bytes] = {}
    for voice in ("slt", "awb"):
        out = folder / f"{voice}.wav"
        subprocess.run(["flite", "-voice", voice, "-t", TEXT, "-o", str(out)], check=True)
        made[voice] = out.read_bytes()
    slt, _ = sf.read(io.BytesIO(made["slt"]), dtype="float32")
    signals = {
        "short": slt[: 2 * RATE],
        "silence": np.zeros(10 * RATE, dtype=np.float32),
        "clipped": np.clip(slt * 12, -1, 1),
    }
    for name, signal in signals.items():
        buf = io.BytesIO()
        sf.write(buf, np.asarray(signal, dtype=np.float32), RATE, format="WAV", subtype="PCM_16")
        made[name] = buf.getvalue()
    made["not_audio"] = b"this is not a recording\n" * 100
    return made


@pytest.fixture
async def api(settings: Settings, piper_tts: PiperTTS) -> AsyncIterator[httpx.AsyncClient]:
    engines = Engines(
        vad=ThresholdVAD(),
        stt=FakeSTT("hello"),
        llm=FakeLLM(["Hi."]),
        tts=TTSChain([piper_tts]),
    )
    app = create_app(settings, assistant=Assistant(settings, engines))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t", timeout=120) as c,
    ):
        yield c


def f0_median(wav: bytes) -> float:
    data, rate = sf.read(io.BytesIO(wav), dtype="float32")
    return analysis.pitch_stats(np.asarray(data, dtype=np.float32), int(rate))["f0_median_hz"]


async def speak(c: httpx.AsyncClient, who: dict[str, str], **body: Any) -> httpx.Response:
    r = await c.post(
        "/v1/audio/speech",
        json={"input": SAID, "response_format": "wav", **body},
        headers=who,
    )
    return r


def profile_dirs(settings: Settings) -> list[Path]:
    root = settings.data_dir / "voices"
    return sorted(p for p in root.glob("*") if p.name != "defaults") if root.exists() else []


async def test_enrol_preview_default_rename_delete(
    api: httpx.AsyncClient, samples: dict[str, bytes], settings: Settings
) -> None:
    ann, bob = await admin_and_user(api)
    a, b = bearer(ann), bearer(bob)
    upload = {"sample": ("slt.wav", samples["slt"], "audio/wav")}

    checked = await api.post("/v1/voices/validate", files=upload, headers=a)
    assert checked.status_code == 200, checked.text
    report = checked.json()["report"]
    assert checked.json()["ok"] and 8 < report["duration_s"] < 12
    assert 140 < report["pitch"]["f0_median_hz"] < 190 and report["speech_ratio"] > 0.8
    assert profile_dirs(settings) == []  # validation stores nothing

    created = await api.post("/v1/voices", data={"name": "Sally"}, files=upload, headers=a)
    assert created.status_code == 201, created.text
    voice = created.json()
    assert voice["name"] == "Sally" and voice["engine"] == "piper+voice-matching"
    assert voice["rendering"] == "voice matching" and voice["cloned_similarity"] is None
    assert voice["report"]["duration_s"] == report["duration_s"] and not voice["default"]
    assert voice["similarity"] > voice["baseline_similarity"]
    listed = (await api.get("/v1/voices", headers=a)).json()
    assert [(v["name"], v["similarity"]) for v in listed] == [("Sally", voice["similarity"])]
    assert (await api.get("/v1/voices/Sally", headers=a)).json()["id"] == voice["id"]
    again = await api.post("/v1/voices", data={"name": "Sally"}, files=upload, headers=a)
    assert again.status_code == 409 and again.json()["code"] == "voice.exists"

    plain = await speak(api, a, voice="alloy")
    assert plain.status_code == 200 and plain.headers["x-vocable-voice"] == "default"
    preview = await api.post("/v1/voices/Sally/preview", json={"text": SAID}, headers=a)
    assert preview.status_code == 200 and preview.headers["content-type"] == "audio/wav"
    assert sf.info(io.BytesIO(preview.content)).duration > 1.0
    # matched toward slt (about 170 Hz), away from Piper's joe
    assert f0_median(preview.content) - f0_median(plain.content) > 30
    assert abs(f0_median(preview.content) - report["pitch"]["f0_median_hz"]) < 30

    assert (await speak(api, a)).headers["x-vocable-voice"] == "default"  # no default yet
    made = await api.put("/v1/voices/Sally/default", headers=a)
    assert made.status_code == 200 and made.json()["default"]
    spoken = await speak(api, a)  # voice omitted: the default profile speaks
    assert spoken.status_code == 200 and spoken.headers["x-vocable-voice"] == "Sally"
    assert f0_median(spoken.content) - f0_median(plain.content) > 30
    assert (await speak(api, a, voice="default")).headers["x-vocable-voice"] == "Sally"

    renamed = await api.patch("/v1/voices/Sally", json={"name": "Sal"}, headers=a)
    assert renamed.status_code == 200 and renamed.json()["default"]
    assert (await speak(api, a)).headers["x-vocable-voice"] == "Sal"
    bad = await api.patch("/v1/voices/Sal", json={"name": "alloy"}, headers=a)
    assert bad.status_code == 422 and bad.json()["code"] == "voice.reserved_name"

    # bob sees none of it, and ann's default is not his
    assert (await api.get("/v1/voices", headers=b)).json() == []
    assert (await api.get("/v1/voices/Sal", headers=b)).status_code == 404
    assert (await speak(api, b, voice="Sal")).status_code == 404
    assert (await speak(api, b)).headers["x-vocable-voice"] == "default"

    assert (await api.delete("/v1/voices/default", headers=a)).status_code == 204
    assert (await speak(api, a)).headers["x-vocable-voice"] == "default"
    await api.put("/v1/voices/Sal/default", headers=a)
    assert (await api.delete("/v1/voices/Sal", headers=a)).status_code == 204
    assert (await api.get("/v1/voices", headers=a)).json() == []
    assert (await speak(api, a)).headers["x-vocable-voice"] == "default"
    assert profile_dirs(settings) == []


@pytest.mark.parametrize(
    ("sample", "status", "code", "words"),
    [
        ("short", 422, "voice.too_short", "2.0 s long"),
        ("silence", 422, "audio.silent", "microphone"),
        ("clipped", 422, "voice.clipped", "Lower the microphone gain"),
        ("not_audio", 415, "audio.not_audio", "WAV, FLAC or OGG"),
    ],
)
async def test_bad_samples_are_problems_that_say_what_to_fix(
    api: httpx.AsyncClient,
    samples: dict[str, bytes],
    settings: Settings,
    sample: str,
    status: int,
    code: str,
    words: str,
) -> None:
    ann, _ = await admin_and_user(api)
    upload = {"sample": ("s.wav", samples[sample], "audio/wav")}
    for path, form in (("/v1/voices/validate", {}), ("/v1/voices", {"name": "Sam"})):
        r = await api.post(path, data=form, files=upload, headers=bearer(ann))
        assert r.status_code == status, r.text
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["code"] == code and words in body["detail"]
        assert body["check"] == code.split(".")[1] and "10 s" in body["hint"]
    assert (await api.get("/v1/voices", headers=bearer(ann))).json() == []
    assert profile_dirs(settings) == []


async def test_a_100_mb_upload_is_refused_before_it_is_read(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    ann, _ = await admin_and_user(api)
    huge = {"sample": ("big.wav", b"\0" * (100 * 1024 * 1024), "audio/wav")}
    r = await api.post("/v1/voices", data={"name": "Big"}, files=huge, headers=bearer(ann))
    assert r.status_code == 413 and r.json()["code"] == "audio.too_large"
    assert "MB" in r.json()["detail"] and profile_dirs(settings) == []


def test_the_cli_sets_the_default_renames_previews_and_says(
    samples: dict[str, bytes], tmp_path: Path
) -> None:
    from vocable.cli import app

    runner = CliRunner()
    sample = tmp_path / "awb.wav"
    sample.write_bytes(samples["awb"])
    added = runner.invoke(app, ["voices", "add", "Alan", str(sample), "--json"])
    assert added.exit_code == 0, added.output
    assert runner.invoke(app, ["voices", "default"]).stdout.strip() == "(built-in)"
    assert runner.invoke(app, ["voices", "default", "Alan"]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["voices", "list", "--json"]).stdout)["voices"]
    assert [(v["name"], v["default"], v["rendering"]) for v in listed] == [
        ("Alan", True, "voice matching")  # no XTTS weights here
    ]
    assert listed[0]["similarity"] == json.loads(added.stdout)["similarity"]
    renamed = runner.invoke(app, ["voices", "rename", "Alan", "Al"])
    assert renamed.exit_code == 0 and "'Al'" in renamed.stdout
    assert runner.invoke(app, ["voices", "default"]).stdout.strip() == "Al"
    out = tmp_path / "al.wav"
    previewed = runner.invoke(app, ["voices", "preview", "Al", "--out", str(out)])
    assert previewed.exit_code == 0, previewed.output
    assert sf.info(str(out)).duration > 0.5
    said_to = tmp_path / "said.wav"
    said = runner.invoke(app, ["say", "Hello there.", "--out", str(said_to)])  # no --voice
    assert said.exit_code == 0 and "piper+voice-matching" in said.stderr, said.output
    cleared = runner.invoke(app, ["voices", "default", "--clear"])
    assert cleared.exit_code == 0
    plain = runner.invoke(app, ["say", "Hello there.", "--out", str(said_to)])
    assert plain.exit_code == 0 and "voice-matching" not in plain.stderr
    # --user: another account's voices
    created = runner.invoke(app, ["users", "create", "bea"])
    assert created.exit_code == 0, created.output
    theirs = runner.invoke(app, ["voices", "list", "--user", "bea", "--json"])
    assert json.loads(theirs.stdout) == {"voices": []}
    not_theirs = runner.invoke(app, ["voices", "default", "Al", "--user", "bea"])
    assert not_theirs.exit_code == 2 and "voice.not_found" in not_theirs.stderr
    nobody = runner.invoke(app, ["voices", "list", "--user", "nobody"])
    assert nobody.exit_code == 2 and "user.not_found" in nobody.stderr
    reserved = runner.invoke(app, ["voices", "rename", "Al", "nova"])
    assert reserved.exit_code == 2 and "voice.reserved_name" in reserved.stderr
