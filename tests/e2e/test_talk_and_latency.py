"""`vocable talk` and `vocable bench latency` against real `vocable serve` processes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from vocable.audio.io import read_audio_file
from vocable.bench.corpus import synthesize_speech
from vocable.bench.server import serving
from vocable.cli import app
from vocable.errors import EngineTimeoutError
from vocable.realtime.live import talk_live

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


@pytest.mark.slow
def test_a_reply_that_never_comes_shows_the_server_log_and_its_stacks(tmp_path: Path) -> None:
    with pytest.raises(EngineTimeoutError) as caught, serving(tmp_path / "server", {}):
        raise TimeoutError  # as the client does when no response.done comes
    assert caught.value.code == "bench.no_reply"
    log = (tmp_path / "server.log").read_text()
    assert "most recent call first" in log  # SIGUSR1 dumped the threads, it did not kill
    assert "Uvicorn running" in log and "most recent call first" in caught.value.message
    # ... and then each asyncio task with the awaits it waits in, the server still running
    assert "asyncio tasks (" in log and "in serve" in log


def test_talk_without_an_audio_device_explains_what_to_do() -> None:
    result = runner.invoke(app, ["talk"])  # no PortAudio or no microphone on this machine
    assert result.exit_code == 1
    assert "talk.no_audio_device" in result.stderr and "--input" in result.stderr


class FileDevice:
    """A microphone that plays a file in real time, then silence; records what it is given."""

    rate = 24000

    def __init__(self, audio: np.ndarray, tail_s: float = 20.0) -> None:
        self.audio = np.concatenate([audio, np.zeros(int(tail_s * self.rate), np.float32)])
        self.played: list[np.ndarray] = []
        self.flushed = 0

    async def frames(self) -> AsyncIterator[np.ndarray]:
        step = self.rate // 50
        start = time.monotonic()
        for i in range(0, len(self.audio) - step + 1, step):
            await asyncio.sleep(max(0.0, start + i / self.rate - time.monotonic()))
            yield self.audio[i : i + step]

    def play(self, samples: np.ndarray) -> None:
        self.played.append(samples)

    def flush(self) -> None:
        self.flushed += 1

    def close(self) -> None:
        pass


@pytest.mark.slow
def test_live_mode_holds_a_turn_through_an_audio_device(tmp_path: Path) -> None:
    wav = synthesize_speech("How many days are in a week?", tmp_path / "q.wav", voice="rms")
    device = FileDevice(read_audio_file(wav, target_rate=24000).samples)
    states: list[str] = []
    lines: list[tuple[str, str]] = []
    with serving(tmp_path / "server", {}) as (url, _):
        finished = asyncio.run(
            talk_live(
                url,
                device,
                on_state=states.append,
                on_line=lambda w, t: lines.append((w, t)),
                turns=1,
            )
        )
    assert finished == 1
    assert states[:4] == ["listening", "hearing you", "thinking", "speaking"]
    assert states[-1] == "listening"
    said = dict(lines)
    assert "week" in said["you"].lower() and said["vocable"]
    assert sum(len(p) for p in device.played) / device.rate > 0.5


@pytest.mark.slow
def test_bench_latency_reports_every_figure_with_a_baseline() -> None:
    result = runner.invoke(app, ["bench", "latency", "-n", "1", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["bench"] == "latency" and body["n"] == 1 and body["cpu_load"] == 0
    for key in ("v2v", "endpoint", "transcript", "first_text", "barge_in_reaction"):
        assert f"{key}_p50_ms" in body and f"{key}_p95_ms" in body
    assert body["v2v_p50_ms"] is not None and body["v2v_p50_ms"] > 0
    assert body["baseline"]["v2v_p50_ms"] > 0
    assert body["speedup_ratio"] == pytest.approx(
        body["baseline"]["v2v_p50_ms"] / body["v2v_p50_ms"], rel=0.01
    )
    assert 0 <= body["false_cut_in_ratio"] <= 1 and body["gaps_over_40ms"] >= 0
    assert body["machine"]["engines"]["stt"]["name"] == "faster-whisper"
    # The server's own waterfall, from its event stream: each stage of the reply after the one
    # before. The turn's confirmation (stt) stands apart: a speculative reply may have its first
    # token, or even its first audio, before the turn is confirmed.
    assert body["server_stt_p50_ms"] > 0
    stages = [body[f"server_{s}_p50_ms"] for s in ("first_token", "first_sentence", "first_audio")]
    assert all(v is not None and v >= 0 for v in stages) and stages == sorted(stages)
    assert body["baseline"]["server_first_audio_p50_ms"] > 0
    assert 0 < body["server_tts_p50_rtf"] <= body["server_tts_p95_rtf"] < 1  # Piper keeps up
    # Each turn as measured, with what was said and heard, so a slow one can be traced.
    [turn] = body["turns"]["complete"]
    assert turn["v2v"] == body["v2v_p50_ms"] and turn["said"]
    assert turn["heard"] is not None and turn["wer"] <= 1
    # ... with the server's waterfall of that turn, the one the distributions above are made of.
    for name in ("stt", "first_token", "first_sentence", "first_audio"):
        assert turn["server"][f"{name}_ms"] == pytest.approx(body[f"server_{name}_p50_ms"], abs=0.1)
    assert len(body["turns"]["paused"]) == 1
