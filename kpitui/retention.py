"""Retention: down-sample readings older than ``[storage] raw_retention_days``.

A collector left running for months piles up raw readings that no KPI needs
one by one once they are old. With ::

    [storage]
    raw_retention_days = 90
    downsample_to = "hour"     # or "day"

every metric's readings older than the cut-off (``now`` minus 90 days, moved
back to the start of its hour or day) are replaced by **one row per hour (or
day) bucket**, in the config's time zone -- the same local buckets the engine
aggregates in (:func:`kpitui.periods.truncate`), so no reading ever moves to
another hour, day, week, month, quarter or year. The row's ``value`` is the
bucket aggregated by the metric's own rule and its ``n`` counts the raw
readings it stands for:

==========  =========================================  =====================
rule        value                                      exact afterwards
==========  =========================================  =====================
``sum``     sum of the values                          sum, count, mean
``mean``    mean weighted by ``n``: Σ(v·n) / Σn        mean, sum, count
``last``    the latest value                           last, count
``min``     the smallest value                         min, count
``max``     the largest value                          max, count
``count``   sum of the values (each reading's count    count (Σn), sum
            is ``n``, so a count KPI reads Σn)
==========  =========================================  =====================

The engine reads ``n`` (:func:`kpitui.pipeline.hourly`): count = Σn, and a
``mean`` metric's total = Σ(value·n). Aggregates the table marks as not
exact (the ``min`` of a ``sum`` metric, quantiles, ``first``) would see one
value per bucket afterwards, so a metric that a KPI reads that way -- an
input with such an ``agg``, or any input of a formula type that declares
:attr:`~kpitui.api.FormulaType.needs_raw_readings` (``percentile``) -- keeps
its raw readings (:func:`kept_raw`), unless ``[storage] downsample_anyway``
lists it; ``kpitui compact --dry-run`` says which and why. KPI windows whose boundaries fall on the bucket
grain -- every calendar window and, with ``hour``, trailing windows too --
give the same values before and after compaction.

**Periods cut inside a bucket.** A to-date window's comparison periods end
at the current time (the previous period, the same period last year), and
a trailing window starts at a time of day too. A down-sampled row is
stamped with the time of its bucket's **first** reading and counts wholly
in a period that contains that time, so a period cut inside a compacted
bucket, after its first reading, gains the bucket's readings after the cut
(a period starting there loses those before it). Exactly those values can
change (a period end is inclusive: a cut exactly at the first reading's
time counts that bucket too):

- ``downsample_to = "hour"``: a period cut inside an hour of compacted
  history, between its first reading and the hour's end: by the readings of
  the rest of that one hour. Periods cut on the hour (when no reading sits
  exactly on it) and every calendar period do not move.
- ``downsample_to = "day"``: readings inside the **hourly horizon** become
  hourly rows and only older ones daily rows, so within the horizon the
  same holds as for ``hour``; before it, a period cut at any time of day
  other than midnight gains or loses the rest of that day. The horizon is
  13 months (397 days: a year back plus the longest month, which covers the
  same period last year of every to-date window) and, for each trailing
  window of the config's KPIs spanning S days, at least max(2·S, 366 + S) + 1
  days (its previous period and last year). Beyond it: ``report --at`` more
  than the horizon ago, or a ``--window`` longer than the config's.

:func:`hourly_horizon`; ``kpitui compact --dry-run`` prints the split.

Buckets that already hold a single row are left as they are, so compacting
again changes nothing.

Once a metric has been down-sampled, its past before that run's cut-off is
**closed to replace-mode writes** (:class:`~kpitui.store.Store` keeps the
instant per metric): a snapshot-like source (``file``, ``sql``, ``record
--at``) that re-sends rows of that past is ignored there, because its rows
would land beside the bucket's single row and be summed into it again by the
next compaction (an old day's total would grow every hour). Add-mode rows
(new events from an event source) still join their bucket. Metrics no longer in the config are left alone (their
rule is unknown). It runs from ``kpitui collect`` (at start and hourly) and
as ``kpitui compact [--dry-run]``; see :meth:`kpitui.store.Store.compact` for
the transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Callable

import polars as pl

from . import periods
from .epoch import micros
from .history_store import HistoryStore
from .store import CompactionResult

if TYPE_CHECKING:
    from .config import Config

__all__ = ["EXACT", "GRAINS", "bucket_rows", "compact", "cutoff", "describe", "describe_kept", "kept_raw"]

#: what ``downsample_to`` may be
GRAINS = ("hour", "day")

#: per metric rule, the aggregates that down-sampled rows still give exactly (the table above)
EXACT: dict[str, frozenset[str]] = {
    "sum": frozenset({"sum", "count", "mean"}),
    "mean": frozenset({"mean", "sum", "count"}),
    "last": frozenset({"last", "count"}),
    "min": frozenset({"min", "count"}),
    "max": frozenset({"max", "count"}),
    "count": frozenset({"count", "sum"}),
}

_UTC = pl.Datetime("us", "UTC")
_ADJECTIVE = {"hour": "hourly", "day": "daily"}


def cutoff(config: Config, now: dt.datetime) -> dt.datetime | None:
    """The instant before which readings are down-sampled (a local bucket start), or ``None`` when retention is off."""
    days = config.storage.raw_retention_days
    if days is None:
        return None
    grain = config.storage.downsample_to
    moment = now.astimezone(dt.timezone.utc) - dt.timedelta(days=days)
    return periods.truncate_datetime(moment, grain, periods.Calendar.of(config.settings)).astimezone(dt.timezone.utc)


def _aggregate(rule: str) -> pl.Expr:
    value, n = pl.col("value"), pl.col("n")
    if rule in ("sum", "count"):
        return value.sum()
    if rule == "mean":
        return (value * n).sum() / n.sum()
    if rule == "last":
        return value.sort_by("at").last()
    if rule == "min":
        return value.min()
    if rule == "max":
        return value.max()
    raise ValueError(f"no down-sampling rule for aggregation {rule!r}")


def bucket_rows(rows: pl.DataFrame, rule: str, grain: str, cal: periods.Calendar) -> pl.DataFrame:
    """One row per ``grain`` bucket of ``rows`` that holds two or more of them.

    ``rows``: one metric's ``at`` (epoch µs, UTC), ``value``, ``n``. Returns
    ``at`` (the time of the bucket's first row, epoch µs: inside the bucket, so
    every hour, day and longer period holds it as before; a period cut on a
    bucket boundary, inclusive at its end, never takes in the bucket after
    it), ``value`` (aggregated by
    ``rule``), ``n`` (Σn) and ``first``/``last``: the first and last ``at``
    of the rows it replaces.
    """
    bucket = periods.truncate(pl.col("at").cast(_UTC), grain, cal).dt.convert_time_zone("UTC").cast(pl.Int64)
    return (
        rows.lazy()
        .with_columns(bucket=bucket)
        .group_by("bucket")
        .agg(
            value=_aggregate(rule).cast(pl.Float64),
            n=pl.col("n").sum().cast(pl.Int64),
            first=pl.col("at").min(),
            last=pl.col("at").max(),
            rows=pl.len(),
        )
        .filter(pl.col("rows") >= 2)
        .select(pl.col("first").alias("at"), "value", "n", "first", "last")
        .sort("at")
        .collect()
    )


#: days of hourly rows kept with ``downsample_to = "day"`` (13 months), before the config's trailing windows
HOURLY_HORIZON_DAYS = 397
_UNIT_DAYS = {"day": 1, "week": 7, "month": 31, "quarter": 92, "year": 366}


def hourly_horizon(config: Config) -> int:
    """Days back within which ``downsample_to = "day"`` still keeps hourly rows (see the module docstring)."""
    days = HOURLY_HORIZON_DAYS
    for kpi in config.kpis.values():
        try:
            window = periods.parse_window(kpi.window) if kpi.window else None
        except periods.PeriodError:
            continue
        if window is not None and window.name.startswith("trailing_"):
            span = window.count * _UNIT_DAYS.get(window.unit, 366)
            days = max(days, 2 * span + 1, 366 + span + 1)
    return days


def daily_before(config: Config, now: dt.datetime) -> dt.datetime | None:
    """With ``downsample_to = "day"``: the local midnight before which rows become daily (hourly after it)."""
    before = cutoff(config, now)
    if before is None or config.storage.downsample_to != "day":
        return before
    moment = now.astimezone(dt.timezone.utc) - dt.timedelta(days=hourly_horizon(config))
    horizon = periods.truncate_datetime(moment, "day", periods.Calendar.of(config.settings)).astimezone(dt.timezone.utc)
    return min(before, horizon)


def compact(
    store: HistoryStore,
    config: Config,
    *,
    now: dt.datetime | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> CompactionResult | None:
    """Down-sample ``store``'s readings older than the config's retention; ``None`` when retention is off."""
    now = now or dt.datetime.now(dt.timezone.utc)
    before = cutoff(config, now)
    if before is None:
        return None
    grain = config.storage.downsample_to
    cal = periods.Calendar.of(config.settings)
    raw = kept_raw(config)
    rules = {mid: metric.aggregation for mid, metric in config.metrics.items() if mid not in raw}

    daily = daily_before(config, now)
    split = None if daily is None or daily >= before else micros(daily)

    planned: set[str] = set()
    total = len(rules)

    def plan(metric: str, rows: pl.DataFrame) -> pl.DataFrame | None:
        if progress is not None and metric not in planned:  # metrics looked at (a metric is planned again when written)
            planned.add(metric)
            progress(len(planned), total, f"down-sampling {metric}")
        rule = rules.get(metric)
        if rule is None:
            return None  # not in the config any more: its rule is unknown, leave it raw
        if split is None:
            return bucket_rows(rows, rule, grain, cal)
        # daily rows before the hourly horizon, hourly rows after it (split at a local midnight)
        parts = [
            bucket_rows(part, rule, part_grain, cal)
            for part, part_grain in (
                (rows.filter(pl.col("at") < split), "day"),
                (rows.filter(pl.col("at") >= split), "hour"),
            )
            if part.height  # (polars panics truncating an empty column to local days)
        ]
        return pl.concat(parts) if parts else None

    return store.compact(before, plan, metrics=sorted(rules), dry_run=dry_run)


def kept_raw(config: Config) -> dict[str, str]:
    """The metrics whose raw readings retention keeps, each with why: a KPI needs them one by one.

    A metric is kept when a KPI's formula type declares ``needs_raw_readings``
    and reads it, or when a KPI reads it with an ``agg`` that down-sampled rows
    cannot give exactly (not in :data:`EXACT` for the metric's rule). Metrics in
    ``[storage] downsample_anyway`` are never kept.
    """
    reasons: dict[str, list[str]] = {}
    for kid, kpi in config.kpis.items():
        cls = config.registry.formulas.get(kpi.formula)
        if cls is None:
            continue
        try:
            inputs = list(cls(kpi.params).inputs())
        except Exception:  # noqa: BLE001 - a broken plugin formula is reported by the engine, not here
            continue
        for item in inputs:
            metric = config.metrics.get(item.ref)
            if metric is None:
                continue  # another KPI: its own inputs are looked at in turn
            if getattr(cls, "needs_raw_readings", False):
                why = f"{kid} ({kpi.formula}) reads its raw readings"
            elif item.agg is not None and item.agg not in EXACT.get(metric.aggregation, frozenset()):
                why = f"{kid} reads its {item.agg}, which one row per bucket cannot give"
            else:
                continue
            if why not in reasons.setdefault(item.ref, []):
                reasons[item.ref].append(why)
    return {mid: "; ".join(why) for mid, why in sorted(reasons.items()) if mid not in config.storage.downsample_anyway}


def describe_kept(config: Config, now: dt.datetime | None = None) -> list[str]:
    """What ``kpitui compact`` keeps and what can change: the hourly horizon, metrics kept raw and why."""
    lines = []
    if config.storage.downsample_to == "day" and config.storage.raw_retention_days is not None:
        now = now or dt.datetime.now(dt.timezone.utc)
        daily, raw = daily_before(config, now), cutoff(config, now)
        tz = periods.Calendar.of(config.settings).tz
        if daily is not None and raw is not None and daily < raw:
            lines.append(
                f"hourly rows from {daily.astimezone(tz):%Y-%m-%d %H:%M %Z} to {raw.astimezone(tz):%Y-%m-%d %H:%M %Z}, "
                f"daily rows before: for the last {hourly_horizon(config)} days the to-date comparisons and "
                "trailing windows of this config stay exact when cut on a whole hour (otherwise they gain or "
                "lose the rest of the hour they are cut in); a period cut at a time of day before that "
                "(report --at, a longer --window) gains or loses the rest of its day"
            )
        else:
            lines.append(
                "daily rows: every reading compacted is older than the hourly horizon "
                f"({hourly_horizon(config)} days); a period cut at a time of day there (report --at, --window) "
                "can change"
            )
    return lines + [
        f'kept raw: {mid} (KPI {why}); [storage] downsample_anyway = ["{mid}"] would compact it and change those values'
        for mid, why in kept_raw(config).items()
    ]


def describe(result: CompactionResult | None, config: Config, now: dt.datetime | None = None) -> str:
    """One line for the user about what :func:`compact` did."""
    if result is None:
        return "retention is off ([storage] raw_retention_days is not set): nothing to compact"
    now = now or dt.datetime.now(dt.timezone.utc)
    before = cutoff(config, now)
    grain = config.storage.downsample_to
    where = ""
    if before is not None:
        local = before.astimezone(periods.Calendar.of(config.settings).tz)
        where = f" before {local:%Y-%m-%d %H:%M %Z}"
    daily = daily_before(config, now)
    mixed = grain == "day" and before is not None and daily is not None and daily < before
    if result.replaced == 0:
        per = "hour (day before the hourly horizon)" if mixed else grain
        return f"nothing to compact: readings{where} are already one per {per}"
    verb = "would replace" if result.dry_run else "replaced"
    kind = "hourly and daily" if mixed else _ADJECTIVE[grain]
    return (
        f"{verb} {result.replaced:,} readings{where} of {len(result.by_metric)} metric(s) "
        f"by {result.written:,} {kind} rows"
    )
