"""The generated spoken corpus (real flite and espeak-ng)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vocable.audio.io import read_audio_file
from vocable.bench.corpus import (
    QUESTIONS,
    CorpusItem,
    build_corpus,
    flite_voices,
    synthesize_speech,
)
from vocable.errors import EngineError, EngineTimeoutError, EngineUnavailableError

needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")
needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"
)


def test_questions_are_short_distinct_questions() -> None:
    assert 15 <= len(QUESTIONS) <= 30
    assert len(set(QUESTIONS)) == len(QUESTIONS)
    assert all(q.endswith("?") and len(q.split()) <= 10 for q in QUESTIONS)


@needs_flite
def test_flite_lists_the_debian_voices() -> None:
    assert {"kal", "slt", "awb", "rms"} <= set(flite_voices())


@needs_flite
@pytest.mark.parametrize("voice", ["kal", "slt", "awb", "rms"])
def test_flite_voices_speak(tmp_path: Path, voice: str) -> None:
    out = synthesize_speech("How many days are in a week?", tmp_path / "a" / "q.wav", voice=voice)
    assert out == tmp_path / "a" / "q.wav"
    audio = read_audio_file(out)
    assert 1.0 < audio.duration_s < 5.0
    assert audio.source_rate in {8000, 16000}


@needs_espeak
def test_espeak_ng_speaks(tmp_path: Path) -> None:
    out = synthesize_speech(
        "-leading dash, what is two plus two?", tmp_path / "e.wav", engine="espeak-ng"
    )
    audio = read_audio_file(out)
    assert 1.0 < audio.duration_s < 5.0
    assert audio.source_rate == 22050


@needs_flite
def test_unknown_flite_voice_is_refused(tmp_path: Path) -> None:
    # flite itself would silently fall back to kal.
    with pytest.raises(EngineUnavailableError) as err:
        synthesize_speech("Hello", tmp_path / "x.wav", voice="nosuchvoice")
    assert err.value.code == "engine.voice_missing"
    assert "slt" in err.value.message
    assert not (tmp_path / "x.wav").exists()


def fake_binary(directory: Path, name: str, script: str) -> None:
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


@pytest.mark.parametrize(
    ("script", "detail"),
    [("echo 'voice data broken' >&2; exit 3", "voice data broken"), ("exit 0", "exit status 0")],
    ids=["fails", "writes-nothing"],
)
def test_engine_failure_is_an_engine_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str, detail: str
) -> None:
    fake_binary(tmp_path / "bin", "espeak-ng", script)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(EngineError) as err:
        synthesize_speech("Hello", tmp_path / "x.wav", engine="espeak-ng")
    assert err.value.code == "engine.failed"
    assert detail in err.value.message


@needs_flite
def test_timeout(tmp_path: Path) -> None:
    with pytest.raises(EngineTimeoutError):
        synthesize_speech("word " * 3000, tmp_path / "slow.wav", timeout_s=0.01)


@pytest.mark.parametrize(
    ("engine", "hint"),
    [("flite", "apt-get install flite"), ("espeak-ng", "apt-get install espeak-ng")],
)
def test_missing_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str, hint: str
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(EngineUnavailableError) as err:
        synthesize_speech("Hello", tmp_path / "x.wav", engine=engine)  # type: ignore[arg-type]
    assert err.value.code == "engine.unavailable"
    assert hint in err.value.message


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        synthesize_speech("  ", tmp_path / "x.wav")
    with pytest.raises(ValueError, match="unknown engine"):
        synthesize_speech("Hi", tmp_path / "x.wav", engine="festival")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 0"):
        build_corpus(tmp_path, -1)
    with pytest.raises(ValueError, match="voice"):
        build_corpus(tmp_path, 1, voices=())


@needs_flite
def test_build_corpus_is_deterministic(tmp_path: Path) -> None:
    first = build_corpus(tmp_path / "a", 6, seed=3)
    again = build_corpus(tmp_path / "b", 6, seed=3)
    other = build_corpus(tmp_path / "c", 6, seed=4)

    def key(items: list[CorpusItem]) -> list[tuple[str, str, str]]:
        return [(i.text, i.voice, i.path.name) for i in items]

    assert key(first) == key(again)
    assert key(first) != key(other)
    assert len({i.text for i in first}) == 6  # no repeat before every question was used
    for item in first:
        assert item.text in QUESTIONS
        assert item.voice in {"kal", "slt", "awb", "rms"}
        assert item.path.parent == tmp_path / "a"
        assert read_audio_file(item.path).duration_s > 0.5


@needs_flite
def test_build_corpus_cycles_questions_and_uses_given_voices(tmp_path: Path) -> None:
    n = len(QUESTIONS) + 2
    items = build_corpus(tmp_path, n, seed=0, voices=("slt",))
    assert len(items) == n
    assert set(i.text for i in items[: len(QUESTIONS)]) == set(QUESTIONS)
    assert {i.voice for i in items} == {"slt"}
    assert build_corpus(tmp_path / "none", 0) == []


@needs_espeak
def test_build_corpus_with_espeak(tmp_path: Path) -> None:
    items = build_corpus(tmp_path, 2, seed=1, voices=("en-us", "en-gb"), engine="espeak-ng")
    assert [i.path.suffix for i in items] == [".wav", ".wav"]
    assert all(read_audio_file(i.path).source_rate == 22050 for i in items)
