"""Per-engine device, compute type and CPU thread budget, chosen from an `Inventory`.

Settings (and so ``VOCABLE_*`` environment variables) always win over what is detected:
``stt.device``, ``stt.compute_type``, ``stt.threads``, ``llm.threads``, ``llm.n_gpu_layers``
(when set), ``hardware.device``, ``hardware.tts_device``, ``hardware.embed_device``,
``hardware.tts_threads`` and ``hardware.threads``.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import Any, Literal

from vocable.config import Settings
from vocable.errors import ConfigError
from vocable.hardware.detect import Inventory, cached_inventory

Kind = Literal["vad", "stt", "llm", "tts", "torch", "xtts"]
DEVICES = ("auto", "cpu", "cuda", "mps")
LOW_GPU_MEMORY_BYTES = 2 * 1024**3
"""Below this much free GPU memory, Whisper runs int8_float16 rather than float16 on CUDA."""


@dataclass(frozen=True, slots=True)
class ThreadBudget:
    """CPU threads for each engine, so STT, LLM and TTS do not oversubscribe a small machine.

    ``0`` means "the library's own default" (``hardware.threads = "library"``).
    """

    stt: int
    llm: int
    tts: int
    vad: int = 1
    llm_batch: int = 0
    """Threads for prompt evaluation (TTS is idle then, so it may use every core but one)."""


def thread_budget(total: int = 0, *, physical: int = 0, speech_first: bool = False) -> ThreadBudget:
    """Split `total` cores (0: every physical core) between the engines.

    STT runs alone after the user stops talking, so it gets every core. The LLM and TTS overlap
    while a reply streams: TTS gets a quarter of the cores (at least one) and the LLM the rest,
    so neither waits on a core the other holds. With `speech_first` the LLM pauses while TTS
    synthesises (`vocable.hardware.priority`), so TTS gets every core too. Prompt evaluation
    leaves one core free: llama.cpp's threads spin-wait for each other, so a batch that wants
    every core stalls for seconds as soon as anything else runs (the VAD, the event loop, the
    browser). VAD needs one core.
    """
    cores = total or physical or cached_inventory().cpu.physical
    tts = max(1, cores // 4)
    llm = max(1, cores - tts)
    return ThreadBudget(
        stt=cores,
        llm=llm,
        tts=cores if speech_first else tts,
        vad=1,
        llm_batch=max(1, cores - 1),
    )


LIBRARY_DEFAULTS = ThreadBudget(stt=0, llm=0, tts=0, vad=0, llm_batch=0)


@dataclass(frozen=True, slots=True)
class EnginePlan:
    """How one engine should run.

    Attributes:
        kind: ``vad``, ``stt``, ``llm``, ``tts`` or ``torch``.
        device: ``cpu``, ``cuda`` or ``mps``.
        compute_type: CTranslate2 compute type (STT); "" elsewhere.
        threads: CPU threads (0: the library's default).
        batch_threads: llama.cpp prompt threads (0: the library's default).
        n_gpu_layers: llama.cpp layers on the GPU (-1: all).
        providers: onnxruntime execution providers, in order of preference.
        source: Why this device: ``detected``, ``settings`` or ``fallback``.
    """

    kind: str
    device: str
    compute_type: str = ""
    threads: int = 0
    batch_threads: int = 0
    n_gpu_layers: int = 0
    providers: tuple[str, ...] = ()
    source: str = "detected"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _requested(value: str, global_value: str, name: str) -> tuple[str, str]:
    """(device asked for, where it came from); ``auto`` when nothing is forced."""
    for device, origin in ((value, name), (global_value, "hardware.device")):
        if device not in DEVICES:
            raise ConfigError(
                f"{origin} is {device!r}; choose one of {', '.join(DEVICES)}",
                code="config.device",
            )
        if device != "auto":
            return device, "settings"
    return "auto", "detected"


def budget_for(settings: Settings, inventory: Inventory | None = None) -> ThreadBudget:
    """The thread budget in effect: per-engine settings over the core split (or library mode)."""
    hw = settings.hardware
    if hw.threads == "library":
        base = LIBRARY_DEFAULTS
    else:
        inv = inventory or cached_inventory()
        base = thread_budget(
            settings.threads, physical=inv.cpu.physical, speech_first=hw.speech_first
        )
    return ThreadBudget(
        stt=settings.stt.threads or base.stt,
        llm=settings.llm.threads or base.llm,
        tts=hw.tts_threads or base.tts,
        vad=base.vad,
        llm_batch=settings.llm.threads or base.llm_batch,
    )


def plan_engine(settings: Settings, kind: Kind, inventory: Inventory | None = None) -> EnginePlan:
    """Device, compute type and threads for one engine kind.

    Raises:
        ConfigError: a device setting names no known device.
    """
    inv = inventory or cached_inventory(with_torch=kind in ("torch", "xtts"))
    budget = budget_for(settings, inv)
    hw = settings.hardware
    if kind == "stt":
        return _plan_stt(settings, inv, budget)
    if kind == "llm":
        return _plan_llm(settings, inv, budget)
    if kind == "tts":
        device, source = _requested(hw.tts_device, hw.device, "hardware.tts_device")
        return _plan_onnx(inv, device, source, budget.tts)
    if kind in ("torch", "xtts"):
        own = hw.embed_device if kind == "torch" else hw.tts_device
        name = "hardware.embed_device" if kind == "torch" else "hardware.tts_device"
        device, source = _requested(own, hw.device, name)
        if device == "auto":
            device = "cuda" if inv.cuda_for("torch") else "mps" if inv.mps else "cpu"
        return EnginePlan(kind, device, threads=budget.tts, source=source)
    return EnginePlan("vad", "cpu", threads=budget.vad, source="detected")


def _plan_stt(settings: Settings, inv: Inventory, budget: ThreadBudget) -> EnginePlan:
    cfg = settings.stt
    device, source = _requested(cfg.device, settings.hardware.device, "stt.device")
    if device == "mps":  # CTranslate2 has no Metal back-end; its CPU path uses Accelerate
        device, source = "cpu", "detected"
    if device == "auto":
        device = "cuda" if inv.cuda_for("ctranslate2") else "cpu"
    compute = cfg.compute_type
    if compute == "default":
        compute = stt_compute_type(device, inv)
    return EnginePlan("stt", device, compute, threads=budget.stt, source=source)


def stt_compute_type(device: str, inv: Inventory) -> str:
    """faster-whisper's compute type for `device`.

    float16 on a CUDA GPU with room, int8_float16 on a small or older one (no fast float16),
    int8 on the CPU.
    """
    if device != "cuda":
        return "int8"
    types = set(inv.ct2_cuda_compute_types)
    free = min((g.memory_free_bytes for g in inv.gpus if g.backend == "cuda"), default=0)
    low_memory = 0 < free < LOW_GPU_MEMORY_BYTES
    if (not types or "float16" in types) and not low_memory:
        return "float16"
    if not types or "int8_float16" in types:
        return "int8_float16"
    return "int8_float32" if "int8_float32" in types else "float32"


def _plan_llm(settings: Settings, inv: Inventory, budget: ThreadBudget) -> EnginePlan:
    cfg = settings.llm
    device, source = _requested("auto", settings.hardware.device, "llm.device")
    if "n_gpu_layers" in cfg.model_fields_set:
        layers, source = cfg.n_gpu_layers, "settings"
    elif device == "cpu" or not inv.llama_gpu_offload:
        layers = 0
    else:
        layers = -1
    gpu_kind = "mps" if sys.platform == "darwin" else "cuda"
    device = gpu_kind if layers != 0 and inv.llama_gpu_offload else "cpu"
    return EnginePlan(
        "llm",
        device,
        threads=budget.llm,
        batch_threads=budget.llm_batch,
        n_gpu_layers=layers,
        source=source,
    )


def _plan_onnx(inv: Inventory, device: str, source: str, threads: int) -> EnginePlan:
    providers = set(inv.onnx_providers)
    chosen: list[str] = []
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in providers:
        chosen.append("CUDAExecutionProvider")
    if device in ("auto", "mps") and "CoreMLExecutionProvider" in providers:
        chosen.append("CoreMLExecutionProvider")  # untested: needs an Apple machine
    chosen.append("CPUExecutionProvider")
    first = chosen[0]
    on = "cuda" if first.startswith("CUDA") else "mps" if first.startswith("CoreML") else "cpu"
    return EnginePlan("tts", on, threads=threads, providers=tuple(chosen), source=source)


def pick_device(requested: str, inventory: Inventory | None = None) -> str:
    """Resolve ``auto`` to ``cuda`` when ctranslate2 sees a CUDA device, else ``cpu``."""
    if requested != "auto":
        return requested
    inv = inventory or cached_inventory()
    return "cuda" if inv.cuda_for("ctranslate2") else "cpu"
