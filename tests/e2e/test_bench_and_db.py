"""`vocable bench …`, `vocable db upgrade` and `vocable serve` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from vocable.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_bench_turn_prints_one_json_object_with_units(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "turn", "-n", "2", "--json"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1  # progress goes to stderr
    body = json.loads(lines[0])
    assert body["bench"] == "turn" and body["n"] == 2
    for name in ("stt", "llm_first_token", "first_sentence", "tts_first_audio", "total"):
        p50, p95 = body[f"{name}_p50_ms"], body[f"{name}_p95_ms"]
        assert 0 < p50 <= p95, (name, p50, p95)
    assert body["stt_p50_ms"] < body["tts_first_audio_p50_ms"] <= body["total_p50_ms"]
    assert body["live_first_audio_p50_ms"] == pytest.approx(
        body["tts_first_audio_p50_ms"] + body["endpoint_silence_ms"], abs=0.2
    )
    assert 0 <= body["stt_wer_mean"] <= 0.5
    assert set(body["load_s"]) >= {"vad", "stt", "llm", "tts"} and body["load_total_s"] > 0
    machine = body["machine"]
    assert machine["cores"] >= 1 and machine["ram_bytes"] > 0
    assert machine["engines"]["llm"]["model_path"].endswith(".gguf")
    assert "turn 2/2" in result.stderr


def test_bench_turn_human_summary(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "turn", "-n", "1"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("bench turn n=1: first audio p50 ")


def test_bench_storage_json(tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", "storage", "-n", "2", "--tokens", "40", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    sqlite = body["backends"]["sqlite"] if "backends" in body else body["sqlite"]
    assert sqlite["tokens_per_s"] > 0 and sqlite["enqueue_p99_ms"] >= sqlite["enqueue_p50_ms"]
    human = runner.invoke(app, ["bench", "storage", "-n", "1", "--tokens", "10"])
    assert human.exit_code == 0 and "sqlite" in human.stdout


def test_db_upgrade_creates_the_database(tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database at revision" in result.stderr
    assert (tmp_path / "data" / "vocable.db").is_file()
    again = runner.invoke(app, ["db", "upgrade"])  # idempotent
    assert again.exit_code == 0


def test_db_upgrade_refuses_an_unknown_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOCABLE_STORAGE__URL", "mysql://root@127.0.0.1/test")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2 and "sqlite and postgresql" in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_vocable_serve_becomes_ready_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "VOCABLE_DATA_DIR": str(tmp_path / "serve-data")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vocable", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                status = r.json()["status"]
                if status != "loading":
                    break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            time.sleep(0.2)
        assert status == "ready" and r.status_code == 200, r.text
        assert all(e["ready"] for e in r.json()["engines"].values())
        assert (tmp_path / "serve-data" / "vocable.db").is_file()  # migrated at start
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out.decode()
