"""Answering: the two polars queries of an evaluation.

1. *answers*: one request per (period, metric, aggregation, steps back) the
   KPIs to run read, answered from the reading index
   (:func:`kpitui.pipeline.aggregate`: binary searches and running totals,
   exact at any boundary, gaps filled per aggregation rule), and one per
   metric whose newest reading is asked; the answers are scattered into one
   buffer, a column of periods per request column;
2. *formulas*: the KPIs of one :class:`~kpitui.engine.program.Shape` (built-in
   formulas computing the same thing of their reads) as one query over a frame
   of their rows, one KPI after the other, taken from that buffer; the others
   (plugin formulas) over a wide frame, one row per period, one column per
   request column.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import zoneinfo
from dataclasses import dataclass, field
from math import isfinite
from typing import Any, Iterable, cast

import polars as pl

from .. import pipeline
from ..plugins import PluginInterrupted, PluginTimeout, plugin_timeout, stop_plugin_code
from .planning import KpiPlan, Slots, SteppedPeriod, utc
from .program import CompiledKpi, Compiler, Program, Read, Shape

_WITH_ROW = {**pipeline.REQUESTS_SCHEMA, "row": pl.Int64, "c": pl.Int64}  # requests, with where each answer goes
#: up to how many requests an evaluation answers without a query (:func:`kpitui.pipeline.answer`):
#: an incremental one's few hundred. Main-thread CPU over the 10M-reading index, eager against the
#: query: 1.3 / 2.4 ms at 100 requests, 2.7 / 2.4 at 400, 4.1 / 2.7 at 700 (the query's pool adds
#: 1.8-4.3 ms of CPU on other threads, the eager answers none); a full one's ~11,000 go to the query
EAGER_REQUESTS = 600

Latest = dict[str, tuple[dt.datetime, float]]  # metric -> its newest reading (at, value)


@dataclass
class Evaluation:
    """The raw outcome of one pipeline run: values per (kpi, row), and the (kpi, row) pairs whose value
    is none while every column the KPI reads on that row has an answer (``undefined``: a zero
    denominator, a NaN; not missing data); of those, ``overflowed``: the formula's value or an answer it
    reads is infinite (a sum beyond the largest float), not a ÷ 0."""

    rows: list[SteppedPeriod]
    values: dict[str, list[float | None]]  # kpi id (or "kpi::part") -> value per row
    latest: Latest
    undefined: set[tuple[str, int]] = field(default_factory=set)
    overflowed: set[tuple[str, int]] = field(default_factory=set)


def requests(
    program: Program, pairs: list[tuple[int, str]], slots: Slots, now: dt.datetime, metrics: Iterable[str] = ()
) -> tuple[pl.DataFrame, list[str]]:
    """What (row, KPI) ``pairs`` read: one :data:`~kpitui.pipeline.REQUESTS_SCHEMA` request per
    (row, metric, aggregation, steps back), with its ``row`` and column ``c`` in the wide frame,
    and the wide frame's column names. Then one request (row and column -1) for the newest
    reading before ``now`` of each of ``metrics``."""
    out, columns = _requests(program, pairs, slots, now, metrics)
    return pl.DataFrame(out, schema=_WITH_ROW), columns


def _requests(
    program: Program, pairs: list[tuple[int, str]], slots: Slots, now: dt.datetime, metrics: Iterable[str] = ()
) -> tuple[dict[str, Any], list[str]]:
    """:func:`requests` as lists, by column."""
    compiled = program.kpis
    by_kid: dict[str, dict[str, Read]] = {}  # each KPI's reads by column
    wanted: dict[int, dict[str, Read]] = {}  # each row's reads by column
    for row_id, kid in pairs:
        reads = by_kid.get(kid)
        if reads is None:
            reads = by_kid[kid] = {read.column: read for read in compiled[kid].reads}
        on_row = wanted.get(row_id)
        if on_row is None:
            wanted[row_id] = dict(reads)
        else:
            on_row.update(reads)
    columns = sorted({col for on_row in wanted.values() for col in on_row})
    index = {col: c for c, col in enumerate(columns)}
    row_ids: list[int] = []
    reads_of: list[Read] = []
    bounds: list[tuple[int, int]] = []
    for row_id, on_row in wanted.items():
        row_ids.extend([row_id] * len(on_row))
        reads_of.extend(on_row.values())
        bounds.extend([slots[(row_id, read.steps)] for read in on_row.values()])
    metrics = list(metrics)
    now_us = [pipeline.micros(utc(now)) + 1] * len(metrics)  # the newest reading at or before now
    out = {
        "req": range(len(reads_of) + len(metrics)),
        "metric": [r.metric for r in reads_of] + metrics,
        "agg": [r.agg for r in reads_of] + ["last"] * len(metrics),
        "additive": [r.additive for r in reads_of] + [False] * len(metrics),
        "start": [b[0] for b in bounds] + now_us,
        "end": [b[1] for b in bounds] + now_us,
        "row": row_ids + [-1] * len(metrics),
        "c": [index[r.column] for r in reads_of] + [-1] * len(metrics),
    }
    return out, columns


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
    newest reading of ``latest`` metrics.

    The requests come in the order the formula queries read them: per shape, per placeholder,
    per KPI its rows (a block of requests; KPIs reading the same column on the same rows share
    one), then the plugin formulas' requests per (row, column), then one per ``latest`` metric.
    So the answers are the shapes' cells by one gather, without a scatter through Python."""
    compiled = program.kpis
    kid_rows: dict[str, list[int]] = {}  # each KPI's rows, in row_kpis order
    for row_id, on_row in row_kpis.items():
        for k in on_row:
            if k in compiled:
                kid_rows.setdefault(k, []).append(row_id)
    shaped: dict[tuple[int, tuple[bytes, ...]], list[str]] = {}  # KPIs by the shape of their formula
    others = []
    for kid in compiler.dependency_order(kid_rows):
        shape = compiled[kid].shape
        if shape is None:
            if compiler.errors and compiler.broken_dependency(kid) is not None:  # left running, or failed before
                continue
            others.append(kid)
        else:
            shaped.setdefault(shape.key, []).append(kid)
    asked = _Asked(slots)
    taken: list[int] = []  # per cell of the shapes' frames: its request
    spans = []  # per shape: where its placeholders' cells start in taken, and how many placeholders
    for kids in shaped.values():
        width = len(compiled[kids[0]].reads)
        at = [tuple(kid_rows[kid]) for kid in kids]
        spans.append((len(taken), width))
        for i in range(width):
            for kid, kid_at in zip(kids, at):
                first = asked.block(compiled[kid].reads[i], kid_at)
                taken.extend(range(first, first + len(kid_at)))
    wide_from = len(asked.metric)  # the plugin formulas' requests: one per (row, column) they read
    wide_pairs = [(row_id, kid) for kid in others for row_id in kid_rows[kid]]
    columns = asked.wide(program, wide_pairs, now)
    latest_from = len(asked.metric)
    metrics = list(latest)
    asked.newest(metrics, pipeline.micros(utc(now)) + 1)  # the newest reading at or before now
    aggs = program.aggs(kid_rows) | {"last"}
    if len(asked.metric) <= EAGER_REQUESTS and aggs <= pipeline.ANSWERED:
        # an incremental evaluation's few hundred requests: answered without a query (its plan,
        # joins and thread pool cost several times the searches and lookups themselves)
        listed, instants = pipeline.answer(view, asked.metric, asked.agg, asked.additive, asked.start, asked.end)
        answered = pl.Series(listed, dtype=pl.Float64)
        newest_at = instants[latest_from:]
        # the shapes' cells: those answers taken in Python (a Series' gather is a query of its own),
        # converted as ``answered`` converts them
        cells_listed: list[float | None] | None = [listed[t] for t in taken]
        cells_taken = pl.Series(cells_listed, dtype=pl.Float64)
    else:
        (answers,) = pipeline.collect(pipeline.aggregate(view, asked.frame(), aggs).sort("req"))
        answered = answers["value"]
        newest_at = answers["at"].slice(latest_from).to_list()
        cells_taken = answered.gather(pl.Series(taken, dtype=pl.Int64)) if taken else pl.Series([], dtype=pl.Float64)
        cells_listed = None  # made a list only when a value is none (see _undefined)
    latest_map = _latest(metrics, newest_at, [-1] * len(metrics), answered.slice(latest_from).to_list())
    if not kid_rows:
        return Evaluation(rows, {}, latest_map)
    # KPIs of one shape: one query over their rows, one KPI after the other (their cells taken from
    # the answers, then sliced per shape and placeholder)
    queries, outputs, heights = [], [], []
    for kids, (taken_at, width) in zip(shaped.values(), spans):
        shape = cast(Shape, compiled[kids[0]].shape)
        height = sum(len(kid_rows[kid]) for kid in kids)
        heights.append(height)
        frame = pl.DataFrame(
            [cells_taken.slice(taken_at + i * height, height).alias(f"_{i}") for i in range(width)]
            if width  # else a column only for the frame's height
            else [pl.Series("_row", [0] * height, dtype=pl.Int64)]
        )
        queries.append(frame.lazy().with_columns(*shape.exprs).select(_output_names(shape)))
        outputs.append(kids)
    if others:
        # The other formulas run over a small wide frame (one row per period, one column per request).
        height = len(rows)
        flat: list[float | None] = [None] * (height * len(columns))  # column-major
        wide_values = answered.slice(wide_from, latest_from - wide_from).to_list()
        for row_id, c, value in zip(asked.row, asked.c, wide_values):
            flat[c * height + row_id] = value
        wide = pl.DataFrame(
            {name: flat[i * height : (i + 1) * height] for i, name in enumerate(columns)},
            schema=dict.fromkeys(columns, pl.Float64),
        )
        if not columns:  # KPIs that read nothing: the frame still has a row per period
            wide = pl.DataFrame({"__row": pl.int_range(len(rows), eager=True)})
    values: dict[str, list[float | None]] = {}
    results = pipeline.collect(*queries, optimizations=pipeline.FORMULA_OPTIMIZATIONS) if queries else []
    if others:
        # each plugin formula on a thread of its own, after the shapes' query (a plugin's UDF that hangs holds
        # one of polars' threads until it is stopped): plugin code that hangs or fails is that KPI's error,
        # not an evaluation that never ends (see plugin_queries)
        running = plugin_queries(compiler, compiled, others, wide)
    undefined: set[tuple[str, int]] = set()
    overflowed: set[tuple[str, int]] = set()
    for kids, result, (taken_at, width), height in zip(outputs, results, spans, heights):
        # back to one list per KPI (and part), by row
        raw = result.to_series(0).to_list() if result.width else []
        got = [_cleaned(raw if j == 0 else result.to_series(j).to_list()) for j in range(result.width)]
        done = 0
        for kid in kids:
            on_rows = kid_rows[kid]
            for name, out in zip(compiled[kid].names, got):
                column: list[float | None] = [None] * len(rows)
                for row_id, value in zip(on_rows, out[done : done + len(on_rows)]):
                    column[row_id] = value
                values[name] = column
            if width and None in (own := got[0][done : done + len(on_rows)]):
                if cells_listed is None:
                    cells_listed = cells_taken.to_list()
                # the KPI's cells of placeholder i are at taken_at + i * height + done + (its row's index)
                first_cell = taken_at + done
                for j, (row_id, value) in enumerate(zip(on_rows, own)):
                    cells = [cells_listed[first_cell + i * height + j] for i in range(width)]
                    if value is None and all(cell is not None for cell in cells):
                        undefined.add((kid, row_id))
                        if _infinite(raw[done + j]) or any(_infinite(cell) for cell in cells):
                            overflowed.add((kid, row_id))
            done += len(on_rows)
    if others:
        got_others = running.values()
        values.update(got_others)
        wide_undefined = _undefined_wide(compiled, others, kid_rows, got_others, columns, wide_values, asked)
        undefined |= wide_undefined
        overflowed |= _overflowed_wide(compiled, wide_undefined, columns, wide_values, asked)
    return Evaluation(rows, values, latest_map, undefined, overflowed)


def _infinite(value: float | None) -> bool:
    """Is ``value`` ±infinity (a sum or product beyond the largest float)?"""
    return value is not None and value in (float("inf"), float("-inf"))


def _overflowed_wide(
    compiled: dict[str, CompiledKpi],
    undefined: set[tuple[str, int]],
    columns: list[str],
    answers: list[float | None],
    asked: _Asked,
) -> set[tuple[str, int]]:
    """Of the plugin KPIs' ``undefined`` (KPI, row) pairs, those where a column the KPI reads is infinite."""
    if not undefined:
        return set()
    index = {name: c for c, name in enumerate(columns)}
    infinite = {(row_id, c) for row_id, c, value in zip(asked.row, asked.c, answers) if _infinite(value)}
    return {
        (kid, row_id)
        for kid, row_id in undefined
        if any((row_id, index.get(read.column)) in infinite for read in compiled[kid].reads)
    }


def _undefined_wide(
    compiled: dict[str, CompiledKpi],
    kids: list[str],
    kid_rows: dict[str, list[int]],
    values: dict[str, list[float | None]],
    columns: list[str],
    answers: list[float | None],
    asked: _Asked,
) -> set[tuple[str, int]]:
    """The (plugin KPI, row) pairs whose value is none while every column the KPI reads has an answer on
    that row (``answers``: the wide frame's requests' answers, at ``asked.row`` and ``asked.c``)."""
    out: set[tuple[str, int]] = set()
    cells: dict[tuple[int, int], float | None] | None = None
    index = {name: c for c, name in enumerate(columns)}
    for kid in kids:
        got = values.get(kid)
        if got is None or None not in got:
            continue
        reads = [index[read.column] for read in compiled[kid].reads if read.column in index]
        if not reads:
            continue
        if cells is None:
            cells = {(row_id, c): value for row_id, c, value in zip(asked.row, asked.c, answers)}
        for row_id in kid_rows[kid]:
            if got[row_id] is None and all(cells.get((row_id, c)) is not None for c in reads):
                out.add((kid, row_id))
    return out


def _cleaned(values: list[Any]) -> list[Any]:
    """A shape's outputs as :func:`kpitui.pipeline.clean` makes them: NaN and infinities null (see :class:`Shape`)."""
    return [v if v is None or isfinite(v) else None for v in values]


_NAMES: dict[tuple[int, tuple[bytes, ...]], list[str]] = {}  # a shape's outputs' names, by its key


def _output_names(shape: Shape) -> list[str]:
    """The names of ``shape``'s outputs (``_v``, ``_p0``...), worked out once per shape."""
    names = _NAMES.get(shape.key)
    if names is None:
        names = _NAMES[shape.key] = [e.meta.output_name() for e in shape.exprs]
    return names


class _PluginQueries:
    """The plugin formulas' queries of one evaluation, each running on a daemon thread (:func:`plugin_queries`)."""

    def __init__(self, compiler: Compiler, compiled: dict[str, CompiledKpi], others: list[str], wide: pl.DataFrame):
        self.compiler = compiler
        self.kids = others
        self.seconds = plugin_timeout()
        self.deadline = time.monotonic() + self.seconds
        self.outcome: dict[str, pl.DataFrame | BaseException] = {}
        self.threads: dict[str, threading.Thread] = {}
        for kid in others:
            kpi = compiled[kid]
            # with_columns, not select: a formula that is a constant (a plugin's pl.lit) is one per row too
            query = wide.lazy().with_columns(*kpi.exprs).select(list(kpi.names))
            thread = threading.Thread(target=self._run, args=(kid, query), name=f"kpitui-plugin-{kid}", daemon=True)
            self.threads[kid] = thread
            thread.start()

    def _run(self, kid: str, query: pl.LazyFrame) -> None:
        try:
            self.outcome[kid] = pipeline.collect(query, optimizations=pipeline.FORMULA_OPTIMIZATIONS)[0]
        except BaseException as exc:  # noqa: BLE001 - that KPI's error, on the evaluating thread
            self.outcome[kid] = exc

    def values(self) -> dict[str, list[float | None]]:
        """Each plugin KPI's (and part's) values by row; a KPI whose query failed or is still running at the
        deadline gets its error (one still running is not run again: a thread cannot be stopped)."""
        compiler, out = self.compiler, {}
        for kid in self.kids:
            self.threads[kid].join(max(0.0, self.deadline - time.monotonic()))
        late = [thread for thread in self.threads.values() if thread.is_alive()]
        if late:  # their UDFs interrupted: polars' threads they hold are given back
            stop_plugin_code(late, direct=False)
        for kid in compiler.dependency_order(self.kids):
            got = self.outcome.get(kid)
            if isinstance(got, pl.DataFrame):
                out.update(got.to_dict(as_series=False))
                continue
            if got is None or isinstance(got, PluginInterrupted):
                compiler.stuck.add(kid)
                got = PluginTimeout(f"did not finish within {self.seconds:g}s (KPITUI_PLUGIN_TIMEOUT); left out")
            if compiler.broken_dependency(kid) is None:  # a KPI it reads failed first: that error says it
                compiler.errors[kid] = compiler.plugin_error(kid, got)
        return out


def plugin_queries(
    compiler: Compiler, compiled: dict[str, CompiledKpi], others: list[str], wide: pl.DataFrame
) -> _PluginQueries:
    """Start the plugin formulas' queries over ``wide``, one thread each (a plugin's UDF can hang or spin: the
    evaluation waits for them up to the plugins' time limit, ``KPITUI_PLUGIN_TIMEOUT``, all together)."""
    return _PluginQueries(compiler, compiled, others, wide)


class _Asked:
    """The requests of :func:`run`, by column (:data:`~kpitui.pipeline.REQUESTS_SCHEMA` but ``req``,
    which is the position), built a block at a time."""

    def __init__(self, slots: Slots):
        self.slots = slots
        self.metric: list[str] = []
        self.agg: list[str] = []
        self.additive: list[bool] = []
        self.start: list[int] = []
        self.end: list[int] = []
        self.row: list[int] = []  # the wide frame's requests: their row and column
        self.c: list[int] = []
        self._blocks: dict[tuple[str, tuple[int, ...]], int] = {}  # (column, rows) -> its first request
        self._bounds: dict[tuple[int, tuple[int, ...]], tuple[list[int], list[int]]] = {}  # (steps, rows) ->

    def block(self, read: Read, rows: tuple[int, ...]) -> int:
        """The first of the requests of ``read`` on ``rows`` (one per row, in that order), added unless
        asked already."""
        key = (read.column, rows)
        first = self._blocks.get(key)
        if first is None:
            first = self._blocks[key] = len(self.metric)
            bounds = self._bounds.get((read.steps, rows))
            if bounds is None:
                periods = [self.slots[(row_id, read.steps)] for row_id in rows]
                bounds = self._bounds[(read.steps, rows)] = ([p[0] for p in periods], [p[1] for p in periods])
            n = len(rows)
            self.metric.extend([read.metric] * n)
            self.agg.extend([read.agg] * n)
            self.additive.extend([read.additive] * n)
            self.start.extend(bounds[0])
            self.end.extend(bounds[1])
        return first

    def wide(self, program: Program, pairs: list[tuple[int, str]], now: dt.datetime) -> list[str]:
        """Add what (row, KPI) ``pairs`` read, one request per (row, column) with its ``row`` and
        column ``c`` in the wide frame; the wide frame's column names."""
        if not pairs:
            return []
        out, columns = _requests(program, pairs, self.slots, now)
        for name in ("metric", "agg", "additive", "start", "end"):
            getattr(self, name).extend(out[name])
        self.row, self.c = out["row"], out["c"]
        return columns

    def newest(self, metrics: list[str], at: int) -> None:
        """Add one request for the newest reading before ``at`` (µs) of each of ``metrics``."""
        n = len(metrics)
        self.metric.extend(metrics)
        self.agg.extend(["last"] * n)
        self.additive.extend([False] * n)
        self.start.extend([at] * n)
        self.end.extend([at] * n)

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "req": range(len(self.metric)),
                "metric": self.metric,
                "agg": self.agg,
                "additive": self.additive,
                "start": self.start,
                "end": self.end,
            },
            schema=pipeline.REQUESTS_SCHEMA,
        )


def buffer(cells: pl.DataFrame, height: int, width: int) -> pl.Series:
    """(row, c, value) cells -> one column-major buffer: column ``c`` of ``height`` rows, one after the other."""
    flat = pl.repeat(None, height * width, dtype=pl.Float64, eager=True)
    return flat.scatter(cells["c"] * height + cells["row"], cells["value"]) if cells.height else flat


def scatter(cells: pl.DataFrame, height: int, columns: list[str]) -> pl.DataFrame:
    """(row, c, value) cells -> a frame of ``height`` rows with one column per name in ``columns``."""
    flat = buffer(cells, height, len(columns))
    return pl.DataFrame([flat.slice(i * height, height).alias(name) for i, name in enumerate(columns)])


def _latest(metrics: list[str], instants: list[int | None], at_row: list[int], answered: list[float | None]) -> Latest:
    """The newest readings among the answers (their metrics, the instants of the readings they come
    from in µs, rows ``at_row`` and values ``answered``): the requests on row -1 with a value
    (``at``: µs -> the aware datetime polars would make)."""
    return {
        metrics[i]: (_from_micros(cast(int, instants[i])), value)
        for i, (row_id, value) in enumerate(zip(at_row, answered))
        if row_id < 0 and value is not None
    }


_UTC = zoneinfo.ZoneInfo("UTC")  # the time zone polars gives a Datetime("us", "UTC") in Python
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)


def _from_micros(at: int) -> dt.datetime:
    """µs since the epoch -> the aware datetime polars makes of it (same value and ``tzinfo``)."""
    return _EPOCH + dt.timedelta(microseconds=at)


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
