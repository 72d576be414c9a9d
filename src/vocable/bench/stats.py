"""Distribution summaries for benchmark figures."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np


def percentile(values: Sequence[float], q: float, digits: int = 1) -> float | None:
    """The q-th percentile (linear interpolation) to `digits` decimals, or None for no values."""
    if not values:
        return None
    return round(float(np.percentile(np.asarray(values, dtype=np.float64), q)), digits)


def distribution(
    name: str, values: Sequence[float], unit: str = "ms", digits: int = 1
) -> dict[str, float | None]:
    """``{name}_p50_{unit}`` and ``{name}_p95_{unit}`` for `values`, to `digits` decimals."""
    return {
        f"{name}_p50_{unit}": percentile(values, 50, digits),
        f"{name}_p95_{unit}": percentile(values, 95, digits),
    }


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level edit distance over the reference length, ignoring case and punctuation.

    An empty reference gives 0.0 for an empty hypothesis, else 1.0.
    """
    ref, hyp = _words(reference), _words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / len(ref)
