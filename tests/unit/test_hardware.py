"""Device selection, compute types and thread budgets on simulated device inventories."""

from __future__ import annotations

import pytest

from vocable.config import Settings, load_settings
from vocable.errors import ConfigError
from vocable.hardware import CPUInfo, GPUInfo, Inventory, detect_inventory, plan_engine
from vocable.hardware.detect import parse_cpuinfo
from vocable.hardware.plan import budget_for, thread_budget

CPU16 = CPUInfo(logical=32, physical=16, model="test", simd=("avx2",), memory_bytes=64 << 30)
CPU2 = CPUInfo(logical=2, physical=2, model="small")
H100 = GPUInfo(0, "cuda", "NVIDIA H100", 80 << 30, 79 << 30, 0, "9.0")
SMALL_GPU = GPUInfo(0, "cuda", "GeForce MX", 2 << 30, 1 << 30, 0, "6.1")

CPU_ONLY = Inventory(cpu=CPU16, onnx_providers=("CPUExecutionProvider",))
CUDA_BOX = Inventory(
    cpu=CPU16,
    gpus=(H100,),
    cuda_devices={"ctranslate2": 1, "torch": 1, "nvml": 1, "onnxruntime": 1},
    onnx_providers=("CUDAExecutionProvider", "CPUExecutionProvider"),
    llama_gpu_offload=True,
    ct2_cuda_compute_types=("float16", "int8", "int8_float16", "float32"),
)
APPLE = Inventory(
    cpu=CPUInfo(logical=12, physical=12, model="Apple M3 Max", simd=("neon",)),
    gpus=(GPUInfo(0, "mps", "Apple GPU (Metal)"),),
    cuda_devices={"ctranslate2": 0, "torch": 0},
    onnx_providers=("CoreMLExecutionProvider", "CPUExecutionProvider"),
    mps=True,
    coreml=True,
    llama_gpu_offload=True,
)

CPUINFO = "\n".join(
    f"processor\t: {i}\nmodel name\t: Test CPU\nphysical id\t: {i // 4}\ncore id\t\t: {i % 2}\n"
    "flags\t\t: fpu sse4_1 sse4_2 avx avx2 fma avx512f\n"
    for i in range(8)
)


def test_cpuinfo_counts_distinct_physical_cores_and_simd_flags() -> None:
    model, physical, simd = parse_cpuinfo(CPUINFO)
    assert model == "Test CPU"
    assert physical == 4  # 2 sockets x 2 cores, each with 2 hyper-threads
    assert simd == ("sse4_1", "sse4_2", "avx", "avx2", "fma", "avx512f")
    assert parse_cpuinfo("") == ("", 0, ())


def test_detection_on_this_machine_reports_the_cpu() -> None:
    inv = detect_inventory(with_torch=False)
    assert inv.cpu.physical >= 1 and inv.cpu.logical >= inv.cpu.physical
    assert inv.cpu.memory_bytes > 0
    assert "CPUExecutionProvider" in inv.onnx_providers


def test_cpu_only_machine_runs_everything_on_the_cpu(settings: Settings) -> None:
    stt = plan_engine(settings, "stt", CPU_ONLY)
    assert (stt.device, stt.compute_type, stt.threads) == ("cpu", "int8", 16)
    llm = plan_engine(settings, "llm", CPU_ONLY)
    assert (llm.device, llm.n_gpu_layers) == ("cpu", 0)
    assert plan_engine(settings, "tts", CPU_ONLY).providers == ("CPUExecutionProvider",)
    assert plan_engine(settings, "torch", CPU_ONLY).device == "cpu"


def test_cuda_machine_puts_each_engine_on_the_gpu(settings: Settings) -> None:
    stt = plan_engine(settings, "stt", CUDA_BOX)
    assert (stt.device, stt.compute_type, stt.source) == ("cuda", "float16", "detected")
    llm = plan_engine(settings, "llm", CUDA_BOX)
    assert (llm.device, llm.n_gpu_layers) == ("cuda", -1)
    tts = plan_engine(settings, "tts", CUDA_BOX)
    assert tts.providers == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert plan_engine(settings, "torch", CUDA_BOX).device == "cuda"


def test_small_or_old_gpu_gets_int8_float16(settings: Settings) -> None:
    low_memory = Inventory(cpu=CPU2, gpus=(SMALL_GPU,), cuda_devices={"ctranslate2": 1})
    assert plan_engine(settings, "stt", low_memory).compute_type == "int8_float16"
    no_fp16 = Inventory(
        cpu=CPU2, gpus=(H100,), cuda_devices={"ctranslate2": 1},
        ct2_cuda_compute_types=("int8", "int8_float16", "float32"),
    )  # fmt: skip
    assert plan_engine(settings, "stt", no_fp16).compute_type == "int8_float16"


def test_apple_machine_uses_mps_coreml_and_metal(settings: Settings) -> None:
    assert plan_engine(settings, "torch", APPLE).device == "mps"
    assert plan_engine(settings, "tts", APPLE).providers[0] == "CoreMLExecutionProvider"
    assert plan_engine(settings, "stt", APPLE).device == "cpu"  # CTranslate2 has no Metal path
    forced = load_settings(stt={"device": "mps"})
    assert plan_engine(forced, "stt", APPLE).device == "cpu"


def test_settings_override_detection(settings: Settings) -> None:
    cpu_stt = load_settings(stt={"device": "cpu"})
    plan = plan_engine(cpu_stt, "stt", CUDA_BOX)
    assert (plan.device, plan.compute_type, plan.source) == ("cpu", "int8", "settings")
    typed = load_settings(stt={"compute_type": "int8_float16"})
    assert plan_engine(typed, "stt", CUDA_BOX).compute_type == "int8_float16"
    no_offload = load_settings(llm={"n_gpu_layers": 0})
    assert plan_engine(no_offload, "llm", CUDA_BOX).device == "cpu"
    everything_cpu = load_settings(hardware={"device": "cpu"})
    for kind in ("stt", "llm", "tts", "torch"):
        assert plan_engine(everything_cpu, kind, CUDA_BOX).device == "cpu", kind  # type: ignore[arg-type]  # kinds are literals


def test_environment_overrides_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOCABLE_STT__DEVICE", "cpu")
    monkeypatch.setenv("VOCABLE_HARDWARE__TTS_DEVICE", "cpu")
    settings = load_settings()
    assert plan_engine(settings, "stt", CUDA_BOX).device == "cpu"
    assert plan_engine(settings, "tts", CUDA_BOX).providers == ("CPUExecutionProvider",)


def test_unknown_device_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="stt.device"):
        plan_engine(load_settings(stt={"device": "tpu"}), "stt", CPU_ONLY)


def test_thread_budget_splits_the_cores_without_oversubscribing() -> None:
    small = thread_budget(physical=2)
    assert (small.stt, small.llm, small.tts, small.vad, small.llm_batch) == (2, 1, 1, 1, 1)
    big = thread_budget(physical=16)
    assert (big.stt, big.llm, big.tts, big.llm_batch) == (16, 12, 4, 15)
    assert big.llm + big.tts == 16  # LLM and TTS overlap while a reply streams
    assert thread_budget(4, physical=16).stt == 4  # settings.threads caps the total
    first = thread_budget(physical=2, speech_first=True)  # the LLM waits while TTS runs
    assert (first.stt, first.llm, first.tts, first.llm_batch) == (2, 1, 2, 1)
    assert thread_budget(physical=16, speech_first=True).llm == 12


def test_thread_settings_and_library_mode() -> None:
    custom = load_settings(stt={"threads": 3}, llm={"threads": 5}, hardware={"tts_threads": 2})
    budget = budget_for(custom, CPU_ONLY)
    assert (budget.stt, budget.llm, budget.tts) == (3, 5, 2)
    library = budget_for(load_settings(hardware={"threads": "library"}), CPU_ONLY)
    assert (library.stt, library.llm, library.tts, library.llm_batch) == (0, 0, 0, 0)
    assert plan_engine(load_settings(hardware={"threads": "library"}), "stt", CPU_ONLY).threads == 0
