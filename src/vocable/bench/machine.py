"""The `machine` block every benchmark result carries."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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


_BUSY_LOOP = "import os, sys\nparent = int(sys.argv[1])\nwhile os.getppid() == parent:\n    pass\n"
"""Spins until its parent (pid in argv) is gone, so a bench that dies leaves no spinner behind."""


@contextmanager
def cpu_load(processes: int) -> Iterator[list[int]]:
    """Keep `processes` busy-loop processes competing for the cores; yields their pids.

    Each takes a fair share of a core, as other programs on a busy (or a slower) machine would.
    They are stopped when the block ends, and stop by themselves if this process dies.
    """
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _BUSY_LOOP, str(os.getpid())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(processes)
    ]
    try:
        yield [proc.pid for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()
