"""`vocable doctor` and `vocable calibrate` on this machine's real engines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vocable.cli import app
from vocable.hardware.profile import PROFILE_NAME

runner = CliRunner()


def _json(output: str) -> dict[str, object]:
    return json.loads(output.strip().splitlines()[-1])  # type: ignore[no-any-return]  # an object


@pytest.mark.slow
def test_doctor_reports_cpu_engines_and_chain_and_exits_zero() -> None:
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    report = _json(result.stdout)
    assert report["ok"] is True
    cpu = report["devices"]["cpu"]  # type: ignore[index]
    assert cpu["physical"] >= 1 and cpu["memory_bytes"] > 0
    engines = report["engines"]
    for kind in ("vad", "stt", "llm", "tts"):
        entry = engines[kind]  # type: ignore[index]
        assert entry["ready"] is True, (kind, entry)
        assert entry["version"] and entry["device"] == "cpu"
    assert engines["stt"]["compute_type"] == "int8"  # type: ignore[index]
    assert Path(engines["stt"]["model_path"]).is_dir()  # type: ignore[index]
    assert report["chain"]["tts"][0] == "piper"  # type: ignore[index]
    codes = {w["code"] for w in report["warnings"]}  # type: ignore[attr-defined]
    assert "hardware.calibration" in codes  # never calibrated here: says how to fix it
    assert all(w["fix"] for w in report["warnings"])  # type: ignore[attr-defined]


def test_doctor_exits_non_zero_without_a_working_chain(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VOCABLE_STT__MODEL_PATH", str(tmp_path / "no-such-model"))
    monkeypatch.setenv("VOCABLE_TTS__ENGINES", '["xtts"]')
    monkeypatch.setenv("VOCABLE_LLM__MODEL_PATH", str(tmp_path / "missing.gguf"))
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 1, result.output
    report = _json(result.stdout)
    assert report["ok"] is False
    engines = report["engines"]
    assert engines["stt"]["ready"] is False and "stt.model_path" in engines["stt"]["error"]  # type: ignore[index]
    assert engines["tts"]["ready"] is False  # type: ignore[index]
    codes = [w["code"] for w in report["warnings"]]  # type: ignore[attr-defined]
    assert {"stt.load_failed", "llm.load_failed", "tts.load_failed"} <= set(codes)
    xtts = next(w for w in report["warnings"] if "XTTS" in w["message"])  # type: ignore[attr-defined]
    assert "docs/voices.md" in xtts["message"] + xtts["fix"]


@pytest.mark.slow
def test_calibrate_writes_a_profile_with_measured_figures(tmp_path: Path) -> None:
    result = runner.invoke(app, ["calibrate", "--json", "--runs", "1"])
    assert result.exit_code == 0, result.output
    out = _json(result.stdout)
    figures = out["figures"]
    assert figures["stt.faster-whisper"]["latency_ms"] > 0  # type: ignore[index]
    assert figures["llm.llama_cpp"]["ttft_ms"] > 0 and figures["llm.llama_cpp"]["tok_per_s"] > 0  # type: ignore[index]
    assert figures["tts.piper"]["first_audio_ms"] > 0 and figures["tts.piper"]["rtf"] > 0  # type: ignore[index]
    assert 0 < figures["vad.silero"]["rtf"] < 1  # type: ignore[index]
    assert figures["tts.xtts"]["ok"] is False  # no weights: recorded, not fatal  # type: ignore[index]
    profile = Path(str(out["profile_path"]))
    assert profile.name == PROFILE_NAME and json.loads(profile.read_text())["figures"] == figures
    assert "calibrating" in result.stderr  # the progress bar goes to stderr
    again = runner.invoke(app, ["calibrate", "--json"])  # fresh profile: reused, not re-measured
    assert again.exit_code == 0 and _json(again.stdout)["reused"] is True
