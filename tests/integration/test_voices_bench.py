"""`vocable bench voices`: the summary and its reference speakers (the full run is a bench)."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

from vocable.bench.voices import (
    EVAL_SENTENCES,
    REFERENCE_TEXT,
    SPEAKERS,
    _summary,
    make_reference,
    summary_line,
)
from vocable.config import Settings
from vocable.config_sections import VoicesSettings


def row(name: str, base: float, matched: float) -> dict[str, object]:
    return {
        "speaker": name,
        "baseline_similarity": base,
        "matched_similarity": matched,
        "similarity_gain": round(matched - base, 3),
        "wer_ratio": 0.1,
        "wer_plain_ratio": 0.05,
        "first_audio_plain_ms": [100.0, 120.0],
        "first_audio_matched_ms": [110.0, 135.0],
        "matching_overhead_ms": [10.0, 15.0],
    }


def test_the_summary_has_units_in_keys_and_a_machine_block() -> None:
    result = _summary([row("a", 0.5, 0.7), row("b", 0.6, 0.7)], {"tts": {"name": "piper"}})
    assert result["n"] == 2 and result["bench"] == "voices"
    assert result["similarity_gain_mean"] == pytest.approx(0.15)
    assert result["matching_overhead_p50_ms"] == 12.5
    assert result["first_audio_plain_p50_ms"] == 110.0
    assert result["wer_mean_ratio"] == 0.1 and result["wer_plain_mean_ratio"] == 0.05
    assert result["machine"]["engines"]["tts"]["name"] == "piper" and result["machine"]["cores"]
    line = summary_line(result)
    assert "gain 0.15" in line and "overhead p50 12.5 ms" in line


def test_reference_speakers_are_not_joe_and_at_least_16_khz(tmp_path: Path) -> None:
    assert len(SPEAKERS) >= 5 and not any("joe" in name for name, _ in SPEAKERS)
    kal = dict(SPEAKERS)["flite-kal"]  # 8 kHz voice: resampled up
    info = sf.info(str(make_reference(kal, tmp_path / "kal.wav")))
    assert info.samplerate == 16000 and 6 < info.duration < 30


def test_the_match_is_not_fitted_on_what_the_bench_scores() -> None:
    voices = VoicesSettings()
    fitted = [voices.similarity_text, *voices.fit_texts]
    assert len(fitted) >= 3 and not set(fitted) & {*EVAL_SENTENCES, REFERENCE_TEXT}


@pytest.mark.slow
async def test_one_speaker_end_to_end(settings: Settings) -> None:
    pytest.importorskip("resemblyzer", reason="the voices extra is not installed")
    from vocable.bench.voices import run_voices_bench

    lines: list[str] = []
    result = await run_voices_bench(settings, speakers=SPEAKERS[1:2], progress=lines.append)
    assert result["n"] == 1 and result["speakers"][0]["speaker"] == "flite-awb"
    speaker = result["speakers"][0]
    assert speaker["matched_similarity"] > speaker["baseline_similarity"]
    assert len(speaker["first_audio_matched_ms"]) == 3 and speaker["wer_ratio"] <= 0.5
    assert 0 < result["matching_overhead_p50_ms"] < 1000  # a measurement, not the target
    assert result["machine"]["engines"]["speaker"]["name"] == "resemblyzer"
    assert any("enrolling" in line for line in lines)
