"""The index: :class:`Readings`, sorted by (metric, time) with running totals per metric, and building one."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable

import polars as pl

from . import peaks
from .frames import _KEY_LIMIT, _SEGMENTS_SCHEMA, as_rows


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

    ``block_maxima``: the largest |``total``| and |``weighted``| in each block of ``block`` rows of
    each segment (:mod:`~.peaks`), when known (an index cache's, a refold's); otherwise worked out
    from the running totals when first read (:attr:`maxima`).
    """

    segments: pl.DataFrame
    key: pl.Series
    value: pl.Series
    total: pl.Series
    weighted: pl.Series | None = None
    count: pl.Series | None = None
    block_maxima: pl.Series | None = None
    block: int = peaks.BLOCK

    @property
    def height(self) -> int:
        return self.key.len()

    @cached_property
    def _probes(self) -> dict[str, tuple[Any, ...]]:
        return {}

    @cached_property
    def maxima(self) -> pl.Series:
        """The block maxima of |running total| (``block_maxima``, worked out when not given)."""
        if self.block_maxima is not None:
            return self.block_maxima
        running = [self.total] if self.weighted is None else [self.total, self.weighted]
        return peaks.maxima(running, self.segments["length"].to_list(), self.block)

    @cached_property
    def ranges(self) -> peaks.Ranges:
        """:attr:`maxima` ready for the largest |running total| over any period (:meth:`~.peaks.Ranges.peak`)."""
        return peaks.Ranges.build(self.maxima.to_list(), self.segments["length"].to_list(), self.block)

    @cached_property
    def first_blocks(self) -> dict[int, int]:
        """A segment's offset -> its first block in :attr:`ranges`."""
        return dict(zip(self.segments["offset"].to_list(), self.ranges.firsts))

    @cached_property
    def remembered(self) -> dict[str, dict[int, Any]]:
        """What eager answers found in this index (:func:`~kpitui.pipeline.queries.answer`; it never
        changes, so neither do they): ``"found"``: key -> the row a left binary search of it in ``key``
        finds; a column's name (``key``, ``value``, ``total``, ``weighted``, ``count``) -> {row: its
        value}. Each dict is replaced by an empty one when full (``queries.REMEMBERED``), never emptied
        in place (an evaluation in another thread may be reading it)."""
        return {}

    @cached_property
    def bounds(self) -> dict[str, tuple[int, int, int]]:
        """metric -> its segment's (first, last, shift)."""
        seg = self.segments
        return dict(
            zip(seg["metric"].to_list(), zip(seg["first"].to_list(), seg["last"].to_list(), seg["shift"].to_list()))
        )

    @cached_property
    def places(self) -> dict[str, tuple[int, int, int, int]]:
        """metric -> its segment's (offset, first, last, shift)."""
        seg = self.segments
        columns = (seg[name].to_list() for name in ("offset", "first", "last", "shift"))
        return dict(zip(seg["metric"].to_list(), zip(*columns)))

    @cached_property
    def firsts(self) -> dict[str, int]:
        """metric -> its first instant (do not change it)."""
        seg = self.segments
        return dict(zip(seg["metric"].to_list(), seg["first"].to_list()))

    def warm(self) -> Readings:
        """This index, with what every evaluation over it reads first worked out now (the block maxima's
        range table, the segments' bounds as dicts): a background fold's new base gets them in the
        fold's thread, not in the refresh that adopts it (~7 ms of its main-thread CPU for ten million
        readings). Nothing else is read or changed."""
        for name in ("ranges", "first_blocks", "bounds", "places", "firsts"):
            getattr(self, name)
        return self

    def probe(self, p: str) -> tuple[pl.LazyFrame | None, list[pl.Expr], list[pl.Expr], list[pl.Expr], list[pl.Expr]]:
        """How requests (metric, start, end) are located in this index: the segments to join, and
        the expressions giving each period's rows (``lo``, ``hi``) and what they add up to (in two
        steps: the running totals at its ends, then their differences and ``err``, the
        :func:`~kpitui.pipeline.exact.spread` of each difference), their names prefixed ``p``.
        Built once per index and prefix (they only refer to its columns)."""
        if p not in self._probes:
            self._probes[p] = self._build_probe(p)
        return self._probes[p]

    def _build_probe(
        self, p: str
    ) -> tuple[pl.LazyFrame | None, list[pl.Expr], list[pl.Expr], list[pl.Expr], list[pl.Expr]]:
        def c(name: str) -> pl.Expr:
            return pl.col(p + name)

        if self.height == 0:
            return (
                None,
                [],
                [],
                [
                    pl.lit(0, pl.Int64).alias(p + "lo"),
                    pl.lit(0, pl.Int64).alias(p + "hi"),
                    pl.lit(False).alias(p + "seen"),
                    *(pl.lit(0.0).alias(p + name) for name in ("total", "weighted", "count", "err")),
                    *(pl.lit(None, pl.Int64).alias(p + name) for name in ("last_at", "first_at")),
                    *(pl.lit(None, pl.Float64).alias(p + name) for name in ("last_value", "first_value")),
                ],
                [],
            )
        last_row = self.height - 1
        key, value = pl.lit(self.key), pl.lit(self.value)
        ranges = self.ranges
        segments = self.segments.lazy().select(
            "metric",
            *(pl.col(k).alias(p + k) for k in _SEGMENTS_SCHEMA if k != "metric"),
            pl.lit(pl.Series(ranges.firsts, dtype=pl.Int64)).alias(p + "block"),
        )
        # a metric without rows here: an empty segment at position 0
        filled = [
            c("offset").fill_null(0),
            c("length").fill_null(0),
            c("first").fill_null(0),
            c("last").fill_null(-1),
            c("shift").fill_null(0),
            c("block").fill_null(0),
        ]

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

        # the running totals at the period's ends (each gathered once), then what they give
        ends = [before(self.total, hi).alias(p + "total_hi"), before(self.total, lo).alias(p + "total_lo")]
        if self.weighted is not None:
            ends += [
                before(self.weighted, hi).alias(p + "weighted_hi"),
                before(self.weighted, lo).alias(p + "weighted_lo"),
            ]

        def difference(name: str) -> pl.Expr:
            """0 for an empty period (not inf - inf past a running total beyond the float maximum)."""
            return pl.when(hi > lo).then(c(name + "_hi") - c(name + "_lo")).otherwise(0.0)

        def spread(name: str) -> pl.Expr:
            """What bounds ``difference(name)``'s rounding error (:func:`~kpitui.pipeline.exact.spread`)."""
            rows = (hi - lo).cast(pl.Float64)
            return pl.when(hi > lo).then((c(name + "_hi").abs() + c(name + "_lo").abs()) * rows).otherwise(0.0)

        weighted = "total" if self.weighted is None else "weighted"
        ends_spread = spread("total") if self.weighted is None else spread("total") + spread("weighted")
        # and the largest running total inside the period (a spike cancelled there: see .peaks)
        inside = pl.when(hi > lo).then((hi - lo).cast(pl.Float64) * c("peak")).otherwise(0.0)
        derived = [
            difference("total").alias(p + "total"),
            difference(weighted).alias(p + "weighted"),
            pl.when(ends_spread >= inside).then(ends_spread).otherwise(inside).alias(p + "err"),
        ]
        last_i, first_i = (hi - 1).clip(0, last_row), lo.clip(0, last_row)
        has_last, has_first = hi > off, lo < hi
        answers = [
            (hi > off).alias(p + "seen"),
            *ends,
            ranges.peak_expr(c("block"), off, lo, hi).alias(p + "peak"),
            between(self.count).alias(p + "count"),
            pl.when(has_last).then(key.gather(last_i) - c("shift")).alias(p + "last_at"),
            pl.when(has_last).then(value.gather(last_i)).alias(p + "last_value"),
            pl.when(has_first).then(key.gather(first_i) - c("shift")).alias(p + "first_at"),
            pl.when(has_first).then(value.gather(first_i)).alias(p + "first_value"),
        ]
        return segments, filled, positions, answers, derived

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
        m = (
            runs
            if grouped
            else ids.replace_strict(present, pl.int_range(present.len(), eager=True), return_dtype=pl.UInt32)
        )
        plain = frame.select((pl.col("n") == 1).all()).item()
        rows = frame.select(
            m=m.cast(pl.UInt32),
            at=pl.col("at").cast(pl.Int64),
            value=pl.col("value").cast(pl.Float64),
            *([] if plain else [pl.col("n").cast(pl.Int64)]),
        )
        del frame, ids, runs, m  # only this call holds the frame: its id and n columns go now
        labels = pl.Series("metric", [names[i] for i in present.to_list()], pl.String)
        if not plain:
            rows = rows.select(
                "m", "at", "value", c_total="value", c_weighted=pl.col("value") * pl.col("n"), c_count="n"
            )
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
                pl.lit(None, pl.Int64).alias(p + "pos"),
                pl.lit(None, pl.Float64).alias(p + "value"),
                pl.lit(None, pl.Int64).alias(p + "n"),
            )
        last_row = self.height - 1
        key = pl.lit(self.key)
        probe = pl.col("_shift") + pl.col("at")
        segments = self.segments.lazy().select("metric", _offset="offset", _first="first", _last="last", _shift="shift")
        pos = key.search_sorted(probe.fill_null(0), side="left").cast(pl.Int64)
        found = pl.when(
            pl.col("at").is_between(pl.col("_first"), pl.col("_last")) & (key.gather(pos.clip(0, last_row)) == probe)
        ).then(pos)
        at = pl.col(p + "pos").clip(0, last_row)
        if self.count is None:
            n = pl.lit(1, pl.Int64)
        else:
            before = (
                pl.when(pl.col(p + "pos") > pl.col("_offset"))
                .then(pl.lit(self.count).gather((at - 1).clip(0)))
                .otherwise(0.0)
            )
            n = (pl.lit(self.count).gather(at) - before).round().cast(pl.Int64)
        known = pl.col(p + "pos").is_not_null()
        return (
            rows.join(segments, on="metric", how="left", maintain_order="left")
            .with_columns(found.alias(p + "pos"))
            .with_columns(
                pl.when(known).then(pl.lit(self.value).gather(at)).alias(p + "value"),
                pl.when(known).then(n).alias(p + "n"),
            )
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
        rows = rows.select(
            m=pl.col("metric").cast(pl.Enum(names)).to_physical(), at="at", value="value", *contributions
        )
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
    _check_span_total(float(stats["span"].cast(pl.Float64).sum()))


def _check_span_total(total: float) -> None:
    if total >= _KEY_LIMIT:
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
