"""Load the text embedder named by ``memory.embed_engine``, once per process and settings."""

from __future__ import annotations

import asyncio
import weakref

from vocable.config import Settings
from vocable.engines.embed.base import TextEmbedder
from vocable.engines.embed.cache import CachedEmbedder

_loaded: dict[tuple[str, str, int], CachedEmbedder] = {}
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


async def load_uncached(settings: Settings) -> TextEmbedder:
    """A new embedder of ``memory.embed_engine``, without the LRU cache.

    Raises:
        EngineUnavailableError: its packages or model are missing; the message says what to
            install.
    """
    cfg = settings.memory
    if cfg.embed_engine == "hashing":
        from vocable.engines.embed.hashing import HashingEmbedder

        return HashingEmbedder()
    from vocable.engines.embed.minilm import MiniLMEmbedder
    from vocable.hardware.fallback import load_with_cpu_fallback
    from vocable.hardware.plan import plan_engine

    async def load(on: Settings) -> TextEmbedder:
        device = plan_engine(on, "torch").device  # hardware.embed_device, or what was detected
        return await MiniLMEmbedder.load(
            on.memory.embed_model_path, threads=on.memory.embed_threads, device=device
        )

    return await load_with_cpu_fallback("torch", settings, load)


async def load_embedder(settings: Settings) -> CachedEmbedder:
    """The shared embedder for these settings, behind an LRU of ``memory.embed_cache_size``.

    Loaded on first use and reused by later calls (the model loads once per process); close it
    with `close_embedders` at shutdown.
    """
    cfg = settings.memory
    key = (cfg.embed_engine, str(cfg.embed_model_path or ""), cfg.embed_cache_size)
    lock = _locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock:
        cached = _loaded.get(key)
        if cached is None or cached.closed:
            cached = CachedEmbedder(await load_uncached(settings), cfg.embed_cache_size)
            _loaded[key] = cached
        return cached


async def close_embedders() -> None:
    """Close every embedder `load_embedder` loaded."""
    loaded = list(_loaded.values())
    _loaded.clear()
    for embedder in loaded:
        await embedder.close()


def cache_stats() -> dict[str, dict[str, float]]:
    """Hits, misses, hit rate and size of each loaded embedder's LRU, by model name.

    For metrics exporters: ``vocable_embed_cache_hit_ratio{model=...}``.
    """
    return {
        e.model_name: {
            "hits": e.hits,
            "misses": e.misses,
            "hit_rate": e.hit_rate,
            "size": len(e),
            "capacity": e.size,
        }
        for e in _loaded.values()
        if not e.closed
    }
