"""An LRU cache of embeddings in front of any `TextEmbedder`, keyed by (model, text)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from vocable.engines.embed.base import TextEmbedder, Vectors


class CachedEmbedder:
    """Wraps `inner`; texts seen recently are not embedded again.

    Only the misses of a call go to the model, in one batch. Counters: `hits`, `misses`,
    `hit_rate`; `reset_stats` zeroes them, `clear` empties the cache.

    Args:
        inner: The embedder that computes misses.
        size: Most vectors kept (0 disables caching but still counts misses).
    """

    def __init__(self, inner: TextEmbedder, size: int) -> None:
        self.inner = inner
        self.size = size
        self.info = inner.info
        self.dim = inner.dim
        self.model_name = inner.model_name
        self.hits = 0
        self.misses = 0
        self.closed = False
        self._entries: OrderedDict[tuple[str, str], Vectors] = OrderedDict()

    @property
    def hit_rate(self) -> float:
        """Hits over lookups since the last `reset_stats` (0.0 before any lookup)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def __len__(self) -> int:
        return len(self._entries)

    def reset_stats(self) -> None:
        """Zero the hit and miss counters."""
        self.hits = self.misses = 0

    def clear(self) -> None:
        """Forget every cached vector."""
        self._entries.clear()

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts`, computing only the ones not in the cache."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            key = (self.model_name, text)
            vector = self._entries.get(key)
            if vector is not None:
                self._entries.move_to_end(key)
                out[i] = vector
                self.hits += 1
            else:
                missing.setdefault(text, []).append(i)
                self.misses += 1
        if missing:
            fresh = await self.inner.embed(list(missing))
            for (text, rows), vector in zip(missing.items(), fresh, strict=True):
                out[rows] = vector
                self._put((self.model_name, text), vector.copy())
        return out

    def _put(self, key: tuple[str, str], vector: Vectors) -> None:
        if self.size <= 0:
            return
        self._entries[key] = vector
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    async def close(self) -> None:
        """Close the wrapped embedder and drop the cache."""
        self.closed = True
        self._entries.clear()
        await self.inner.close()
