"""Evaluate KPIs over the reading history: values, comparisons, sparklines, targets, statuses.

Evaluating KPIs takes four steps, the last two of them one polars query each:

1. *rows*: the periods each KPI is shown for (current window, previous
   period, same period last year, and each sparkline bucket), worked out once
   per window and once per sparkline and shared by the KPIs that use them
   (the buckets of a sparkline before its last one are remembered by where
   that last one starts: a clock that moved within a bucket only has the
   periods that end at now worked out again);
2. *requests*: for each row, each (metric, aggregation, offset) its formula
   reads; offsets point at earlier periods (growth reads the previous one);
3. the first query answers every request from the reading index
   (:mod:`kpitui.pipeline`: binary searches and running totals, exact at any
   boundary, gaps filled per aggregation rule); the answers are scattered
   into a small wide frame, one column per (metric, aggregation, offset);
4. the second runs each KPI's formula expression over those columns (KPIs
   that use other KPIs compose their expressions), giving every row's value
   at once.

After a first evaluation, the next one (new readings, a moved clock) runs
only the KPIs that what changed can reach: see :class:`_Memo`.

The history is a :class:`kpitui.pipeline.View` (what
:meth:`kpitui.history.History.view` keeps current), anything with a
``view()`` method returning one, or a plain readings frame, indexed on the
spot (``metric, at, value`` and optionally ``n``).

Formula types are plugins: each call into one is guarded, and a formula that
raises puts its KPI (only) in an error state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from typing import Any, Iterable

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
    Target,
)
from .options import redact

SPARK_POINTS = 14
#: the judgement at the very start of a to-date period: nothing to score yet
_NOT_YET = scoring.Judgement(None, None, None, None)


def calendar_of(config: Config) -> periods.Calendar:
    return periods.Calendar.of(config.settings)


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


@dataclass(frozen=True)
class KpiPlan:
    """Where a KPI's numbers come from: row ids of its periods. KPIs with the same window, grain
    and kind of sparkline share one plan."""

    window: periods.Window
    grain: str
    current: int  # row ids
    previous: int
    last_year: int
    spark: tuple[int, ...]
    full_end: dt.datetime | None  # end of the whole current period, for pace
    points: tuple[dt.datetime, ...] = ()  # where each sparkline point sits
    offset: int = 0  # whole periods back

    @property
    def positions(self) -> tuple[int, ...]:
        """Row ids in :class:`KpiValues` order: current, previous, last year, sparkline."""
        return (self.current, self.previous, self.last_year, *self.spark)


@dataclass(frozen=True)
class _Layout:
    """How KPIs are planned in one window setting (config only): the KPIs of each shape (window,
    grain, to-date sparkline), and the steps back read from each window's rows and each sparkline's."""

    shapes: dict[tuple[periods.Window, str, bool], list[str]]
    window_steps: dict[periods.Window, frozenset[int]]
    spark_steps: dict[tuple[bool, periods.Window | None, str], frozenset[int]]


@dataclass(frozen=True)
class _Sparkline:
    """The sparkline buckets of one grain up to the bucket starting at ``last`` (which is not among
    them), their rows, points and periods in µs per step back (not cut at now)."""

    rows: tuple[Row, ...]
    points: tuple[dt.datetime, ...]
    slots: tuple[dict[int, tuple[int, int]], ...]
    last: dt.datetime
    last_end: dt.datetime  # where the bucket starting at ``last`` ends


@dataclass
class Program:
    """Per KPI (that has not failed): its expressions (value, then parts), the
    (metric, aggregation, offset) columns they read, and the metrics behind it."""

    exprs: dict[str, list[pl.Expr]] = field(default_factory=dict)
    needs: dict[str, frozenset[tuple[str, str, int]]] = field(default_factory=dict)
    steps: dict[str, frozenset[int]] = field(default_factory=dict)
    parts: dict[str, list[str]] = field(default_factory=dict)
    metrics: dict[str, frozenset[str]] = field(default_factory=dict)
    projectable: dict[str, bool] = field(default_factory=dict)
    reads: dict[str, tuple[tuple[str, str, str, int, bool], ...]] = field(default_factory=dict)  # column, metric, agg, steps, additive
    readers: dict[str, frozenset[str]] = field(default_factory=dict)  # metric -> the KPIs that read it


_WITH_ROW = {**pipeline.REQUESTS_SCHEMA, "row": pl.Int64, "c": pl.Int64}  # requests, with where each answer goes


@dataclass
class Evaluation:
    """The raw outcome of one pipeline run: values per (kpi, row)."""

    rows: list[Row]
    values: dict[str, list[float | None]]  # kpi id (or "kpi::part") -> value per row
    latest: dict[str, tuple[dt.datetime, float]]


@dataclass(frozen=True)
class KpiValues:
    """One KPI's numbers: per plan position (current, previous, last year, each sparkline point) and its parts."""

    values: list[float | None]
    parts: dict[str, float | None]


Slots = dict[tuple[int, int], tuple[int, int]]  # (row id, steps back) -> [start, end) in µs, cut at now


@dataclass(frozen=True)
class _Memo:
    """The engine's last evaluation: what new readings and a moved clock left unchanged is carried over.

    Nothing here can go stale: it is used only for a view whose lineage says
    exactly which metrics changed since (:class:`kpitui.pipeline.View`), with
    the same window and offset, and only for KPIs that read none of those
    metrics and none of whose periods moved over a reading (see
    :meth:`Engine._stale`); each metric's newest reading is asked again for
    the metrics written and those with a reading the clock moved over.
    """

    serial: int
    now: dt.datetime
    window: str | None
    offset: int
    rows: list[Row]
    plans: dict[str, KpiPlan]
    slots: Slots
    values: dict[str, KpiValues]
    latest: dict[str, tuple[dt.datetime, float]]
    results: dict[str, KpiResult]
    metric_status: dict[str, MetricStatus]


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.timezone.utc)


def as_view(history: Any) -> pipeline.View:
    """The reading index to evaluate over: a :class:`~kpitui.pipeline.View`, something with
    ``view()`` (:class:`~kpitui.history.History`), or a readings frame (indexed now)."""
    if isinstance(history, pipeline.View):
        return history
    if isinstance(history, pl.DataFrame):
        return pipeline.View.from_frame(history)
    view = getattr(history, "view", None)
    if callable(view):
        return view()
    raise TypeError(f"cannot evaluate over {type(history).__name__}: pass a History, a View or a readings frame")


class Engine:
    """Evaluates a config's KPIs over a reading history (see :func:`as_view`)."""

    def __init__(self, config: Config, spark_points: int = SPARK_POINTS):
        self.config = config
        self.cal = calendar_of(config)
        self.spark_points = spark_points
        self.errors: dict[str, str] = {}
        self._memo: _Memo | None = None
        self._firsts: dict[str, int] = {}  # each metric's first reading (µs) at or before the time evaluated
        self._firsts_moved: frozenset[str] = frozenset()  # metrics whose first reading by now differs from the last evaluation's
        self._instants: dict[int, tuple[int, int]] = {}  # row id -> its period's (start, end) in µs, this evaluation
        self._layouts: dict[str | None, _Layout] = {}
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
        order: dict[str, None] = {}  # insertion-ordered set

        def visit(kid: str) -> None:
            if kid in order:
                return
            for inp in self.inputs.get(kid, []):
                if inp.ref in self.config.kpis:
                    visit(inp.ref)
            order[kid] = None

        wanted = set(kids)
        for kid in sorted(wanted):
            visit(kid)
        return [k for k in order if k in wanted]

    def columns(self, kid: str, offset: int, needs: set[tuple[str, str, int]]) -> dict[str, pl.Expr]:
        """The KPI's inputs as expressions over request columns (offset = periods back)."""
        columns: dict[str, pl.Expr] = {}
        for inp in self.inputs[kid]:
            steps = offset + inp.offset
            if inp.ref in self.config.kpis:
                columns[inp.name] = self.expression(inp.ref, steps, needs)
            else:
                rule = self.config.metrics[inp.ref].aggregation
                agg = inp.agg or rule
                needs.add((inp.ref, agg, steps))
                columns[inp.name] = pl.col(_column(inp.ref, agg, steps))
                if agg == "mean" and rule == "last":  # a gauge stood at its carried-forward value all along
                    needs.add((inp.ref, "last", steps))
                    columns[inp.name] = pl.coalesce(columns[inp.name], pl.col(_column(inp.ref, "last", steps)))
        return columns

    def expression(self, kid: str, offset: int, needs: set[tuple[str, str, int]]) -> pl.Expr:
        """The KPI's value as an expression over request columns (offset = periods back)."""
        return pipeline.clean(self.formulas[kid].expression(self.columns(kid, offset, needs)))

    # -- planning ------------------------------------------------------------

    def _layout(self, window: str | None) -> _Layout:
        """How the KPIs are planned with every KPI in its own window (``None``) or all in ``window``."""
        layout = self._layouts.get(window)
        if layout is None:
            prog = self.program
            shapes: dict[tuple[periods.Window, str, bool], list[str]] = {}
            window_steps: dict[periods.Window, frozenset[int]] = {}
            spark_steps: dict[tuple[bool, periods.Window | None, str], frozenset[int]] = {}
            for kid, kpi in self.config.kpis.items():
                win = periods.parse_window(window or kpi.window)
                grain = (kpi.grain if window is None else None) or periods.default_grain(win)
                to_date = self._to_date_series(kid)
                shapes.setdefault((win, grain, to_date), []).append(kid)
                steps = prog.steps.get(kid, frozenset())
                window_steps[win] = window_steps.get(win, frozenset()) | steps
                key = (to_date, win if to_date else None, grain)
                spark_steps[key] = spark_steps.get(key, frozenset()) | steps
            layout = self._layouts[window] = _Layout(shapes, window_steps, spark_steps)
        return layout

    def plan(self, now: dt.datetime, window: str | None = None, offset: int = 0) -> tuple[list[Row], dict[str, KpiPlan], Slots]:
        """The rows every KPI is evaluated for as of ``now``, each KPI's plan over them, and the period
        of each (row, steps back) the KPIs read, in µs, cut at ``now``.

        Rows are worked out once per window and once per sparkline (KPIs share
        them). The buckets of a sparkline before its last depend on the clock
        only through where that last bucket starts: they come from
        :func:`_sparkline`, so a clock that moved within a bucket only has the
        rows that end at ``now`` worked out again.
        """
        layout = self._layout(window)
        horizon = pipeline.micros(_utc(now)) + 1  # a reading stamped at now counts
        rows: list[Row] = []
        slots: Slots = {}

        def add(row: Row, steps: Iterable[int], known: dict[int, tuple[int, int]] | None = None) -> int:
            row_id = len(rows)
            rows.append(row)
            for s in steps:
                start, end = known[s] if known is not None else _slot(self.cal, row, s)
                slots[(row_id, s)] = (min(start, horizon), min(end, horizon))
            return row_id

        windows: dict[periods.Window, tuple[int, int, int, Period, dt.datetime | None]] = {}
        sparks: dict[tuple, tuple[tuple[int, ...], tuple[dt.datetime, ...]]] = {}
        plans: dict[str, KpiPlan] = {}
        for (win, grain, to_date), kids in layout.shapes.items():
            if win not in windows:
                cur = periods.resolve(win, now, self.cal, offset)
                prev = periods.previous(win, now, self.cal, offset)
                yoy = periods.same_period_last_year(win, now, self.cal, offset)
                steps = layout.window_steps[win]
                full_end = None  # the end of the whole current period, for pace
                if win.to_date and not win.complete and offset == 0 and not win.trailing:
                    full_end = periods.bucket_end(cur.start, win.unit, self.cal)
                ids = (add(Row(cur, window=win, before=prev), steps), add(Row(prev, window=win), steps), add(Row(yoy, window=win), steps))
                windows[win] = (*ids, cur, full_end)
            current, previous, last_year, cur, full_end = windows[win]
            key = (to_date, win if to_date else None, grain)
            spark_key = (*key, pipeline.micros(_utc(cur.end)))
            if spark_key not in sparks:
                steps = layout.spark_steps[key]
                end = _utc(cur.end)
                last = _last_bucket(end, grain, self.cal, cur.closed)
                head = _sparkline(self.cal, to_date, key[1], grain, self.spark_points, pipeline.micros(last), steps)
                ids = [add(row, steps, known) for row, known in zip(head.rows, head.slots)]
                tail_period = Period(head.last, min(_utc(head.last_end), end), closed=cur.closed and end <= _utc(head.last_end))
                tail = _spark_row(self.cal, to_date, win, tail_period, grain)
                ids.append(add(tail, steps))
                sparks[spark_key] = (tuple(ids), (*head.points, _point_at(self.cal, tail, grain)))
            spark, points = sparks[spark_key]
            shape = KpiPlan(win, grain, current, previous, last_year, spark, full_end, points, offset)
            for kid in kids:
                plans[kid] = shape
        return rows, plans, slots

    def _buckets(self, end: dt.datetime, grain: str, points: int, closed: bool = False) -> list[Period]:
        """``points`` buckets of ``grain``, the last one holding the instant before ``end`` (cut at
        ``end``; ``closed``: ``end`` is "now", so the last bucket is the one holding ``end`` itself,
        which on a bucket edge is the new bucket ``[end, end]``, so far: see :func:`_last_bucket`)."""
        end_utc = _utc(end)
        last = _last_bucket(end_utc, grain, self.cal, closed)
        first = periods.shift(last, grain, -(points - 1), self.cal)
        starts = periods.bucket_starts(Period(first, end_utc + dt.timedelta(microseconds=closed)), grain, self.cal)
        if not starts:
            return []
        # each bucket ends where the next starts; the last one at its own end, cut at ``end``
        last_end = _utc(periods.bucket_end(starts[-1], grain, self.cal))
        stops = [_utc(s) for s in starts[1:]] + [min(last_end, end_utc)]
        out = [Period(start, stop) for start, stop in zip(starts, stops)]
        if closed:
            out[-1] = replace(out[-1], closed=True)
        return out

    def _to_date_series(self, kid: str) -> bool:
        return bool(getattr(self.formulas.get(kid), "to_date_series", False))

    # -- running -------------------------------------------------------------

    @cached_property
    def program(self) -> Program:
        """Each KPI's expressions and the (metric, aggregation, offset) columns they read.

        Worked out once: it depends on the config only. A formula that raises
        here puts its KPI (and the KPIs that read it) in an error state.
        """
        prog = Program()
        for kid in self._dependency_order(self.config.kpis):
            if self._broken_dependency(kid) is not None:
                continue
            needs: set[tuple[str, str, int]] = set()
            try:
                exprs = [self.expression(kid, 0, needs).alias(kid)]
                parts = self.formulas[kid].parts(self.columns(kid, 0, needs))
                exprs += [pipeline.clean(part).alias(f"{kid}::{name}") for name, part in parts.items()]
            except Exception as exc:  # noqa: BLE001
                self.errors[kid] = self._formula_error(self.config.kpis[kid], exc)
                continue
            prog.exprs[kid] = exprs
            prog.needs[kid] = frozenset(needs)
            prog.steps[kid] = frozenset(steps for _, _, steps in needs)
            prog.parts[kid] = list(parts)
            prog.metrics[kid] = frozenset(self.metrics_of(kid))
            prog.projectable[kid] = self._projectable(kid)
        additive = {mid: m.aggregation in pipeline.ADDITIVE for mid, m in self.config.metrics.items()}
        readers: dict[str, set[str]] = {}
        for kid, needs in prog.needs.items():
            prog.reads[kid] = tuple(sorted((_column(m, a, s), m, a, s, additive.get(m, True)) for m, a, s in needs))
            for metric in prog.metrics[kid]:
                readers.setdefault(metric, set()).add(kid)
        prog.readers = {metric: frozenset(kids) for metric, kids in readers.items()}
        return prog

    def slots(self, rows: list[Row], row_kpis: dict[int, set[str]], now: dt.datetime) -> Slots:
        """The period of each (row, steps back) the KPIs on each row read, in µs, cut at ``now``."""
        prog = self.program
        horizon = pipeline.micros(_utc(now)) + 1  # a reading stamped at now counts
        out: Slots = {}
        for row_id, kids in row_kpis.items():
            for steps in set().union(*(prog.steps.get(k, ()) for k in kids)):
                start, end = _slot(self.cal, rows[row_id], steps)
                out[(row_id, steps)] = (min(start, horizon), min(end, horizon))
        return out

    def requests(self, pairs: list[tuple[int, str]], slots: Slots, now: dt.datetime, metrics: Iterable[str] = ()) -> tuple[pl.DataFrame, list[str]]:
        """What (row, KPI) ``pairs`` read: one :data:`~kpitui.pipeline.REQUESTS_SCHEMA` request per
        (row, metric, aggregation, steps back), with its ``row`` and column ``c`` in the wide frame,
        and the wide frame's column names. Then one request (row and column -1) for the newest
        reading before ``now`` of each of ``metrics``."""
        reads = self.program.reads
        wanted: dict[tuple[int, str], tuple[str, str, str, int, bool]] = {}
        for row_id, kid in pairs:
            for read in reads[kid]:
                wanted[(row_id, read[0])] = read
        columns = sorted({col for _, col in wanted})
        index = {col: c for c, col in enumerate(columns)}
        read = list(wanted.values())
        bounds = [slots[(row_id, r[3])] for (row_id, _), r in zip(wanted, read)]
        metrics = list(metrics)
        now_us = [pipeline.micros(_utc(now)) + 1] * len(metrics)  # the newest reading at or before now
        out = {
            "req": range(len(read) + len(metrics)),
            "metric": [r[1] for r in read] + metrics,
            "agg": [r[2] for r in read] + ["last"] * len(metrics),
            "additive": [r[4] for r in read] + [False] * len(metrics),
            "start": [b[0] for b in bounds] + now_us,
            "end": [b[1] for b in bounds] + now_us,
            "row": [row_id for row_id, _ in wanted] + [-1] * len(metrics),
            "c": [index[col] for _, col in wanted] + [-1] * len(metrics),
        }
        return pl.DataFrame(out, schema=_WITH_ROW), columns

    def run(
        self, view: pipeline.View, now: dt.datetime, rows: list[Row], row_kpis: dict[int, set[str]], slots: Slots, latest: Iterable[str] | None = None
    ) -> Evaluation:
        """Evaluate KPIs (``row_kpis``: which KPIs each row needs, ``slots``: their periods) and
        the newest reading of ``latest`` metrics (default: every metric)."""
        prog = self.program
        pairs = [(row_id, k) for row_id, kids in row_kpis.items() for k in kids if k in prog.needs]
        wanted_kpis = {k for _, k in pairs}
        requests, columns = self.requests(pairs, slots, now, self.config.metrics if latest is None else latest)
        aggs = {a for k in wanted_kpis for _, _, a, _, _ in prog.reads[k]} | {"last"}
        (answers,) = pipeline.collect(pipeline.aggregate(view, requests, aggs, carry=["metric", "row", "c"]))
        latest_map = _latest_map(answers.filter(pl.col("row") < 0, pl.col("value").is_not_null()))
        if not pairs:
            return Evaluation(rows, {}, latest_map)
        # The formulas run over a small wide frame (one row per period, one column per request),
        # built by scattering into one column-major buffer (~2 ms, where polars' pivot takes
        # 15-90 ms for this shape).
        wide = _wide(answers.filter(pl.col("row") >= 0), len(rows), columns)
        if not columns:  # KPIs that read nothing: the frame still has a row per period
            wide = pl.DataFrame({"__row": pl.int_range(len(rows), eager=True)})
        order = self._dependency_order(wanted_kpis)
        exprs = [e for kid in order for e in prog.exprs[kid]]
        names = [name for kid in order for name in (kid, *(f"{kid}::{part}" for part in prog.parts[kid]))]
        # with_columns, not select: a formula that is a constant (a plugin's pl.lit) is one per row too
        (result,) = pipeline.collect(wide.lazy().with_columns(*exprs).select(names))
        return Evaluation(rows, result.to_dict(as_series=False), latest_map)

    def _agg(self, ref: str) -> str:
        return self.config.metrics[ref].aggregation

    # -- snapshot ------------------------------------------------------------

    def evaluate(
        self,
        history: Any,
        now: dt.datetime | None = None,
        *,
        window: str | None = None,
        offset: int = 0,
        health: dict[str, SourceHealth] | None = None,
    ) -> Snapshot:
        """Every KPI, objective and metric as of ``now`` (optionally all in one ``window``, ``offset`` periods back).

        After a first evaluation, evaluating the next view of the same history
        (:meth:`kpitui.history.History.refresh`) recomputes only the KPIs that
        what changed can reach: see :class:`_Memo`.
        """
        now = now or dt.datetime.now(dt.timezone.utc)
        view = as_view(history)
        now_us = pipeline.micros(_utc(now))
        firsts = {m: first for m, first in _first_readings(view).items() if first <= now_us}  # metrics with a reading by now
        old = self._firsts
        self._firsts_moved = frozenset(m for m, first in firsts.items() if old.get(m) != first) | (old.keys() - firsts.keys())
        self._firsts = firsts
        self._instants = {}
        memo = self._memo
        if memo is not None and (memo.window, memo.offset) == (window, offset) and view.serial == memo.serial:
            changed: frozenset[str] = frozenset()
        elif memo is not None and (memo.window, memo.offset) == (window, offset) and view.after == memo.serial:
            changed = view.written
        else:
            memo = None
        if memo is not None and memo.now == now:
            rows, plans, slots = memo.rows, memo.plans, memo.slots
        else:
            rows, plans, slots = self.plan(now, window, offset)
        stale = set(plans) if memo is None else self._stale(view, memo, plans, slots, changed, now)
        # each metric's newest reading: again for the metrics written, and those with readings the clock moved over
        renewed = None if memo is None else changed if memo.now == now else changed | view.metrics_since(min(_utc(memo.now), _utc(now)))
        evaluation = self.run(view, now, rows, _row_kpis(plans, stale), slots, latest=renewed)
        latest = evaluation.latest if memo is None or renewed is None else _merged(memo.latest, evaluation.latest, renewed)
        values = {} if memo is None else {k: v for k, v in memo.values.items() if k not in stale}
        for kid in stale:
            if kid in evaluation.values:
                plan, col = plans[kid], evaluation.values[kid]
                parts = {name: evaluation.values[f"{kid}::{name}"][plan.current] for name in self.program.parts[kid]}
                values[kid] = KpiValues([col[r] for r in plan.positions], parts)
        kpi_results: dict[str, KpiResult] = {}
        now_utc = _utc(now)
        for kid, plan in plans.items():
            kept = memo.results.get(kid) if memo is not None and kid not in stale else None
            if kept is None or kept.error is not None or self._broken_dependency(kid) is not None:
                kpi_results[kid] = self._result(kid, plan, rows, values.get(kid), latest, now_utc)
            elif memo is not None and memo.now != now:
                kpi_results[kid] = self._moved(kid, kept, plan, memo.plans[kid], rows, latest, renewed or frozenset(), now_utc)
            else:
                kpi_results[kid] = kept
        health = health or {}
        objectives = tuple(self._objective(obj, kpi_results) for obj in self.config.objectives.values())
        known = memo.metric_status if memo is not None else {}
        metric_status: dict[str, MetricStatus] = {}
        for mid, metric in self.config.metrics.items():
            at, value = latest.get(mid, (None, None))
            source = health.get(metric.source or "")
            kept = known.get(mid)
            if kept is not None and kept.latest_at == at and kept.latest == value and kept.health == source:
                metric_status[mid] = kept
            else:
                metric_status[mid] = MetricStatus(metric=metric, latest=value, latest_at=at, health=source)
        self._memo = _Memo(view.serial, now, window, offset, rows, plans, slots, values, latest, kpi_results, metric_status)
        return Snapshot(at=now, objectives=objectives, kpis=kpi_results, metrics=metric_status)

    def _stale(self, view: pipeline.View, memo: _Memo, plans: dict[str, KpiPlan], slots: Slots, changed: frozenset[str], now: dt.datetime) -> set[str]:
        """The KPIs whose numbers may differ from ``memo``'s: they read a ``changed`` metric, or one of
        their periods moved (the clock did) over a reading of one of their metrics."""
        prog = self.program
        stale = (plans.keys() - memo.values.keys()) | (plans.keys() - prog.needs.keys())
        stale.update(*(prog.readers.get(m, ()) for m in changed))
        if memo.now == now:
            return stale
        # KPIs sharing a plan and the steps back they read share the regions their periods moved over.
        groups: dict[tuple, list[str]] = {}
        for kids in self._layout(memo.window).shapes.values():
            new, old = plans[kids[0]].positions, memo.plans[kids[0]].positions
            for kid in kids:
                if kid not in stale:
                    groups.setdefault((new, old, prog.steps[kid]), []).append(kid)
        probes: dict[int, list[tuple[str, int, int]]] = {}  # group -> (metric, start, end)
        for g, ((new, old, steps), kids) in enumerate(groups.items()):
            if len(new) != len(old):
                stale.update(kids)
                continue
            moved: set[tuple[int, int]] = set()
            for p1, p0 in zip(new, old):
                for s in steps:
                    (a1, b1), (a0, b0) = slots[(p1, s)], memo.slots[(p0, s)]
                    if a1 != a0:
                        moved.add((min(a0, a1), max(a0, a1)))
                    if b1 != b0:
                        moved.add((min(b0, b1), max(b0, b1)))
            if moved:
                read = frozenset().union(*(prog.metrics[k] for k in kids))
                probes[g] = [(m, a, b) for m in read for a, b in moved]
        if not probes:
            return stale
        held = pipeline.touched(view, (p for group in probes.values() for p in group))
        found = {(g, m) for g, group in probes.items() for m, a, b in group if (m, a, b) in held} if held else set()
        for g, kids in enumerate(groups.values()):
            stale.update(kid for kid in kids if any((g, m) in found for m in prog.metrics[kid]))
        return stale

    def _result(
        self, kid: str, plan: KpiPlan, rows: list[Row], numbers: KpiValues | None, latest: dict[str, tuple[dt.datetime, float]], now: dt.datetime
    ) -> KpiResult:
        """One KPI's result (``now`` in UTC)."""
        kpi = self.config.kpis[kid]
        error = self._broken_dependency(kid)
        period, previous_period = rows[plan.current].period, rows[plan.previous].period
        if error or numbers is None:
            return KpiResult(
                kpi=kpi, period=period, previous_period=previous_period, value=None, previous=None,
                last_year=None, change=None, change_pct=None, score=None, status=Status.NO_DATA, freshness=None,
                error=error or self.errors.get(kid),
            )  # fmt: skip
        value, previous, last_year = numbers.values[:3]
        series = self._series(kid, tuple(zip(plan.points, numbers.values[3:])))
        partial = self._partial_history(kid, self._at(rows, plan.previous)[0])
        change = value - previous if value is not None and previous is not None and not partial else None
        change_pct = change / abs(previous) * 100 if change is not None and previous else None
        target, basis = self._target(kid, plan, now)
        judged = self._judge(kid, value, period, plan, now, target, self._starting(plan, rows))
        return KpiResult(
            kpi=kpi,
            period=period,
            previous_period=previous_period,
            value=value,
            previous=previous,
            last_year=last_year,
            change=change,
            change_pct=change_pct,
            freshness=self._freshness(kid, latest),
            series=series,
            parts=numbers.parts,
            target_basis=basis,
            applied_target=target,
            partial_history=partial,
            **self._judged(kpi, judged, value, target),
        )

    def _at(self, rows: list[Row], row_id: int) -> tuple[int, int]:
        """The (start, end) of row ``row_id``'s period in µs (worked out once per evaluation)."""
        found = self._instants.get(row_id)
        if found is None:
            period = rows[row_id].period
            found = self._instants[row_id] = (pipeline.micros(_utc(period.start)), pipeline.micros(_utc(period.end)))
        return found

    def _starting(self, plan: KpiPlan, rows: list[Row]) -> bool:
        """Is ``plan``'s current period a to-date one at its very start (nothing elapsed)?"""
        if not plan.window.to_date or plan.offset:
            return False
        start, end = self._at(rows, plan.current)
        return start >= end

    def _judge(
        self, kid: str, value: float | None, period: Period, plan: KpiPlan, now: dt.datetime, target: Target | None, starting: bool = False
    ) -> scoring.Judgement:
        """The KPI's score and pace for ``value`` in ``period`` at ``now`` against ``target``
        (the one that applies to the shown window). At the very start of a to-date period
        (``starting``: nothing has elapsed) there is nothing to judge yet."""
        if target is not None and starting:
            return _NOT_YET
        return scoring.judge(
            target,
            value,
            start=period.start,
            period_end=plan.full_end if self.program.projectable[kid] else None,
            now=now,
            timezone=self.cal.timezone,
        )

    @staticmethod
    def _judged(kpi: Kpi, judged: scoring.Judgement, value: float | None, target: Target | None) -> dict[str, Any]:
        """The KpiResult fields a judgement gives: score, status, pace and progress."""
        if judged is _NOT_YET:
            status = Status.NOT_YET
        else:
            status = scoring.status(judged.score, value, target is not None, kpi.thresholds)
        return dict(
            score=judged.score,
            status=status,
            projection=judged.projection,
            on_pace=judged.on_pace,
            projected_to=judged.projected_to,
            progress=None if judged is _NOT_YET else scoring.progress(target, value),
        )

    def _target(self, kid: str, plan: KpiPlan, now: dt.datetime) -> tuple[Target | None, str | None]:
        """The target that applies to the window the KPI is shown in, and on what basis.

        A target belongs to the KPI's own window (``"own"``, also over another
        period of the same length: ``last_month`` for a ``month_to_date`` KPI).
        Over another window an additive KPI's target is prorated by the
        windows' lengths (:func:`kpitui.periods.length_ratio`), any other
        KPI's is kept as it is (a rate, a mean, a percentile, a gauge).
        """
        kpi = self.config.kpis[kid]
        if kpi.target is None:
            return None, None
        own, shown = periods.parse_window(kpi.window), plan.window
        if (own.unit, own.count) == (shown.unit, shown.count):
            return kpi.target, "own"
        if not self.program.projectable.get(kid, False):
            return kpi.target, "kept"
        factor = periods.length_ratio(shown, own, now, self.cal, plan.offset)
        return scoring.prorate(kpi.target, factor), "prorated"

    def _partial_history(self, kid: str, start: int) -> bool:
        """Does the comparison period (starting at ``start``, µs) start before the first reading of
        one of the KPI's metrics (of those with a reading by now)? Then a change against it would
        compare with history that does not reach back."""
        firsts = self._firsts
        return any(firsts.get(m, start) > start for m in self.program.metrics.get(kid, ()))

    def _freshness(self, kid: str, latest: dict[str, tuple[dt.datetime, float]]) -> dt.datetime | None:
        """When the newest reading of any of the KPI's metrics was taken."""
        seen = [latest[m][0] for m in self.program.metrics[kid] if m in latest]
        return max(seen) if seen else None

    def _moved(
        self, kid: str, kept: KpiResult, plan: KpiPlan, before: KpiPlan, rows: list[Row], latest: dict[str, tuple[dt.datetime, float]], renewed: frozenset[str], now: dt.datetime
    ) -> KpiResult:
        """``kept``, a KPI's result before the clock moved to ``now`` (UTC), with the same numbers
        (the KPI is not stale), as :meth:`_result` would make it now: its periods and sparkline
        points from the new plan, its judgement again when it depends on the clock (pace, a due
        date), its freshness again when one of its metrics' newest reading was asked again."""
        prog = self.program
        kpi = kept.kpi
        period, previous_period = rows[plan.current].period, rows[plan.previous].period
        series = kept.series if plan.points == before.points else tuple((at, v) for at, (_, v) in zip(plan.points, kept.series))
        freshness = kept.freshness if prog.metrics[kid].isdisjoint(renewed) else self._freshness(kid, latest)
        unchanged = previous_period.start == kept.previous_period.start and prog.metrics[kid].isdisjoint(self._firsts_moved)
        partial = kept.partial_history if unchanged else self._partial_history(kid, self._at(rows, plan.previous)[0])
        moved = dict(period=period, previous_period=previous_period, series=series, freshness=freshness)
        if partial != kept.partial_history:
            change = kept.value - kept.previous if kept.value is not None and kept.previous is not None and not partial else None
            change_pct = change / abs(kept.previous) * 100 if change is not None and kept.previous else None
            moved.update(partial_history=partial, change=change, change_pct=change_pct)
        target, basis = self._target(kid, plan, now)
        starting = kpi.target is not None and self._starting(plan, rows)
        clock_free = (plan.full_end is None or not prog.projectable[kid]) and (target is None or target.due is None)
        if clock_free and target == kept.applied_target and not starting and kept.status is not Status.NOT_YET:
            if all(kept.__dict__[k] is v or kept.__dict__[k] == v for k, v in moved.items()):
                return kept
            return replace(kept, **moved)
        judged = self._judge(kid, kept.value, period, plan, now, target, starting)
        return replace(kept, **moved, target_basis=basis, applied_target=target, **self._judged(kpi, judged, kept.value, target))

    def _series(self, kid: str, series: Iterable[tuple[dt.datetime, float | None]]) -> tuple[tuple[dt.datetime, float | None], ...]:
        series = tuple(series)
        formula = self.formulas[kid]
        if type(formula).series is FormulaType.series:
            return series
        try:
            frame = pl.DataFrame({"v": [v for _, v in series]}, schema={"v": pl.Float64})
            transformed = frame.select(pipeline.clean(formula.series(pl.col("v"))))["v"].to_list()
        except Exception as exc:  # noqa: BLE001
            self.errors[kid] = self._formula_error(self.config.kpis[kid], exc)
            return series
        return tuple((at, v) for (at, _), v in zip(series, transformed))

    def _projectable(self, kid: str) -> bool:
        """Is the KPI additive (its value over a period is the sum of its values over the parts)? Then
        a to-date value can be projected to the period's end and its target prorated to another
        window: the formula declares itself ``additive`` (or ``projectable``), reads its inputs over
        the same period (no offset) and each input is additive (a ``sum``/``count`` metric or an
        additive KPI)."""
        formula = self.formulas.get(kid)
        if formula is None or not (getattr(formula, "additive", False) or getattr(formula, "projectable", False)):
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
        if score is None and any(r.status is Status.NOT_YET for r in kpis):
            status = Status.NOT_YET
        elif score is None:
            status = Status.NO_DATA if all(r.value is None for r in kpis) else Status.NO_TARGET
        else:
            status = scoring.status(score, score, True, objective.thresholds)
        return ObjectiveResult(objective=objective, score=score, status=status, kpis=kpis)

    # -- the detail chart ------------------------------------------------------

    def _bucket_before(self, bucket: Period, win: periods.Window, grain: str) -> Period:
        """The ``grain`` bucket one window earlier: the whole bucket holding the instant one window
        before ``bucket``'s start (month ends clipped; a week a month earlier is the whole week
        holding that day, never the days from there to the next week start), or, while ``bucket``
        is still running, as much of it as has elapsed in ``bucket`` (same wall-clock time)."""
        start = periods.truncate_datetime(periods.shift(bucket.start, win.unit, -win.count, self.cal), grain, self.cal)
        end = periods.bucket_end(start, grain, self.cal)
        if _utc(bucket.end) < _utc(periods.bucket_end(bucket.start, grain, self.cal)):
            cut = _utc(periods.same_elapsed(start, bucket.start, bucket.end, self.cal))
            if cut < _utc(end):
                return replace(_utc_period(start, cut), closed=bucket.closed)
        return _utc_period(start, end)

    def partial_bucket(
        self, kid: str, *, now: dt.datetime, grain: str, window: str | None = None, offset: int = 0
    ) -> Period | None:
        """The last bucket of :meth:`series` when it is still running: ``[its start, now]``; ``None``
        when every bucket is over (a complete window, ``offset > 0``). With ``now`` on a bucket edge
        it is the bucket starting at ``now``. Its value is so far, not the bucket's: charts draw it apart."""
        win = periods.parse_window(window or self.config.kpis[kid].window)
        shown = periods.resolve(win, now, self.cal, offset)
        end = _utc(shown.end)
        if not shown.closed or end != _utc(now):
            return None
        start = _last_bucket(end, grain, self.cal, True)
        return Period(start, end, f"{periods.bucket_label(start, grain, self.cal)} so far", closed=True)

    def _chart_rows(
        self, win: periods.Window, now: dt.datetime, grain: str, points: int, offset: int, compare: str, to_date: bool
    ) -> list[Row]:
        """The rows of a detail chart: ``points`` buckets of ``grain`` ending with ``win``'s current
        period (``offset`` periods back), then the same buckets one window-period earlier, or with
        ``compare="last_year"`` a year earlier (``to_date``: cumulative points, see :func:`_spark_row`)."""
        shown = periods.resolve(win, now, self.cal, offset)
        rows = [_spark_row(self.cal, to_date, win, p, grain) for p in self._buckets(shown.end, grain, points, shown.closed)]
        prev_rows = [
            Row(
                _shift_period(r.period, "year", -1, self.cal) if compare == "last_year"
                else _shift_period(r.period, win.unit, -win.count, self.cal) if r.window is not None
                else self._bucket_before(r.period, win, grain),
                window=r.window,
                grain=r.grain,
            )
            for r in rows
        ]
        return rows + prev_rows

    @staticmethod
    def _chart_lines(
        current: Iterable[tuple[dt.datetime, float | None]], previous: Iterable[tuple[dt.datetime, float | None]]
    ) -> list[tuple[dt.datetime, float | None, float | None]]:
        return [(at, v, p) for (at, v), (_, p) in zip(current, previous)]

    def series(
        self, history: Any, kid: str, *, now: dt.datetime, grain: str, points: int = 30, window: str | None = None, offset: int = 0,
        compare: str = "previous",
    ) -> list[tuple[dt.datetime, float | None, float | None]]:
        """``points`` buckets of ``grain`` ending with the KPI's current period: (start, value, the same bucket
        one period earlier), or with ``compare="last_year"`` the same bucket a year earlier."""
        win = periods.parse_window(window or self.config.kpis[kid].window)
        all_rows = self._chart_rows(win, now, grain, points, offset, compare, self._to_date_series(kid))
        row_kpis = {i: {kid} for i in range(len(all_rows))}
        ev = self.run(as_view(history), now, all_rows, row_kpis, self.slots(all_rows, row_kpis, now), latest=())
        values = ev.values.get(kid, [None] * len(all_rows))
        n = len(all_rows) // 2
        rows = all_rows[:n]
        current = self._series(kid, [(_point_at(self.cal, r, grain), values[i]) for i, r in enumerate(rows)])
        previous = self._series(kid, [(_point_at(self.cal, r, grain), values[n + i]) for i, r in enumerate(rows)])
        return self._chart_lines(current, previous)

    def metric_series(
        self, history: Any, metric_id: str, *, now: dt.datetime, grain: str, points: int = 30, window: str = "today", offset: int = 0,
        compare: str = "previous",
    ) -> list[tuple[dt.datetime, float | None, float | None]]:
        """A metric's own series, by its aggregation rule: ``points`` buckets of ``grain`` ending with
        ``window``'s current period, as :meth:`series` gives a KPI's (start, value, comparison)."""
        agg = self.config.metrics[metric_id].aggregation
        all_rows = self._chart_rows(periods.parse_window(window), now, grain, points, offset, compare, False)
        horizon = pipeline.micros(_utc(now)) + 1  # a reading stamped at now counts
        bounds = [_slot(self.cal, row, 0) for row in all_rows]
        requests = pl.DataFrame(
            {
                "req": range(len(all_rows)),
                "metric": [metric_id] * len(all_rows),
                "agg": [agg] * len(all_rows),
                "additive": [agg in pipeline.ADDITIVE] * len(all_rows),
                "start": [min(a, horizon) for a, _ in bounds],
                "end": [min(b, horizon) for _, b in bounds],
            },
            schema=pipeline.REQUESTS_SCHEMA,
        )
        query = pipeline.aggregate(as_view(history), requests, {agg}).sort("req").select(pipeline.clean(pl.col("value")))
        (answers,) = pipeline.collect(query)
        values = answers["value"].to_list()
        n = len(all_rows) // 2
        at = [_point_at(self.cal, row, grain) for row in all_rows[:n]]
        return self._chart_lines(zip(at, values[:n]), zip(at, values[n:]))


def _slot(cal: periods.Calendar, row: Row, steps: int) -> tuple[int, int]:
    """The period ``steps`` back from ``row``'s, in µs."""
    period = row.back(cal, steps)
    return pipeline.micros(_utc(period.start)), pipeline.micros(_utc(period.end)) + period.closed


def _last_bucket(end: dt.datetime, grain: str, cal: periods.Calendar, closed: bool) -> dt.datetime:
    """The start of the last ``grain`` bucket of a span ending at ``end``: the bucket holding the
    instant before ``end``; for a span *as of* ``end`` (``closed``) the one holding ``end`` itself.
    On a bucket edge that is the new bucket starting at ``end``: a complete bucket stays half-open,
    so a reading stamped exactly at ``end`` is never counted in the bucket that ends there."""
    return periods.truncate_datetime(end if closed else end - dt.timedelta(microseconds=1), grain, cal)


def _spark_row(cal: periods.Calendar, to_date: bool, win: periods.Window, bucket: Period, grain: str) -> Row:
    """A sparkline point: the bucket, or for a formula with ``to_date_series``
    (``cumulative``) the window's period to date at the bucket's end."""
    if not to_date:
        return Row(bucket, grain=grain)
    first = periods.shift(_last_bucket(_utc(bucket.end), win.unit, cal, bucket.closed), win.unit, -(win.count - 1), cal)
    return Row(Period(first, bucket.end, closed=bucket.closed), window=periods.Window(win.name, win.unit, win.count))


def _point_at(cal: periods.Calendar, row: Row, grain: str) -> dt.datetime:
    """Where a sparkline point sits: its bucket's start (a to-date point ends with its bucket)."""
    if row.window is None:
        return row.period.start
    return _last_bucket(_utc(row.period.end), grain, cal, row.period.closed)


@lru_cache(maxsize=256)
def _sparkline(
    cal: periods.Calendar, to_date: bool, win: periods.Window | None, grain: str, points: int, last_us: int, steps: frozenset[int]
) -> _Sparkline:
    """The ``points - 1`` sparkline buckets of ``grain`` before the one starting at ``last_us`` (µs).

    A function of its arguments only (instants passed as µs: aware datetimes
    that differ only in ``fold`` compare equal), remembered for the plans to
    come: they ask for the same buckets until the clock enters a new one.
    ``win``: the window of a ``to_date`` sparkline, else ``None``.
    """
    last = pipeline.from_micros(last_us).astimezone(cal.tz)
    first = periods.shift(last, grain, -(points - 1), cal)
    starts = periods.bucket_starts(Period(first, last + dt.timedelta(microseconds=1)), grain, cal)
    rows = tuple(_spark_row(cal, to_date, win, Period(a, _utc(b)), grain) for a, b in zip(starts, starts[1:]))  # type: ignore[arg-type]
    return _Sparkline(
        rows=rows,
        points=tuple(_point_at(cal, row, grain) for row in rows),
        slots=tuple({s: _slot(cal, row, s) for s in steps} for row in rows),
        last=starts[-1],
        last_end=periods.bucket_end(starts[-1], grain, cal),
    )


def _utc_period(start: dt.datetime, end: dt.datetime) -> Period:
    return Period(start.astimezone(dt.timezone.utc), end.astimezone(dt.timezone.utc))


def _shift_period(period: Period, unit: str, n: int, cal: periods.Calendar) -> Period:
    return Period(periods.shift(period.start, unit, n, cal), periods.shift(period.end, unit, n, cal), closed=period.closed)


def _column(metric: str, agg: str, steps: int) -> str:
    return f"{metric}|{agg}|{steps}"


def _row_kpis(plans: dict[str, KpiPlan], only: Iterable[str] | None = None) -> dict[int, set[str]]:
    """Which KPIs each row is evaluated for (``only``: of these KPIs)."""
    sharing: dict[tuple[int, ...], set[str]] = {}  # KPIs by the rows of their (shared) plan
    for kid in plans if only is None else only:
        sharing.setdefault(plans[kid].positions, set()).add(kid)
    out: dict[int, set[str]] = {}
    for positions, kids in sharing.items():
        for row_id in positions:
            out.setdefault(row_id, set()).update(kids)
    return out


def _merged(old: dict[str, tuple[dt.datetime, float]], new: dict[str, tuple[dt.datetime, float]], metrics: Iterable[str]) -> dict[str, tuple[dt.datetime, float]]:
    """``old`` with the entries of ``metrics`` taken from ``new`` (absent there: dropped)."""
    out = {m: v for m, v in old.items() if m not in metrics}
    out.update(new)
    return out


def _wide(cells: pl.DataFrame, height: int, columns: list[str]) -> pl.DataFrame:
    """(row, c, value) cells -> a frame of ``height`` rows with one column per name in ``columns``."""
    flat = pl.repeat(None, height * len(columns), dtype=pl.Float64, eager=True)
    flat = flat.scatter(cells["c"] * height + cells["row"], cells["value"]) if cells.height else flat
    return pl.DataFrame([flat.slice(i * height, height).alias(name) for i, name in enumerate(columns)])


def _first_readings(view: pipeline.View) -> dict[str, int]:
    """Each metric's first reading in ``view``, in µs."""
    firsts = {m: first for m, (first, _, _) in view.base.bounds.items()}
    for m, (first, _, _) in view.delta.bounds.items():
        firsts[m] = min(first, firsts.get(m, first))
    return firsts


def _latest_map(frame: pl.DataFrame) -> dict[str, tuple[dt.datetime, float]]:
    """(metric, at µs, value) rows -> {metric: (at, value)}."""
    columns = frame.select("metric", pl.col("at").cast(pl.Datetime("us", "UTC")), "value").to_dict(as_series=False)
    return dict(zip(columns["metric"], zip(columns["at"], columns["value"])))
