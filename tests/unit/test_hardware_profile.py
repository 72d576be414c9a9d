"""The calibration profile: chain order from measured figures, freshness, and its use at load."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vocable.bench.calibrate import recalibrate_if_stale
from vocable.config import Settings, load_settings
from vocable.engines.loader import load_engines
from vocable.hardware.profile import (
    Profile,
    apply_profile,
    fingerprint,
    fingerprint_parts,
    load_profile,
    order_chain,
    profile_path,
    profile_state,
    settings_for_load,
)

FAST = {"ok": True, "first_audio_ms": 40.0, "rtf": 0.05}
SLOW = {"ok": True, "first_audio_ms": 400.0, "rtf": 0.2}


def _save(settings: Settings, figures: dict[str, Any], *, stale: bool = False) -> Profile:
    parts = fingerprint_parts(settings)
    profile = Profile("0" * 16 if stale else fingerprint(parts), figures, parts=parts)
    profile.save(profile_path(settings))
    return profile


def test_fastest_engine_that_meets_the_budgets_goes_first(settings: Settings) -> None:
    figures = {"tts.piper": SLOW, "tts.pyttsx3": FAST, "tts.xtts": {"ok": False}}
    order = order_chain("tts", ["xtts", "piper", "pyttsx3", "edge"], figures, settings)
    assert order == ["pyttsx3", "piper", "edge", "xtts"]  # measured, unmeasured, then failed


def test_too_slow_engines_go_last_even_when_fast_to_start(settings: Settings) -> None:
    figures = {"tts.piper": {"ok": True, "first_audio_ms": 10.0, "rtf": 1.5}, "tts.pyttsx3": SLOW}
    assert order_chain("tts", ["piper", "pyttsx3"], figures, settings) == ["pyttsx3", "piper"]
    llm = {"llm.ollama": {"ok": True, "ttft_ms": 50.0, "tok_per_s": 2.0},
           "llm.llama_cpp": {"ok": True, "ttft_ms": 300.0, "tok_per_s": 80.0}}  # fmt: skip
    assert order_chain("llm", ["ollama", "llama_cpp"], llm, settings) == ["llama_cpp", "ollama"]


def test_close_figures_keep_the_settings_order(settings: Settings) -> None:
    figures = {"tts.piper": {**FAST, "first_audio_ms": 44.0}, "tts.pyttsx3": FAST}
    assert order_chain("tts", ["piper", "pyttsx3"], figures, settings) == ["piper", "pyttsx3"]
    strict = load_settings(hardware={"tie_margin_ratio": 0.0})
    assert order_chain("tts", ["piper", "pyttsx3"], figures, strict) == ["pyttsx3", "piper"]


def test_explicit_settings_win_over_the_profile() -> None:
    figures = {"tts.piper": SLOW, "tts.pyttsx3": FAST}
    profile = Profile("x", figures)
    default, applied = apply_profile(load_settings(), profile)
    assert default.tts.engines[0] == "pyttsx3"
    assert default.tts.first_audio_budget_s == 2.0  # 4 x 40 ms, floored at 2 s
    assert applied["tts"]["engines"][0] == "pyttsx3"
    explicit = load_settings(tts={"engines": ["piper", "pyttsx3"], "first_audio_budget_s": 3.0})
    kept, _ = apply_profile(explicit, profile)
    assert kept.tts.engines == ["piper", "pyttsx3"]
    assert kept.tts.first_audio_budget_s == 3.0


def test_profile_round_trip_freshness_and_bad_files(settings: Settings) -> None:
    assert profile_state(settings) == (None, "none")
    saved = _save(settings, {"tts.piper": FAST})
    loaded = load_profile(profile_path(settings))
    assert loaded is not None and loaded.figures == saved.figures
    assert profile_state(settings)[1] == "fresh"
    _save(settings, {"tts.piper": FAST}, stale=True)
    assert profile_state(settings)[1] == "stale"
    assert settings_for_load(settings) is settings  # a stale profile is not used
    profile_path(settings).write_text("{not json", encoding="utf-8")
    assert load_profile(profile_path(settings)) is None
    profile_path(settings).write_text(json.dumps({"version": 99}), encoding="utf-8")
    assert profile_state(settings) == (None, "none")


def test_a_changed_engine_set_changes_the_fingerprint(settings: Settings) -> None:
    parts = fingerprint_parts(settings)
    other = load_settings(data_dir=settings.data_dir, stt={"model_path": str(settings.data_dir)})
    assert fingerprint(parts) != fingerprint(fingerprint_parts(other))
    changed = {**parts, "packages": {**parts["packages"], "faster-whisper": "0.0.1"}}
    assert fingerprint(parts) != fingerprint(changed)


async def test_stale_profile_is_measured_again_at_serve_start(settings: Settings) -> None:
    calls: list[Settings] = []

    async def runner(s: Settings) -> None:
        calls.append(s)

    assert not await recalibrate_if_stale(settings, runner=runner)  # never calibrated
    _save(settings, {}, stale=True)
    assert await recalibrate_if_stale(settings, runner=runner)
    assert len(calls) == 1
    off = settings.model_copy(
        update={"hardware": settings.hardware.model_copy(update={"recalibrate_on_change": False})}
    )
    assert not await recalibrate_if_stale(off, runner=runner)


@pytest.mark.slow
async def test_loaded_chain_follows_the_profile(settings: Settings) -> None:
    """What `vocable serve` does at start: load_engines reads the profile and orders the chain."""
    tts_only = settings.model_copy(
        update={"tts": settings.tts.model_copy(update={"engines": ["piper", "pyttsx3"]})}
    )
    tts_only.tts.model_fields_set.discard("engines")  # as if left at its default
    _save(tts_only, {"tts.piper": SLOW, "tts.pyttsx3": FAST})
    engines = await load_engines(tts_only, kinds=["tts"])
    try:
        assert [e.info.name for e in engines.tts.engines] == ["pyttsx3", "piper"]
    finally:
        await engines.close()
    _save(tts_only, {"tts.piper": FAST, "tts.pyttsx3": SLOW})
    engines = await load_engines(tts_only, kinds=["tts"])
    try:
        assert [e.info.name for e in engines.tts.engines] == ["piper", "pyttsx3"]
        assert engines.tts.active.info.name == "piper"
    finally:
        await engines.close()
