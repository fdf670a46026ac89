"""The names of the aggregations a KPI may read a metric with (``sum`` … ``last``, quantiles such as ``p90``).

Plain names, no polars: the config check needs them before anything is computed
(:mod:`kpitui.pipeline` computes them).
"""

from __future__ import annotations

import re

DECOMPOSABLE = ("sum", "count", "mean", "min", "max", "first", "last")
_QUANTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")


def quantile_of(agg: str) -> float | None:
    """``p90`` -> 0.9; ``None`` when ``agg`` is not a quantile name."""
    match = _QUANTILE.match(agg)
    return float(match.group(1)) / 100 if match else None


def is_valid_agg(agg: str) -> bool:
    return agg in DECOMPOSABLE or quantile_of(agg) is not None
