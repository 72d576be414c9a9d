"""What this machine has: CPU cores and SIMD features, memory, CUDA and Apple GPUs.

Every probe is optional and guarded: a missing library, or one that raises (a broken driver),
counts as "not there" and never stops detection. Each GPU library is asked separately, because
they disagree: ctranslate2 can see a GPU that torch (a CPU build) cannot, and the reverse.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import platform
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

SIMD_FLAGS: tuple[str, ...] = (
    "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni",
    "avx_vnni", "amx_tile", "neon", "asimd", "sve",
)  # fmt: skip
"""The instruction-set features that matter to the inference libraries (x86 and Arm)."""


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS and Windows have no affinity call
        return os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class CPUInfo:
    """The processor: logical CPUs this process may use, physical cores, model and features."""

    logical: int
    physical: int
    model: str = ""
    simd: tuple[str, ...] = ()
    memory_bytes: int = 0


@dataclass(frozen=True, slots=True)
class GPUInfo:
    """One accelerator as a library reports it (memory figures 0 when unknown)."""

    index: int
    backend: str
    """``cuda`` or ``mps``."""
    name: str = ""
    memory_total_bytes: int = 0
    memory_free_bytes: int = 0
    utilisation_pct: int | None = None
    compute_capability: str = ""


@dataclass(frozen=True, slots=True)
class Inventory:
    """Everything `plan_engine` needs to choose devices. Build one with `detect_inventory`.

    Attributes:
        cpu: The processor and memory.
        gpus: Accelerators, CUDA ones first.
        cuda_devices: CUDA devices each library sees, e.g. ``{"ctranslate2": 1, "torch": 0}``.
        onnx_providers: onnxruntime's available execution providers, in its order.
        mps: Apple Metal (torch.backends.mps) is usable.
        coreml: onnxruntime offers its CoreML execution provider.
        llama_gpu_offload: llama.cpp was built with a GPU back-end (CUDA, Metal, Vulkan...).
        ct2_cuda_compute_types: Compute types ctranslate2 supports on CUDA device 0.
        notes: What a probe could not find out, and why.
    """

    cpu: CPUInfo
    gpus: tuple[GPUInfo, ...] = ()
    cuda_devices: dict[str, int] = field(default_factory=dict)
    onnx_providers: tuple[str, ...] = ()
    mps: bool = False
    coreml: bool = False
    llama_gpu_offload: bool = False
    ct2_cuda_compute_types: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def cuda_for(self, library: str) -> bool:
        """Whether `library` (``ctranslate2``, ``torch``, ``onnxruntime``) can use a CUDA GPU."""
        return self.cuda_devices.get(library, 0) > 0

    @property
    def has_cuda(self) -> bool:
        """Any library sees a CUDA device."""
        return any(count > 0 for count in self.cuda_devices.values())

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def parse_cpuinfo(text: str) -> tuple[str, int, tuple[str, ...]]:
    """(model name, physical cores, SIMD flags) from the text of ``/proc/cpuinfo``.

    Physical cores are the distinct (physical id, core id) pairs; 0 when the text has none.
    """
    model = ""
    cores: set[tuple[str, str]] = set()
    flags: set[str] = set()
    physical_id = core_id = ""
    for line in text.splitlines() + [""]:
        key, _, value = (part.strip() for part in line.partition(":"))
        if key in ("model name", "Model", "Hardware") and not model:
            model = value
        elif key == "physical id":
            physical_id = value
        elif key == "core id":
            core_id = value
        elif key in ("flags", "Features"):
            flags.update(value.split())
        elif not key:  # a blank line ends one processor's block
            if core_id:
                cores.add((physical_id, core_id))
            physical_id = core_id = ""
    return model, len(cores), tuple(f for f in SIMD_FLAGS if f in flags)


def total_memory_bytes() -> int:
    """Physical memory in bytes (0 when the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX platforms
        return 0


def detect_cpu() -> CPUInfo:
    """The CPU from ``/proc/cpuinfo`` (Linux) or the platform module elsewhere."""
    logical = cpu_count()
    model, physical, simd = parse_cpuinfo(_read("/proc/cpuinfo"))
    if not physical:
        psutil = _optional("psutil")
        if psutil is not None:
            physical = int(psutil.cpu_count(logical=False) or 0)
    physical = min(physical or logical, logical)  # affinity may allow fewer than exist
    if platform.machine() in ("arm64", "aarch64") and not simd:
        simd = ("neon",)
    return CPUInfo(logical, physical, model or platform.processor(), simd, total_memory_bytes())


def _optional(name: str) -> Any | None:
    """Import `name` if installed; None if absent or broken on import."""
    if importlib.util.find_spec(name) is None:
        return None
    try:
        return importlib.import_module(name)
    except Exception:  # noqa: BLE001 - a broken optional library counts as absent
        return None


def _probe_ctranslate2(notes: list[str]) -> tuple[int, tuple[str, ...]]:
    ct2 = _optional("ctranslate2")
    if ct2 is None:
        return 0, ()
    try:
        count = int(ct2.get_cuda_device_count())
    except Exception as err:  # noqa: BLE001 - a broken driver reads as no device
        notes.append(f"ctranslate2 could not count CUDA devices: {err}")
        return 0, ()
    if not count:
        return 0, ()
    try:
        types = tuple(sorted(ct2.get_supported_compute_types("cuda")))
    except Exception as err:  # noqa: BLE001
        notes.append(f"ctranslate2 could not list CUDA compute types: {err}")
        types = ()
    return count, types


def _probe_torch(notes: list[str]) -> tuple[int, bool, list[GPUInfo]]:
    if importlib.util.find_spec("torch") is None:
        return 0, False, []
    torch = _optional("torch")
    if torch is None:
        notes.append("torch is installed but does not import")
        return 0, False, []
    gpus: list[GPUInfo] = []
    count = 0
    try:
        if torch.cuda.is_available():
            count = int(torch.cuda.device_count())
            for i in range(count):
                props = torch.cuda.get_device_properties(i)
                free, total = torch.cuda.mem_get_info(i)
                gpus.append(
                    GPUInfo(
                        i,
                        "cuda",
                        str(props.name),
                        int(total),
                        int(free),
                        None,
                        f"{props.major}.{props.minor}",
                    )  # fmt: skip
                )
    except Exception as err:  # noqa: BLE001 - a CUDA build without a working driver
        notes.append(f"torch could not query CUDA: {err}")
    mps = False
    with contextlib.suppress(Exception):
        mps = bool(torch.backends.mps.is_available())
    return count, mps, gpus


def _probe_nvml(notes: list[str]) -> list[GPUInfo]:
    """Memory and utilisation of each NVIDIA GPU through NVML (nvidia-ml-py), if installed."""
    pynvml = _optional("pynvml")
    if pynvml is None:
        return []
    try:
        pynvml.nvmlInit()
    except Exception as err:  # noqa: BLE001 - no driver: no NVIDIA GPU to report
        if "not found" not in str(err).lower():  # no NVIDIA driver at all is not worth a note
            notes.append(f"NVML not available: {err}")
        return []
    gpus: list[GPUInfo] = []
    try:
        for i in range(int(pynvml.nvmlDeviceGetCount())):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(handle)
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
            util = pynvml.nvmlDeviceGetUtilizationRates(handle)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
            label = name.decode() if isinstance(name, bytes) else str(name)
            gpus.append(
                GPUInfo(
                    i,
                    "cuda",
                    label,
                    int(mem.total),
                    int(mem.free),
                    int(util.gpu),
                    f"{major}.{minor}",
                )  # fmt: skip
            )
    except Exception as err:  # noqa: BLE001
        notes.append(f"NVML query failed: {err}")
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()
    return gpus


def detect_inventory(*, with_torch: bool = True) -> Inventory:
    """Ask every installed library what it can run on.

    Args:
        with_torch: Also import torch (about a second) for its CUDA and MPS view. The engine
            loader skips it unless a torch engine is configured.
    """
    notes: list[str] = []
    ct2_count, ct2_types = _probe_ctranslate2(notes)
    torch_count, mps, torch_gpus = _probe_torch(notes) if with_torch else (0, False, [])
    nvml_gpus = _probe_nvml(notes)
    providers: tuple[str, ...] = ()
    ort = _optional("onnxruntime")
    if ort is not None:
        with contextlib.suppress(Exception):
            providers = tuple(ort.get_available_providers())
    llama_gpu = False
    llama = _optional("llama_cpp")
    if llama is not None:
        with contextlib.suppress(Exception):
            llama_gpu = bool(llama.llama_supports_gpu_offload())
    cuda_devices = {"ctranslate2": ct2_count, "torch": torch_count, "nvml": len(nvml_gpus)}
    if providers:
        cuda_devices["onnxruntime"] = int("CUDAExecutionProvider" in providers)
    gpus = list(nvml_gpus or torch_gpus)
    if mps:
        gpus.append(GPUInfo(len(gpus), "mps", "Apple GPU (Metal)"))
    return Inventory(
        cpu=detect_cpu(),
        gpus=tuple(gpus),
        cuda_devices=cuda_devices,
        onnx_providers=providers,
        mps=mps,
        coreml="CoreMLExecutionProvider" in providers,
        llama_gpu_offload=llama_gpu,
        ct2_cuda_compute_types=ct2_types,
        notes=tuple(notes),
    )


@lru_cache(maxsize=2)
def cached_inventory(*, with_torch: bool = False) -> Inventory:
    """`detect_inventory`, once per process (devices do not come and go while we run)."""
    return detect_inventory(with_torch=with_torch)
