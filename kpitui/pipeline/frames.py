"""The frames the pipeline takes (rows, requests), the aggregation names, and collecting its queries."""

from __future__ import annotations

import polars as pl

from ..aggregations import DECOMPOSABLE as DECOMPOSABLE, is_valid_agg as is_valid_agg, quantile_of as quantile_of

#: rules whose down-sampled value is the sum of the readings it stands for
ADDITIVE = ("sum", "count")
_SLICED = ("min", "max")
_KEY_LIMIT = 2**63 - 1

#: the frame :meth:`Readings.build` takes (``at`` may also be a tz-aware Datetime; ``n`` is optional)
ROWS_SCHEMA = {"metric": pl.String, "at": pl.Int64, "value": pl.Float64, "n": pl.Int64}
#: the frame :func:`aggregate` takes
REQUESTS_SCHEMA = {
    "req": pl.Int64,
    "metric": pl.String,
    "agg": pl.String,
    "additive": pl.Boolean,
    "start": pl.Int64,
    "end": pl.Int64,
}
_SEGMENTS_SCHEMA = {
    "metric": pl.String,
    "offset": pl.Int64,
    "length": pl.Int64,
    "first": pl.Int64,
    "last": pl.Int64,
    "shift": pl.Int64,
}

#: How queries over an index are optimised. Its columns enter plans as literal
#: Series, and polars' common-subplan elimination hashes literals while it looks
#: for shared subplans: about 6 ms per 10-million-row column, on every collect.
#: The queries here share nothing worth caching, so it is off.
OPTIMIZATIONS = pl.QueryOptFlags(comm_subplan_elim=False)
#: How the formulas' queries are collected (:func:`kpitui.engine.queries.run`): without plan optimizations,
#: type coercion and checks kept. Each is a handful of expressions over a few rows (an incremental
#: evaluation's ~10, of 4-8 rows each), where optimizing the plans was most of the collect's main-thread
#: CPU (10 queries: 1.35 -> 0.98 ms): the expressions are evaluated as written. Equal to the optimized
#: plans' results on every formula type (tests/test_formula_flags.py).
FORMULA_OPTIMIZATIONS = pl.QueryOptFlags.none()


def collect(*frames: pl.LazyFrame, optimizations: pl.QueryOptFlags = OPTIMIZATIONS) -> list[pl.DataFrame]:
    """Collect queries over an index (or the engine's small frames), together.

    With :data:`OPTIMIZATIONS`, on polars' in-memory engine: these queries are
    a few thousand rows of binary searches and lookups, where the streaming
    engine (polars 2's default) costs 2-3x more in set-up than in work
    (measured: 1.7 ms against 3.6 ms for 50 requests, 4.7 against 8.8 ms for
    10,000). ``optimizations``: the formulas' queries take :data:`FORMULA_OPTIMIZATIONS`.
    """
    return pl.collect_all(list(frames), optimizations=optimizations, engine="in-memory")


def clean(expr: pl.Expr) -> pl.Expr:
    """NaN and infinities become null: "no data", never a number shown."""
    return pl.when(expr.is_finite()).then(expr).otherwise(None)


def as_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """A readings frame (``metric, at, value`` and optionally ``n``) as :data:`ROWS_SCHEMA`."""
    at = frame.schema["at"]
    if isinstance(at, pl.Datetime):
        at_us = pl.col("at").dt.convert_time_zone("UTC") if at.time_zone else pl.col("at")
        at_us = at_us.dt.epoch("us")
    else:
        at_us = pl.col("at").cast(pl.Int64)
    n = pl.col("n").cast(pl.Int64) if "n" in frame.columns else pl.lit(1, pl.Int64)
    return frame.select(
        pl.col("metric").cast(pl.String),
        at_us.alias("at"),
        pl.col("value").cast(pl.Float64),
        n.alias("n"),
    )
