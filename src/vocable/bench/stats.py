"""Distribution summaries for benchmark figures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (linear interpolation), or None for no values."""
    if not values:
        return None
    return round(float(np.percentile(np.asarray(values, dtype=np.float64), q)), 1)


def distribution(name: str, values: Sequence[float], unit: str = "ms") -> dict[str, float | None]:
    """``{name}_p50_{unit}`` and ``{name}_p95_{unit}`` for `values`."""
    return {
        f"{name}_p50_{unit}": percentile(values, 50),
        f"{name}_p95_{unit}": percentile(values, 95),
    }
