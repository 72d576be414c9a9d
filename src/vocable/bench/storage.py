"""`vocable bench storage`: streamed replies through the message writer, per database backend."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import make_url

from vocable.bench.machine import machine_info
from vocable.storage import (
    Database,
    MessageStatus,
    MessageWriter,
    StorageSettings,
    create_engine,
    repo,
)
from vocable.storage.models import MessageRole
from vocable.storage.settings import database_url


def bench_urls(storage: StorageSettings, data_dir: Path, scratch: Path) -> dict[str, str]:
    """SQLite in `scratch` always; PostgreSQL too when the settings point at it.

    The bench never writes to the configured SQLite file; on PostgreSQL it works in a
    temporary schema that it drops afterwards.
    """
    urls = {"sqlite": f"sqlite+aiosqlite:///{scratch / 'bench.db'}"}
    configured = database_url(storage, data_dir)
    if make_url(configured).get_backend_name() == "postgresql":
        urls["postgresql"] = configured
    return urls


def _ms(values_ns: list[int], q: float) -> float:
    return round(float(np.percentile(np.asarray(values_ns, dtype=np.float64), q)) / 1e6, 4)


def _reply(n: int) -> list[str]:
    return [f"word{i}{'.' if i % 12 == 11 else ''} " for i in range(n)]


async def _bench_backend(
    storage: StorageSettings,
    url: str,
    *,
    n: int,
    tokens_per_turn: int,
    arrival_rate: float,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    gap_s = 1 / arrival_rate if arrival_rate > 0 else 0.0
    started = time.perf_counter()
    db = await Database.open(storage, url=url)
    open_ms = (time.perf_counter() - started) * 1000
    try:
        async with db.uow() as tx:
            user = await repo.create_user(tx, name="bench")
            conv = await repo.create_conversation(tx, user_id=user.id, title="bench")
        enqueue_ns: list[int] = []
        transactions: list[int] = []
        tokens = _reply(tokens_per_turn)
        async with MessageWriter(db) as writer:
            stream_start = time.perf_counter()
            for turn in range(n):
                before = db.stats.transactions
                handle = await writer.start_message(user_id=user.id, conversation_id=conv.id)
                for i, token in enumerate(tokens):
                    t0 = time.perf_counter_ns()
                    handle.append(token)
                    enqueue_ns.append(time.perf_counter_ns() - t0)
                    if token.endswith(". "):
                        handle.checkpoint("".join(tokens[: i + 1]))
                    await asyncio.sleep(gap_s)  # tokens arrive apart, as from a model
                handle.finish()
                await handle.sync()
                transactions.append(db.stats.transactions - before)
                progress(f"  turn {turn + 1}/{n}: {transactions[-1]} transactions")
            stream_s = time.perf_counter() - stream_start
            stats = writer.stats
        async with db.uow() as tx:  # n replies cut off by a crash, for recovery to find
            for _ in range(n):
                await repo.add_message(
                    tx,
                    user_id=user.id,
                    conversation_id=conv.id,
                    role=MessageRole.ASSISTANT,
                    text="".join(tokens[: tokens_per_turn // 2]),
                    status=MessageStatus.STREAMING,
                )
        async with MessageWriter(db) as recovering:
            recovery = recovering.stats
    finally:
        await db.close()
    return {
        "tokens_per_s": round(n * tokens_per_turn / stream_s, 1),
        "enqueue_p50_ms": _ms(enqueue_ns, 50),
        "enqueue_p99_ms": _ms(enqueue_ns, 99),
        "transactions_per_turn": round(sum(transactions) / n, 2),
        "recovery_ms": recovery.recovery_ms,
        "recovered": recovery.recovered,
        "open_ms": round(open_ms, 1),
        "batches": stats.batches,
        "coalesced": stats.coalesced,
        "max_queue_depth": stats.max_queue_depth,
        "retries": db.stats.retries,
    }


async def _drop_schema(url: str, storage: StorageSettings) -> None:
    engine = create_engine(url, storage)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{storage.pg_schema}" CASCADE'))
    finally:
        await engine.dispose()


async def run_storage_bench(
    storage: StorageSettings,
    *,
    database_urls: Mapping[str, str],
    n: int = 20,
    tokens_per_turn: int = 200,
    arrival_rate: float = 0.0,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Stream `n` replies of `tokens_per_turn` tokens on each database, then time recovery.

    Args:
        storage: Writer batching, retry and limit settings to measure with.
        database_urls: Backend label to URL (see `bench_urls`). PostgreSQL runs in a
            temporary schema, dropped afterwards.
        n: Replies per backend (and crashed replies for recovery to find).
        tokens_per_turn: Deltas per reply, a sentence checkpoint every 12.
        arrival_rate: Deltas per second the "model" produces; 0 sends them as fast as the
            event loop turns (throughput). Live speech is about 100.
        progress: Receives progress lines.
    """
    backends: dict[str, dict[str, Any]] = {}
    for label, url in database_urls.items():
        settings = storage
        is_pg = make_url(url).get_backend_name() == "postgresql"
        if is_pg:
            settings = storage.model_copy(update={"pg_schema": f"bench_{uuid.uuid4().hex[:12]}"})
        progress(f"{label}: streaming {n} replies of {tokens_per_turn} tokens…")
        try:
            backends[label] = await _bench_backend(
                settings,
                url,
                n=n,
                tokens_per_turn=tokens_per_turn,
                arrival_rate=arrival_rate,
                progress=progress,
            )
        finally:
            if is_pg:
                await _drop_schema(url, settings)
    return {
        "bench": "storage",
        "n": n,
        "tokens_per_turn": tokens_per_turn,
        "arrival_rate_per_s": arrival_rate,
        "writer_batch_ms": storage.writer_batch_ms,
        "writer_batch_tokens": storage.writer_batch_tokens,
        "backends": backends,
        "machine": machine_info(),
    }


def summary_line(result: dict[str, Any]) -> str:
    """One line for people."""
    parts = [
        f"{label}: {r['tokens_per_s']:.0f} tokens/s persisted, enqueue p50 "
        f"{r['enqueue_p50_ms']} ms p99 {r['enqueue_p99_ms']} ms, "
        f"{r['transactions_per_turn']} transactions/turn, recovery {r['recovery_ms']} ms"
        for label, r in result["backends"].items()
    ]
    return (
        f"bench storage n={result['n']} ({result['tokens_per_turn']} tokens/turn) | "
        + " | ".join(parts)
    )
