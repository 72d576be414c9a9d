"""The `vocable` commands on real models, with questions spoken by flite (not our own TTS)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jiwer
import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from vocable.audio.io import encode_wav
from vocable.bench.corpus import synthesize_speech
from vocable.cli import app

runner = CliRunner()

QUESTION = "How many legs does a spider have?"


def wer(reference: str, hypothesis: str) -> float:
    clean = lambda s: " ".join(re.sub(r"[^a-z0-9' ]", " ", s.lower()).split())  # noqa: E731
    return float(jiwer.wer(clean(reference), clean(hypothesis)))


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize_speech(QUESTION, tmp_path_factory.mktemp("q") / "question.wav", voice="slt")


@pytest.mark.slow
def test_ask_answers_a_spoken_question_out_loud(question_wav: Path, tmp_path: Path) -> None:
    out = tmp_path / "answer.wav"
    result = runner.invoke(app, ["ask", str(question_wav), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert wer(QUESTION, body["transcript"]) <= 0.10, body["transcript"]
    assert body["reply"].strip()
    assert set(body["timings_ms"]) == {
        "stt",
        "llm_first_token",
        "first_sentence",
        "tts_first_audio",
        "total",
    }
    t = body["timings_ms"]
    assert all(isinstance(v, float) and v > 0 for v in t.values()), t
    assert t["stt"] < t["llm_first_token"] < t["tts_first_audio"] <= t["total"]
    assert t["first_sentence"] < t["tts_first_audio"]
    assert body["engines"]["llm"]["model"] and body["engines"]["stt"]["model_path"]
    assert body["engines"]["tts"]["name"] == "piper"
    # The reply audio, transcribed back by our STT, is English words.
    audio, rate = sf.read(out)
    assert len(audio) / rate == pytest.approx(body["audio_s"], abs=0.05) and len(audio) / rate > 0.3
    back = runner.invoke(app, ["transcribe", str(out)])
    assert back.exit_code == 0, back.output
    words = re.findall(r"[a-zA-Z']+", back.stdout)
    assert len(words) >= 2, back.stdout
    reply_words = set(re.findall(r"[a-z']+", body["reply"].lower()))
    heard = set(w.lower() for w in words)
    assert len(heard & reply_words) >= min(2, len(reply_words)), (body["reply"], back.stdout)


def test_ask_writes_beside_the_input_by_default(question_wav: Path, tmp_path: Path) -> None:
    local = tmp_path / "q.wav"
    local.write_bytes(question_wav.read_bytes())
    result = runner.invoke(app, ["ask", str(local)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("you: ")
    assert (tmp_path / "q.reply.wav").is_file()


def test_transcribe_prints_the_text(question_wav: Path) -> None:
    result = runner.invoke(app, ["transcribe", str(question_wav), "--json"])
    assert result.exit_code == 0, result.output
    assert wer(QUESTION, json.loads(result.stdout)["text"]) <= 0.10


def test_say_writes_speech(tmp_path: Path) -> None:
    out = tmp_path / "hello.wav"
    result = runner.invoke(app, ["say", "Hello there, how are you?", "--out", str(out)])
    assert result.exit_code == 0, result.output
    audio, rate = sf.read(out)
    assert rate == 22050 and 0.5 < len(audio) / rate < 5
    assert float(np.sqrt(np.mean(audio**2))) > 0.01


def _bad(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "make", "code"),
    [
        ("missing.wav", None, "audio.not_found"),
        ("empty.wav", b"", "audio.empty"),
        ("notes.wav", b"this is a text file, not audio\n" * 20, "audio.not_audio"),
        ("silent.wav", encode_wav(np.zeros(16000, np.float32), 16000), "audio.silent"),
        ("long.wav", encode_wav(np.full(16000 * 61, 0.1, np.float32), 16000), "audio.too_long"),
    ],
)
@pytest.mark.parametrize("command", ["ask", "transcribe"])
def test_bad_input_is_a_clear_error_and_exit_2(
    tmp_path: Path, name: str, make: bytes | None, code: str, command: str
) -> None:
    path = tmp_path / name if make is None else _bad(tmp_path, name, make)
    result = runner.invoke(app, [command, str(path)])
    assert result.exit_code == 2, result.output
    assert f"error [{code}]" in result.stderr
    assert not (tmp_path / f"{Path(name).stem}.reply.wav").exists()


def test_noise_without_speech_is_no_speech(tmp_path: Path) -> None:
    noise = 0.02 * np.random.default_rng(1).standard_normal(16000 * 2)
    path = _bad(tmp_path, "noise.wav", encode_wav(noise.astype(np.float32), 16000))
    result = runner.invoke(app, ["ask", str(path)])
    assert result.exit_code == 2, result.output
    assert "error [audio.no_speech]" in result.stderr


def test_say_refuses_empty_text(tmp_path: Path) -> None:
    result = runner.invoke(app, ["say", "   ", "--out", str(tmp_path / "x.wav")])
    assert result.exit_code == 2 and "text.empty" in result.stderr


def test_bad_settings_are_exit_2(monkeypatch: pytest.MonkeyPatch, question_wav: Path) -> None:
    monkeypatch.setenv("VOCABLE_LLM__MAX_TOKENS", "zero")
    result = runner.invoke(app, ["ask", str(question_wav)])
    assert result.exit_code == 2 and "llm.max_tokens" in result.stderr
    assert runner.invoke(app, ["config"]).exit_code == 2
