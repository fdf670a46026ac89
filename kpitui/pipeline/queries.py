"""Queries: answering any number of (metric, aggregation, period) requests over a view in one lazy query."""

from __future__ import annotations

import bisect
from functools import partial
from typing import Any, Iterable, cast

import polars as pl

from . import peaks
from .exact import exact_total, inexact, inexact_expr, spread
from .frames import _SLICED, quantile_of
from .index import Readings
from .view import View


def _probe(index: Readings, q: pl.LazyFrame, p: str, *, answers: bool = True) -> pl.LazyFrame:
    """Where each request's period lies in ``index`` (its rows ``{p}lo`` to ``{p}hi``) and, with
    ``answers``, what they add up to (columns prefixed ``p``; an empty index has no positions)."""
    segments, filled, positions, sums, derived = index.probe(p)
    if segments is None:
        return q.with_columns(*sums) if answers else q
    located = q.join(segments, on="metric", how="left").with_columns(*filled).with_columns(*positions)
    return located.with_columns(*sums).with_columns(*derived) if answers else located


def _answer() -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """A request's value (and the time of the reading it comes from) out of its base and delta probes."""

    def b(name: str) -> pl.Expr:
        return pl.col("b_" + name)

    def d(name: str) -> pl.Expr:
        return pl.col("d_" + name)

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
    # a sum or mean whose running totals may have rounded it off (see .exact): summed again from its rows
    redo = agg.is_in(["sum", "mean"]) & inexact_expr(b("err") + d("err"), total)
    return value.alias("value"), at.alias("at"), redo.alias("_redo")


_ANSWER = _answer()


def aggregate(
    view: View, requests: pl.DataFrame | pl.LazyFrame, aggs: set[str], carry: list[str] | tuple[str, ...] = ()
) -> pl.LazyFrame:
    """Answer ``requests`` (:data:`REQUESTS_SCHEMA`; ``aggs``: the aggregations among them).

    Returns (``carry`` columns of the requests, req, value, at): ``at`` is the
    time of the reading a ``last`` or ``first`` answer comes from. Collect
    with :func:`collect`.
    """
    carry = list(carry)
    q = _probe(view.delta, _probe(view.base, requests.lazy(), "b_"), "d_")
    value, at, redo = _ANSWER
    # the rows of each period, for the sums and means summed again (_redone): base offset, lo, hi; delta lo, hi
    place = [
        (pl.col(p + name) if index.height else pl.lit(0, pl.Int64)).alias(f"_{i}")
        for i, (index, p, name) in enumerate(
            [(view.base, "b_", "offset"), (view.base, "b_", "lo"), (view.base, "b_", "hi")]
            + [(view.delta, "d_", "lo"), (view.delta, "d_", "hi")]
        )
    ]
    divide = pl.when(pl.col("agg") == "mean").then(pl.col("b_count") + pl.col("d_count")).alias("_divide")
    flagged = pl.col("_redo") & pl.col("value").is_not_null()
    rows = pl.struct(flagged.alias("_redo"), *(f"_{i}" for i in range(5)), "additive", "_divide")
    answered = q.select(*carry, "req", value, at, redo, *place, "additive", divide).select(
        *carry,
        "req",
        pl.when(flagged)
        .then(rows.map_batches(partial(_redone, view), return_dtype=pl.Float64))
        .otherwise("value")
        .alias("value"),
        "at",
    )
    sliced = sorted(a for a in aggs if a in _SLICED or quantile_of(a) is not None)
    if not sliced:
        return answered
    stats = _sliced(view, requests.lazy().filter(pl.col("agg").is_in(sliced)), sliced)
    return answered.join(stats, on="req", how="left").select(
        *carry, "req", pl.coalesce("sliced", "value").alias("value"), "at"
    )


def _sliced(view: View, requests: pl.LazyFrame, aggs: list[str]) -> pl.LazyFrame:
    """min, max and quantiles (``aggs``) of the values of each period's rows (hidden base rows skipped): (req,
    sliced)."""
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
    stats = (
        pl.concat(parts)
        .group_by("req")
        .agg(
            **{
                a: pl.col("v").min()
                if a == "min"
                else pl.col("v").max()
                if a == "max"
                else pl.col("v").quantile(cast(float, quantile_of(a)), interpolation="linear")
                for a in aggs
            }
        )
    )
    chosen = pl.coalesce(*(pl.when(pl.col("agg") == a).then(pl.col(a)) for a in aggs))
    return agg.join(stats, on="req", how="left").select("req", sliced=chosen)


def _redone(view: View, rows: pl.Series) -> pl.Series:
    """The sums and means :func:`aggregate` flags (``_redo``) summed again from their rows (null elsewhere)."""
    out: list[float | None] = [None] * rows.len()
    flagged = rows.struct.field("_redo").fill_null(False).arg_true()
    if not flagged.len():
        return pl.Series(out, dtype=pl.Float64)
    hidden = sorted(view.hidden.to_list())
    for i, row in zip(flagged.to_list(), rows.gather(flagged).to_list()):
        divide = 1.0 if row["_divide"] is None else row["_divide"]  # a mean's count
        out[i] = exact_total(
            view, (row["_0"], row["_1"], row["_2"]), (row["_3"], row["_4"]), row["additive"], hidden, divide
        )
    return pl.Series(out, dtype=pl.Float64)


#: the aggregations :func:`answer` works out without a query (quantiles: :func:`aggregate` only)
ANSWERED = frozenset({"sum", "count", "mean", "last", "first", "min", "max"})
_NO_SEGMENT = (0, 0, -1, 0)  # (offset, first, last, shift) of a metric without rows, as the query fills it
_TOTALS = frozenset({"sum", "count", "mean"})
_NONE: tuple[int | None, float | None] = (None, None)
#: a request probed in one index (:func:`_probed`)
_Probe = tuple[bool, float, float, float, tuple[Any, Any], tuple[Any, Any], tuple[int, int], float, int]
_EMPTY: _Probe = (False, 0.0, 0.0, 0.0, _NONE, _NONE, (0, 0), 0.0, 0)


def answer(
    view: View, metric: list[str], agg: list[str], additive: list[bool], start: list[int], end: list[int]
) -> tuple[list[float | None], list[int | None]]:
    """What :func:`aggregate` answers for these requests (one per position; aggregations among
    :data:`ANSWERED`), worked out eagerly: each request's value and, for ``last`` and ``first``, the
    time of the reading it comes from (µs). The same numbers by the same operations as the query:
    per index one binary search of every boundary and one gather per column read, the rest in
    Python. For a few hundred requests (an incremental evaluation) the query's plan, joins and
    thread pool cost several times that; for many thousands the query is the quicker."""
    height = len(metric)
    base = _probed(view.base, metric, start, end, agg)
    delta = _probed(view.delta, metric, start, end, agg)
    values: list[float | None] = [None] * height
    instants: list[int | None] = [None] * height
    hidden: list[int] | None = None
    for i in range(height):
        a = agg[i]
        b, d = base[i], delta[i]
        if a in _TOTALS:
            seen = b[0] or d[0]
            if a == "count":
                count = b[3] + d[3]
                values[i] = count if seen else None
                continue
            total = b[1] + d[1] if additive[i] else b[2] + d[2]
            count = b[3] + d[3]
            if not (seen if a == "sum" else count > 0):
                continue
            if inexact(b[7] + d[7], total):  # see .exact: summed again from the period's rows
                if hidden is None:
                    hidden = sorted(view.hidden.to_list())
                values[i] = exact_total(view, (b[8], *b[6]), d[6], additive[i], hidden, 1.0 if a == "sum" else count)
            else:
                values[i] = total if a == "sum" else total / count
        elif a == "last" or a == "first":
            # the delta's candidate wins a tie: it rewrote the base row at that instant
            (b_at, b_value), (d_at, d_value) = (b[4], d[4]) if a == "last" else (b[5], d[5])
            if d_at is not None and (b_at is None or (d_at >= b_at if a == "last" else d_at <= b_at)):
                values[i], instants[i] = d_value, d_at
            else:
                values[i], instants[i] = b_value, b_at
        else:  # min, max: over the period's rows (hidden base rows skipped)
            if hidden is None:
                hidden = sorted(view.hidden.to_list())
            values[i] = _sliced_value(view, a, b[6], d[6], hidden)
    return values, instants


def _sliced_value(
    view: View, agg: str, base_rows: tuple[int, int], delta_rows: tuple[int, int], hidden: list[int]
) -> float | None:
    """min or max of a period's rows: base rows ``base_rows`` (but the ``hidden`` ones) and delta rows."""
    parts = []
    lo, hi = base_rows
    if hi > lo:
        skipped = hidden[bisect.bisect_left(hidden, lo) : bisect.bisect_left(hidden, hi)]
        if skipped:
            gone = set(skipped)
            parts.append(view.base.value.gather([p for p in range(lo, hi) if p not in gone]))
        else:
            parts.append(view.base.value.slice(lo, hi - lo))
    lo, hi = delta_rows
    if hi > lo:
        parts.append(view.delta.value.slice(lo, hi - lo))
    if not parts:
        return None
    rows = parts[0] if len(parts) == 1 else pl.concat(parts)
    found = rows.min() if agg == "min" else rows.max()
    return cast("float | None", found)


def _probed(index: Readings, metric: list[str], start: list[int], end: list[int], agg: list[str]) -> list[_Probe]:
    """Per request, what :meth:`Readings.probe` makes of it in ``index`` that its aggregation reads:
    (seen, total, weighted, count, (last_at, last_value), (first_at, first_value), (lo, hi), err, offset)
    (``err``: :func:`~.exact.spread` of the totals, as the probe's), by the
    same operations (what it does not read is left at the empty index's). A metric without rows in
    ``index`` is the empty index's answer, as in the query (its empty segment at key 0, where no
    key is below)."""
    out = [_EMPTY] * len(metric)
    if index.height == 0:
        return out
    places = index.places
    asked: list[int] = []  # the requests of metrics with rows here
    segs: list[tuple[int, int, int, int]] = []
    probes: list[int] = []
    for i, m in enumerate(metric):
        seg = places.get(m)
        if seg is None:
            continue
        _, first, last, shift = seg
        since, until, top = start[i], end[i], last + 1
        asked.append(i)
        segs.append(seg)
        probes.append(shift + (first if since < first else top if since > top else since))
        probes.append(shift + (first if until < first else top if until > top else until))
    if not asked:
        return out
    found = _found(index, probes)
    # the rows each column is read at: the running totals just before lo and hi, the last and first rows
    before: set[int] = set()
    ends: set[int] = set()
    for j, i in enumerate(asked):
        off, lo, hi, a = segs[j][0], found[2 * j], found[2 * j + 1], agg[i]
        if a in _TOTALS:
            if lo > off:
                before.add(lo - 1)
            if hi > off:
                before.add(hi - 1)
        elif a == "last":
            if hi > off:
                ends.add(hi - 1)
        elif a == "first" and lo < hi:
            ends.add(lo)
    running = [name for name in ("total", "weighted", "count") if getattr(index, name) is not None]
    sums = iter(_gathered(index, running, before))
    total = next(sums)
    weighted = total if index.weighted is None else next(sums)
    count = None if index.count is None else next(sums)
    keys, values = _gathered(index, ["key", "value"], ends)
    ranges: peaks.Ranges | None = None  # (read at the first period with rows)
    firsts: dict[int, int] = {}
    for j, i in enumerate(asked):
        off, shift = segs[j][0], segs[j][3]
        lo, hi, a = found[2 * j], found[2 * j + 1], agg[i]
        seen = hi > off
        if a in _TOTALS:
            t_hi, t_lo = (total[hi - 1] if seen else 0.0), (total[lo - 1] if lo > off else 0.0)
            t = t_hi - t_lo if hi > lo else 0.0  # not inf - inf past a running total beyond the float maximum
            w, err = t, spread(t_lo, t_hi, hi - lo)
            if weighted is not total:
                w_hi, w_lo = (weighted[hi - 1] if seen else 0.0), (weighted[lo - 1] if lo > off else 0.0)
                w = w_hi - w_lo if hi > lo else 0.0
                err = err + spread(w_lo, w_hi, hi - lo)
            # and the largest running total inside the period (as the probe's: see .peaks)
            inside = 0.0
            if hi > lo:
                if ranges is None:
                    ranges, firsts = index.ranges, index.first_blocks
                inside = float(hi - lo) * ranges.peak(firsts[off], off, lo, hi)
            err = err if err >= inside else inside
            if count is None:
                c = float(hi - off) - float(lo - off)  # every row counts 1
            else:
                c = (count[hi - 1] if seen else 0.0) - (count[lo - 1] if lo > off else 0.0)
            out[i] = (seen, t, w, c, _NONE, _NONE, (lo, hi), err, off)
        elif a == "last":
            newest = (keys[hi - 1] - shift, values[hi - 1]) if seen else _NONE
            out[i] = (seen, 0.0, 0.0, 0.0, newest, _NONE, (lo, hi), 0.0, off)
        elif a == "first":
            got = (keys[lo] - shift, values[lo]) if lo < hi else _NONE
            out[i] = (seen, 0.0, 0.0, 0.0, _NONE, got, (lo, hi), 0.0, off)
        else:
            out[i] = (seen, 0.0, 0.0, 0.0, _NONE, _NONE, (lo, hi), 0.0, off)
    return out


#: how many keys or rows an index remembers per column (:attr:`Readings.remembered`) before it starts
#: again: an incremental evaluation asks a few hundred, mostly the same each time (at most ~0.5 MB a
#: column: the index adds no memory to speak of)
REMEMBERED = 4096


def _found(index: Readings, probes: list[int]) -> list[int]:
    """Per key of ``probes``, the row a left binary search of it in ``index.key`` finds: the keys
    searched before remembered (:attr:`Readings.remembered`; with the clock moved, the base index
    is asked the same periods' starts and its segments' ends each time), the others by one search."""
    remembered = index.remembered
    found = remembered.get("found")
    if found is None or len(found) > REMEMBERED:
        found = remembered["found"] = {}
    missing = [key for key in probes if key not in found]
    if missing:
        missing = list(dict.fromkeys(missing))
        found.update(zip(missing, index.key.search_sorted(pl.Series(missing, dtype=pl.Int64), side="left").to_list()))
    return [found[key] for key in probes]


#: up to how many cells (rows x columns) :func:`_gathered` reads one by one rather than by one gather
ONE_BY_ONE = 48


def _gathered(index: Readings, names: list[str], rows: set[int]) -> list[dict[int, Any]]:
    """Each of ``index``'s columns ``names`` at each of ``rows``: {row: value} per column (holding other
    rows too). The rows not remembered (:attr:`Readings.remembered`) are read by one gather of all
    the columns rather than one per column, each a few polars calls (the five columns of an
    incremental evaluation's ~340 rows of the 10M index: 0.49 -> 0.22 ms of main-thread CPU), or
    up to :data:`ONE_BY_ONE` cells one by one."""
    remembered = index.remembered
    columns: list[dict[int, Any]] = []
    for name in names:
        column = remembered.get(name)
        if column is None or len(column) > REMEMBERED:
            column = remembered[name] = {}
        columns.append(column)
    missing = list({row for column in columns for row in rows if row not in column})
    if not missing:
        return columns
    if len(missing) * len(names) <= ONE_BY_ONE:
        # a few cells: each read by itself, ~1 µs a cell against 45-115 µs for the gather's frame, query
        # and lists whatever its size (with the clock moved, ~5 such reads a round, of 2-10 rows each)
        for name, column in zip(names, columns):
            series = getattr(index, name)
            column.update((row, series[row]) for row in missing)
        return columns
    got = pl.DataFrame([getattr(index, name).alias(name) for name in names])[pl.Series(missing, dtype=pl.Int64)]
    for column, values in zip(columns, got.get_columns()):
        column.update(zip(missing, values.to_list()))
    return columns


#: "no reading at or after this instant" in :func:`next_readings`' answers: later than any reading
NEVER = 2**63 - 1


def next_readings(view: View, points: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """Each (metric, instant µs) of ``points`` -> the instant of the metric's first reading at or
    after it, in the base or the delta (a base row the delta rewrote has a delta row at its
    instant); :data:`NEVER` when there is none. Eager: an instant outside the metric's segment is
    answered from its bounds; the others take one binary search and one lookup per index."""
    points = set(points)
    out = dict.fromkeys(points, NEVER)
    for index in (view.base, view.delta):
        bounds = index.bounds
        if not bounds:
            continue
        asked, keys = [], []
        for point in points:
            seg = bounds.get(point[0])
            if seg is None or point[1] > seg[1]:
                continue
            if point[1] <= seg[0]:
                out[point] = min(out[point], seg[0])
            else:
                asked.append(point)
                keys.append(seg[2] + point[1])
        if asked:
            rows = _found(index, keys)  # each within its segment: a key at or after it there
            (at_row,) = _gathered(index, ["key"], set(rows))
            for point, key, row in zip(asked, keys, rows):
                out[point] = min(out[point], point[1] + (at_row[row] - key))
    return out
