"""`vocable bench api`: the OpenAI-compatible speech routes of a real server under load."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from vocable.api.app import create_app
from vocable.assistant import Assistant
from vocable.bench.corpus import build_corpus
from vocable.bench.machine import machine_info
from vocable.bench.stats import distribution
from vocable.config import Settings
from vocable.engines.loader import load_engines

SENTENCES = (
    "Your timer is set for ten minutes.",
    "It will be sunny this afternoon, with a light breeze.",
    "I have added milk and eggs to your shopping list.",
    "The next train leaves at half past four.",
)
BENCH_PASSWORD = "bench-password-not-secret"  # noqa: S105 - a throwaway account in a temp dir


@contextlib.asynccontextmanager
async def _serve(settings: Settings, assistant: Assistant) -> AsyncIterator[str]:
    import uvicorn

    app = create_app(settings, assistant=assistant)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


async def _load(
    clients: int, total: int, one: Callable[[int], Awaitable[float]]
) -> tuple[list[float], float]:
    """Run `total` requests from `clients` concurrent workers; latencies (ms) and wall time."""
    latencies: list[float] = []
    queue = iter(range(total))

    async def worker() -> None:
        for i in queue:
            latencies.append(await one(i))

    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(clients):
            group.create_task(worker())
    return latencies, time.perf_counter() - start


async def run_api_bench(
    settings: Settings,
    *,
    requests_per_level: int = 16,
    concurrency: Sequence[int] = (1, 4, 16),
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Requests per second and p50/p95 latency of speech (first byte) and transcription."""
    with tempfile.TemporaryDirectory(prefix="vocable-bench-api-") as tmp:
        progress("generating the transcription corpus…")
        corpus = build_corpus(Path(tmp) / "corpus", 4, seed=0)
        uploads = [item.path.read_bytes() for item in corpus]
        bench_settings = settings.model_copy(
            update={
                "data_dir": Path(tmp) / "data",
                "api": settings.api.model_copy(
                    update={"login_rate": "1000000/minute", "expensive_rate": "1000000/minute"}
                ),
                "auth": settings.auth.model_copy(update={"secret": None}),
                "storage": settings.storage.model_copy(update={"url": None}),
                "redis_url": None,
            }
        )
        progress("loading models…")
        engines = await load_engines(bench_settings)
        assistant = Assistant(bench_settings, engines)
        out: dict[str, Any] = {"bench": "api", "n": requests_per_level}
        try:
            async with (
                _serve(bench_settings, assistant) as base,
                httpx.AsyncClient(base_url=base, timeout=300) as c,
            ):
                account = {"username": "bench", "password": BENCH_PASSWORD}
                await c.post("/v1/auth/register", json=account)
                token = (await c.post("/v1/auth/login", json=account)).json()["access_token"]
                c.headers["Authorization"] = f"Bearer {token}"

                async def speech(i: int) -> float:
                    body = {"model": "tts-1", "voice": "alloy", "response_format": "pcm"}
                    start = time.perf_counter()
                    first = None
                    async with c.stream(
                        "POST", "/v1/audio/speech", json={**body, "input": SENTENCES[i % 4]}
                    ) as r:
                        r.raise_for_status()
                        async for _ in r.aiter_raw():
                            first = first or time.perf_counter()
                    return ((first or time.perf_counter()) - start) * 1000

                async def transcription(i: int) -> float:
                    start = time.perf_counter()
                    files = {"file": ("q.wav", uploads[i % len(uploads)], "audio/wav")}
                    r = await c.post("/v1/audio/transcriptions", files=files)
                    r.raise_for_status()
                    return (time.perf_counter() - start) * 1000

                await speech(0)  # warm-up
                await transcription(0)
                for clients in concurrency:
                    for name, one in (
                        ("speech_first_byte", speech),
                        ("transcription", transcription),
                    ):
                        progress(f"{name}: {requests_per_level} requests, {clients} clients…")
                        latencies, wall = await _load(clients, requests_per_level, one)
                        key = f"{name}_c{clients}"
                        out.update(distribution(key, latencies))
                        out[f"{key}_requests_per_s"] = round(len(latencies) / wall, 2)
            infos = {k: dict(v) for k, v in assistant.engine_infos().items()}
        finally:
            await assistant.close()
    out["concurrency"] = list(concurrency)
    out["machine"] = machine_info(infos)
    return out


def summary_line(result: dict[str, Any]) -> str:
    """One line for people."""
    parts = []
    for clients in result["concurrency"]:
        parts.append(
            f"c={clients}: speech {result[f'speech_first_byte_c{clients}_requests_per_s']}/s "
            f"first byte p95 {result[f'speech_first_byte_c{clients}_p95_ms']} ms, "
            f"transcription {result[f'transcription_c{clients}_requests_per_s']}/s "
            f"p95 {result[f'transcription_c{clients}_p95_ms']} ms"
        )
    return f"bench api n={result['n']} per level | " + " | ".join(parts)
