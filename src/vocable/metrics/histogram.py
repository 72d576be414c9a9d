"""A fixed-bucket histogram and percentiles: the one state both JSON and Prometheus read."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from vocable.bench.stats import percentile

__all__ = ["LATENCY_EDGES_MS", "Histogram", "percentile"]

LATENCY_EDGES_MS: tuple[float, ...] = (
    50,
    100,
    200,
    300,
    500,
    750,
    1000,
    1500,
    2000,
    3000,
    5000,
    10000,
)
"""Upper bucket edges (ms, inclusive) of every latency histogram; one more bucket holds the rest."""


class Histogram:
    """Counts of observations per bucket, plus their sum.

    Bucket ``i`` holds values ``edges[i-1] < v <= edges[i]``; the last bucket (index
    ``len(edges)``) holds values above the last edge, so ``counts`` has ``len(edges) + 1`` items.
    """

    def __init__(self, edges: Sequence[float] = LATENCY_EDGES_MS) -> None:
        if list(edges) != sorted(set(edges)) or not edges:
            raise ValueError("edges must be strictly increasing and not empty")
        self.edges = tuple(float(e) for e in edges)
        self.counts = [0] * (len(self.edges) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Add one observation (NaN is refused)."""
        if math.isnan(value):
            raise ValueError("cannot observe NaN")
        self.counts[bisect.bisect_left(self.edges, value)] += 1
        self.total += value

    @property
    def count(self) -> int:
        """Number of observations."""
        return sum(self.counts)

    def cumulative(self) -> list[int]:
        """Prometheus-style cumulative counts: values <= each edge, then the total (+Inf)."""
        out, running = [], 0
        for c in self.counts:
            running += c
            out.append(running)
        return out
