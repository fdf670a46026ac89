"""Building results: a KPI's numbers become a :class:`~kpitui.model.KpiResult` (change against the
comparison period, sparkline, freshness, the target that applies, score, pace and status),
objectives roll up their KPIs' scores, and each metric gets its newest reading and source health."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from .. import periods, pipeline, scoring
from ..model import (
    OVERFLOW,
    Kpi,
    KpiResult,
    Metric,
    MetricStatus,
    Objective,
    ObjectiveResult,
    Period,
    SourceHealth,
    Status,
    Target,
)
from .planning import KpiPlan, Slots, SteppedPeriod, slot, utc
from .program import CompiledKpi, Compiler, Program
from .queries import Latest

#: the judgement at the very start of a to-date period: nothing to score yet
NOT_YET = scoring.Judgement(None, None, None, None)


@dataclass(frozen=True)
class KpiValues:
    """One KPI's numbers: per plan position (current, previous, last year, each sparkline point), its
    parts, and whether its current value is none while every column it reads has an answer
    (``undefined``: the formula gives no number for inputs that have data, such as a ratio ÷ 0;
    ``overflow``: that is because the value or an input is beyond the largest float)."""

    values: list[float | None]
    parts: dict[str, float | None]
    undefined: bool = False
    overflow: bool = False


def _copy(result: KpiResult, changes: dict[str, Any]) -> KpiResult:
    """``result`` with ``changes``, as :func:`dataclasses.replace` makes it, without running
    ``__init__`` again (a frozen dataclass without ``__post_init__``: its fields are its
    ``__dict__``). About 1 µs instead of 10 for KpiResult's 22 fields, for every KPI carried over
    to a moved clock (~300 a refresh in the benchmark)."""
    new = object.__new__(KpiResult)
    new.__dict__.update(result.__dict__)
    new.__dict__.update(changes)
    return new


#: KpiResult's fields in order, each ``None`` (what :func:`_result` starts from)
_NO_FIELDS: dict[str, Any] = dict.fromkeys(f.name for f in dataclasses.fields(KpiResult))


def _result(fields: dict[str, Any]) -> KpiResult:
    """``KpiResult(**fields)``, ``fields`` naming every field but ``error`` (``None``), without running
    ``__init__`` (a frozen dataclass without ``__post_init__``: its fields are its ``__dict__``, in
    field order here as there): about 1.5 µs instead of 12 for the 22 fields, for every KPI of a
    full evaluation."""
    new = object.__new__(KpiResult)
    made = new.__dict__
    made.update(_NO_FIELDS)
    made.update(fields)
    return new


def _metric_status(
    metric: Metric, latest: float | None, latest_at: dt.datetime | None, health: SourceHealth | None
) -> MetricStatus:
    """``MetricStatus(metric, latest, latest_at, health)`` without running ``__init__`` (as :func:`_result`):
    for each of the 1,000 metrics of a full evaluation."""
    new = object.__new__(MetricStatus)
    new.__dict__.update(metric=metric, latest=latest, latest_at=latest_at, health=health)
    return new


def reach(
    cal: periods.Calendar,
    row: SteppedPeriod,
    start: int,
    compiled: CompiledKpi | None,
    known: dict[int, tuple[int, int]] | None = None,
    horizon: int = 0,
) -> int:
    """Where the earliest period a KPI reads for ``row`` (starting at ``start``, µs) starts: the
    row's own start, or earlier for a formula that reads periods back (growth). ``known``: steps
    back -> the row's period that many steps back as the plan has it (:data:`Slots`: cut at
    ``horizon``): its start when before ``horizon`` (then not cut), worked out otherwise."""
    if compiled is None:
        return start
    earliest = start
    for s in compiled.steps:
        if s:
            found = known.get(s) if known is not None else None
            back = found[0] if found is not None and found[0] < horizon else slot(cal, row, s)[0]
            earliest = back if back < earliest else earliest
    return earliest


class Results:
    """The results of one evaluation as of ``now`` (UTC) over ``rows``, with each metric's newest
    reading (``latest``) and first reading by now in µs (``firsts``; ``firsts_moved``: the metrics
    whose first reading differs from the evaluation before), and the plan's ``slots`` when known
    (the periods a KPI reads back: not worked out again, :meth:`_reach`)."""

    def __init__(
        self,
        compiler: Compiler,
        program: Program,
        cal: periods.Calendar,
        rows: list[SteppedPeriod],
        latest: Latest,
        now: dt.datetime,
        firsts: dict[str, int],
        firsts_moved: frozenset[str],
        slots: Slots | None = None,
    ):
        self.compiler = compiler
        self.config = compiler.config
        self.compiled = program.kpis
        self.cal = cal
        self.rows = rows
        self.latest = latest
        self.now = now
        self.firsts = firsts
        self.firsts_moved = firsts_moved
        self.slots = slots
        self._horizon = pipeline.micros(utc(now)) + 1  # where the plan's slots are cut (Planner.slots)
        self._instants: dict[int, tuple[int, int]] = {}  # row id -> its period's (start, end) in µs
        self._equal: dict[tuple[int, int], bool] = {}  # see _same
        self._shifts: dict[tuple[int, int], tuple[Period, Period, bool, bool]] = {}  # see _shift
        self._reaches: dict[tuple[int, frozenset[int]], int] = {}  # see _reach
        self._year_moved: dict[tuple[int, int], bool] = {}  # see _last_year_starts_moved

    def kpi(self, kid: str, plan: KpiPlan, numbers: KpiValues | None) -> KpiResult:
        """One KPI's result from its numbers."""
        kpi = self.config.kpis[kid]
        error = self.compiler.broken_dependency(kid)
        period, previous_period = self.rows[plan.current].period, self.rows[plan.previous].period
        if error or numbers is None:
            return KpiResult(
                kpi=kpi, period=period, previous_period=previous_period, value=None, previous=None,
                last_year=None, change=None, change_pct=None, score=None, status=Status.NO_DATA, freshness=None,
                error=error or self.compiler.errors.get(kid),
            )  # fmt: skip
        value, previous, last_year = numbers.values[:3]
        series = self.compiler.series(kid, tuple(zip(plan.points, numbers.values[3:])))
        partial = self.partial_previous(kid, plan)
        undefined_here = numbers.undefined and value is None
        if self.cut_short(kid, plan):
            # a growth over a period the history only partly covers: no number (and not undefined: partial history)
            value, partial, undefined_here = None, True, False
        partial_last_year = self.partial_last_year(kid, plan)  # shown as partial, never compared with
        change = value - previous if value is not None and previous is not None and not partial else None
        change_pct = change / abs(previous) * 100 if change is not None and previous else None
        target, basis = self._target(kid, plan)
        judged = self._judge(kid, value, period, plan, target, self._starting(plan))
        undefined = (OVERFLOW if numbers.overflow else self.undefined_reason(kid)) if undefined_here else None
        fields = self._judged(kpi, judged, value, target, undefined)
        fields.update(
            kpi=kpi,
            period=period,
            previous_period=previous_period,
            value=value,
            previous=previous,
            last_year=last_year,
            change=change,
            change_pct=change_pct,
            freshness=self._freshness(kid),
            series=series,
            parts=numbers.parts,
            target_basis=basis,
            applied_target=target,
            partial_history=partial,
            partial_last_year=partial_last_year,
            undefined=undefined,
        )
        return _result(fields)

    def undefined_reason(self, kid: str) -> str:
        """Why the KPI's value is undefined (none from inputs that have data): :meth:`Compiler.undefined_reason`."""
        return self.compiler.undefined_reason(kid)

    def moved(self, kid: str, kept: KpiResult, plan: KpiPlan, before: KpiPlan, renewed: frozenset[str]) -> KpiResult:
        """``kept``, a KPI's result before the clock moved to ``now``, with the same numbers (the KPI
        is not stale), as :meth:`kpi` would make it now: its periods and sparkline points from the
        new plan, its judgement again when it depends on the clock (pace, a due date), its freshness
        again when one of its metrics' newest reading was asked again (``renewed``)."""
        compiled = self.compiled[kid]
        kpi = kept.kpi
        period, previous_period, points_moved, starting = self._shift(plan, before)
        series = tuple((at, v) for at, (_, v) in zip(plan.points, kept.series)) if points_moved else kept.series
        freshness = kept.freshness if compiled.metrics.isdisjoint(renewed) else self._freshness(kid)
        unchanged = previous_period.start == kept.previous_period.start and compiled.metrics.isdisjoint(
            self.firsts_moved
        )
        partial = kept.partial_history if unchanged else self.partial_previous(kid, plan)
        moved: dict[str, Any] = dict(period=period, previous_period=previous_period, series=series, freshness=freshness)
        if partial != kept.partial_history:
            change = (
                kept.value - kept.previous
                if kept.value is not None and kept.previous is not None and not partial
                else None
            )
            change_pct = change / abs(kept.previous) * 100 if change is not None and kept.previous else None
            moved.update(partial_history=partial, change=change, change_pct=change_pct)
        target, basis = self._target(kid, plan)
        starting = kpi.target is not None and starting
        clock_free = (plan.full_end is None or not compiled.projectable) and (target is None or target.due is None)
        if clock_free and target == kept.applied_target and not starting and kept.status is not Status.NOT_YET:
            if (
                len(moved) == 4  # the comparison with history that does not reach back did not change
                and series is kept.series
                and freshness == kept.freshness
                and self._same(kept.period, period)
                and self._same(kept.previous_period, previous_period)
            ):
                return kept
            return _copy(kept, moved)
        judged = self._judge(kid, kept.value, period, plan, target, starting)
        judged_fields = self._judged(kpi, judged, kept.value, target, kept.undefined)
        moved.update(target_basis=basis, applied_target=target, **judged_fields)
        return _copy(kept, moved)

    def _same(self, before: Period, now: Period) -> bool:
        """``before == now``, compared once per pair of objects (KPIs sharing a plan share its periods)."""
        key = (id(before), id(now))
        found = self._equal.get(key)
        if found is None:
            found = self._equal[key] = before is now or before == now
        return found

    def _shift(self, plan: KpiPlan, before: KpiPlan) -> tuple[Period, Period, bool, bool]:
        """What the clock's move did to a plan KPIs share (worked out once per plan): its current and
        comparison periods now, whether its sparkline points moved, whether its period is starting."""
        key = (id(plan), id(before))
        found = self._shifts.get(key)
        if found is None:
            rows = self.rows
            found = (
                rows[plan.current].period,
                rows[plan.previous].period,
                plan.points != before.points,
                self._starting(plan),
            )
            self._shifts[key] = found
        return found

    def objective(self, objective: Objective, results: dict[str, KpiResult]) -> ObjectiveResult:
        kpis = tuple(results[k] for k in objective.kpis if k in results)
        score = scoring.rollup([(r.score, r.kpi.weight) for r in kpis])
        if score is None and any(r.status is Status.NOT_YET for r in kpis):
            status = Status.NOT_YET
        elif score is None and all(r.value is None for r in kpis):
            # no KPI has a number: undefined when one gives none from inputs with data (÷ 0), else no data
            status = Status.UNDEFINED if any(r.status is Status.UNDEFINED for r in kpis) else Status.NO_DATA
        elif score is None:
            status = Status.NO_TARGET
        else:
            status = scoring.status(score, score, True, objective.thresholds)
        return ObjectiveResult(objective=objective, score=score, status=status, kpis=kpis)

    def metrics(
        self, health: dict[str, SourceHealth], known: dict[str, MetricStatus], only: frozenset[str] | None = None
    ) -> dict[str, MetricStatus]:
        """Each metric's newest reading and its source's health (``known``'s status when the same).
        ``only``: the metrics that can differ from ``known`` (the others are ``known``'s as they are)."""
        if only is not None and known.keys() == self.config.metrics.keys():
            out = dict(known)
            metrics = {mid: self.config.metrics[mid] for mid in only if mid in out}
        else:
            out, metrics = {}, self.config.metrics
        for mid, metric in metrics.items():
            at, value = self.latest.get(mid, (None, None))
            source = health.get(metric.source or "")
            kept = known.get(mid)
            if kept is not None and kept.latest_at == at and kept.latest == value and kept.health == source:
                out[mid] = kept
            else:
                out[mid] = _metric_status(metric, value, at, source)
        return out

    def compares(self, kid: str) -> bool:
        """Does the KPI's value read earlier periods (a growth against the previous period)?"""
        compiled = self.compiled.get(kid)
        return compiled is not None and any(compiled.steps)

    def partial_previous(self, kid: str, plan: KpiPlan) -> bool:
        """Does the comparison period reach before the first reading of one of the KPI's metrics?"""
        return self._partial_history(kid, self._reach(kid, plan.previous))

    def cut_short(self, kid: str, plan: KpiPlan) -> bool:
        """Is the KPI's value none because it reads earlier periods (:meth:`compares`) and its current
        period reaches before the first reading of one of its metrics (history only partly covers it)?"""
        return self.compares(kid) and self._partial_history(kid, self._reach(kid, plan.current))

    def partial_last_year_moved(
        self, kid: str, plan: KpiPlan, before: KpiPlan, before_rows: list[SteppedPeriod], kept: KpiResult
    ) -> bool:
        """Whether :meth:`partial_last_year` now differs from ``kept``'s (a result as of ``before``, a
        plan over ``before_rows``). Not worked out again while the same period last year starts
        where it did (the same row but for its end: where what it reads starts, :meth:`_reach`, is
        the same) and none of the KPI's metrics' first readings moved: then it cannot differ."""
        if self._last_year_starts_moved(plan, before, before_rows) or not self.compiled[kid].metrics.isdisjoint(
            self.firsts_moved
        ):
            return self.partial_last_year(kid, plan) != kept.partial_last_year
        return False

    def _last_year_starts_moved(self, plan: KpiPlan, before: KpiPlan, before_rows: list[SteppedPeriod]) -> bool:
        """Whether ``plan``'s period last year is other than ``before``'s but for its end (worked out
        once per pair of plans: KPIs share them)."""
        key = (id(plan), id(before))
        found = self._year_moved.get(key)
        if found is None:
            new, old = self.rows[plan.last_year], before_rows[before.last_year]
            found = self._year_moved[key] = (new.period.start, new.window, new.grain, new.before) != (
                old.period.start,
                old.window,
                old.grain,
                old.before,
            )
        return found

    def partial_last_year(self, kid: str, plan: KpiPlan) -> bool:
        """Does the same period a year earlier reach before the first reading of one of the KPI's metrics?"""
        return self._partial_history(kid, self._reach(kid, plan.last_year))

    # -- the parts of a result ---------------------------------------------------

    def _reach(self, kid: str, row_id: int) -> int:
        """Where the earliest period the KPI reads for row ``row_id`` starts, in µs (worked out once
        per row and steps back: KPIs sharing a plan share its rows, and a moved clock asks every
        KPI carried over)."""
        compiled = self.compiled.get(kid)
        key = (row_id, compiled.steps if compiled is not None else frozenset())
        found = self._reaches.get(key)
        if found is None:
            slots = self.slots
            known = None if slots is None else {s: slots[(row_id, s)] for s in key[1] if (row_id, s) in slots}
            row = self.rows[row_id]
            found = self._reaches[key] = reach(self.cal, row, self._at(row_id)[0], compiled, known, self._horizon)
        return found

    def _partial_history(self, kid: str, start: int) -> bool:
        """Does the comparison period (starting at ``start``, µs) start before the first reading of
        one of the KPI's metrics (of those with a reading by now)? Then a change against it would
        compare with history that does not reach back."""
        firsts, compiled = self.firsts, self.compiled.get(kid)
        return any(firsts.get(m, start) > start for m in (compiled.metrics if compiled is not None else ()))

    def _freshness(self, kid: str) -> dt.datetime | None:
        """When the newest reading of any of the KPI's metrics was taken."""
        seen = [self.latest[m][0] for m in self.compiled[kid].metrics if m in self.latest]
        return max(seen) if seen else None

    def _at(self, row_id: int) -> tuple[int, int]:
        """The (start, end) of row ``row_id``'s period in µs (worked out once per evaluation)."""
        found = self._instants.get(row_id)
        if found is None:
            period = self.rows[row_id].period
            found = self._instants[row_id] = (pipeline.micros(utc(period.start)), pipeline.micros(utc(period.end)))
        return found

    def _starting(self, plan: KpiPlan) -> bool:
        """Is ``plan``'s current period a to-date one at its very start (nothing elapsed)?"""
        if not plan.window.to_date or plan.offset:
            return False
        start, end = self._at(plan.current)
        return start >= end

    def _judge(
        self,
        kid: str,
        value: float | None,
        period: Period,
        plan: KpiPlan,
        target: Target | None,
        starting: bool = False,
    ) -> scoring.Judgement:
        """The KPI's score and pace for ``value`` in ``period`` at ``now`` against ``target``
        (the one that applies to the shown window). At the very start of a to-date period
        (``starting``: nothing has elapsed) there is nothing to judge yet."""
        if target is not None and starting:
            return NOT_YET
        return scoring.judge(
            target,
            value,
            start=period.start,
            period_end=plan.full_end if self.compiled[kid].projectable else None,
            now=self.now,
            timezone=self.cal.timezone,
        )

    @staticmethod
    def _judged(
        kpi: Kpi, judged: scoring.Judgement, value: float | None, target: Target | None, undefined: str | None = None
    ) -> dict[str, Any]:
        """The KpiResult fields a judgement gives: score, status, pace and progress (``undefined``: why
        the value is none from inputs that have data: status ``undefined``, not ``no data``)."""
        if judged is NOT_YET:
            status = Status.NOT_YET
        else:
            status = scoring.status(
                judged.score, value, target is not None, kpi.thresholds, undefined=undefined is not None
            )
        return dict(
            score=judged.score,
            status=status,
            projection=judged.projection,
            on_pace=judged.on_pace,
            projected_to=judged.projected_to,
            progress=None if judged is NOT_YET else scoring.progress(target, value),
        )

    def _target(self, kid: str, plan: KpiPlan) -> tuple[Target | None, str | None]:
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
        compiled = self.compiled.get(kid)
        if compiled is None or not compiled.projectable:
            return kpi.target, "kept"
        factor = periods.length_ratio(shown, own, self.now, self.cal, plan.offset)
        return scoring.prorate(kpi.target, factor), "prorated"
