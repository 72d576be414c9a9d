"""`vocable bench llm`: time to first token and decode speed of each configured LLM engine.

The embedded llama.cpp engine always runs; every other engine in ``llm.engines`` runs when it
loads (a server that is down is listed under ``skipped`` with the reason). Each engine answers
one warm-up question, then `n` different short questions generated from a fixed seed, with the
configured system prompt and ``llm.max_tokens``.

Per reply, time to first token runs from the call to the first streamed piece, and decode speed
is (pieces - 1) / (last piece - first piece). The engines stream one piece per token (llama.cpp,
Ollama's NDJSON lines, and the SSE chunks of the llama.cpp server and vLLM), so pieces count
tokens.
"""

from __future__ import annotations

import contextlib
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from vocable.bench.machine import machine_info
from vocable.bench.stats import distribution
from vocable.config import Settings
from vocable.engines.fallback import describe_error
from vocable.engines.llm.base import ChatMessage, LanguageModel
from vocable.engines.llm.chain import LLM_LOADERS
from vocable.errors import VocableError

DEFAULT_ENGINE = "llama_cpp"

_SUBJECTS = (
    "the moon",
    "a rainbow",
    "coffee",
    "a bicycle",
    "the ocean",
    "a volcano",
    "bread",
    "a violin",
    "snow",
    "a lighthouse",
    "honey",
    "a compass",
    "thunder",
    "a library",
    "tea",
    "a glacier",
)
_FORMS = (
    "What is {} in one sentence?",
    "Tell me one fact about {}.",
    "Why do people like {}?",
    "Describe {} briefly.",
)


def questions(n: int, seed: int = 0) -> list[str]:
    """`n` short questions (plus one for the warm-up first), the same for the same seed."""
    rng = random.Random(seed)
    return [rng.choice(_FORMS).format(rng.choice(_SUBJECTS)) for _ in range(n + 1)]


async def run_llm_bench(
    settings: Settings,
    *,
    n: int,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Time every engine; the result follows the house bench format (one JSON object)."""
    names = list(dict.fromkeys([DEFAULT_ENGINE, *settings.llm.engines]))
    asked = questions(n, seed)
    figures: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    infos: dict[str, dict[str, Any]] = {}
    for name in names:
        progress(f"loading {name}…")
        try:
            engine = await LLM_LOADERS[name](settings)
        except VocableError as err:
            skipped[name] = describe_error(err)
            progress(f"{name} skipped: {skipped[name]}")
            continue
        try:
            infos[f"llm.{name}"] = engine.info.as_dict()
            figures[name] = await _time_engine(name, engine, settings, asked, progress)
        except VocableError as err:
            skipped[name] = f"failed during the bench: {describe_error(err)}"
            progress(f"{name} failed: {skipped[name]}")
        finally:
            await engine.close()
    primary = next((e for e in settings.llm.engines if e in figures), DEFAULT_ENGINE)
    out: dict[str, Any] = {"bench": "llm", "n": n, "seed": seed, "primary": primary}
    out.update({k: v for k, v in figures.get(primary, {}).items() if k != "n"})
    out["max_tokens"] = settings.llm.max_tokens
    out["engines"] = figures
    out["skipped"] = skipped
    out["machine"] = machine_info(infos)
    return out


async def _time_engine(
    name: str,
    engine: LanguageModel,
    settings: Settings,
    asked: list[str],
    progress: Callable[[str], None],
) -> dict[str, Any]:
    system = ChatMessage("system", settings.llm.system_prompt)
    progress(f"{name}: warm-up…")
    await _time_reply(engine, [system, ChatMessage("user", asked[0])])
    first_ms: list[float] = []
    rates: list[float] = []
    tokens: list[int] = []
    for i, question in enumerate(asked[1:], 1):
        ttft_ms, rate, count = await _time_reply(engine, [system, ChatMessage("user", question)])
        if ttft_ms is not None:
            first_ms.append(ttft_ms)
        if rate is not None:
            rates.append(rate)
        tokens.append(count)
        progress(f"{name} {i}/{len(asked) - 1}: first token {ttft_ms} ms, {count} tokens")
    return {
        "n": len(tokens),
        **distribution("ttft", first_ms),
        "tokens_per_s": round(statistics.median(rates), 1) if rates else None,
        "tokens_mean": round(statistics.fmean(tokens), 1) if tokens else 0,
    }


async def _time_reply(
    engine: LanguageModel, messages: list[ChatMessage]
) -> tuple[float | None, float | None, int]:
    """(ms to the first piece, pieces per second after it, pieces) for one reply."""
    start = time.perf_counter()
    first = last = 0.0
    count = 0
    async with contextlib.aclosing(engine.stream(messages)) as items:
        async for item in items:
            if not isinstance(item, str):
                continue
            last = time.perf_counter()
            if count == 0:
                first = last
            count += 1
    ttft = round((first - start) * 1000, 1) if count else None
    rate = (count - 1) / (last - first) if count > 1 and last > first else None
    return ttft, rate, count


def summary_line(result: dict[str, Any]) -> str:
    """One line for people."""
    parts = [
        f"{name}: first token p50 {f['ttft_p50_ms']} ms, p95 {f['ttft_p95_ms']} ms, "
        f"{f['tokens_per_s']} tokens/s"
        for name, f in result["engines"].items()
    ]
    parts += [f"{name} skipped ({reason})" for name, reason in result["skipped"].items()]
    return f"bench llm n={result['n']}: " + " | ".join(parts)
