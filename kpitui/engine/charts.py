"""The detail chart: a KPI's or a metric's values per bucket of a grain, with a comparison line."""

from __future__ import annotations

import datetime as dt
from typing import Callable, Iterable

import polars as pl

from .. import periods, pipeline
from ..model import OVERFLOW
from .planning import Planner, SteppedPeriod, point_at, slot, utc
from .program import Compiler
from .queries import Evaluation

Run = Callable[..., Evaluation]


class Chart(list[tuple[dt.datetime, float | None, float | None]]):
    """(bucket start, value, comparison) per bucket, oldest first; ``undefined``: the buckets (by index) whose
    value is none while every input has data over the bucket (a ratio ÷ 0), and ``undefined_reason``: why."""

    undefined: frozenset[int] = frozenset()
    undefined_reason: str = ""


def kpi_chart(
    planner: Planner,
    compiler: Compiler,
    run: Run,
    view: pipeline.View,
    kid: str,
    win: periods.Window,
    *,
    now: dt.datetime,
    grain: str,
    points: int,
    offset: int,
    compare: str,
) -> Chart:
    """A KPI's chart: its formula over each bucket, and over each comparison bucket."""
    rows = planner.chart_rows(win, now, grain, points, offset, compare, compiler.to_date_series(kid))
    row_kpis = {i: {kid} for i in range(len(rows))}
    evaluation = run(view, now, rows, row_kpis, planner.slots(rows, row_kpis, now), latest=())
    values = evaluation.values.get(kid, [None] * len(rows))
    at = _points(planner, rows, grain)
    n = len(at)
    chart = _lines(compiler.series(kid, zip(at, values[:n])), compiler.series(kid, zip(at, values[n:])))  # type: ignore[arg-type]
    undefined = frozenset(i for k, i in evaluation.undefined if k == kid and i < n and chart[i][1] is None)
    if undefined:
        overflowed = {i for k, i in evaluation.overflowed if k == kid and i in undefined}
        reason = compiler.undefined_reason(kid)
        if overflowed:  # the buckets' reasons: overflow alone, or the formula's reason or overflow
            reason = OVERFLOW if overflowed == undefined else f"{reason}, or {OVERFLOW}"
        chart.undefined, chart.undefined_reason = undefined, reason
    return chart


def metric_chart(
    planner: Planner,
    view: pipeline.View,
    metric_id: str,
    win: periods.Window,
    *,
    now: dt.datetime,
    grain: str,
    points: int,
    offset: int,
    compare: str,
) -> Chart:
    """A metric's chart: one request per bucket (and comparison bucket) by the metric's own rule."""
    agg = planner.config.metrics[metric_id].aggregation
    rows = planner.chart_rows(win, now, grain, points, offset, compare, False)
    horizon = pipeline.micros(utc(now)) + 1  # a reading stamped at now counts
    bounds = [slot(planner.cal, row, 0) for row in rows]
    requests = pl.DataFrame(
        {
            "req": range(len(rows)),
            "metric": [metric_id] * len(rows),
            "agg": [agg] * len(rows),
            "additive": [agg in pipeline.ADDITIVE] * len(rows),
            "start": [min(a, horizon) for a, _ in bounds],
            "end": [min(b, horizon) for _, b in bounds],
        },
        schema=pipeline.REQUESTS_SCHEMA,
    )
    value = pl.col("value")
    (answers,) = pipeline.collect(
        pipeline.aggregate(view, requests, {agg})
        .sort("req")
        .select(pipeline.clean(value), (value.is_not_null() & ~value.is_finite()).alias("overflow"))
    )
    values = answers["value"].to_list()
    at = _points(planner, rows, grain)
    n = len(at)
    chart = _lines(zip(at, values[:n]), zip(at, values[n:]))
    # readings are finite numbers: a bucket whose aggregate is not one went past the largest float (a sum of
    # 1e308s), and says so, as a KPI's does, not "—" (no data) beside readings that are there
    overflowed = frozenset(i for i, flag in enumerate(answers["overflow"].to_list()[:n]) if flag)
    if overflowed:
        chart.undefined, chart.undefined_reason = overflowed, OVERFLOW
    return chart


def _points(planner: Planner, rows: list[SteppedPeriod], grain: str) -> list[dt.datetime]:
    """Where each of a chart's buckets sits (``rows``: the buckets, then their comparisons)."""
    return [point_at(planner.cal, row, grain) for row in rows[: len(rows) // 2]]


def _lines(
    current: Iterable[tuple[dt.datetime, float | None]], previous: Iterable[tuple[dt.datetime, float | None]]
) -> Chart:
    return Chart((at, v, p) for (at, v), (_, p) in zip(current, previous))
