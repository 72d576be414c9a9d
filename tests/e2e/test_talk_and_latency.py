"""`vocable talk` and `vocable bench latency` against real `vocable serve` processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf
from typer.testing import CliRunner

from vocable.bench.corpus import synthesize_speech
from vocable.bench.latency import serving
from vocable.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_talk_streams_a_file_and_records_the_reply(tmp_path: Path) -> None:
    wav = synthesize_speech("How many days are in a week?", tmp_path / "q.wav", voice="rms")
    out = tmp_path / "reply.wav"
    with serving(tmp_path / "server", {}) as (url, _):
        result = runner.invoke(
            app, ["talk", "--url", url, "--input", str(wav), "--output", str(out)]
        )
    assert result.exit_code == 0, result.output
    assert "you: " in result.stdout and "week" in result.stdout.lower()
    assert "vocable: " in result.stdout
    audio, rate = sf.read(out)
    assert rate == 24000 and len(audio) / rate > 0.5


def test_talk_without_input_explains_what_to_do() -> None:
    result = runner.invoke(app, ["talk"])
    assert result.exit_code == 2 and "--input" in result.stderr


@pytest.mark.slow
def test_bench_latency_reports_every_figure_with_a_baseline() -> None:
    result = runner.invoke(app, ["bench", "latency", "-n", "1", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["bench"] == "latency" and body["n"] == 1
    for key in ("v2v", "endpoint", "transcript", "first_text", "barge_in_reaction"):
        assert f"{key}_p50_ms" in body and f"{key}_p95_ms" in body
    assert body["v2v_p50_ms"] is not None and body["v2v_p50_ms"] > 0
    assert body["baseline"]["v2v_p50_ms"] > 0
    assert body["speedup_ratio"] == pytest.approx(
        body["baseline"]["v2v_p50_ms"] / body["v2v_p50_ms"], rel=0.01
    )
    assert 0 <= body["false_cut_in_ratio"] <= 1 and body["gaps_over_40ms"] >= 0
    assert body["machine"]["engines"]["stt"]["name"] == "faster-whisper"
