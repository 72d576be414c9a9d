"""Load an engine on its planned GPU; when that fails, load it on the CPU and say why.

A missing cuDNN, an out-of-memory GPU or a CUDA build without a driver must never stop the
server: the engine loads on the CPU instead, the reason is logged, and a ``device_fallback``
event goes to whoever listens (the loader keeps them on `Engines.load_events`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from vocable.config import Settings
from vocable.frames import PipelineEvent, PipelineEventType
from vocable.hardware.plan import Kind, plan_engine

log = logging.getLogger(__name__)

T = TypeVar("T")
EventSink = Callable[[PipelineEvent], None]


def cpu_settings(settings: Settings, kind: Kind) -> Settings:
    """`settings` with engine `kind` forced onto the CPU."""
    if kind == "stt":
        stt = settings.stt.model_copy(update={"device": "cpu", "compute_type": "default"})
        return settings.model_copy(update={"stt": stt})
    if kind == "llm":
        llm = settings.llm.model_copy(update={"n_gpu_layers": 0})
        llm.model_fields_set.add("n_gpu_layers")
        return settings.model_copy(update={"llm": llm})
    field = "embed_device" if kind == "torch" else "tts_device"
    hw = settings.hardware.model_copy(update={field: "cpu"})
    return settings.model_copy(update={"hardware": hw})


def fallback_event(kind: str, device: str, reason: str) -> PipelineEvent:
    """The ``device_fallback`` event for engine `kind` that left `device` for the CPU."""
    return PipelineEvent(
        stage="loader",
        kind=PipelineEventType.DEVICE_FALLBACK,
        turn_id=0,
        payload={"engine": kind, "from": device, "to": "cpu", "reason": reason},
    )


async def load_with_cpu_fallback(
    kind: Kind,
    settings: Settings,
    load: Callable[[Settings], Awaitable[T]],
    on_event: EventSink | None = None,
) -> T:
    """`load(settings)`; if it fails while planned on a GPU, `load` again on the CPU.

    An engine that fell back by itself (it has a ``fallback_reason``, as faster-whisper does)
    is reported the same way. A failure on the CPU, or of the CPU retry, propagates.
    """
    plan = plan_engine(settings, kind)
    try:
        engine = await load(settings)
    except Exception as err:
        if plan.device == "cpu":
            raise
        reason = f"{type(err).__name__}: {err}"
        log.warning(
            "%s engine failed to load on %s (%s); loading it on the CPU", kind, plan.device, reason
        )
        engine = await load(cpu_settings(settings, kind))
        _report(on_event, kind, plan.device, reason)
        return engine
    own: Any = getattr(engine, "fallback_reason", None)
    if isinstance(own, str) and own and plan.device != "cpu":
        _report(on_event, kind, plan.device, own)
    return engine


def _report(on_event: EventSink | None, kind: str, device: str, reason: str) -> None:
    if on_event is not None:
        on_event(fallback_event(kind, device, reason))
