"""polars: the reading index the engine queries, and how readings combine over a period.

The engine asks for aggregates of metrics over half-open periods
``[start, end)`` (instants as integer microseconds since the epoch, UTC; the
physical value of polars' ``Datetime("us", "UTC")``). A *request* is one
(metric, aggregation, start, end); :func:`aggregate` answers any number of
them in one lazy query.

The index
---------
:class:`Readings` holds readings sorted by (metric, time) with running totals
per metric, so the sum, count or mean of a metric over *any* period is two
binary searches and two lookups, exact at every boundary (no re-aggregation
of the history per evaluation). One sorted Int64 ``key`` column makes the
searches vectorised: each metric's rows own the key range
``[base, base + span)`` with ``span = last - first + 1`` (µs) and
``key = base + (at - first)``, so keys grow with (metric, at) and a request's
boundary becomes a key by clipping it into its metric's range. (The spans of
all metrics must add up to less than 2**63 µs, about 292,000 metric-years.)

How a metric's readings combine over a period is its aggregation rule:

- ``sum`` and ``count``: added up; a period with no reading is 0 once the
  metric has any reading before the period ends (and no data before that);
- ``last`` (gauges such as subscribers): the latest reading before the period
  ends, carried forward from earlier periods when the period itself has none;
- ``mean``, ``min``, ``max``, ``first``: over the readings in the period; no
  reading, no data;
- quantiles (``p50``, ``p90``, ``p99.9``): over the readings in the period,
  linear interpolation.

``min``, ``max`` and quantiles read the values of the period's rows (a slice
of the metric's sorted segment); everything else reads running totals.

Down-sampled rows
-----------------
A row may stand for ``n`` raw readings (column ``n``, 1 when absent) whose
value is their aggregate by the metric's own rule (sum -> sum, mean -> mean,
last, min, max). Then ``count = Σ n``; the raw total of an *additive* metric
(rule ``sum`` or ``count``) is ``Σ value``, of any other ``Σ value·n``;
``mean = raw total / count``. ``min``/``max``/``first``/``last`` read row
values (exact for metrics with that rule); quantiles treat each row as one
reading (an approximation over down-sampled history).

Incremental updates
-------------------
A :class:`View` is a large immutable *base* index plus a small *delta* index
of the rows written since the base was built, each delta row carrying the
base row it rewrites (``was_value``, ``was_n``; null for a new row) and the
base positions those rewrites hide. Running totals in the delta are of
*contributions* (``value - was_value`` …), so a period's total is base plus
delta; ``last``/``first`` take the later/earlier of the two candidates (the
delta's on a tie: it is the rewrite); slices skip the hidden base rows.
Writing to a view (:meth:`View.write`) re-sorts and re-sums only the delta;
:class:`kpitui.history.History` keeps a view current and folds the delta
into a new base when it grows (:func:`fold`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Iterable

import polars as pl

from .epoch import from_micros, micros  # noqa: F401 - re-exported: the engine and the history read them from here

DECOMPOSABLE = ("sum", "count", "mean", "min", "max", "first", "last")
#: rules whose down-sampled value is the sum of the readings it stands for
ADDITIVE = ("sum", "count")
_QUANTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")
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


def collect(*frames: pl.LazyFrame) -> list[pl.DataFrame]:
    """Collect queries over an index (or the engine's small frames), together.

    With :data:`OPTIMIZATIONS`, on polars' in-memory engine: these queries are
    a few thousand rows of binary searches and lookups, where the streaming
    engine (polars 2's default) costs 2-3x more in set-up than in work
    (measured: 1.7 ms against 3.6 ms for 50 requests, 4.7 against 8.8 ms for
    10,000).
    """
    return pl.collect_all(list(frames), optimizations=OPTIMIZATIONS, engine="in-memory")


def quantile_of(agg: str) -> float | None:
    """``p90`` -> 0.9; ``None`` when ``agg`` is not a quantile name."""
    match = _QUANTILE.match(agg)
    return float(match.group(1)) / 100 if match else None


def is_valid_agg(agg: str) -> bool:
    return agg in DECOMPOSABLE or quantile_of(agg) is not None


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


# --------------------------------------------------------------------------- the index


@dataclass(frozen=True)
class Readings:
    """Readings sorted by (metric, at), with running totals per metric. Immutable.

    ``segments``: one row per metric with readings: its rows' ``offset`` and
    ``length``, its ``first`` and ``last`` instants and the ``shift`` from
    ``at`` to ``key``. Row columns (all the same length):

    - ``key``: ``shift[metric] + at``, sorted;
    - ``value``: the reading;
    - ``total``: running sum of each row's contribution to a total (its
      value; in a delta, value minus the value it rewrites), per metric;
    - ``weighted``: the same for ``value·n``; ``None`` when equal to ``total``;
    - ``count``: the same for ``n``; ``None`` when every row counts 1.
    """

    segments: pl.DataFrame
    key: pl.Series
    value: pl.Series
    total: pl.Series
    weighted: pl.Series | None = None
    count: pl.Series | None = None

    @property
    def height(self) -> int:
        return self.key.len()

    @cached_property
    def _probes(self) -> dict[str, tuple]:
        return {}

    @cached_property
    def bounds(self) -> dict[str, tuple[int, int, int]]:
        """metric -> its segment's (first, last, shift)."""
        seg = self.segments
        return dict(zip(seg["metric"].to_list(), zip(seg["first"].to_list(), seg["last"].to_list(), seg["shift"].to_list())))

    def probe(self, p: str) -> tuple[pl.LazyFrame | None, list[pl.Expr], list[pl.Expr], list[pl.Expr]]:
        """How requests (metric, start, end) are located in this index: the segments to join, and
        the expressions giving each period's rows (``lo``, ``hi``) and what they add up to, their
        names prefixed ``p``. Built once per index and prefix (they only refer to its columns)."""
        if p not in self._probes:
            self._probes[p] = self._build_probe(p)
        return self._probes[p]

    def _build_probe(self, p: str) -> tuple[pl.LazyFrame | None, list[pl.Expr], list[pl.Expr], list[pl.Expr]]:
        c = lambda name: pl.col(p + name)  # noqa: E731
        if self.height == 0:
            return None, [], [], [
                pl.lit(0, pl.Int64).alias(p + "lo"),
                pl.lit(0, pl.Int64).alias(p + "hi"),
                pl.lit(False).alias(p + "seen"),
                *(pl.lit(0.0).alias(p + name) for name in ("total", "weighted", "count")),
                *(pl.lit(None, pl.Int64).alias(p + name) for name in ("last_at", "first_at")),
                *(pl.lit(None, pl.Float64).alias(p + name) for name in ("last_value", "first_value")),
            ]
        last_row = self.height - 1
        key, value = pl.lit(self.key), pl.lit(self.value)
        segments = self.segments.lazy().select("metric", *(pl.col(k).alias(p + k) for k in _SEGMENTS_SCHEMA if k != "metric"))
        # a metric without rows here: an empty segment at position 0
        filled = [c("offset").fill_null(0), c("length").fill_null(0), c("first").fill_null(0), c("last").fill_null(-1), c("shift").fill_null(0)]

        def position(t: str) -> pl.Expr:
            """The first row of the metric at or after instant ``t`` (the segment's end if none)."""
            probe = c("shift") + pl.col(t).clip(c("first"), c("last") + 1)
            return key.search_sorted(probe, side="left").cast(pl.Int64)

        positions = [position("start").alias(p + "lo"), position("end").alias(p + "hi")]
        off, lo, hi = c("offset"), c("lo"), c("hi")

        def before(running: pl.Series | None, at: pl.Expr) -> pl.Expr:
            """The metric's running total just before row ``at``."""
            if running is None:
                return (at - off).cast(pl.Float64)  # every row counts 1
            return pl.when(at > off).then(pl.lit(running).gather((at - 1).clip(0))).otherwise(0.0)

        def between(running: pl.Series | None) -> pl.Expr:
            return before(running, hi) - before(running, lo)

        total = between(self.total)
        last_i, first_i = (hi - 1).clip(0, last_row), lo.clip(0, last_row)
        has_last, has_first = hi > off, lo < hi
        answers = [
            (hi > off).alias(p + "seen"),
            total.alias(p + "total"),
            (total if self.weighted is None else between(self.weighted)).alias(p + "weighted"),
            between(self.count).alias(p + "count"),
            pl.when(has_last).then(key.gather(last_i) - c("shift")).alias(p + "last_at"),
            pl.when(has_last).then(value.gather(last_i)).alias(p + "last_value"),
            pl.when(has_first).then(key.gather(first_i) - c("shift")).alias(p + "first_at"),
            pl.when(has_first).then(value.gather(first_i)).alias(p + "first_value"),
        ]
        return segments, filled, positions, answers

    @classmethod
    def empty(cls) -> Readings:
        return cls(
            pl.DataFrame(schema=_SEGMENTS_SCHEMA),
            pl.Series("key", [], pl.Int64),
            pl.Series("value", [], pl.Float64),
            pl.Series("total", [], pl.Float64),
        )

    @classmethod
    def build(cls, frame: pl.DataFrame) -> Readings:
        """Index a readings frame (``metric, at, value[, n]``, any order; duplicates are kept).

        Fastest when the frame is grouped by metric and sorted by time within
        each metric (then nothing is sorted).
        """
        rows = as_rows(frame)
        if rows.select((pl.col("n") == 1).all()).item():
            return _index(rows.drop("n"))
        return _index(
            rows.select(
                "metric",
                "at",
                "value",
                c_total=pl.col("value"),
                c_weighted=pl.col("value") * pl.col("n"),
                c_count=pl.col("n"),
            )
        )

    @classmethod
    def build_ids(cls, load: Callable[[], tuple[pl.DataFrame, dict[int, str], int]]) -> tuple[Readings, int]:
        """:meth:`build` from ``load()``: a frame keyed by integer metric ids (``metric_id, at`` in
        µs, ``value, n``), ``names`` (id -> metric) and a sequence number, handed back with the
        index. No string per row is ever made, and the frame's columns the index does not keep are
        let go as soon as they are read (only this call holds the frame). Fastest (no sort) when
        the frame is grouped by id and sorted by time within each id, as a store's full load is."""
        frame, names, seq = load()
        ids = frame["metric_id"]
        runs = ids.rle_id()
        present = ids.unique(maintain_order=True)
        grouped = frame.height == 0 or int(runs[-1]) + 1 == present.len()
        m = runs if grouped else ids.replace_strict(present, pl.int_range(present.len(), eager=True), return_dtype=pl.UInt32)
        plain = frame.select((pl.col("n") == 1).all()).item()
        rows = frame.select(m=m.cast(pl.UInt32), at=pl.col("at").cast(pl.Int64), value=pl.col("value").cast(pl.Float64), *([] if plain else [pl.col("n").cast(pl.Int64)]))
        del frame, ids, runs, m  # only this call holds the frame: its id and n columns go now
        labels = pl.Series("metric", [names[i] for i in present.to_list()], pl.String)
        if not plain:
            rows = rows.select("m", "at", "value", c_total="value", c_weighted=pl.col("value") * pl.col("n"), c_count="n")
        handed = [rows]
        del rows
        return _index(handed, labels), seq

    # -- reading rows back ----------------------------------------------------

    def rows(self) -> pl.DataFrame:
        """Every row as (segment number ``m``, at, value, n), in index order."""
        if self.height == 0:
            return pl.DataFrame(schema={"m": pl.Int64, "at": pl.Int64, "value": pl.Float64, "n": pl.Int64})
        seg = self.segments
        frame = pl.DataFrame({"key": self.key, "value": self.value}).with_columns(
            m=pl.Series("m", range(seg.height), pl.Int64).repeat_by(seg["length"]).explode()
        )
        if self.count is None:
            n = pl.lit(1, pl.Int64)
        else:
            running = pl.lit(self.count)
            offset = pl.lit(seg["offset"]).gather(pl.col("m"))
            before = pl.when(pl.int_range(pl.len()) > offset).then(running.shift(1)).otherwise(0.0)
            n = (running - before).round().cast(pl.Int64)
        return frame.select(
            "m",
            at=pl.col("key") - pl.lit(seg["shift"]).gather(pl.col("m")),
            value="value",
            n=n,
        )

    def frame(self) -> pl.DataFrame:
        """Every reading as a frame: ``metric, at, value`` (and ``n`` when some row stands for several)."""
        rows = self.rows()
        names = self.segments["metric"]
        out = rows.select(
            metric=pl.lit(names).gather(pl.col("m")) if rows.height else pl.lit(None, pl.String),
            at=pl.col("at").cast(pl.Datetime("us", "UTC")),
            value="value",
            n="n",
        )
        return out if self.count is not None else out.drop("n")

    def locate(self, rows: pl.LazyFrame, p: str) -> pl.LazyFrame:
        """``rows`` (``metric, at``, …) with the row of this index at each (metric, at): its position
        ``{p}pos`` (null: none), value ``{p}value`` and ``{p}n``."""
        if self.height == 0:
            return rows.with_columns(
                pl.lit(None, pl.Int64).alias(p + "pos"), pl.lit(None, pl.Float64).alias(p + "value"), pl.lit(None, pl.Int64).alias(p + "n")
            )
        last_row = self.height - 1
        key = pl.lit(self.key)
        probe = pl.col("_shift") + pl.col("at")
        segments = self.segments.lazy().select("metric", _offset="offset", _first="first", _last="last", _shift="shift")
        pos = key.search_sorted(probe.fill_null(0), side="left").cast(pl.Int64)
        found = pl.when(pl.col("at").is_between(pl.col("_first"), pl.col("_last")) & (key.gather(pos.clip(0, last_row)) == probe)).then(pos)
        at = pl.col(p + "pos").clip(0, last_row)
        if self.count is None:
            n = pl.lit(1, pl.Int64)
        else:
            before = pl.when(pl.col(p + "pos") > pl.col("_offset")).then(pl.lit(self.count).gather((at - 1).clip(0))).otherwise(0.0)
            n = (pl.lit(self.count).gather(at) - before).round().cast(pl.Int64)
        known = pl.col(p + "pos").is_not_null()
        return (
            rows.join(segments, on="metric", how="left", maintain_order="left")
            .with_columns(found.alias(p + "pos"))
            .with_columns(pl.when(known).then(pl.lit(self.value).gather(at)).alias(p + "value"), pl.when(known).then(n).alias(p + "n"))
            .drop("_offset", "_first", "_last", "_shift")
        )


_CONTRIBUTIONS = ("c_total", "c_weighted", "c_count")


def _index(rows: pl.DataFrame | list[pl.DataFrame], names: pl.Series | None = None) -> Readings:
    """Sort rows by key and add running totals.

    ``rows``: metric, at, value and each row's contributions ``c_total``,
    ``c_weighted``, ``c_count`` (absent: the value, the value, 1). With
    ``names``: ``m`` (segment numbers 0.. in order of first appearance) in
    place of ``metric``, and ``names`` the metric of each. A one-item list
    hands the frame over: its ``at`` column goes once the keys are made.
    """
    if isinstance(rows, list):
        rows = rows.pop()
    if rows.height == 0:
        return Readings.empty()
    contributions = [c for c in _CONTRIBUTIONS if c in rows.columns]
    # Segments in order of first appearance: a frame grouped by metric and sorted by time is already in key order.
    if names is None:
        names = rows["metric"].unique(maintain_order=True)
        rows = rows.select(m=pl.col("metric").cast(pl.Enum(names)).to_physical(), at="at", value="value", *contributions)
    if rows["m"].is_sorted():
        rows = rows.with_columns(pl.col("m").set_sorted())
    stats = (
        rows.group_by("m")
        .agg(first=pl.col("at").min(), last=pl.col("at").max(), length=pl.len().cast(pl.Int64))
        .sort("m")
        .with_columns(span=pl.col("last") - pl.col("first") + 1)
    )
    _check_spans(stats)
    segments = stats.select(
        metric=pl.lit(names).gather(pl.col("m")),
        offset=pl.col("length").cum_sum() - pl.col("length"),
        length="length",
        first="first",
        last="last",
        shift=pl.col("span").cum_sum() - pl.col("span") - pl.col("first"),
    )
    shift = pl.Series("shift", [0] * len(names), pl.Int64).scatter(stats["m"], segments["shift"])
    keyed = rows.select("m", key=pl.lit(shift).gather(pl.col("m")) + pl.col("at"), value="value", *contributions)
    del rows
    if not keyed["key"].is_sorted():
        keyed = keyed.sort("key")
    return _with_totals(segments, keyed)


def _check_spans(stats: pl.DataFrame) -> None:
    if float(stats["span"].cast(pl.Float64).sum()) >= _KEY_LIMIT:
        raise ValueError(
            "the reading history spans too long for one index: the time from each metric's first to its last "
            "reading, added up over all metrics, must stay under 292,000 years"
        )


def _with_totals(segments: pl.DataFrame, keyed: pl.DataFrame) -> Readings:
    """``keyed`` (m, key, value[, contributions]), sorted by key, with running totals per metric."""
    has = set(keyed.columns)
    c_total = pl.col("c_total") if "c_total" in has else pl.col("value")
    plain_weights = "c_weighted" not in has or keyed.select((pl.col("c_weighted") == c_total).all()).item()
    plain_counts = "c_count" not in has or keyed.select((pl.col("c_count") == 1).all()).item()
    m = pl.col("m").set_sorted()  # key order is metric order
    running = keyed.select(
        key=pl.col("key").set_sorted(),
        value="value",
        total=c_total.cum_sum().over(m),
        weighted=pl.lit(None) if plain_weights else pl.col("c_weighted").cum_sum().over(m),
        count=pl.lit(None) if plain_counts else pl.col("c_count").cast(pl.Float64).cum_sum().over(m),
    )
    return Readings(
        segments,
        running["key"],
        running["value"],
        running["total"],
        None if plain_weights else running["weighted"],
        None if plain_counts else running["count"],
    )


# --------------------------------------------------------------------------- base + delta


#: the delta's rows (:attr:`View.changes`), in the delta index's order: ``m`` is the row's segment
#: in the delta; ``pos``, ``was_value``, ``was_n`` the base row it rewrites (null for a new row)
CHANGES_SCHEMA = {
    "m": pl.Int64,
    "at": pl.Int64,
    "value": pl.Float64,
    "n": pl.Int64,
    "pos": pl.Int64,
    "was_value": pl.Float64,
    "was_n": pl.Int64,
}
#: a delta row's contributions to the running totals: what it adds to the base's
_DELTA_CONTRIBUTIONS = (
    (pl.col("value") - pl.col("was_value").fill_null(0.0)).alias("total"),
    (pl.col("value") * pl.col("n") - (pl.col("was_value") * pl.col("was_n")).fill_null(0.0)).alias("weighted"),
    (pl.col("n") - pl.col("was_n").fill_null(0)).cast(pl.Float64).alias("count"),
)


_serials = itertools.count(1)


@dataclass(frozen=True)
class View:
    """What the engine reads: a base index, a delta of rows written since, the base rows the delta rewrites.

    ``changes``: the delta's rows (:data:`CHANGES_SCHEMA`), one per (metric,
    at), in the order of ``delta`` (their index), each with the base row it
    rewrites. Immutable.

    Lineage, for the engine to re-evaluate only what changed: ``serial`` is
    unique to this view; a view made by :meth:`write` records the serial of
    the view it was written over (``after``) and the metrics whose readings
    differ from that view's (``written``). :func:`fold` keeps both (same
    readings). A view indexed from scratch has no ``after``.
    """

    base: Readings
    delta: Readings
    changes: pl.DataFrame
    after: int | None = None
    written: frozenset[str] = frozenset()
    serial: int = field(default_factory=lambda: next(_serials))

    @classmethod
    def of(cls, base: Readings, *, after: int | None = None, written: frozenset[str] = frozenset()) -> View:
        """``base`` with an empty delta."""
        return cls(base, Readings.empty(), pl.DataFrame(schema=CHANGES_SCHEMA), after, written)

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> View:
        return cls.of(Readings.build(frame))

    @cached_property
    def hidden(self) -> pl.Series:
        """The base positions the delta rewrites."""
        return self.changes["pos"].drop_nulls()

    @property
    def height(self) -> int:
        """How many readings the view holds."""
        return self.base.height - self.hidden.len() + self.changes.height

    def write(self, new: pl.DataFrame) -> View:
        """This view with ``new`` rows (:data:`ROWS_SCHEMA`, unique (metric, at)) written over it.

        The delta's segments grow to hold the new rows (a metric new to the
        delta gets one after the others); then one query looks the new rows
        up in the base (the row each one rewrites), keys them, sorts them in
        with the delta's rows (a new row takes the place of a delta row at
        the same instant) and sums the running totals again. The base is not
        touched.
        """
        segments = self.delta.segments
        grown = new.group_by("metric").agg(first=pl.col("at").min(), last=pl.col("at").max())
        first = dict(zip(segments["metric"].to_list(), segments["first"].to_list()))
        last = dict(zip(segments["metric"].to_list(), segments["last"].to_list()))
        added = sorted(set(grown["metric"].to_list()).difference(first))
        for metric, a, b in zip(grown["metric"].to_list(), grown["first"].to_list(), grown["last"].to_list()):
            first[metric], last[metric] = min(first.get(metric, a), a), max(last.get(metric, b), b)
        names = [*segments["metric"].to_list(), *added]
        bounds = pl.DataFrame(
            {"metric": names, "first": [first[m] for m in names], "last": [last[m] for m in names]},
            schema={"metric": pl.String, "first": pl.Int64, "last": pl.Int64},
        ).with_columns(span=pl.col("last") - pl.col("first") + 1)
        _check_spans(bounds)
        bounds = bounds.with_columns(shift=pl.col("span").cum_sum() - pl.col("span") - pl.col("first"))
        ids = pl.LazyFrame({"metric": names, "m": range(len(names))}, schema={"metric": pl.String, "m": pl.Int64})
        located = self.base.locate(new.lazy(), "was_").join(ids, on="metric").select(
            "m", "at", "value", "n", pos="was_pos", was_value="was_value", was_n="was_n"
        )
        rows = (
            pl.concat([self.changes.lazy(), located])
            .with_columns(key=pl.lit(bounds["shift"]).gather(pl.col("m")) + pl.col("at"))
            .sort("key", maintain_order=True)  # stable: a delta row, then the new row that rewrites it
            .filter(pl.col("key") != pl.col("key").shift(-1).fill_null(-1))
            .with_columns(*(c.cum_sum().over(pl.col("m").set_sorted()) for c in _DELTA_CONTRIBUTIONS))
        )
        (rows,) = collect(rows)
        length = rows["m"].unique_counts().cast(pl.Int64)  # every segment has rows, in order
        segments = pl.DataFrame(
            [bounds["metric"], (length.cum_sum() - length).alias("offset"), length.alias("length"), bounds["first"], bounds["last"], bounds["shift"]]
        )
        delta = Readings(segments, rows["key"].set_sorted(), rows["value"], rows["total"], rows["weighted"], rows["count"])
        return View(self.base, delta, rows.select(list(CHANGES_SCHEMA)), after=self.serial, written=frozenset(grown["metric"].to_list()))

    def frame(self) -> pl.DataFrame:
        """Every reading: ``metric, at, value`` (and ``n`` when some row stands for several)."""
        return fold(self).base.frame()

    def metrics_since(self, at: dt.datetime) -> frozenset[str]:
        """The metrics with a reading at or after ``at`` (or that had one before the delta rewrote it)."""
        t = micros(at)
        return frozenset(
            pl.concat([self.base.segments["metric"].filter(self.base.segments["last"] >= t), self.delta.segments["metric"].filter(self.delta.segments["last"] >= t)]).to_list()
        )

    def derived_from(self, previous: View, written: frozenset[str]) -> View:
        """This view, labelled as ``previous`` with the readings of ``written`` metrics changed.

        For a view built another way than by writing over ``previous`` (over a
        folded base, say) that holds exactly ``previous``'s readings but those
        of the ``written`` metrics: the engine trusts this lineage.
        """
        return dataclasses.replace(self, after=previous.serial, written=written, serial=next(_serials))


def _merge(segments: pl.DataFrame, old: pl.DataFrame, new: pl.DataFrame, columns: list) -> tuple[pl.DataFrame, pl.DataFrame]:
    """An index's rows with more merged in, without sorting the index: the new segments and rows.

    ``segments``: the index's; ``old``: the rows of it kept, in index order
    (``m``: segment number, ``at``, …); ``new``: rows to merge in
    (``metric``, ``at``, ``added``: false when the row takes the place of one
    left out of ``old``, …), none at the (metric, at) of a row of ``old``.
    Returns the rows (``m``, ``key`` and ``columns``) in key order: each
    metric keeps its segment number (metrics new to the index come after the
    others), ``old``'s rows keep their order, their keys move by their
    metric's new shift; ``new``'s rows are sorted and merged in.
    """
    names = pl.concat([segments["metric"], new["metric"]]).unique(maintain_order=True)
    ids = pl.DataFrame({"metric": names, "m": pl.int_range(len(names), eager=True, dtype=pl.Int64)})
    new = new.join(ids, on="metric", how="left")
    grown = new.group_by("m").agg(
        new_first=pl.col("at").min(), new_last=pl.col("at").max(), added=pl.col("added").sum().cast(pl.Int64)
    )
    old_stats = segments.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("m"), "first", "last", "length")
    stats = (
        ids.join(old_stats, on="m", how="left")
        .join(grown, on="m", how="left")
        .select(
            "metric",
            "m",
            first=pl.min_horizontal("first", "new_first"),
            last=pl.max_horizontal("last", "new_last"),
            length=pl.col("length").fill_null(0) + pl.col("added").fill_null(0),  # a rewrite takes a row's place
        )
        .sort("m")
        .with_columns(span=pl.col("last") - pl.col("first") + 1)
    )
    _check_spans(stats)
    segments = stats.select(
        "metric",
        offset=pl.col("length").cum_sum() - pl.col("length"),
        length="length",
        first="first",
        last="last",
        shift=pl.col("span").cum_sum() - pl.col("span") - pl.col("first"),
    )
    shift = pl.lit(segments["shift"])

    def keyed(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.select("m", *columns, key=shift.gather(pl.col("m")) + pl.col("at"))

    merged = keyed(old).with_columns(pl.col("key").set_sorted()).merge_sorted(
        keyed(new).sort("key").with_columns(pl.col("key").set_sorted()), key="key"
    )
    return segments, merged


def fold(view: View) -> View:
    """The same readings as ``view``, with the delta merged into a new base.

    Linear in the history, no sort of it (see :func:`_merge`). The result
    has ``view``'s lineage: it differs from the view ``view`` was written
    over exactly as ``view`` does.
    """
    if view.changes.height == 0:
        return view
    base, changes = view.base, view.changes
    old = base.rows()
    if view.hidden.len():
        old = old.filter(pl.repeat(True, old.height, eager=True).scatter(view.hidden, False))
    new = changes.select(
        metric=pl.lit(view.delta.segments["metric"]).gather(pl.col("m")), at="at", value="value", n="n", added=pl.col("pos").is_null()
    )
    plain = base.count is None and base.weighted is None and changes.select((pl.col("n") == 1).all()).item()
    contributions = [] if plain else [
        pl.col("value").alias("c_total"),
        (pl.col("value") * pl.col("n")).alias("c_weighted"),
        pl.col("n").cast(pl.Float64).alias("c_count"),
    ]  # fmt: skip
    segments, merged = _merge(base.segments, old, new, ["value", *contributions])
    return View.of(_with_totals(segments, merged), after=view.after, written=view.written)


# --------------------------------------------------------------------------- queries


def _probe(index: Readings, q: pl.LazyFrame, p: str, *, answers: bool = True) -> pl.LazyFrame:
    """Where each request's period lies in ``index`` (its rows ``{p}lo`` to ``{p}hi``) and, with
    ``answers``, what they add up to (columns prefixed ``p``; an empty index has no positions)."""
    segments, filled, positions, sums = index.probe(p)
    if segments is None:
        return q.with_columns(*sums) if answers else q
    located = q.join(segments, on="metric", how="left").with_columns(*filled).with_columns(*positions)
    return located.with_columns(*sums) if answers else located


def _answer() -> tuple[pl.Expr, pl.Expr]:
    """A request's value (and the time of the reading it comes from) out of its base and delta probes."""
    b = lambda name: pl.col("b_" + name)  # noqa: E731
    d = lambda name: pl.col("d_" + name)  # noqa: E731
    seen = b("seen") | d("seen")
    total = pl.when(pl.col("additive")).then(b("total") + d("total")).otherwise(b("weighted") + d("weighted"))
    count = b("count") + d("count")
    # the delta's candidate wins a tie: it rewrote the base row at that instant
    delta_last = d("last_at").is_not_null() & (b("last_at").is_null() | (d("last_at") >= b("last_at")))
    delta_first = d("first_at").is_not_null() & (b("first_at").is_null() | (d("first_at") <= b("first_at")))
    agg = pl.col("agg")
    value = (
        pl.when(agg == "sum").then(pl.when(seen).then(total))
        .when(agg == "count").then(pl.when(seen).then(count))
        .when(agg == "mean").then(pl.when(count > 0).then(total / count))
        .when(agg == "last").then(pl.when(delta_last).then(d("last_value")).otherwise(b("last_value")))
        .when(agg == "first").then(pl.when(delta_first).then(d("first_value")).otherwise(b("first_value")))
    )  # fmt: skip
    at = (
        pl.when(agg == "last").then(pl.when(delta_last).then(d("last_at")).otherwise(b("last_at")))
        .when(agg == "first").then(pl.when(delta_first).then(d("first_at")).otherwise(b("first_at")))
    )  # fmt: skip
    return value.alias("value"), at.alias("at")


_ANSWER = _answer()


def aggregate(view: View, requests: pl.DataFrame | pl.LazyFrame, aggs: set[str], carry: list[str] | tuple[str, ...] = ()) -> pl.LazyFrame:
    """Answer ``requests`` (:data:`REQUESTS_SCHEMA`; ``aggs``: the aggregations among them).

    Returns (``carry`` columns of the requests, req, value, at): ``at`` is the
    time of the reading a ``last`` or ``first`` answer comes from. Collect
    with :func:`collect`.
    """
    carry = list(carry)
    q = _probe(view.delta, _probe(view.base, requests.lazy(), "b_"), "d_")
    value, at = _ANSWER
    answered = q.select(*carry, "req", value, at)
    sliced = sorted(a for a in aggs if a in _SLICED or quantile_of(a) is not None)
    if not sliced:
        return answered
    stats = _sliced(view, requests.lazy().filter(pl.col("agg").is_in(sliced)), sliced)
    return answered.join(stats, on="req", how="left").select(*carry, "req", pl.coalesce("sliced", "value").alias("value"), "at")


def _sliced(view: View, requests: pl.LazyFrame, aggs: list[str]) -> pl.LazyFrame:
    """min, max and quantiles (``aggs``) of the values of each period's rows (hidden base rows skipped): (req, sliced)."""
    parts = []
    for index, hidden, p in ((view.base, view.hidden, "b_"), (view.delta, None, "d_")):
        if index.height == 0:
            continue
        q = _probe(index, requests.select("req", "metric", "start", "end"), p, answers=False)
        rows = q.select("req", pos=pl.int_ranges(pl.col(p + "lo"), pl.col(p + "hi"))).explode("pos").drop_nulls("pos")
        if hidden is not None and hidden.len():
            rows = rows.filter(~pl.col("pos").is_in(hidden.implode()))
        parts.append(rows.select("req", v=pl.lit(index.value).gather(pl.col("pos"))))
    agg = requests.select("req", "agg")
    if not parts:
        return agg.select("req", sliced=pl.lit(None, pl.Float64))
    stats = pl.concat(parts).group_by("req").agg(
        **{a: pl.col("v").min() if a == "min" else pl.col("v").max() if a == "max" else pl.col("v").quantile(quantile_of(a), interpolation="linear") for a in aggs}
    )
    chosen = pl.coalesce(*(pl.when(pl.col("agg") == a).then(pl.col(a)) for a in aggs))
    return agg.join(stats, on="req", how="left").select("req", sliced=chosen)


def touched(view: View, periods: Iterable[tuple[str, int, int]]) -> set[tuple[str, int, int]]:
    """The ``periods`` (metric, start, end) whose [start, end) holds at least one reading of the
    metric: rows there in the base or in the delta (a base row the delta rewrote has a delta row
    at its instant). Eager: a period outside the metric's segment has none; the others take two
    binary searches per index, no query plan."""
    found: set[tuple[str, int, int]] = set()
    todo = set(periods)
    for index in (view.base, view.delta):
        bounds = index.bounds
        if not bounds or not todo:
            continue
        asked, keys = [], []
        for period in todo:
            seg = bounds.get(period[0])
            if seg is None:
                continue
            first, last, shift = seg
            a, b = period[1], period[2]
            if b <= first or a > last or a >= b:
                continue
            asked.append(period)
            keys.append(shift + max(a, first))
            keys.append(shift + min(b, last + 1))
        if asked:
            pos = index.key.search_sorted(pl.Series(keys, dtype=pl.Int64), side="left").to_list()
            found.update(period for j, period in enumerate(asked) if pos[2 * j + 1] > pos[2 * j])
            todo.difference_update(found)
    return found
