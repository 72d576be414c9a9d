"""Text embedders: the real all-MiniLM-L6-v2, the hashing engine, the LRU cache and the loader."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from vocable.config import Settings, load_settings
from vocable.engines.embed import (
    CachedEmbedder,
    TextEmbedder,
    cache_stats,
    close_embedders,
    load_embedder,
)
from vocable.engines.embed.base import Vectors
from vocable.engines.embed.hashing import HashingEmbedder
from vocable.engines.embed.minilm import MiniLMEmbedder
from vocable.errors import EngineUnavailableError, PipelineClosedError


@pytest.fixture(scope="session")
def minilm() -> Iterator[MiniLMEmbedder]:
    embedder = asyncio.run(MiniLMEmbedder.load())
    yield embedder
    asyncio.run(embedder.close())


class Counting:
    """A real embedder that records which texts reached it."""

    def __init__(self, inner: HashingEmbedder) -> None:
        self.inner = inner
        self.info, self.dim, self.model_name = inner.info, inner.dim, inner.model_name
        self.calls: list[list[str]] = []

    async def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls.append(list(texts))
        return await self.inner.embed(texts)

    async def close(self) -> None:
        await self.inner.close()


@pytest.mark.slow
async def test_minilm_gives_unit_384d_rows_that_rank_paraphrases_first(
    minilm: MiniLMEmbedder,
) -> None:
    assert isinstance(minilm, TextEmbedder)
    assert (minilm.dim, minilm.model_name, minilm.info.kind) == (384, "all-MiniLM-L6-v2", "embed")
    assert minilm.info.model_path.endswith("model")
    rows = await minilm.embed(
        [
            "My sister lives in Lisbon.",
            "Where does my sister live?",
            "The invoice is due on Friday.",
        ]
    )
    assert rows.shape == (3, 384) and rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    paraphrase, unrelated = float(rows[0] @ rows[1]), float(rows[0] @ rows[2])
    assert paraphrase > 0.5 > unrelated
    assert (await minilm.embed([])).shape == (0, 384)


@pytest.mark.slow
async def test_minilm_runs_off_the_event_loop(minilm: MiniLMEmbedder) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    ticker = asyncio.create_task(tick())
    await minilm.embed(["a long enough sentence to take a while " * 20] * 64)
    ticker.cancel()
    assert ticks > 3


@pytest.mark.slow
async def test_a_closed_minilm_refuses_work() -> None:
    embedder = await MiniLMEmbedder.load()
    await embedder.close()
    await embedder.close()
    with pytest.raises(PipelineClosedError):
        await embedder.embed(["hello"])


async def test_a_missing_model_directory_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailableError, match="not a sentence-transformers model"):
        await MiniLMEmbedder.load(tmp_path)


async def test_hashing_embedder_is_deterministic_and_unit_length() -> None:
    a, b = HashingEmbedder(), HashingEmbedder()
    rows = await a.embed(["Set a timer", "set a timer!", "the cat sat"])
    np.testing.assert_array_equal(
        rows, await b.embed(["Set a timer", "set a timer!", "the cat sat"])
    )
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-6)
    assert float(rows[0] @ rows[1]) > 0.99 > float(rows[0] @ rows[2])
    assert not np.any((await a.embed([""]))[0])  # nothing to hash: a zero row, not NaN


async def test_cache_embeds_only_misses_and_counts_hits() -> None:
    inner = Counting(HashingEmbedder())
    cache = CachedEmbedder(inner, size=2)
    first = await cache.embed(["a", "b", "a"])
    assert inner.calls == [["a", "b"]]  # the repeat in one call is embedded once
    assert (cache.hits, cache.misses) == (0, 3)
    again = await cache.embed(["b", "a"])
    assert inner.calls == [["a", "b"]]
    np.testing.assert_array_equal(again, first[[1, 0]])
    assert (cache.hits, cache.misses, cache.hit_rate) == (2, 3, 0.4)
    await cache.embed(["c"])  # evicts the least recently used: "b"
    await cache.embed(["a"])
    await cache.embed(["b"])
    assert inner.calls[-1] == ["b"] and len(cache) == 2
    cache.reset_stats()
    assert cache.hit_rate == 0.0


async def test_cache_of_size_zero_keeps_nothing() -> None:
    inner = Counting(HashingEmbedder())
    cache = CachedEmbedder(inner, size=0)
    await cache.embed(["x"])
    await cache.embed(["x"])
    assert len(inner.calls) == 2 and len(cache) == 0 and cache.hit_rate == 0.0


async def test_cached_vectors_cannot_be_changed_by_the_caller() -> None:
    cache = CachedEmbedder(HashingEmbedder(), size=8)
    rows = await cache.embed(["keep me"])
    rows[:] = 0
    assert float(np.linalg.norm((await cache.embed(["keep me"]))[0])) == pytest.approx(1.0)


async def test_loader_shares_one_embedder_per_settings(settings: Settings) -> None:
    hashing = settings.model_copy(
        update={"memory": settings.memory.model_copy(update={"embed_engine": "hashing"})}
    )
    try:
        one, two = await asyncio.gather(load_embedder(hashing), load_embedder(hashing))
        assert one is two and one.model_name == "hashing-384"
        assert one.size == settings.memory.embed_cache_size
        await one.embed(["a", "a", "b"])
        assert cache_stats()["hashing-384"] == {
            "hits": 0,
            "misses": 3,
            "hit_rate": 0.0,
            "size": 2,
            "capacity": settings.memory.embed_cache_size,
        }
        await one.embed(["a"])
        assert cache_stats()["hashing-384"]["hit_rate"] == 0.25
        await one.close()
        three = await load_embedder(hashing)
        assert three is not one
        assert cache_stats()["hashing-384"]["misses"] == 0
    finally:
        await close_embedders()


async def test_loader_reports_a_bad_model_path(tmp_path: Path) -> None:
    bad = load_settings(data_dir=tmp_path, memory={"embed_model_path": str(tmp_path)})
    with pytest.raises(EngineUnavailableError):
        await load_embedder(bad)
