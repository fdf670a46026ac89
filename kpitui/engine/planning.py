"""Planning periods: which periods each KPI is evaluated for as of a clock instant.

Every KPI shows its window's current period, the comparison period, the same
period last year and a sparkline of buckets; a :class:`KpiPlan` names them by
position in one shared list of :class:`SteppedPeriod` (KPIs of the same
window, grain and kind of sparkline share one plan). A formula may read its
inputs some periods back (growth reads the previous one): ``slots`` give the
period of each (row, steps back) read, in µs, cut at now.

The buckets of a sparkline before its last one depend on the clock only
through where that last bucket starts (:func:`sparkline`, remembered by its
arguments), so a clock that moved within a bucket only has the periods that
end at now worked out again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Callable, Iterable, NamedTuple

from .. import periods, pipeline
from ..config import Config
from ..model import Period
from .program import Compiler, Program

SPARK_POINTS = 14

Slots = dict[tuple[int, int], tuple[int, int]]  # (row id, steps back) -> [start, end) in µs, cut at now


@dataclass(frozen=True)
class SteppedPeriod:
    """A period a KPI is evaluated for, and how to step to the periods before it.

    Window periods step back one window (``unit`` x ``count``), bucket periods
    one bucket (``grain``), by :func:`step_back`; the current window's first step
    is the exact comparison period (``before``).
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
            else:
                period = step_back(period, *self._step(), cal)
        return period

    def end_back(self, cal: periods.Calendar, steps: int) -> tuple[dt.datetime, bool]:
        """The end of :meth:`back` and whether it is ``closed``."""
        period = self.back(cal, steps)
        return period.end, period.closed

    def _step(self) -> tuple[str, int]:
        if self.window is not None:
            return self.window.unit, self.window.count
        assert self.grain is not None
        return self.grain, 1


def step_back(period: Period, unit: str, n: int, cal: periods.Calendar) -> Period:
    """The period ``n`` ``unit``s before ``period``: a complete one moved on the calendar (month ends
    clipped); one as of its end (``closed``: to date, or a running bucket) starts ``n`` units earlier
    and runs as long on the wall clock, clipped to the whole period before (:func:`periods.earlier_cut`),
    as the "vs previous" comparison period of a to-date window is (Mar 1 to Mar 30 12:00 -> all of
    February, not Feb 1 to Feb 28 12:00): so a growth's previous value is the growth as of the
    previous period's end, and a running bucket's growth equals the window's headline growth."""
    if not period.closed:
        return shift_period(period, unit, -n, cal)
    return periods.earlier_cut(period.start, period.end, unit, n, cal)


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
        """Row ids in :class:`~kpitui.engine.results.KpiValues` order: current, previous, last year, sparkline."""
        return (self.current, self.previous, self.last_year, *self.spark)


class Plan(NamedTuple):
    """Every period evaluated as of one instant (``rows``), each KPI's plan over them, and the
    period of each (row, steps back) read, in µs, cut at now (``slots``)."""

    rows: list[SteppedPeriod]
    plans: dict[str, KpiPlan]
    slots: Slots


@dataclass(frozen=True)
class Layout:
    """How KPIs are planned in one window setting (config only): the KPIs of each shape (window,
    grain, to-date sparkline), and the steps back read from each window's rows and each sparkline's."""

    shapes: dict[tuple[periods.Window, str, bool], list[str]]
    window_steps: dict[periods.Window, frozenset[int]]
    spark_steps: dict[tuple[bool, periods.Window | None, str], frozenset[int]]


@dataclass(frozen=True)
class Sparkline:
    """The sparkline buckets of one grain up to the bucket starting at ``last`` (which is not among
    them), their rows, points and periods in µs per step back (not cut at now)."""

    rows: tuple[SteppedPeriod, ...]
    points: tuple[dt.datetime, ...]
    slots: tuple[dict[int, tuple[int, int]], ...]
    last: dt.datetime
    last_end: dt.datetime  # where the bucket starting at ``last`` ends


class _Tail(NamedTuple):
    """The last bucket of a sparkline as of now: ``[start, now]`` (``window``: a to-date sparkline's,
    whose point is its window's period to date, from ``first``)."""

    row: int
    start: dt.datetime
    last_end: dt.datetime  # in UTC: where the bucket ends
    grain: str
    window: periods.Window | None
    first: dt.datetime
    steps: frozenset[int]


class Frame(NamedTuple):
    """A plan less its rows that end at now, for every ``now`` in one local wall-clock hour
    (:meth:`Planner.plan`): the rows (those that end at now as of the hour's first plan), the KPIs'
    plans, the slots of the rows that do not end at now, and how to work out those that do."""

    rows: list[SteppedPeriod]
    plans: dict[str, KpiPlan]
    slots: Slots
    starts: dict[tuple[int, int], int]  # where the periods of the rows that end at now start: the same all hour
    to_dates: tuple[tuple[periods.ToDate, tuple[int, int, int], frozenset[int]], ...]
    tails: tuple[_Tail, ...]

    def at(self, cal: periods.Calendar, now: dt.datetime, local: dt.datetime) -> Plan | None:
        """The plan as of ``now`` (in this frame's hour; ``local``: in the calendar's zone), or
        ``None`` when a sparkline's last bucket ended before it (then :meth:`Planner.fresh`)."""
        end = utc(now)
        horizon = pipeline.micros(end) + 1  # a reading stamped at now counts
        rows = self.rows.copy()
        slots = self.slots.copy()
        starts = self.starts
        micros = pipeline.micros

        def add(row_id: int, row: SteppedPeriod, steps: frozenset[int]) -> None:
            rows[row_id] = row
            for s in steps:
                stop, closed = row.end_back(cal, s)
                slots[(row_id, s)] = (min(starts[(row_id, s)], horizon), min(micros(utc(stop)) + closed, horizon))

        wall = local.replace(tzinfo=None, fold=0)
        for parts, (current, previous, last_year), steps in self.to_dates:
            win = parts.window
            prev = parts.previous(wall)
            add(current, SteppedPeriod(parts.current(local), window=win, before=prev), steps)
            add(previous, SteppedPeriod(prev, window=win), steps)
            add(last_year, SteppedPeriod(parts.last_year(wall), window=win), steps)
        for tail in self.tails:
            if tail.last_end < end:
                return None
            period = Period(tail.start, min(tail.last_end, end), closed=True)
            if tail.window is None:
                add(tail.row, SteppedPeriod(period, grain=tail.grain), tail.steps)
            else:
                add(
                    tail.row, SteppedPeriod(Period(tail.first, period.end, closed=True), window=tail.window), tail.steps
                )
        return Plan(rows, self.plans.copy(), slots)


_FRAMES = 16  # frames kept: window settings x offsets x hours


class Planner:
    """Plans a config's KPIs (``program``: their compiled formulas, asked when first needed)."""

    def __init__(
        self,
        config: Config,
        cal: periods.Calendar,
        compiler: Compiler,
        program: Callable[[], Program],
        spark_points: int = SPARK_POINTS,
    ):
        self.config = config
        self.cal = cal
        self.compiler = compiler
        self.program = program
        self.spark_points = spark_points
        self._layouts: dict[str | None, Layout] = {}
        self._frames: dict[tuple[Any, ...], Frame | None] = {}

    def layout(self, window: str | None) -> Layout:
        """How the KPIs are planned with every KPI in its own window (``None``) or all in ``window``."""
        layout = self._layouts.get(window)
        if layout is None:
            compiled = self.program().kpis
            shapes: dict[tuple[periods.Window, str, bool], list[str]] = {}
            window_steps: dict[periods.Window, frozenset[int]] = {}
            spark_steps: dict[tuple[bool, periods.Window | None, str], frozenset[int]] = {}
            for kid, kpi in self.config.kpis.items():
                win = periods.parse_window(window or kpi.window)
                grain = (kpi.grain if window is None else None) or periods.default_grain(win)
                to_date = self.compiler.to_date_series(kid)
                shapes.setdefault((win, grain, to_date), []).append(kid)
                steps = compiled[kid].steps if kid in compiled else frozenset()
                window_steps[win] = window_steps.get(win, frozenset()) | steps
                key = (to_date, win if to_date else None, grain)
                spark_steps[key] = spark_steps.get(key, frozenset()) | steps
            layout = self._layouts[window] = Layout(shapes, window_steps, spark_steps)
        return layout

    def plan(self, now: dt.datetime, window: str | None = None, offset: int = 0) -> Plan:
        """The periods every KPI is evaluated for as of ``now``, worked out once per window and
        once per sparkline (KPIs share them).

        Every period but those that end at ``now`` (or at the same elapsed time) depends on ``now``
        only through the local wall-clock hour it is in (and its ``fold``): the first plan in an
        hour is worked out whole (:meth:`fresh`) and kept as a :class:`Frame`; the next ones in
        that hour copy it and work out again only the periods that end at ``now``.
        """
        if now.tzinfo is None or now.utcoffset() is None:
            return self.fresh(now, window, offset)[0]  # refused there, as ever
        local = now.astimezone(self.cal.tz)
        key = (window, offset, local.year, local.month, local.day, local.hour, local.fold)
        if key in self._frames:
            frame = self._frames[key]
            kept = frame.at(self.cal, now, local) if frame is not None else None
            return kept if kept is not None else self.fresh(now, window, offset)[0]
        plan, frame = self.fresh(now, window, offset)
        if len(self._frames) >= _FRAMES:
            del self._frames[next(iter(self._frames))]
        self._frames[key] = frame
        return plan

    def fresh(self, now: dt.datetime, window: str | None = None, offset: int = 0) -> tuple[Plan, Frame | None]:
        """:meth:`plan` worked out whole, and what of it serves every ``now`` in the same local
        wall-clock hour (``None`` when something in it does not)."""
        layout = self.layout(window)
        horizon = pipeline.micros(utc(now)) + 1  # a reading stamped at now counts
        rows: list[SteppedPeriod] = []
        slots: Slots = {}
        moving: set[int] = set()  # rows that end at now: worked out again in the same hour

        def add(row: SteppedPeriod, steps: Iterable[int], known: dict[int, tuple[int, int]] | None = None) -> int:
            """Add ``row`` and the periods of its ``steps`` back (``known``: those of a sparkline
            bucket before the last, which end before now: nothing to cut)."""
            row_id = len(rows)
            rows.append(row)
            if known is not None:
                slots.update(((row_id, s), known[s]) for s in steps)
                return row_id
            for s in steps:
                start, end = slot(self.cal, row, s)
                slots[(row_id, s)] = (min(start, horizon), min(end, horizon))
            return row_id

        windows: dict[periods.Window, tuple[int, int, int, Period, dt.datetime | None]] = {}
        sparks: dict[tuple[Any, ...], tuple[tuple[int, ...], tuple[dt.datetime, ...]]] = {}
        plans: dict[str, KpiPlan] = {}
        to_dates: list[tuple[periods.ToDate, tuple[int, int, int], frozenset[int]]] = []
        tails: list[_Tail] = []
        for (win, grain, to_date), kids in layout.shapes.items():
            if win not in windows:
                cur = periods.resolve(win, now, self.cal, offset)
                prev = periods.previous(win, now, self.cal, offset)
                yoy = periods.same_period_last_year(win, now, self.cal, offset)
                steps = layout.window_steps[win]
                full_end = None  # the end of the whole current period, for pace
                if win.to_date and not win.complete and offset == 0 and not win.trailing:
                    full_end = periods.bucket_end(cur.start, win.unit, self.cal)
                ids = (
                    add(SteppedPeriod(cur, window=win, before=prev), steps),
                    add(SteppedPeriod(prev, window=win), steps),
                    add(SteppedPeriod(yoy, window=win), steps),
                )
                windows[win] = (*ids, cur, full_end)
                if cur.closed:  # to date: all three end at now (or at the same elapsed time)
                    to_dates.append((periods.ToDate.of(win, now, self.cal), ids, steps))
                    moving.update(ids)
            current, previous, last_year, cur, full_end = windows[win]
            key = (to_date, win if to_date else None, grain)
            # where the sparkline ends, and whether as of there (closed): on a period's edge a complete
            # window ends where a to-date one is the new period so far, and its last bucket is another
            spark_key = (*key, pipeline.micros(utc(cur.end)), cur.closed)
            if spark_key not in sparks:
                steps = layout.spark_steps[key]
                end = utc(cur.end)
                last = last_bucket(end, grain, self.cal, cur.closed)
                head = sparkline(self.cal, to_date, key[1], grain, self.spark_points, pipeline.micros(last), steps)
                spark_ids = [add(row, steps, known) for row, known in zip(head.rows, head.slots)]
                last_end = utc(head.last_end)
                tail_period = Period(head.last, min(last_end, end), closed=cur.closed and end <= last_end)
                tail = spark_row(self.cal, to_date, win, tail_period, grain)
                spark_ids.append(add(tail, steps))
                if cur.closed:
                    moving.add(spark_ids[-1])
                    tails.append(
                        _Tail(spark_ids[-1], head.last, last_end, grain, tail.window, tail.period.start, steps)
                    )
                sparks[spark_key] = (tuple(spark_ids), (*head.points, point_at(self.cal, tail, grain)))
            spark, points = sparks[spark_key]
            shape = KpiPlan(win, grain, current, previous, last_year, spark, full_end, points, offset)
            for kid in kids:
                plans[kid] = shape
        plan = Plan(rows, plans, slots)
        # the rows that do not end at now are the same all hour, and so are their slots if no end is cut
        floor = pipeline.micros(utc(periods.truncate_datetime(now, "hour", self.cal))) + 1
        kept = {k: v for k, v in slots.items() if k[0] not in moving}
        starts = {k: v[0] for k, v in slots.items() if k[0] in moving}
        if (
            any(end > floor for _, end in kept.values())
            or any(start >= floor for start in starts.values())
            or any(tail.last_end < utc(now) for tail in tails)
        ):
            return plan, None
        return plan, Frame(list(rows), plans, kept, starts, tuple(to_dates), tuple(tails))

    def slots(self, rows: list[SteppedPeriod], row_kpis: dict[int, set[str]], now: dt.datetime) -> Slots:
        """The period of each (row, steps back) the KPIs on each row read, in µs, cut at ``now``."""
        compiled = self.program().kpis
        horizon = pipeline.micros(utc(now)) + 1  # a reading stamped at now counts
        out: Slots = {}
        for row_id, kids in row_kpis.items():
            for steps in set().union(*(compiled[k].steps for k in kids if k in compiled)):
                start, end = slot(self.cal, rows[row_id], steps)
                out[(row_id, steps)] = (min(start, horizon), min(end, horizon))
        return out

    # -- the detail chart ------------------------------------------------------

    def buckets(self, end: dt.datetime, grain: str, points: int, closed: bool = False) -> list[Period]:
        """``points`` buckets of ``grain``, the last one holding the instant before ``end`` (cut at
        ``end``; ``closed``: ``end`` is "now", so the last bucket is the one holding ``end`` itself,
        which on a bucket edge is the new bucket ``[end, end]``, so far: see :func:`last_bucket`)."""
        end_utc = utc(end)
        last = last_bucket(end_utc, grain, self.cal, closed)
        first = periods.shift(last, grain, -(points - 1), self.cal)
        starts = periods.bucket_starts(Period(first, end_utc + dt.timedelta(microseconds=closed)), grain, self.cal)
        if not starts:
            return []
        # each bucket ends where the next starts; the last one at its own end, cut at ``end``
        last_end = utc(periods.bucket_end(starts[-1], grain, self.cal))
        stops = [utc(s) for s in starts[1:]] + [min(last_end, end_utc)]
        out = [Period(start, stop) for start, stop in zip(starts, stops)]
        if closed:
            out[-1] = replace(out[-1], closed=True)
        return out

    def bucket_before(self, bucket: Period, win: periods.Window, grain: str) -> Period:
        """The ``grain`` bucket one window earlier: the whole bucket holding the instant one window
        before ``bucket``'s start (month ends clipped; a week a month earlier is the whole week
        holding that day, never the days from there to the next week start), or, while ``bucket``
        is still running, as much of it as has elapsed in ``bucket`` (same wall-clock time)."""
        start = periods.truncate_datetime(periods.shift(bucket.start, win.unit, -win.count, self.cal), grain, self.cal)
        end = periods.bucket_end(start, grain, self.cal)
        if utc(bucket.end) < utc(periods.bucket_end(bucket.start, grain, self.cal)):
            cut = utc(periods.same_elapsed(start, bucket.start, bucket.end, self.cal))
            if cut < utc(end):
                return replace(utc_period(start, cut), closed=bucket.closed)
        return utc_period(start, end)

    def year_before(self, row: SteppedPeriod) -> Period:
        """A chart row's period a year earlier: a week bucket (or a week window's points) the week with
        the same week number, as the report's "last year" of a week window; others 12 months back."""
        week = row.grain == "week" if row.window is None else row.window.unit == "week"
        if week:
            return periods.weeks_last_year(row.period, self.cal)
        return shift_period(row.period, "year", -1, self.cal)

    def chart_rows(
        self, win: periods.Window, now: dt.datetime, grain: str, points: int, offset: int, compare: str, to_date: bool
    ) -> list[SteppedPeriod]:
        """The rows of a detail chart: ``points`` buckets of ``grain`` ending with ``win``'s current
        period (``offset`` periods back), then the same buckets one window-period earlier, or with
        ``compare="last_year"`` a year earlier (``to_date``: cumulative points, see :func:`spark_row`)."""
        shown = periods.resolve(win, now, self.cal, offset)
        rows = [
            spark_row(self.cal, to_date, win, p, grain) for p in self.buckets(shown.end, grain, points, shown.closed)
        ]
        before = [
            SteppedPeriod(
                self.year_before(r) if compare == "last_year"
                else shift_period(r.period, win.unit, -win.count, self.cal) if r.window is not None
                else self.bucket_before(r.period, win, grain),
                window=r.window,
                grain=r.grain,
            )
            for r in rows
        ]  # fmt: skip
        return rows + before

    def partial_bucket(self, win: periods.Window, now: dt.datetime, grain: str, offset: int = 0) -> Period | None:
        """The last chart bucket when it is still running: ``[its start, now]``; ``None`` when every
        bucket is over (see :meth:`kpitui.engine.Engine.partial_bucket`)."""
        shown = periods.resolve(win, now, self.cal, offset)
        end = utc(shown.end)
        if not shown.closed or end != utc(now):
            return None
        start = last_bucket(end, grain, self.cal, True)
        return Period(start, end, f"{periods.bucket_label(start, grain, self.cal)} so far", closed=True)


def utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.timezone.utc)


def utc_period(start: dt.datetime, end: dt.datetime) -> Period:
    return Period(start.astimezone(dt.timezone.utc), end.astimezone(dt.timezone.utc))


def shift_period(period: Period, unit: str, n: int, cal: periods.Calendar) -> Period:
    return Period(
        periods.shift(period.start, unit, n, cal), periods.shift(period.end, unit, n, cal), closed=period.closed
    )


def slot(cal: periods.Calendar, row: SteppedPeriod, steps: int) -> tuple[int, int]:
    """The period ``steps`` back from ``row``'s, in µs."""
    period = row.back(cal, steps)
    return pipeline.micros(utc(period.start)), pipeline.micros(utc(period.end)) + period.closed


def last_bucket(end: dt.datetime, grain: str, cal: periods.Calendar, closed: bool) -> dt.datetime:
    """The start of the last ``grain`` bucket of a span ending at ``end``: the bucket holding the
    instant before ``end``; for a span *as of* ``end`` (``closed``) the one holding ``end`` itself.
    On a bucket edge that is the new bucket starting at ``end``: a complete bucket stays half-open,
    so a reading stamped exactly at ``end`` is never counted in the bucket that ends there."""
    return periods.truncate_datetime(end if closed else end - dt.timedelta(microseconds=1), grain, cal)


def spark_row(cal: periods.Calendar, to_date: bool, win: periods.Window, bucket: Period, grain: str) -> SteppedPeriod:
    """A sparkline point: the bucket, or for a formula with ``to_date_series``
    (``cumulative``) the window's period to date at the bucket's end."""
    if not to_date:
        return SteppedPeriod(bucket, grain=grain)
    first = periods.shift(last_bucket(utc(bucket.end), win.unit, cal, bucket.closed), win.unit, -(win.count - 1), cal)
    return SteppedPeriod(
        Period(first, bucket.end, closed=bucket.closed), window=periods.Window(win.name, win.unit, win.count)
    )


def point_at(cal: periods.Calendar, row: SteppedPeriod, grain: str) -> dt.datetime:
    """Where a sparkline point sits: its bucket's start (a to-date point ends with its bucket)."""
    if row.window is None:
        return row.period.start
    return last_bucket(utc(row.period.end), grain, cal, row.period.closed)


@lru_cache(maxsize=256)
def sparkline(
    cal: periods.Calendar,
    to_date: bool,
    win: periods.Window | None,
    grain: str,
    points: int,
    last_us: int,
    steps: frozenset[int],
) -> Sparkline:
    """The ``points - 1`` sparkline buckets of ``grain`` before the one starting at ``last_us`` (µs).

    A function of its arguments only (instants passed as µs: aware datetimes
    that differ only in ``fold`` compare equal), remembered for the plans to
    come: they ask for the same buckets until the clock enters a new one.
    ``win``: the window of a ``to_date`` sparkline, else ``None``.
    """
    last = pipeline.from_micros(last_us).astimezone(cal.tz)
    first = periods.shift(last, grain, -(points - 1), cal)
    starts = periods.bucket_starts(Period(first, utc(last) + dt.timedelta(microseconds=1)), grain, cal)
    rows = tuple(spark_row(cal, to_date, win, Period(a, utc(b)), grain) for a, b in zip(starts, starts[1:]))  # type: ignore[arg-type]
    return Sparkline(
        rows=rows,
        points=tuple(point_at(cal, row, grain) for row in rows),
        slots=tuple({s: slot(cal, row, s) for s in steps} for row in rows),
        last=starts[-1],
        last_end=periods.bucket_end(starts[-1], grain, cal),
    )
