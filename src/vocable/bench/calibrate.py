"""`vocable calibrate`: short, bounded runs of every installed engine, saved as a profile.

Figures carry their unit in the key: STT latency on a 3 s utterance (``latency_ms``, ``rtf``),
LLM time to first token and speed (``ttft_ms``, ``tok_per_s``), TTS first audio and real-time
factor (``first_audio_ms``, ``rtf``), VAD real-time factor (``rtf``). Each engine gets one
warm-up and `runs` timed runs (median); an engine that cannot load is recorded with
``ok: false`` and its reason.
"""

from __future__ import annotations

import logging
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vocable.bench.machine import machine_info
from vocable.config import Settings
from vocable.engines.chain import describe_error
from vocable.engines.llm.base import ChatMessage
from vocable.engines.loader import TTS_LOADERS, load_llm, load_stt, load_vad
from vocable.hardware.detect import cached_inventory
from vocable.hardware.profile import (
    Profile,
    apply_profile,
    fingerprint,
    fingerprint_parts,
    profile_path,
)

log = logging.getLogger(__name__)

RATE = 16000
UTTERANCE_S = 3.0
UTTERANCE_TEXT = "What is the weather like in Paris today, and should I take an umbrella?"
TTS_TEXT = "Sure, it will be sunny this afternoon."
LLM_PROMPT = "Say hello in one short sentence."
LLM_MAX_TOKENS = 24
Step = Callable[[str], None]


def utterance(seconds: float = UTTERANCE_S) -> tuple[npt.NDArray[np.float32], str]:
    """`seconds` of 16 kHz speech and where it came from (flite if installed, else a tone mix).

    The length, not the words, sets Whisper's cost with a fitted window; a synthetic signal
    gives the same latency when no speech synthesiser is installed.
    """
    samples = int(seconds * RATE)
    flite = shutil.which("flite")
    if flite is not None:
        from vocable.audio.io import read_audio_file

        with tempfile.TemporaryDirectory(prefix="vocable-cal-") as tmp:
            wav = Path(tmp) / "u.wav"
            done = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
                [flite, "-voice", "slt", "-t", UTTERANCE_TEXT, "-o", str(wav)],
                capture_output=True,
                timeout=30,
                check=False,
            )
            if done.returncode == 0:
                audio = read_audio_file(wav, target_rate=RATE, max_seconds=60).samples
                out = np.zeros(samples, np.float32)
                out[: min(samples, len(audio))] = audio[:samples]
                return out, "flite"
    t = np.arange(samples) / RATE
    tone = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((140, 280, 420, 560), 1))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.1 * tone * envelope).astype(np.float32), "synthetic"


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


async def _vad(settings: Settings, audio: npt.NDArray[np.float32], runs: int) -> dict[str, Any]:
    vad = await load_vad(settings)
    try:
        n = vad.frame_samples
        frames = [audio[i : i + n] for i in range(0, len(audio) - n + 1, n)]
        times: list[float] = []
        for _ in range(runs + 1):
            vad.reset()
            start = time.perf_counter()
            for frame in frames:
                vad.speech_probability(frame)
            times.append(time.perf_counter() - start)
        seconds = _median(times[1:])
        return {
            "ok": True,
            "rtf": round(seconds / (len(frames) * n / RATE), 5),
            "device": vad.info.device,
        }
    finally:
        await vad.close()


async def _stt(settings: Settings, audio: npt.NDArray[np.float32], runs: int) -> dict[str, Any]:
    stt = await load_stt(settings)
    try:
        await stt.transcribe(audio)
        times: list[float] = []
        text = ""
        for _ in range(runs):
            start = time.perf_counter()
            text = (await stt.transcribe(audio)).text
            times.append((time.perf_counter() - start) * 1000)
        latency = _median(times)
        info = stt.info
        return {
            "ok": True,
            "latency_ms": latency,
            "rtf": round(latency / 1000 / UTTERANCE_S, 4),
            "device": info.device,
            "compute_type": info.compute_type,
            "text": text,
        }
    finally:
        await stt.close()


async def _llm(settings: Settings, name: str, runs: int) -> dict[str, Any]:
    cfg = settings.llm.model_copy(update={"engines": [name], "max_tokens": LLM_MAX_TOKENS})
    chain = await load_llm(settings.model_copy(update={"llm": cfg}))
    try:
        messages = [ChatMessage("user", LLM_PROMPT)]
        ttfts: list[float] = []
        rates: list[float] = []
        for i in range(runs + 1):
            start = time.perf_counter()
            first = 0.0
            pieces = 0
            stream = chain.stream([*messages, ChatMessage("user", f"({i})")])
            async for _ in stream:
                pieces += 1
                first = first or time.perf_counter()
            end = time.perf_counter()
            if i and first:  # run 0 is the warm-up
                ttfts.append((first - start) * 1000)
                rates.append((pieces - 1) / (end - first) if pieces > 1 and end > first else 0.0)
        return {
            "ok": True,
            "ttft_ms": _median(ttfts),
            "tok_per_s": _median(rates),
            "device": chain.info.device,
        }
    finally:
        await chain.close()


async def _tts(settings: Settings, name: str, runs: int) -> dict[str, Any]:
    engine = await TTS_LOADERS[name](settings)
    try:
        firsts: list[float] = []
        rtfs: list[float] = []
        for i in range(runs + 1):
            start = time.perf_counter()
            first = 0.0
            nbytes = 0
            async for chunk in engine.synthesize(TTS_TEXT):
                first = first or time.perf_counter()
                nbytes += len(chunk.pcm)
            elapsed = time.perf_counter() - start
            audio_s = nbytes / 2 / engine.sample_rate
            if i and first and audio_s:
                firsts.append((first - start) * 1000)
                rtfs.append(elapsed / audio_s)
        return {
            "ok": True,
            "first_audio_ms": _median(firsts),
            "rtf": round(min(rtfs), 4),
            "device": engine.info.device,
        }
    finally:
        await engine.close()


def plan_steps(settings: Settings) -> list[tuple[str, str]]:
    """(kind, engine) pairs to measure: VAD, STT, every LLM in the chain, every TTS engine."""
    steps = [("vad", "silero"), ("stt", "faster-whisper")]
    steps += [("llm", name) for name in dict.fromkeys(settings.llm.engines)]
    steps += [("tts", name) for name in TTS_LOADERS if name != "edge"]  # edge needs a network
    return steps


async def run_calibration(
    settings: Settings, *, runs: int = 3, step: Step = lambda _: None
) -> dict[str, Any]:
    """Measure every engine, save the profile, and return the figures (JSON-ready)."""
    audio, source = utterance()
    figures: dict[str, dict[str, Any]] = {}
    for kind, name in plan_steps(settings):
        step(f"{kind}.{name}")
        try:
            if kind == "vad":
                fig = await _vad(settings, audio, runs)
            elif kind == "stt":
                fig = await _stt(settings, audio, runs)
            elif kind == "llm":
                fig = await _llm(settings, name, runs)
            else:
                fig = await _tts(settings, name, runs)
        except Exception as err:  # noqa: BLE001 - an engine that cannot run is a finding
            fig = {"ok": False, "error": describe_error(err)}
        figures[f"{kind}.{name}"] = fig
    parts = fingerprint_parts(settings)
    profile = Profile(fingerprint(parts), figures, parts=parts)
    path = profile_path(settings)
    profile.save(path)
    ordered, applied = apply_profile(settings, profile)
    return {
        "bench": "calibrate",
        "n": runs,
        "utterance_s": UTTERANCE_S,
        "utterance_source": source,
        "figures": figures,
        "chains": {"tts": ordered.tts.engines, "llm": ordered.llm.engines},
        "budgets": {
            "tts_first_audio_budget_s": ordered.tts.first_audio_budget_s,
            "llm_first_token_timeout_s": ordered.llm.first_token_timeout_s,
        },
        "applied": applied,
        "profile_path": str(path),
        "fingerprint": profile.fingerprint,
        "machine": machine_info() | {"inventory": cached_inventory().as_dict()},
    }


def summary_line(result: dict[str, Any]) -> str:
    """One line for people."""
    parts = []
    for key, fig in result["figures"].items():
        if not fig.get("ok"):
            parts.append(f"{key} unavailable")
            continue
        shown = {k: v for k, v in fig.items() if k.endswith(("_ms", "_per_s", "rtf"))}
        parts.append(f"{key} " + " ".join(f"{k}={v}" for k, v in shown.items()))
    chains = result["chains"]
    return (
        f"calibrate: {'; '.join(parts)} | tts chain {chains['tts']}, llm chain {chains['llm']}"
        f" | profile {result['profile_path']}"
    )


async def recalibrate_if_stale(
    settings: Settings,
    *,
    runner: Callable[[Settings], Any] | None = None,
) -> bool:
    """Measure again when the profile's hardware or engine fingerprint no longer matches.

    ``vocable serve`` calls this before loading engines (``hardware.recalibrate_on_change``).
    A machine that was never calibrated is left alone: calibrating is the user's choice.
    Returns whether it re-calibrated.
    """
    from vocable.hardware.profile import profile_state

    if not (settings.hardware.use_profile and settings.hardware.recalibrate_on_change):
        return False
    _, state = profile_state(settings)
    if state != "stale":
        return False
    log.warning("hardware or engines changed since the last calibration; calibrating again")
    try:
        await (runner or run_calibration)(settings)
    except Exception:  # noqa: BLE001 - serving on the settings order beats not serving
        log.exception("re-calibration failed; the chains keep their settings order")
        return False
    return True
