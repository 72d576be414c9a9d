"""The `machine` block every benchmark result carries."""

from __future__ import annotations

import os
import platform
from typing import Any

from vocable.hardware import cpu_count, pick_device


def total_ram_bytes() -> int:
    """Physical memory in bytes (0 when the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX platforms
        return 0


def machine_info(engines: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Cores, RAM, device, Python, and each engine's model name and path."""
    return {
        "cores": cpu_count(),
        "ram_bytes": total_ram_bytes(),
        "device": pick_device("auto"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "engines": engines or {},
    }
