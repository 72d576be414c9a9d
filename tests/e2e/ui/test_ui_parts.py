"""The UI's parts without a browser: plots, reports, settings checks, the API client."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.authhelp import PASSWORD, sign_up
from tests.e2e.ui.conftest import GRADIO_WARNINGS
from tests.security.helpers import fake_assistant, serving
from vocable.api.app import create_app
from vocable.config import Settings, VoicesSettings

pytestmark = GRADIO_WARNINGS
gr = pytest.importorskip("gradio", reason="the web UI needs the `ui` extra")

from vocable.ui.components import charts  # noqa: E402 - after the extra is known present
from vocable.ui.components.client import ApiClient, Session, UiError, problem_of  # noqa: E402
from vocable.ui.tabs import dashboard, memory, voices  # noqa: E402
from vocable.ui.tabs import settings as settings_tab  # noqa: E402

TURN = {
    "turn_id": "turn-1:1",
    "stt_ms": 120.0,
    "first_token_ms": 300.0,
    "first_sentence_ms": 420.0,
    "first_audio_ms": 510.0,
    "v2v_ms": 510.0,
    "interrupted": True,
}


def test_waterfall_draws_each_stage_to_scale_and_an_empty_state() -> None:
    svg = charts.waterfall([TURN, {**TURN, "turn_id": "t2", "first_audio_ms": None}])
    assert svg.count('data-stage="first audio"') == 1
    assert 'data-ms="510"' in svg and "510 ms ✂" in svg
    widths = [float(p.split('"')[0]) for p in svg.split('width="')[2:6]]
    assert widths[0] < widths[1]  # 120 ms to transcript, 180 ms more to the first token
    assert "No turns yet" in charts.waterfall([])


def test_histogram_trend_and_cards() -> None:
    hist = charts.histogram([100, 200], [1, 3, 2], "v2v")
    assert 'data-total="6"' in hist and "≤100" in hist and "&gt;200" not in hist and ">200" in hist
    assert "no data yet" in charts.histogram([100], [0, 0], "v2v")
    assert 'data-points="2"' in charts.trend([10.0, None, 30.0], "v2v")
    assert "no data yet" in charts.trend([None], "v2v")
    snap = {
        "v2v_p50_ms": 480.4,
        "tokens_per_s": 130.25,
        "cache": {"hit_rate": 0.5},
        "audio": {"clipping_ratio": 0.001, "loudness_dbfs": -21.04, "gaps": 2},
        "resources": {
            "cpu_percent": 37.0,
            "ram_used_bytes": 2**31,
            "ram_total_bytes": 2**33,
            "gpus": [{"name": "H100", "memory_used_bytes": 2**30, "utilization_percent": 5}],
        },
    }
    panels = dashboard.render({**snap, "turns": [TURN]})
    assert "480 ms" in panels[0] and "130.2" in panels[0] and "50 %" in panels[0]
    assert "2.0 GiB / 8.0" in panels[4] and "H100 VRAM" in panels[4] and "-21.0 dBFS" in panels[4]
    assert "none found" in charts.quality_cards({"resources": {"gpus": []}})
    assert "<td>&lt;b&gt;</td>" in charts.table(["a"], [["<b>"]], "empty")


def test_voice_report_marks_each_check_against_its_limit() -> None:
    report = {
        "duration_s": 4.0,
        "snr_db": 30.0,
        "clipping_ratio": 0.0,
        "speech_ratio": 0.9,
        "speaker_similarity": 0.93,
        "loudness_lufs": -18.2,
        "notes": ["downmixed 2 channels to mono"],
    }
    html = voices.report_html(report, VoicesSettings())
    assert '<tr data-check="duration"><td>duration</td><td>4.0 s</td><td class="vc-bad">' in html
    assert '<tr data-check="SNR"><td>SNR</td><td>30 dB</td><td class="vc-ok">' in html
    assert "downmixed" in html
    err = UiError(422, "voice.noisy", "too noisy", {"check": "noisy", "hint": "record again"})
    assert 'data-check="noisy"' in voices.refusal_html(err) and "record again" in (
        voices.refusal_html(err)
    )
    assert voices.rows_of([{"name": "A", "default": True, "report": {"snr_db": 12.345}}]) == [
        ["A", None, None, "★", None, 12.3]
    ]


def test_memory_import_error_lists_each_line() -> None:
    err = UiError(
        422,
        "memory.invalid_import",
        "the import file is invalid, nothing was imported: line 2: not valid JSON; line 5: "
        "text must be a non-empty string",
    )
    html = memory.import_error_html(err)
    assert '<li data-line="2">' in html and '<li data-line="5">' in html
    assert "nothing was imported" in html
    other = memory.import_error_html(UiError(413, "memory.import_too_large", "too big"))
    assert "too big" in other and "<li" not in other


def validate(s: Settings, llm: str, tts: str, ollama: str = "http://127.0.0.1:11434") -> Any:
    return settings_tab.validate_engines(s, llm, tts, ollama, "http://127.0.0.1:8000/v1")


def test_settings_validation_refuses_bad_chains_and_urls(settings: Settings) -> None:
    llm, tts = validate(settings, "ollama > llama_cpp", "piper, pyttsx3")
    assert llm.engines == ["ollama", "llama_cpp"] and tts.engines == ["piper", "pyttsx3"]
    with pytest.raises(ValueError, match="engines.1"):
        validate(settings, "llama_cpp, gpt5", "piper")
    with pytest.raises(ValueError, match="engines"):
        validate(settings, "", "piper")
    with pytest.raises(ValueError, match="not an http"):
        validate(settings, "ollama", "piper", ollama="ftp://x")


def test_settings_save_keeps_the_rest_of_the_file(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "vocable.toml"
    path.write_text("# mine\n[llm]\nmax_tokens = 50\n\n[stt]\nthreads = 2\n", encoding="utf-8")
    llm, tts = validate(settings, "ollama, llama_cpp", "pyttsx3")
    settings_tab.save(path, llm, tts)
    text = path.read_text(encoding="utf-8")
    saved = tomllib.loads(text)
    assert saved["llm"]["engines"] == ["ollama", "llama_cpp"] and saved["llm"]["max_tokens"] == 50
    assert saved["stt"]["threads"] == 2 and saved["tts"]["engines"] == ["pyttsx3"]
    assert "# mine" in text


async def test_probe_reaches_a_live_endpoint_and_names_a_dead_one(settings: Settings) -> None:
    app = create_app(settings, assistant=fake_assistant(settings))
    async with serving(app) as base:
        llm = settings.llm.model_copy(update={"engines": ["openai"], "openai_base_url": base})
        with pytest.raises(ValueError, match="answered HTTP 404"):
            await settings_tab.probe_endpoints(llm)  # vocable itself has no /models there
        ok = llm.model_copy(update={"openai_base_url": f"{base}/v1/auth"})
        with pytest.raises(ValueError, match="answered HTTP 404"):
            await settings_tab.probe_endpoints(ok)
        dead = llm.model_copy(update={"engines": ["ollama"], "ollama_url": "http://127.0.0.1:9"})
        with pytest.raises(ValueError, match="ollama: cannot reach"):
            await settings_tab.probe_endpoints(dead)
        await settings_tab.probe_endpoints(llm.model_copy(update={"engines": ["llama_cpp"]}))


async def test_api_client_signs_in_refreshes_and_reports_problems(settings: Settings) -> None:
    app = create_app(settings, assistant=fake_assistant(settings))
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as http:
        await sign_up(http, "ann")
        session = Session()
        client = ApiClient(app, session)
        with pytest.raises(UiError) as refused:
            await client.login("ann", "wrong password")
        assert refused.value.status == 401 and not session.signed_in
        await client.login("ann", PASSWORD)
        assert session.signed_in and session.access_token
        session.access_token = "expired"  # noqa: S105 - a bad token on purpose
        me = await client.get("/v1/auth/me")
        assert me["username"] == "ann"
        assert session.access_token != "expired"  # noqa: S105 - it was refreshed
        with pytest.raises(UiError) as missing:
            await client.get("/v1/conversations/999")
        assert missing.value.status == 404 and missing.value.code.endswith("not_found")
        assert "999" in str(missing.value) or missing.value.message


def test_problem_of_reads_validation_lists_and_plain_text() -> None:
    listed = httpx.Response(422, json={"detail": [{"msg": "too short"}, {"msg": "bad"}]})
    assert problem_of(listed).message == "too short; bad"
    plain = httpx.Response(502, text="bad gateway")
    err = problem_of(plain)
    assert err.code == "http.502" and err.message == "bad gateway"
