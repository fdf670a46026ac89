"""Queries: answering any number of (metric, aggregation, period) requests over a view in one lazy query."""

from __future__ import annotations

from typing import Iterable, cast

import polars as pl

from .frames import _SLICED, quantile_of
from .index import Readings
from .view import View


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
    return value.alias("value"), at.alias("at")


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
    value, at = _ANSWER
    answered = q.select(*carry, "req", value, at)
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
            probes = pl.Series(keys, dtype=pl.Int64)
            found = index.key.gather(index.key.search_sorted(probes, side="left")) - probes  # instant - asked
            for point, ahead in zip(asked, found.to_list()):
                out[point] = min(out[point], point[1] + ahead)
    return out
