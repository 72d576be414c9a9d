"""Device detection and per-engine CPU thread budgets."""

from __future__ import annotations

import os
from dataclasses import dataclass


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS and Windows have no affinity call
        return os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class ThreadBudget:
    """CPU threads for each engine, so STT, LLM and TTS do not oversubscribe a small machine."""

    stt: int
    llm: int
    tts: int
    vad: int = 1


def thread_budget(total: int = 0) -> ThreadBudget:
    """Split `total` threads (0: all CPUs) between the engines.

    STT and LLM run one after the other within a turn, so each may use every core; TTS overlaps
    with the LLM while a reply streams, so it gets half.
    """
    cores = total or cpu_count()
    return ThreadBudget(stt=cores, llm=cores, tts=max(1, cores // 2))


def cuda_device_count() -> int:
    """CUDA devices CTranslate2 can see (0 without a GPU or without ctranslate2)."""
    try:
        import ctranslate2
    except ImportError:  # pragma: no cover - ctranslate2 comes with the offline kit
        return 0
    try:
        return int(ctranslate2.get_cuda_device_count())
    except RuntimeError:  # pragma: no cover - a broken CUDA driver
        return 0


def pick_device(requested: str) -> str:
    """Resolve ``auto`` to ``cuda`` when a CUDA device is visible, else ``cpu``."""
    if requested != "auto":
        return requested
    return "cuda" if cuda_device_count() > 0 else "cpu"
