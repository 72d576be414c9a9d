"""Device detection (CUDA, MPS, CPU), per-engine device and compute type, thread budgets.

`detect` asks each library what it can use; `plan` turns that and the settings into an
`EnginePlan` per engine; `profile` keeps the calibration profile that orders the fallback chains.
"""

from __future__ import annotations

from vocable.hardware.detect import (
    CPUInfo,
    GPUInfo,
    Inventory,
    cached_inventory,
    cpu_count,
    detect_inventory,
)
from vocable.hardware.plan import (
    EnginePlan,
    ThreadBudget,
    budget_for,
    pick_device,
    plan_engine,
    thread_budget,
)

__all__ = [
    "CPUInfo",
    "EnginePlan",
    "GPUInfo",
    "Inventory",
    "ThreadBudget",
    "budget_for",
    "cached_inventory",
    "cpu_count",
    "cuda_device_count",
    "detect_inventory",
    "pick_device",
    "plan_engine",
    "thread_budget",
]


def cuda_device_count() -> int:
    """CUDA devices CTranslate2 can see (0 without a GPU or without ctranslate2)."""
    return cached_inventory().cuda_devices.get("ctranslate2", 0)
