"""A model-free embedder: hashed words and character trigrams (no torch, no weights).

It matches wording, not meaning: good for tests, tiny machines and exact-phrase recall, far
weaker than a sentence model on paraphrases.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

from vocable.engines.base import EngineInfo
from vocable.engines.embed.base import Vectors, normalise

DIM = 384
_WORD = re.compile(r"[a-z0-9']+")


def _features(text: str) -> list[str]:
    words = _WORD.findall(text.lower())
    grams = [f"#{w[i : i + 3]}" for w in words for i in range(max(1, len(w) - 2))]
    return words + grams


class HashingEmbedder:
    """Signed feature hashing of words (weight 1) and character trigrams (weight 0.5)."""

    def __init__(self, dim: int = DIM) -> None:
        self.dim = dim
        self.model_name = f"hashing-{dim}"
        self.info = EngineInfo(kind="embed", name="hashing", model=self.model_name)

    def embed_now(self, texts: Sequence[str]) -> Vectors:
        """Embed synchronously (microseconds per text)."""
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in _features(text):
                h = zlib.crc32(feature.encode())
                weight = 0.5 if feature.startswith("#") else 1.0
                rows[row, h % self.dim] += weight if (h >> 31) & 1 else -weight
        return normalise(rows)

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts`; cheap enough to run on the event loop."""
        return self.embed_now(texts)

    async def close(self) -> None:
        """Nothing to release."""
