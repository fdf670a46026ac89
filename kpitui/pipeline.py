"""polars: per-metric time aggregation into periods.

Each function takes lazy frames and returns a lazy frame; the engine collects
once. A *slot* is a half-open period ``[start, end)`` identified by an
integer; the engine asks for the aggregate of some metrics over some slots.

How a metric's readings combine over time is its aggregation rule:

- ``sum`` and ``count``: added up; a period with no reading is 0 once the
  metric has any reading before the period ends (and no data before that);
- ``last`` (gauges such as subscribers): the latest reading before the period
  ends, carried forward from earlier periods when the period itself has none;
- ``mean``, ``min``, ``max``, ``first``: over the readings in the period; no
  reading, no data;
- quantiles (``p50``, ``p90``, ``p99.9``): over the raw readings in the period.

Readings are first reduced to local-hour buckets (one row per metric and
hour, with every decomposable aggregate), so the period joins work on far
fewer rows than the raw history. Periods start and end on local hours, or at
``now``, which the readings are cut at.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection

import polars as pl

from .periods import Calendar, truncate

DECOMPOSABLE = ("sum", "count", "mean", "min", "max", "first", "last")
_QUANTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")

SLOTS_SCHEMA = {"slot": pl.Int64, "start": pl.Datetime("us", "UTC"), "end": pl.Datetime("us", "UTC")}
VALUES_SCHEMA = {"slot": pl.Int64, "metric": pl.String, "agg": pl.String, "value": pl.Float64}


def quantile_of(agg: str) -> float | None:
    """``p90`` -> 0.9; ``None`` when ``agg`` is not a quantile name."""
    match = _QUANTILE.match(agg)
    return float(match.group(1)) / 100 if match else None


def is_valid_agg(agg: str) -> bool:
    return agg in DECOMPOSABLE or quantile_of(agg) is not None


def upto(readings: pl.LazyFrame, now: dt.datetime, metrics: list[str]) -> pl.LazyFrame:
    """The readings of ``metrics`` taken before ``now`` (evaluation as of a time)."""
    return readings.filter(pl.col("metric").is_in(metrics), pl.col("at") < now)


def hourly(readings: pl.LazyFrame, cal: Calendar, means: Collection[str] = ()) -> pl.LazyFrame:
    """One row per (metric, local hour) with every decomposable aggregate."""
    # Retention (kpitui.retention) down-samples old readings: a row then stands for `n` raw
    # readings (Store.load's `n` column, 1 otherwise); its value is the bucket's sum for sum/count
    # metrics but its mean for the metrics in `means`. So count = Σn and a mean metric's sum = Σ(value·n).
    n = pl.col("n") if "n" in readings.collect_schema().names() else pl.lit(1, pl.Int64)
    weighted = pl.col("metric").is_in(pl.Series(sorted(means), dtype=pl.String).implode())
    total = pl.when(weighted).then(pl.col("value") * n).otherwise(pl.col("value")) if means else pl.col("value")
    return (
        readings.with_columns(hour=truncate(pl.col("at"), "hour", cal).dt.convert_time_zone("UTC"))
        .group_by("metric", "hour")
        .agg(
            sum=total.sum(),
            count=n.sum().cast(pl.Float64),
            min=pl.col("value").min(),
            max=pl.col("value").max(),
            first=pl.col("value").sort_by("at").first(),
            last=pl.col("value").sort_by("at").last(),
            first_at=pl.col("at").min(),
            last_at=pl.col("at").max(),
        )
    )


def in_slots(frame: pl.LazyFrame, slots: pl.LazyFrame, time_col: str) -> pl.LazyFrame:
    """Each row of ``frame`` once per slot whose period holds its ``time_col``."""
    return frame.join_where(slots, pl.col(time_col) >= pl.col("start"), pl.col(time_col) < pl.col("end"))


def period_aggregates(hours: pl.LazyFrame, slots: pl.LazyFrame) -> pl.LazyFrame:
    """Decomposable aggregates of each metric over each slot, long: (slot, metric, agg, value)."""
    wide = (
        in_slots(hours, slots, "hour")
        .group_by("slot", "metric")
        .agg(
            sum=pl.col("sum").sum(),
            count=pl.col("count").sum(),
            mean=pl.col("sum").sum() / pl.col("count").sum(),
            min=pl.col("min").min(),
            max=pl.col("max").max(),
            first=pl.col("first").sort_by("first_at").first(),
        )
    )
    return wide.unpivot(index=["slot", "metric"], variable_name="agg", value_name="value")


def carried_last(hours: pl.LazyFrame, slots: pl.LazyFrame) -> pl.LazyFrame:
    """The latest reading of each metric before each slot's end (gauges carry forward)."""
    latest = hours.select("metric", "hour", "last").sort("hour")
    metrics = hours.select("metric").unique()
    wanted = (
        slots.join(metrics, how="cross")
        .with_columns(before=pl.col("end") - pl.duration(microseconds=1))
        .sort("before")
    )
    return (
        wanted.join_asof(latest, left_on="before", right_on="hour", by="metric", strategy="backward", check_sortedness=False)
        .select("slot", "metric", agg=pl.lit("last"), value=pl.col("last"))
    )


def quantiles(readings: pl.LazyFrame, slots: pl.LazyFrame, aggs: list[str]) -> pl.LazyFrame:
    """Quantiles (``p90`` …) of the raw readings of each metric in each slot."""
    if not aggs:
        return pl.LazyFrame(schema=VALUES_SCHEMA)
    return (
        in_slots(readings, slots, "at")
        .group_by("slot", "metric")
        .agg(**{agg: pl.col("value").quantile(quantile_of(agg), interpolation="linear") for agg in aggs})
        .unpivot(index=["slot", "metric"], variable_name="agg", value_name="value")
    )


def fill_gaps(values: pl.LazyFrame, wanted: pl.LazyFrame, first_seen: pl.LazyFrame) -> pl.LazyFrame:
    """Every wanted (slot, metric, agg), with sums and counts of empty periods as 0.

    A sum or count is 0 for a period with no reading only when the metric had
    a reading before the period ended; before a metric's first reading there
    is no data.
    """
    additive = pl.col("agg").is_in(["sum", "count"])
    seen = pl.col("first_at") < pl.col("end")
    return (
        wanted.join(values, on=["slot", "metric", "agg"], how="left")
        .join(first_seen, on="metric", how="left")
        .with_columns(value=pl.when(pl.col("value").is_null() & additive & seen).then(0.0).otherwise(pl.col("value")))
        .select("slot", "metric", "agg", "value")
    )


def first_seen(readings: pl.LazyFrame) -> pl.LazyFrame:
    return readings.group_by("metric").agg(first_at=pl.col("at").min())


def latest(readings: pl.LazyFrame) -> pl.LazyFrame:
    """Each metric's newest reading: (metric, latest_at, latest)."""
    return readings.group_by("metric").agg(
        latest_at=pl.col("at").max(),
        latest=pl.col("value").sort_by("at").last(),
    )


def clean(expr: pl.Expr) -> pl.Expr:
    """NaN and infinities become null: "no data", never a number shown."""
    return pl.when(expr.is_finite()).then(expr).otherwise(None)
