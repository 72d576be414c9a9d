"""An engine whose GPU load fails loads on the CPU, with a logged reason and an event."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from vocable.config import Settings, load_settings
from vocable.engines.loader import load_engines
from vocable.frames import PipelineEvent, PipelineEventType
from vocable.hardware.fallback import cpu_settings, load_with_cpu_fallback


@dataclass
class FakeEngine:
    device: str
    fallback_reason: str | None = None


async def _load_needing_cudnn(settings: Settings) -> FakeEngine:
    if settings.stt.device == "cuda":
        raise RuntimeError("Could not load library libcudnn_ops.so.9")
    return FakeEngine(settings.stt.device)


async def test_failed_gpu_load_falls_back_to_cpu_with_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[PipelineEvent] = []
    settings = load_settings(stt={"device": "cuda"})
    with caplog.at_level(logging.WARNING):
        engine = await load_with_cpu_fallback("stt", settings, _load_needing_cudnn, events.append)
    assert engine.device == "cpu"
    assert [e.kind for e in events] == [PipelineEventType.DEVICE_FALLBACK]
    payload = events[0].payload
    assert payload["engine"] == "stt" and payload["from"] == "cuda" and payload["to"] == "cpu"
    assert "libcudnn_ops" in payload["reason"]
    assert "loading it on the CPU" in caplog.text


async def test_cpu_failures_are_not_retried() -> None:
    calls: list[str] = []

    async def broken(settings: Settings) -> FakeEngine:
        calls.append(settings.stt.device)
        raise RuntimeError("model file is corrupt")

    with pytest.raises(RuntimeError, match="corrupt"):
        await load_with_cpu_fallback("stt", load_settings(stt={"device": "cpu"}), broken)
    assert calls == ["cpu"]
    calls.clear()
    with pytest.raises(RuntimeError, match="corrupt"):  # the CPU retry fails too: it propagates
        await load_with_cpu_fallback("stt", load_settings(stt={"device": "cuda"}), broken)
    assert calls == ["cuda", "cpu"]


def test_cpu_settings_for_each_kind() -> None:
    settings = load_settings(
        stt={"device": "cuda", "compute_type": "float16"}, llm={"n_gpu_layers": -1}
    )
    stt = cpu_settings(settings, "stt").stt
    assert (stt.device, stt.compute_type) == ("cpu", "default")
    assert cpu_settings(settings, "llm").llm.n_gpu_layers == 0
    assert cpu_settings(settings, "tts").hardware.tts_device == "cpu"
    assert cpu_settings(settings, "torch").hardware.embed_device == "cpu"


@pytest.mark.slow
async def test_real_whisper_asked_for_cuda_on_a_cpu_machine_runs_on_cpu(
    settings: Settings,
) -> None:
    """No CUDA here: ctranslate2 raises, the engine loads int8 on the CPU and the loader says so."""
    forced = settings.model_copy(update={"stt": settings.stt.model_copy(update={"device": "cuda"})})
    events: list[PipelineEvent] = []
    engines = await load_engines(forced, kinds=["stt"], on_event=events.append)
    try:
        assert engines.stt.info.device == "cpu"
        assert engines.stt.info.compute_type == "int8"
        assert [e.payload["engine"] for e in engines.load_events] == ["stt"]
        assert events == engines.load_events
        assert "device_fallback" in engines.health()["stt"]
    finally:
        await engines.close()
