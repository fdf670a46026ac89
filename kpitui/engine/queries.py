"""Answering: the two polars queries of an evaluation.

1. *answers*: one request per (period, metric, aggregation, steps back) the
   KPIs to run read, answered from the reading index
   (:func:`kpitui.pipeline.aggregate`: binary searches and running totals,
   exact at any boundary, gaps filled per aggregation rule), and one per
   metric whose newest reading is asked; the answers are scattered into a
   small wide frame, one row per period, one column per request column;
2. *formulas*: each KPI's compiled expressions over that frame, giving every
   period's value at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable

import polars as pl

from .. import pipeline
from .planning import KpiPlan, Slots, SteppedPeriod, utc
from .program import Compiler, Program, Read

_WITH_ROW = {**pipeline.REQUESTS_SCHEMA, "row": pl.Int64, "c": pl.Int64}  # requests, with where each answer goes

Latest = dict[str, tuple[dt.datetime, float]]  # metric -> its newest reading (at, value)


@dataclass
class Evaluation:
    """The raw outcome of one pipeline run: values per (kpi, row)."""

    rows: list[SteppedPeriod]
    values: dict[str, list[float | None]]  # kpi id (or "kpi::part") -> value per row
    latest: Latest


def requests(
    program: Program, pairs: list[tuple[int, str]], slots: Slots, now: dt.datetime, metrics: Iterable[str] = ()
) -> tuple[pl.DataFrame, list[str]]:
    """What (row, KPI) ``pairs`` read: one :data:`~kpitui.pipeline.REQUESTS_SCHEMA` request per
    (row, metric, aggregation, steps back), with its ``row`` and column ``c`` in the wide frame,
    and the wide frame's column names. Then one request (row and column -1) for the newest
    reading before ``now`` of each of ``metrics``."""
    compiled = program.kpis
    wanted: dict[tuple[int, str], Read] = {}
    for row_id, kid in pairs:
        for read in compiled[kid].reads:
            wanted[(row_id, read.column)] = read
    columns = sorted({col for _, col in wanted})
    index = {col: c for c, col in enumerate(columns)}
    reads = list(wanted.values())
    bounds = [slots[(row_id, r.steps)] for (row_id, _), r in zip(wanted, reads)]
    metrics = list(metrics)
    now_us = [pipeline.micros(utc(now)) + 1] * len(metrics)  # the newest reading at or before now
    out = {
        "req": range(len(reads) + len(metrics)),
        "metric": [r.metric for r in reads] + metrics,
        "agg": [r.agg for r in reads] + ["last"] * len(metrics),
        "additive": [r.additive for r in reads] + [False] * len(metrics),
        "start": [b[0] for b in bounds] + now_us,
        "end": [b[1] for b in bounds] + now_us,
        "row": [row_id for row_id, _ in wanted] + [-1] * len(metrics),
        "c": [index[col] for _, col in wanted] + [-1] * len(metrics),
    }
    return pl.DataFrame(out, schema=_WITH_ROW), columns


def run(
    compiler: Compiler,
    program: Program,
    view: pipeline.View,
    now: dt.datetime,
    rows: list[SteppedPeriod],
    row_kpis: dict[int, set[str]],
    slots: Slots,
    latest: Iterable[str],
) -> Evaluation:
    """Evaluate KPIs (``row_kpis``: which KPIs each row needs, ``slots``: their periods) and the
    newest reading of ``latest`` metrics."""
    compiled = program.kpis
    pairs = [(row_id, k) for row_id, kids in row_kpis.items() for k in kids if k in compiled]
    wanted_kpis = {k for _, k in pairs}
    asked, columns = requests(program, pairs, slots, now, latest)
    aggs = program.aggs(wanted_kpis) | {"last"}
    (answers,) = pipeline.collect(pipeline.aggregate(view, asked, aggs, carry=["metric", "row", "c"]))
    latest_map = latest_readings(answers.filter(pl.col("row") < 0, pl.col("value").is_not_null()))
    if not pairs:
        return Evaluation(rows, {}, latest_map)
    # The formulas run over a small wide frame (one row per period, one column per request),
    # built by scattering into one column-major buffer (~2 ms, where polars' pivot takes
    # 15-90 ms for this shape).
    wide = scatter(answers.filter(pl.col("row") >= 0), len(rows), columns)
    if not columns:  # KPIs that read nothing: the frame still has a row per period
        wide = pl.DataFrame({"__row": pl.int_range(len(rows), eager=True)})
    order = compiler.dependency_order(wanted_kpis)
    exprs = [e for kid in order for e in compiled[kid].exprs]
    names = [name for kid in order for name in compiled[kid].names]
    # with_columns, not select: a formula that is a constant (a plugin's pl.lit) is one per row too
    (result,) = pipeline.collect(wide.lazy().with_columns(*exprs).select(names))
    return Evaluation(rows, result.to_dict(as_series=False), latest_map)


def scatter(cells: pl.DataFrame, height: int, columns: list[str]) -> pl.DataFrame:
    """(row, c, value) cells -> a frame of ``height`` rows with one column per name in ``columns``."""
    flat = pl.repeat(None, height * len(columns), dtype=pl.Float64, eager=True)
    flat = flat.scatter(cells["c"] * height + cells["row"], cells["value"]) if cells.height else flat
    return pl.DataFrame([flat.slice(i * height, height).alias(name) for i, name in enumerate(columns)])


def latest_readings(frame: pl.DataFrame) -> Latest:
    """(metric, at µs, value) rows -> {metric: (at, value)}."""
    columns = frame.select("metric", pl.col("at").cast(pl.Datetime("us", "UTC")), "value").to_dict(as_series=False)
    return dict(zip(columns["metric"], zip(columns["at"], columns["value"])))


def row_kpis(plans: dict[str, KpiPlan], only: Iterable[str] | None = None) -> dict[int, set[str]]:
    """Which KPIs each row is evaluated for (``only``: of these KPIs)."""
    sharing: dict[tuple[int, ...], set[str]] = {}  # KPIs by the rows of their (shared) plan
    for kid in plans if only is None else only:
        sharing.setdefault(plans[kid].positions, set()).add(kid)
    out: dict[int, set[str]] = {}
    for positions, kids in sharing.items():
        for row_id in positions:
            out.setdefault(row_id, set()).update(kids)
    return out
