"""`vocable bench turn`: whole voice turns over a generated spoken corpus."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vocable.assistant import Assistant
from vocable.audio.io import read_audio_file
from vocable.bench.corpus import build_corpus
from vocable.bench.machine import machine_info
from vocable.bench.stats import distribution, word_error_rate
from vocable.config import Settings
from vocable.engines.loader import load_engines
from vocable.metrics.timings import TIMING_EVENTS


async def run_turn_bench(
    settings: Settings,
    *,
    n: int,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Time `n` turns (after one warm-up turn) and summarise each timing.

    Timings run from the end of the user's turn. In live use the VAD waits
    ``vad.min_silence_ms`` of silence before the turn ends; `live_first_audio_p50_ms` adds it.
    """
    with tempfile.TemporaryDirectory(prefix="vocable-bench-") as tmp:
        progress(f"generating a corpus of {n} spoken questions…")
        corpus = build_corpus(Path(tmp), n, seed=seed)
        progress("loading models…")
        start = time.perf_counter()
        engines = await load_engines(settings)
        load_total_s = time.perf_counter() - start
        assistant = Assistant(settings, engines)
        try:
            series: dict[str, list[float]] = {name: [] for name in TIMING_EVENTS}
            words: list[int] = []
            errors: list[float] = []
            decoded = [
                read_audio_file(
                    item.path,
                    target_rate=settings.audio.sample_rate,
                    max_seconds=settings.audio.max_input_seconds,
                )
                for item in corpus
            ]
            progress("warm-up turn…")
            await assistant.run_turn(decoded[0])
            for i, (item, audio) in enumerate(zip(corpus, decoded, strict=True), 1):
                result = await assistant.run_turn(audio)
                errors.append(word_error_rate(item.text, result.transcript))
                for name, value in result.timings.as_dict().items():
                    if value is not None:
                        series[name].append(value)
                words.append(len(result.reply.split()))
                progress(
                    f"turn {i}/{n}: first audio {result.timings.tts_first_audio} ms"
                    f" — {result.transcript!r}"
                )
            engine_info = {k: dict(v) for k, v in assistant.engine_infos().items()}
        finally:
            await assistant.close()
    out: dict[str, Any] = {"bench": "turn", "n": n, "seed": seed}
    for name, values in series.items():
        out.update(distribution(name, values))
    first_audio = out.get("tts_first_audio_p50_ms")
    out["endpoint_silence_ms"] = settings.vad.min_silence_ms
    out["live_first_audio_p50_ms"] = (
        round(first_audio + settings.vad.min_silence_ms, 1) if first_audio is not None else None
    )
    out["stt_wer_mean"] = round(sum(errors) / len(errors), 3) if errors else None
    out["reply_words_mean"] = round(sum(words) / len(words), 1) if words else 0
    out["load_s"] = {k: round(v, 3) for k, v in engines.load_s.items()}
    out["load_total_s"] = round(load_total_s, 3)
    out["machine"] = machine_info(engine_info)
    return out


def summary_line(result: dict[str, Any]) -> str:
    """One line for people."""
    if "baseline" in result:
        base = result["baseline"]
        return (
            f"bench turn n={result['n']} threads budget vs library: first audio p50 "
            f"{result['tts_first_audio_p50_ms']} vs {base['tts_first_audio_p50_ms']} ms, p95 "
            f"{result['tts_first_audio_p95_ms']} vs {base['tts_first_audio_p95_ms']} ms, total "
            f"p50 {result['total_p50_ms']} vs {base['total_p50_ms']} ms | speedup "
            f"{result['speedup_ratio']}x | budget {result['budget_threads']}"
        )
    return (
        f"bench turn n={result['n']}: first audio p50 {result['tts_first_audio_p50_ms']} ms, "
        f"p95 {result['tts_first_audio_p95_ms']} ms | stt p50 {result['stt_p50_ms']} ms, "
        f"first token p50 {result['llm_first_token_p50_ms']} ms, first sentence p50 "
        f"{result['first_sentence_p50_ms']} ms, total p50 {result['total_p50_ms']} ms | "
        f"live estimate (+{result['endpoint_silence_ms']} ms endpoint) "
        f"{result['live_first_audio_p50_ms']} ms | STT WER {result['stt_wer_mean']} | "
        f"models loaded in {result['load_total_s']} s"
    )


async def compare_threads(
    settings: Settings,
    *,
    n: int,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """The same turns with the thread budget and with every library's default thread count.

    Both engine sets are loaded in one process and the turns interleave (library, budget, then
    budget, library, ...), so a machine that gets busier during the run slows both alike. The
    top-level figures are the budget's; ``baseline`` holds the library defaults';
    ``speedup_ratio`` is the library p50 over the budget p50 of time to first audio.
    """
    runs = {
        mode: settings.model_copy(
            update={"hardware": settings.hardware.model_copy(update={"threads": mode})}
        )
        for mode in ("library", "budget")
    }
    series: dict[str, dict[str, list[float]]] = {
        mode: {name: [] for name in TIMING_EVENTS} for mode in runs
    }
    with tempfile.TemporaryDirectory(prefix="vocable-bench-") as tmp:
        progress(f"generating a corpus of {n} spoken questions…")
        corpus = build_corpus(Path(tmp), n, seed=seed)
        decoded = [
            read_audio_file(item.path, target_rate=settings.audio.sample_rate, max_seconds=60)
            for item in corpus
        ]
        assistants: dict[str, Assistant] = {}
        try:
            for mode, mode_settings in runs.items():
                progress(f"loading models ({mode} threads)…")
                assistants[mode] = Assistant(mode_settings, await load_engines(mode_settings))
                await assistants[mode].run_turn(decoded[0])  # warm-up
            for i, audio in enumerate(decoded, 1):
                order = ["library", "budget"] if i % 2 else ["budget", "library"]
                shown = []
                for mode in order:
                    result = await assistants[mode].run_turn(audio)
                    for name, value in result.timings.as_dict().items():
                        if value is not None:
                            series[mode][name].append(value)
                    shown.append(f"{mode} {result.timings.tts_first_audio} ms")
                progress(f"turn {i}/{n}: first audio " + ", ".join(shown))
            threads = {
                mode: {k: v.get("threads") for k, v in a.engine_infos().items()}
                for mode, a in assistants.items()
            }
            engine_info = assistants["budget"].engine_infos()
        finally:
            for assistant in assistants.values():
                await assistant.close()
    out: dict[str, Any] = {"bench": "turn", "threads": "compare", "n": n, "seed": seed}
    baseline: dict[str, Any] = {"threads": "library", "engine_threads": threads["library"]}
    for name in TIMING_EVENTS:
        out.update(distribution(name, series["budget"][name]))
        baseline.update(distribution(name, series["library"][name]))
    out["budget_threads"] = threads["budget"]
    out["baseline"] = baseline
    for key in ("tts_first_audio_p50", "tts_first_audio_p95", "total_p50", "total_p95"):
        mine, theirs = out.get(f"{key}_ms"), baseline.get(f"{key}_ms")
        out[f"{key}_speedup_ratio"] = round(theirs / mine, 3) if mine and theirs else None
    out["speedup_ratio"] = out["tts_first_audio_p50_speedup_ratio"]
    out["machine"] = machine_info({k: dict(v) for k, v in engine_info.items()})
    return out
