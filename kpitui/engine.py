"""Evaluate KPIs over the reading history: values, comparisons, sparklines, targets, statuses.

The evaluation of every KPI is one lazy polars pipeline with one collect:

1. *rows*: the periods each KPI is shown for (current window, previous
   period, same period last year, and each sparkline bucket);
2. *requests*: for each row, each (metric, aggregation, offset) its formula
   reads; offsets point at earlier periods (growth reads the previous one);
3. the readings are reduced to local hours, aggregated per period slot
   (:mod:`kpitui.pipeline`), gaps filled per aggregation rule, and pivoted to
   one column per request;
4. each KPI's formula expression runs over those columns (KPIs that use other
   KPIs compose their expressions), giving every row's value at once.

Formula types are plugins: each call into one is guarded, and a formula that
raises puts its KPI (only) in an error state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import polars as pl

from . import periods, pipeline, scoring
from .api import FormulaType, Input
from .config import Config
from .model import (
    Kpi,
    KpiResult,
    MetricStatus,
    ObjectiveResult,
    Period,
    Snapshot,
    SourceHealth,
    Status,
)
from .options import redact

SPARK_POINTS = 14


def calendar_of(config: Config) -> periods.Calendar:
    s = config.settings
    return periods.Calendar(timezone=s.timezone, week_start=s.week_start, fiscal_year_start=s.fiscal_year_start)


@dataclass(frozen=True)
class Row:
    """A period a KPI is evaluated for, and how to step to the periods before it.

    Window rows step back one window (``unit`` x ``count``, month ends
    clipped); the current window's first step is the exact comparison period
    (``before``: same elapsed time for to-date windows). Bucket rows step back
    one bucket.
    """

    period: Period
    window: periods.Window | None = None
    grain: str | None = None
    before: Period | None = None

    def back(self, cal: periods.Calendar, steps: int) -> Period:
        period = self.period
        for step in range(steps):
            if step == 0 and self.before is not None:
                period = self.before
            elif self.window is not None:
                period = _shift_period(period, self.window.unit, -self.window.count, cal)
            else:
                assert self.grain is not None
                period = _shift_period(period, self.grain, -1, cal)
        return period


@dataclass
class KpiPlan:
    kpi: Kpi
    window: periods.Window
    grain: str
    current: int  # row ids
    previous: int
    last_year: int
    spark: list[int]
    full_end: dt.datetime | None  # end of the whole current period, for pace


@dataclass
class Evaluation:
    """The raw outcome of one pipeline run: values per (kpi, row)."""

    rows: list[Row]
    values: dict[str, list[float | None]]  # kpi id (or "kpi::part") -> value per row
    latest: dict[str, tuple[dt.datetime, float]]


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.timezone.utc)


class Engine:
    """Evaluates a config's KPIs over a history frame (``metric, at, value``)."""

    def __init__(self, config: Config, spark_points: int = SPARK_POINTS):
        self.config = config
        self.cal = calendar_of(config)
        self.spark_points = spark_points
        self.errors: dict[str, str] = {}
        self.formulas: dict[str, FormulaType] = {}
        self.inputs: dict[str, list[Input]] = {}
        for kid, kpi in config.kpis.items():
            try:
                formula = config.registry.formulas[kpi.formula](kpi.params)
                self.inputs[kid] = list(formula.inputs())
                self.formulas[kid] = formula
            except Exception as exc:  # noqa: BLE001 - a plugin formula must not take the others down
                self.errors[kid] = self._formula_error(kpi, exc)

    def _formula_error(self, kpi: Kpi, exc: BaseException) -> str:
        owner = self.config.registry.owner("formula", kpi.formula) or "?"
        return redact(f"formula {kpi.formula!r} (plugin {owner}) failed: {type(exc).__name__}: {exc}")

    # -- the dependency graph --------------------------------------------

    def metrics_of(self, kid: str, seen: frozenset[str] = frozenset()) -> set[str]:
        """Every metric a KPI reads, through other KPIs too."""
        out: set[str] = set()
        for inp in self.inputs.get(kid, []):
            if inp.ref in self.config.kpis:
                if inp.ref not in seen:
                    out |= self.metrics_of(inp.ref, seen | {kid})
            else:
                out.add(inp.ref)
        return out

    def _broken_dependency(self, kid: str) -> str | None:
        if kid in self.errors:
            return self.errors[kid]
        for inp in self.inputs.get(kid, []):
            if inp.ref in self.config.kpis:
                problem = self._broken_dependency(inp.ref)
                if problem:
                    return f"depends on {inp.ref}: {problem}"
        return None

    def _dependency_order(self, kids: Iterable[str]) -> list[str]:
        """KPIs after the KPIs they read, so a failing one is known before its dependants."""
        order: list[str] = []

        def visit(kid: str) -> None:
            if kid in order:
                return
            for inp in self.inputs.get(kid, []):
                if inp.ref in self.config.kpis:
                    visit(inp.ref)
            order.append(kid)

        for kid in sorted(kids):
            visit(kid)
        return [k for k in order if k in set(kids)]

    def columns(self, kid: str, offset: int, needs: set[tuple[str, str, int]]) -> dict[str, pl.Expr]:
        """The KPI's inputs as expressions over request columns (offset = periods back)."""
        columns: dict[str, pl.Expr] = {}
        for inp in self.inputs[kid]:
            steps = offset + inp.offset
            if inp.ref in self.config.kpis:
                columns[inp.name] = self.expression(inp.ref, steps, needs)
            else:
                agg = inp.agg or self.config.metrics[inp.ref].aggregation
                needs.add((inp.ref, agg, steps))
                columns[inp.name] = pl.col(_column(inp.ref, agg, steps))
        return columns

    def expression(self, kid: str, offset: int, needs: set[tuple[str, str, int]]) -> pl.Expr:
        """The KPI's value as an expression over request columns (offset = periods back)."""
        return pipeline.clean(self.formulas[kid].expression(self.columns(kid, offset, needs)))

    # -- planning ------------------------------------------------------------

    def plan(
        self, now: dt.datetime, window: str | None = None, offset: int = 0
    ) -> tuple[list[Row], dict[str, KpiPlan]]:
        rows: list[Row] = []
        index: dict[Row, int] = {}

        def add(row: Row) -> int:
            if row not in index:
                index[row] = len(rows)
                rows.append(row)
            return index[row]

        plans: dict[str, KpiPlan] = {}
        for kid, kpi in self.config.kpis.items():
            win = periods.parse_window(window or kpi.window)
            grain = (kpi.grain if window is None else None) or periods.default_grain(win)
            cur = periods.resolve(win, now, self.cal, offset)
            prev = periods.previous(win, now, self.cal, offset)
            yoy = periods.same_period_last_year(win, now, self.cal, offset)
            spark = [add(self._spark_row(kid, win, p, grain)) for p in self._buckets(cur.end, grain, self.spark_points)]
            full_end = None
            if win.to_date and not win.complete and offset == 0 and not win.name.startswith("trailing"):
                full_end = periods.bucket_end(cur.start, win.unit, self.cal)
            plans[kid] = KpiPlan(
                kpi=kpi,
                window=win,
                grain=grain,
                current=add(Row(cur, window=win, before=prev)),
                previous=add(Row(prev, window=win)),
                last_year=add(Row(yoy, window=win)),
                spark=spark,
                full_end=full_end,
            )
        return rows, plans

    def _buckets(self, end: dt.datetime, grain: str, points: int) -> list[Period]:
        """``points`` buckets of ``grain``, the last one holding the instant before ``end`` (cut at ``end``)."""
        end_utc = _utc(end)
        last = periods.truncate_datetime(end_utc - dt.timedelta(microseconds=1), grain, self.cal)
        first = periods.shift(last, grain, -(points - 1), self.cal)
        out = []
        for start in periods.bucket_starts(Period(first, end), grain, self.cal):
            stop = _utc(periods.bucket_end(start, grain, self.cal))
            out.append(Period(start, min(stop, end_utc)))
        return out

    def _spark_row(self, kid: str, win: periods.Window, bucket: Period, grain: str) -> Row:
        """A sparkline point: the bucket, or for a formula with ``to_date_series``
        (``cumulative``) the window's period to date at the bucket's end."""
        if not getattr(self.formulas.get(kid), "to_date_series", False):
            return Row(bucket, grain=grain)
        last = _utc(bucket.end) - dt.timedelta(microseconds=1)
        first = periods.shift(periods.truncate_datetime(last, win.unit, self.cal), win.unit, -(win.count - 1), self.cal)
        return Row(Period(first, bucket.end), window=periods.Window(win.name, win.unit, win.count))

    def _point_at(self, row: Row, grain: str) -> dt.datetime:
        """Where a sparkline point sits: its bucket's start (a to-date point ends with its bucket)."""
        if row.window is None:
            return row.period.start
        return periods.truncate_datetime(_utc(row.period.end) - dt.timedelta(microseconds=1), grain, self.cal)

    # -- running -------------------------------------------------------------

    def run(self, history: pl.DataFrame, now: dt.datetime, rows: list[Row], row_kpis: dict[int, set[str]]) -> Evaluation:
        """Evaluate KPIs (``row_kpis``: which KPIs each row needs) in one pipeline."""
        needs_by_kpi: dict[str, set[tuple[str, str, int]]] = {}
        exprs: list[pl.Expr] = []
        wanted_kpis = {kid for kids in row_kpis.values() for kid in kids}
        for kid in self._dependency_order(wanted_kpis):
            if self._broken_dependency(kid) is not None:
                continue
            needs: set[tuple[str, str, int]] = set()
            try:
                exprs.append(self.expression(kid, 0, needs).alias(kid))
                for name, part in self.formulas[kid].parts(self.columns(kid, 0, needs)).items():
                    exprs.append(pipeline.clean(part).alias(f"{kid}::{name}"))
                needs_by_kpi[kid] = needs
            except Exception as exc:  # noqa: BLE001
                self.errors[kid] = self._formula_error(self.config.kpis[kid], exc)

        slot_index: dict[tuple[dt.datetime, dt.datetime], int] = {}
        wanted_rows: list[tuple[int, str, int, str, str, dt.datetime]] = []
        for row_id, kids in row_kpis.items():
            row = rows[row_id]
            requests = set().union(*(needs_by_kpi.get(k, set()) for k in kids))
            for metric, agg, steps in requests:
                period = row.back(self.cal, steps)
                key = (_utc(period.start), _utc(period.end))
                slot = slot_index.setdefault(key, len(slot_index))
                wanted_rows.append((row_id, _column(metric, agg, steps), slot, metric, agg, key[1]))

        metrics = sorted({w[3] for w in wanted_rows} | set(self.config.metrics))
        readings = pipeline.upto(history.lazy(), _utc(now), metrics)
        latest_lf = pipeline.latest(readings)
        if not wanted_rows:
            latest_df = latest_lf.collect()
            return Evaluation(rows, {}, _latest_map(latest_df))

        slots = pl.LazyFrame(
            {
                "slot": list(slot_index.values()),
                "start": [k[0] for k in slot_index],
                "end": [k[1] for k in slot_index],
            },
            schema=pipeline.SLOTS_SCHEMA,
        )
        wanted = pl.LazyFrame(
            wanted_rows,
            schema={"row": pl.Int64, "col": pl.String, "slot": pl.Int64, "metric": pl.String, "agg": pl.String, "end": pl.Datetime("us", "UTC")},
            orient="row",
        )
        by_agg: dict[str, set[str]] = {}
        for _, _, _, metric, agg, _ in wanted_rows:
            by_agg.setdefault(agg, set()).add(metric)
        # mean metrics' down-sampled rows hold a mean of n readings (kpitui.retention)
        hours = pipeline.hourly(readings, self.cal, means=[m for m, x in self.config.metrics.items() if x.aggregation == "mean"])
        parts: list[pl.LazyFrame] = []
        decomposable = {m for agg, ms in by_agg.items() if agg in pipeline.DECOMPOSABLE and agg != "last" for m in ms}
        if decomposable:
            parts.append(pipeline.period_aggregates(hours.filter(pl.col("metric").is_in(sorted(decomposable))), slots))
        if "last" in by_agg:
            parts.append(pipeline.carried_last(hours.filter(pl.col("metric").is_in(sorted(by_agg["last"]))), slots))
        quantile_aggs = sorted(a for a in by_agg if pipeline.quantile_of(a) is not None)
        if quantile_aggs:
            qmetrics = sorted(set().union(*(by_agg[a] for a in quantile_aggs)))
            parts.append(pipeline.quantiles(readings.filter(pl.col("metric").is_in(qmetrics)), slots, quantile_aggs))
        values = pl.concat(parts, how="vertical_relaxed")
        filled = pipeline.fill_gaps(values, wanted.select("slot", "metric", "agg", "end").unique(), pipeline.first_seen(readings))
        columns = sorted({w[1] for w in wanted_rows})
        wide = (
            wanted.join(filled, on=["slot", "metric", "agg"], how="left")
            .select("row", "col", "value")
            .pivot(on="col", on_columns=columns, index="row", values="value", aggregate_function="first")
        )
        result_lf = wide.select("row", *exprs) if exprs else wide.select("row")
        result, latest_df = pl.collect_all([result_lf, latest_lf])
        values_by_row: dict[str, list[float | None]] = {}
        row_ids = result["row"].to_list()
        for name in result.columns[1:]:
            column = [None] * len(rows)
            for row_id, value in zip(row_ids, result[name].to_list()):
                column[row_id] = value
            values_by_row[name] = column
        return Evaluation(rows, values_by_row, _latest_map(latest_df))

    def _agg(self, ref: str) -> str:
        return self.config.metrics[ref].aggregation

    # -- snapshot ------------------------------------------------------------

    def evaluate(
        self,
        history: pl.DataFrame,
        now: dt.datetime | None = None,
        *,
        window: str | None = None,
        offset: int = 0,
        health: dict[str, SourceHealth] | None = None,
    ) -> Snapshot:
        """Every KPI, objective and metric as of ``now`` (optionally all in one ``window``, ``offset`` periods back)."""
        now = now or dt.datetime.now(dt.timezone.utc)
        rows, plans = self.plan(now, window, offset)
        row_kpis: dict[int, set[str]] = {}
        for kid, plan in plans.items():
            for row_id in (plan.current, plan.previous, plan.last_year, *plan.spark):
                row_kpis.setdefault(row_id, set()).add(kid)
        evaluation = self.run(history, now, rows, row_kpis)
        health = health or {}
        kpi_results = {kid: self._result(plan, evaluation, now) for kid, plan in plans.items()}
        objectives = tuple(self._objective(obj, kpi_results) for obj in self.config.objectives.values())
        metric_status = {
            mid: MetricStatus(
                metric=metric,
                latest=evaluation.latest.get(mid, (None, None))[1],
                latest_at=evaluation.latest.get(mid, (None, None))[0],
                health=health.get(metric.source or ""),
            )
            for mid, metric in self.config.metrics.items()
        }
        return Snapshot(at=now, objectives=objectives, kpis=kpi_results, metrics=metric_status)

    def _result(self, plan: KpiPlan, ev: Evaluation, now: dt.datetime) -> KpiResult:
        kpi = plan.kpi
        kid = kpi.id
        error = self._broken_dependency(kid)
        values = ev.values.get(kid)
        cur_row, prev_row = ev.rows[plan.current], ev.rows[plan.previous]
        if error or values is None:
            return KpiResult(
                kpi=kpi, period=cur_row.period, previous_period=prev_row.period, value=None, previous=None,
                last_year=None, change=None, change_pct=None, score=None, status=Status.NO_DATA, freshness=None,
                error=error or self.errors.get(kid),
            )
        value, previous, last_year = values[plan.current], values[plan.previous], values[plan.last_year]
        series = [(self._point_at(ev.rows[r], plan.grain), values[r]) for r in plan.spark]
        series = self._series(kid, series)
        change = value - previous if value is not None and previous is not None else None
        change_pct = change / abs(previous) * 100 if change is not None and previous else None
        judged = scoring.judge(
            kpi.target,
            value,
            start=cur_row.period.start,
            period_end=plan.full_end if self._projectable(kid) else None,
            now=_utc(now),
            timezone=self.cal.timezone,
        )
        score = judged.score
        freshness = max((ev.latest[m][0] for m in self.metrics_of(kid) if m in ev.latest), default=None)
        parts = {name.split("::", 1)[1]: vals[plan.current] for name, vals in ev.values.items() if name.startswith(f"{kid}::")}
        return KpiResult(
            kpi=kpi,
            period=cur_row.period,
            previous_period=prev_row.period,
            value=value,
            previous=previous,
            last_year=last_year,
            change=change,
            change_pct=change_pct,
            score=score,
            status=scoring.status(score, value, kpi.target is not None, kpi.thresholds),
            freshness=freshness,
            series=tuple(series),
            projection=judged.projection,
            parts=parts,
            on_pace=judged.on_pace,
            projected_to=judged.projected_to,
        )

    def _series(self, kid: str, series: list[tuple[dt.datetime, float | None]]) -> list[tuple[dt.datetime, float | None]]:
        formula = self.formulas[kid]
        if type(formula).series is FormulaType.series:
            return series
        try:
            frame = pl.DataFrame({"v": [v for _, v in series]}, schema={"v": pl.Float64})
            transformed = frame.select(pipeline.clean(formula.series(pl.col("v"))))["v"].to_list()
        except Exception as exc:  # noqa: BLE001
            self.errors[kid] = self._formula_error(self.config.kpis[kid], exc)
            return series
        return [(at, v) for (at, _), v in zip(series, transformed)]

    def _projectable(self, kid: str) -> bool:
        formula = self.formulas.get(kid)
        if formula is None or not getattr(formula, "projectable", False):
            return False
        for inp in self.inputs[kid]:
            if inp.offset:
                return False
            if inp.ref in self.config.kpis:
                if not self._projectable(inp.ref):
                    return False
            elif (inp.agg or self._agg(inp.ref)) not in ("sum", "count"):
                return False
        return True

    def _objective(self, objective, results: dict[str, KpiResult]) -> ObjectiveResult:
        kpis = tuple(results[k] for k in objective.kpis if k in results)
        score = scoring.rollup([(r.score, r.kpi.weight) for r in kpis])
        if score is None:
            status = Status.NO_DATA if all(r.value is None for r in kpis) else Status.NO_TARGET
        else:
            status = scoring.status(score, score, True, objective.thresholds)
        return ObjectiveResult(objective=objective, score=score, status=status, kpis=kpis)

    # -- the detail chart ------------------------------------------------------

    def series(
        self, history: pl.DataFrame, kid: str, *, now: dt.datetime, grain: str, points: int = 30, window: str | None = None, offset: int = 0
    ) -> list[tuple[dt.datetime, float | None, float | None]]:
        """``points`` buckets of ``grain`` ending with the KPI's current period: (start, value, same bucket one period earlier)."""
        win = periods.parse_window(window or self.config.kpis[kid].window)
        end = periods.resolve(win, now, self.cal, offset).end
        rows = [self._spark_row(kid, win, p, grain) for p in self._buckets(end, grain, points)]
        # the comparison line: the same buckets one window-period earlier
        prev_rows = [Row(_shift_period(r.period, win.unit, -win.count, self.cal), window=r.window, grain=r.grain) for r in rows]
        all_rows = rows + prev_rows
        ev = self.run(history, now, all_rows, {i: {kid} for i in range(len(all_rows))})
        values = ev.values.get(kid, [None] * len(all_rows))
        n = len(rows)
        current = self._series(kid, [(self._point_at(r, grain), values[i]) for i, r in enumerate(rows)])
        previous = self._series(kid, [(self._point_at(r, grain), values[n + i]) for i, r in enumerate(rows)])
        return [(at, v, p) for (at, v), (_, p) in zip(current, previous)]


def _shift_period(period: Period, unit: str, n: int, cal: periods.Calendar) -> Period:
    return Period(periods.shift(period.start, unit, n, cal), periods.shift(period.end, unit, n, cal))


def _column(metric: str, agg: str, steps: int) -> str:
    return f"{metric}|{agg}|{steps}"


def _latest_map(frame: pl.DataFrame) -> dict[str, tuple[dt.datetime, float]]:
    return {m: (at, v) for m, at, v in frame.select("metric", "latest_at", "latest").iter_rows()}
