import json
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.storage.helpers import pg_url
from vocable.bench.storage import bench_urls, run_storage_bench, summary_line
from vocable.storage import StorageSettings

FIELDS = {
    "tokens_per_s",
    "enqueue_p50_ms",
    "enqueue_p99_ms",
    "transactions_per_turn",
    "recovery_ms",
}


def test_bench_uses_a_scratch_sqlite_and_the_configured_postgres(tmp_path: Path) -> None:
    local = bench_urls(StorageSettings(), tmp_path / "data", tmp_path)
    assert local == {"sqlite": f"sqlite+aiosqlite:///{tmp_path / 'bench.db'}"}
    pg = bench_urls(StorageSettings(url="postgres://u@h/db"), tmp_path, tmp_path)
    assert pg["postgresql"] == "postgresql+asyncpg://u@h/db" and "sqlite" in pg


async def schemas(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT schema_name FROM information_schema.schemata"))
            return {r[0] for r in rows}
    finally:
        await engine.dispose()


async def test_bench_reports_each_backend_with_units(tmp_path: Path) -> None:
    urls = bench_urls(StorageSettings(), tmp_path, tmp_path)
    postgres = pg_url()
    if postgres:
        urls["postgresql"] = postgres
        before = await schemas(postgres)
    progress: list[str] = []
    result = await run_storage_bench(
        StorageSettings(writer_batch_tokens=16),
        database_urls=urls,
        n=3,
        tokens_per_turn=40,
        arrival_rate=2000,
        progress=progress.append,
    )
    json.dumps(result)  # JSON-ready
    assert result["bench"] == "storage" and result["n"] == 3
    assert result["arrival_rate_per_s"] == 2000
    assert {"cores", "ram_bytes", "device"} <= set(result["machine"])
    assert set(result["backends"]) == set(urls)
    for figures in result["backends"].values():
        assert FIELDS <= set(figures)
        assert figures["tokens_per_s"] > 0
        assert 0 <= figures["enqueue_p50_ms"] <= figures["enqueue_p99_ms"] < 50
        # create + at least 40/16 count batches + finish, each its own transaction
        assert 3 <= figures["transactions_per_turn"] <= 40
        assert figures["recovered"] == 3 and figures["recovery_ms"] > 0
    assert any("turn 3/3" in line for line in progress)
    line = summary_line(result)
    assert line.startswith("bench storage n=3") and all(label in line for label in urls)
    if postgres:
        assert await schemas(postgres) == before  # the temporary schema is gone
