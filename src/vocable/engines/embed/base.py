"""The text embedder interface: texts in, L2-normalised float32 rows out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from vocable.engines.base import EngineInfo

Vectors = npt.NDArray[np.float32]
"""An ``(n, dim)`` float32 array, one unit-length row per text."""


@runtime_checkable
class TextEmbedder(Protocol):
    """Turns texts into vectors whose dot product is their cosine similarity.

    Attributes:
        info: Engine identity (kind ``embed``).
        dim: Vector dimension.
        model_name: Model identity; part of every cache key and stored with exports.
    """

    info: EngineInfo
    dim: int
    model_name: str

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts` off the event loop; returns ``(len(texts), dim)`` unit rows."""
        ...

    async def close(self) -> None:
        """Release the model and its thread. Safe to call twice."""
        ...


def normalise(vectors: npt.NDArray[np.floating]) -> Vectors:
    """Rows scaled to unit length (all-zero rows stay zero), as contiguous float32."""
    rows = np.asarray(vectors, dtype=np.float32)
    if rows.ndim == 1:
        rows = rows[None, :]
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.ascontiguousarray(rows / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def as_bytes(vector: npt.NDArray[np.floating]) -> bytes:
    """The stored form of one vector: little-endian float32 (sqlite-vec's blob format too)."""
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(data: bytes) -> Vectors:
    """A vector back from `as_bytes`."""
    return np.frombuffer(data, dtype="<f4").astype(np.float32)
