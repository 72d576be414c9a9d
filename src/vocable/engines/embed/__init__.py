"""Text embedders: sentences to unit-length vectors, for semantic memory and the intent path."""

from vocable.engines.embed.base import TextEmbedder, Vectors
from vocable.engines.embed.cache import CachedEmbedder
from vocable.engines.embed.loader import (
    cache_stats,
    close_embedders,
    load_embedder,
    load_uncached,
)

__all__ = [
    "CachedEmbedder",
    "TextEmbedder",
    "Vectors",
    "cache_stats",
    "close_embedders",
    "load_embedder",
    "load_uncached",
]
