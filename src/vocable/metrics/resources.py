"""CPU, RAM and GPU use: psutil when installed (else /proc), NVML when a GPU answers."""

from __future__ import annotations

import contextlib
import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GpuSample:
    """One GPU's use."""

    name: str
    util_percent: float | None
    vram_used_bytes: int | None
    vram_total_bytes: int | None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "name": self.name,
            "util_percent": self.util_percent,
            "vram_used_bytes": self.vram_used_bytes,
            "vram_total_bytes": self.vram_total_bytes,
        }


@dataclass(frozen=True, slots=True)
class ResourceSample:
    """The machine's use at one moment; None where the platform does not say."""

    cpu_percent: float | None
    ram_used_bytes: int | None
    ram_total_bytes: int | None
    gpus: list[GpuSample] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "cpu_percent": self.cpu_percent,
            "ram_used_bytes": self.ram_used_bytes,
            "ram_total_bytes": self.ram_total_bytes,
            "gpus": [g.as_dict() for g in self.gpus],
        }


class ResourceProbe:
    """Samples system CPU (since the previous sample), RAM and every NVML GPU.

    Args:
        proc: The procfs read when psutil is missing (or `use_psutil` is False).
        use_psutil: Use psutil when it imports.
        use_nvml: Ask NVML for GPUs when ``pynvml`` imports and a driver answers.
    """

    def __init__(
        self, proc: Path = Path("/proc"), *, use_psutil: bool = True, use_nvml: bool = True
    ) -> None:
        self._proc = proc
        self._last_cpu: tuple[float, float] | None = None
        self._psutil: Any = None
        self._nvml: Any = None
        self._nvml_tried = not use_nvml
        if use_psutil:
            with contextlib.suppress(ImportError):
                self._psutil = importlib.import_module("psutil")  # optional: /proc without it
                self._psutil.cpu_percent(interval=None)  # primes the counter; the first is 0

    def sample(self) -> ResourceSample:
        """Current use (never raises: an unreadable source gives None)."""
        cpu, used, total = self._cpu_ram()
        return ResourceSample(cpu, used, total, self._gpus())

    def _cpu_ram(self) -> tuple[float | None, int | None, int | None]:
        if self._psutil is not None:
            mem = self._psutil.virtual_memory()
            cpu = float(self._psutil.cpu_percent(interval=None))
            return cpu, int(mem.total - mem.available), int(mem.total)
        return self._proc_cpu(), *self._proc_ram()

    def _proc_cpu(self) -> float | None:
        try:
            fields = (self._proc / "stat").read_text().splitlines()[0].split()[1:]
        except (OSError, IndexError):
            return None
        ticks = [float(x) for x in fields]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0.0)
        busy_total = (sum(ticks) - idle, sum(ticks))
        last, self._last_cpu = self._last_cpu, busy_total
        if last is None or busy_total[1] <= last[1]:
            return None
        return round(100 * (busy_total[0] - last[0]) / (busy_total[1] - last[1]), 1)

    def _proc_ram(self) -> tuple[int | None, int | None]:
        info: dict[str, int] = {}
        try:
            for line in (self._proc / "meminfo").read_text().splitlines():
                key, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    info[key] = int(parts[0]) * 1024
        except OSError:
            return None, None
        total = info.get("MemTotal")
        available = info.get("MemAvailable")
        if total is None or available is None:
            return None, total
        return total - available, total

    def _gpus(self) -> list[GpuSample]:
        nvml = self._nvml_handle()
        if nvml is None:
            return []
        gpus: list[GpuSample] = []
        try:
            for i in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(i)
                name = nvml.nvmlDeviceGetName(handle)
                mem = nvml.nvmlDeviceGetMemoryInfo(handle)
                util = nvml.nvmlDeviceGetUtilizationRates(handle)
                gpus.append(
                    GpuSample(
                        name.decode() if isinstance(name, bytes) else str(name),
                        float(util.gpu),
                        int(mem.used),
                        int(mem.total),
                    )
                )
        except Exception as err:  # noqa: BLE001 - a flaky driver must not break /metrics
            log.warning("NVML query failed: %s", err)
            return []
        return gpus

    def _nvml_handle(self) -> Any:
        if self._nvml_tried:
            return self._nvml
        self._nvml_tried = True
        try:
            pynvml = importlib.import_module("pynvml")  # nvidia-ml-py, optional
            pynvml.nvmlInit()
        except Exception:  # noqa: BLE001 - no package, no driver or no GPU: no GPU figures
            return None
        self._nvml = pynvml
        return pynvml

    def close(self) -> None:
        """Release NVML."""
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
            self._nvml = None
