"""Loading real engines together or one kind at a time; health; fallback; clean shutdown."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import numpy as np
import pytest

from tests.integration.conftest import with_settings, worker_threads
from vocable.config import Settings
from vocable.engines.chain import TTSChain
from vocable.engines.llm.base import ChatMessage
from vocable.engines.loader import Unloaded, load_engines, load_stt, load_tts
from vocable.errors import ConfigError, EngineUnavailableError

HEALTH_KEYS = {"ready", "name", "model", "model_path", "device", "version"}


@pytest.fixture
def tiny_settings(session_settings: Settings, tiny_gguf: Path) -> Settings:
    """Default engines, with the tiny GGUF as the LLM (SmolLM2 has its own test)."""
    return with_settings(session_settings, llm={"model_path": tiny_gguf})


async def test_load_everything_report_health_and_close(tiny_settings: Settings) -> None:
    before = worker_threads()
    engines = await load_engines(tiny_settings)
    try:
        health = engines.health()
        assert set(health) == {"vad", "stt", "llm", "tts"}
        for kind, entry in health.items():
            assert HEALTH_KEYS <= set(entry), kind
            assert entry["ready"] and "error" not in entry, (kind, entry)
        assert (health["stt"]["name"], health["stt"]["model"]) == ("faster-whisper", "tiny.en")
        # the default chain is xtts, piper, edge, pyttsx3: no XTTS weights, no edge-tts here
        assert health["tts"]["chain"] == ["piper", "pyttsx3"]
        assert health["tts"]["active"] == "piper"
        assert set(health["tts"]["skipped"]) == {"xtts", "edge"}
        assert "VOCABLE_XTTS_DIR" in health["tts"]["skipped"]["xtts"]
        assert set(engines.load_s) == {"vad", "stt", "llm", "tts", "tts.piper", "tts.pyttsx3"}
        assert all(0 < s < 30 for s in engines.load_s.values())
        assert engines.vad.speech_probability(np.zeros(512, dtype=np.float32)) < 0.5
        assert [p async for p in engines.llm.stream([ChatMessage("user", "hi")])]
        assert [c async for c in engines.tts.synthesize("Hi.")]
    finally:
        await engines.close()
    await engines.close()
    assert worker_threads() == before
    assert not any(entry["ready"] for entry in engines.health().values())


async def test_only_the_requested_kinds_are_loaded(session_settings: Settings) -> None:
    engines = await load_engines(session_settings, kinds=("stt",))
    try:
        assert isinstance(engines.vad, Unloaded) and isinstance(engines.llm, Unloaded)
        assert set(engines.load_s) == {"stt"}
        health = engines.health()
        assert health["stt"]["ready"]
        for kind in ("vad", "llm", "tts"):
            assert not health[kind]["ready"] and "not loaded" in health[kind]["error"], kind
        with pytest.raises(EngineUnavailableError, match="'vad'"):
            engines.vad.speech_probability(np.zeros(512, dtype=np.float32))
        with pytest.raises(Exception, match="not loaded"):
            [c async for c in engines.tts.synthesize("hello")]
    finally:
        await engines.close()


async def test_single_kind_factories(session_settings: Settings) -> None:
    before = worker_threads()
    stt = await load_stt(session_settings)
    await stt.close()
    assert worker_threads() == before
    with pytest.raises(ConfigError, match="unknown engine kinds"):
        await load_engines(session_settings, kinds=("stt", "camera"))


async def test_tts_chain_follows_the_configured_order(session_settings: Settings) -> None:
    tts = await load_tts(with_settings(session_settings, tts={"engines": ["pyttsx3", "piper"]}))
    try:
        assert isinstance(tts, TTSChain)
        assert [e.info.name for e in tts.engines] == ["pyttsx3", "piper"]
        assert tts.info.name == "pyttsx3" and tts.sample_rate == 22050
    finally:
        await tts.close()


async def test_an_unavailable_tts_engine_is_skipped_with_its_reason(
    session_settings: Settings, tmp_path: Path
) -> None:
    missing = tmp_path / "gone.onnx"
    settings = with_settings(session_settings, tts={"piper_model_path": missing})
    tts = await load_tts(settings)
    try:
        assert [e.info.name for e in tts.engines] == ["pyttsx3"]
        assert str(missing) in tts.skipped["piper"]
        assert [c async for c in tts.synthesize("Still speaking.")]
    finally:
        await tts.close()


async def test_no_tts_engine_at_all_says_what_to_install(
    session_settings: Settings, tmp_path: Path
) -> None:
    settings = with_settings(
        session_settings, tts={"engines": ["piper"], "piper_model_path": tmp_path / "x.onnx"}
    )
    before = worker_threads()
    with pytest.raises(EngineUnavailableError, match=re.escape("pip install 'vocable[piper]'")):
        await load_tts(settings)
    assert worker_threads() == before


async def test_a_failing_primary_falls_back_and_reports_the_switch(
    session_settings: Settings,
) -> None:
    switches: list[tuple[str, str, str]] = []
    tts = await load_tts(session_settings, on_switch=lambda *s: switches.append(s))
    try:
        await tts.engines[0].close()  # piper is gone: its calls now fail at once
        chunks = [c async for c in tts.synthesize("The fallback voice speaks.")]
        assert chunks and {c.sample_rate for c in chunks} == {tts.sample_rate}
        assert switches and switches[0][:2] == ("piper", "pyttsx3")
        assert "pipeline.closed" in switches[0][2]
        assert tts.info.name == "pyttsx3"
    finally:
        await tts.close()


async def test_a_load_failure_closes_what_did_load(tiny_settings: Settings, tmp_path: Path) -> None:
    before = worker_threads()
    broken = with_settings(tiny_settings, stt={"model_path": tmp_path / "missing"})
    with pytest.raises(ConfigError, match="stt.model_path"):
        await load_engines(broken)
    assert worker_threads() == before


async def test_cancelling_a_load_leaves_no_thread(tiny_settings: Settings) -> None:
    before = worker_threads()
    task = asyncio.create_task(load_engines(tiny_settings))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert worker_threads() == before
