"""The :class:`Engine`: a config's KPIs evaluated over a reading history, step by step."""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from typing import Any, Iterable

import polars as pl

from .. import periods, pipeline
from ..config import Config
from ..model import KpiResult, ObjectiveResult, Period, Snapshot, SourceHealth, Status, Target
from . import charts, queries
from .memo import Memo, first_readings, stale
from .planning import SPARK_POINTS, KpiPlan, Plan, Planner, Slots, SteppedPeriod, utc
from .program import Compiler, Program
from .results import KpiValues, Results

_UNKNOWN = object()  # a KPI's carry facts not yet worked out (see Engine._results)


def calendar_of(config: Config) -> periods.Calendar:
    return periods.Calendar.of(config.settings)


def as_view(history: Any) -> pipeline.View:
    """The reading index to evaluate over: a :class:`~kpitui.pipeline.View`, something with
    ``view()`` (:class:`~kpitui.history.History`), or a readings frame (indexed now)."""
    if isinstance(history, pipeline.View):
        return history
    if isinstance(history, pl.DataFrame):
        return pipeline.View.from_frame(history)
    view = getattr(history, "view", None)
    if callable(view):
        made: pipeline.View = view()
        return made
    raise TypeError(f"cannot evaluate over {type(history).__name__}: pass a History, a View or a readings frame")


class Engine:
    """Evaluates a config's KPIs over a reading history (see :func:`as_view`).

    ``formulas`` (one formula instance per KPI), ``inputs`` and ``errors`` (KPI
    id -> why it cannot be evaluated) come from the :class:`Compiler`;
    ``program`` is the config compiled, worked out when first needed; with ``keep_program``
    kept between processes for a large config (:mod:`kpitui.engine.kept`: the TUI's start).
    """

    def __init__(self, config: Config, spark_points: int = SPARK_POINTS, *, keep_program: bool = False):
        self.config = config
        self.keep_program = keep_program
        self.cal = calendar_of(config)
        self.spark_points = spark_points
        self.compiler = Compiler(config)
        self.formulas = self.compiler.formulas
        self.inputs = self.compiler.inputs
        self.errors = self.compiler.errors
        self.planner = Planner(config, self.cal, self.compiler, lambda: self.program, spark_points)
        self._memo: Memo | None = None
        self._firsts: dict[str, int] = {}  # each metric's first reading (µs) at or before the time last evaluated
        #: per window setting (window, offset): each KPI's :meth:`_carry_facts`
        self._facts: dict[tuple[str | None, int], dict[str, Any]] = {}

    @cached_property
    def program(self) -> Program:
        """Each KPI's compiled expressions and the columns they read (depends on the config only)."""
        if self.keep_program:
            from . import kept

            return kept.program(self.compiler)
        return self.compiler.compile()

    def metrics_of(self, kid: str) -> set[str]:
        """Every metric a KPI reads, through other KPIs too."""
        return self.compiler.metrics_of(kid)

    def columns(self, kid: str, offset: int, needs: set[tuple[str, str, int]]) -> dict[str, pl.Expr]:
        """The KPI's inputs as expressions over request columns (offset = periods back)."""
        return self.compiler.columns(kid, offset, needs)

    def expression(self, kid: str, offset: int, needs: set[tuple[str, str, int]]) -> pl.Expr:
        """The KPI's value as an expression over request columns (offset = periods back)."""
        return self.compiler.expression(kid, offset, needs)

    def plan(self, now: dt.datetime, window: str | None = None, offset: int = 0) -> Plan:
        """The periods every KPI is evaluated for as of ``now`` (:meth:`Planner.plan`): rows, plans, slots."""
        return self.planner.plan(now, window, offset)

    def slots(self, rows: list[SteppedPeriod], row_kpis: dict[int, set[str]], now: dt.datetime) -> Slots:
        return self.planner.slots(rows, row_kpis, now)

    def requests(
        self, pairs: list[tuple[int, str]], slots: Slots, now: dt.datetime, metrics: Iterable[str] = ()
    ) -> tuple[pl.DataFrame, list[str]]:
        """What (row, KPI) ``pairs`` read, as requests (:func:`kpitui.engine.queries.requests`)."""
        return queries.requests(self.program, pairs, slots, now, metrics)

    def run(
        self,
        view: pipeline.View,
        now: dt.datetime,
        rows: list[SteppedPeriod],
        row_kpis: dict[int, set[str]],
        slots: Slots,
        latest: Iterable[str] | None = None,
    ) -> queries.Evaluation:
        """Evaluate KPIs (``row_kpis``: which KPIs each row needs, ``slots``: their periods) and
        the newest reading of ``latest`` metrics (default: every metric)."""
        metrics = self.config.metrics if latest is None else latest
        return queries.run(self.compiler, self.program, view, now, rows, row_kpis, slots, metrics)

    # -- a snapshot ------------------------------------------------------------

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
        what changed can reach (:mod:`kpitui.engine.memo`).

        A history's background fold waits behind the evaluation (its ``foreground``:
        :mod:`kpitui.foreground`).
        """
        foreground = getattr(history, "foreground", None)
        if foreground is None:
            return self._evaluate(as_view(history), now, window, offset, health)
        with foreground:
            return self._evaluate(as_view(history), now, window, offset, health)

    def _evaluate(
        self,
        view: pipeline.View,
        now: dt.datetime | None,
        window: str | None,
        offset: int,
        health: dict[str, SourceHealth] | None,
    ) -> Snapshot:
        now = now or dt.datetime.now(dt.timezone.utc)
        # 1. the last evaluation, if it can serve this view, and the metrics written since
        memo, changed = self._memo_for(view, window, offset)
        firsts_moved = self._first_readings_moved(view, now)
        # 2. the periods: the last evaluation's when the clock has not moved
        plan = memo.plan if memo is not None and memo.now == now else self.planner.plan(now, window, offset)
        # 3. the KPIs to run and the metrics whose newest reading to ask: everything, or what changed can reach
        renewed: frozenset[str] | None = None  # every metric
        nexts: dict[int, dict[str, int]] = {}
        if memo is None:
            to_run = set(plan.plans)
        else:
            passed = memo.passed(view, now)
            to_run, nexts = stale(self.program, self.planner.layout(window), view, memo, plan, changed, now, passed)
            renewed = changed | passed
        # 4. the two queries: answers from the index, then the formulas over them (at the same clock,
        #    only on the rows the readings written can reach)
        row_kpis = queries.row_kpis(plan.plans, to_run)
        carried = self._carried_rows(view, memo, now, plan, to_run)
        for kid, kept_rows in carried.items():
            for row_id in kept_rows:
                row_kpis[row_id].discard(kid)
        evaluation = self.run(view, now, plan.rows, row_kpis, plan.slots, latest=renewed)
        latest = evaluation.latest if memo is None or renewed is None else memo.latest_with(evaluation.latest, renewed)
        values = self._values(plan, to_run, evaluation, memo, carried)
        # 5. the results: new ones for the KPIs run, the others carried over (moved to the new clock)
        results = Results(
            self.compiler, self.program, self.cal, plan.rows, latest, utc(now), self._firsts, firsts_moved, plan.slots
        )
        remade: set[str] = set()  # the KPIs whose result may differ from memo's in more than its periods
        kpis = self._results(results, plan, values, memo, to_run, renewed, remade)
        objectives = self._objectives(results, kpis, memo, remade)
        health = health or {}
        # with the same health, only the metrics whose newest reading was asked again can have changed
        only = renewed if memo is not None and memo.health == health else None
        metric_status = results.metrics(health, memo.metric_status if memo is not None else {}, only)
        self._memo = Memo(
            view.serial, now, window, offset, plan, values, latest, kpis, metric_status, health, nexts, objectives
        )
        return Snapshot(at=now, objectives=objectives, kpis=kpis, metrics=metric_status)

    def _memo_for(self, view: pipeline.View, window: str | None, offset: int) -> tuple[Memo | None, frozenset[str]]:
        """The last evaluation if it can serve ``view`` in this window setting, and the metrics written since."""
        changed = self._memo.changed(view, window, offset) if self._memo is not None else None
        return (None, frozenset()) if changed is None else (self._memo, changed)

    def _first_readings_moved(self, view: pipeline.View, now: dt.datetime) -> frozenset[str]:
        """Remember each metric's first reading by ``now``; the metrics whose first reading moved since."""
        firsts, old = first_readings(view, now), self._firsts
        self._firsts = firsts
        if firsts is old or firsts == old:  # the same dict while only the delta's later readings change
            return frozenset()
        return frozenset(m for m, first in firsts.items() if old.get(m) != first) | (old.keys() - firsts.keys())

    def _carried_rows(
        self, view: pipeline.View, memo: Memo | None, now: dt.datetime, plan: Plan, to_run: set[str]
    ) -> dict[str, frozenset[int]]:
        """For the KPIs to run: the rows of each one's plan whose numbers neither the readings
        written since ``memo`` nor the clock's move can change, kept from ``memo`` instead of run again.

        A read of metric ``m`` over ``[start, end)`` depends on ``m``'s readings before ``end``
        only (a sum's or count's "seen" too, a ``last`` carried forward too), so a row all of whose
        reads are over the same periods as the row at its position in ``memo``'s plan (always, at
        the same clock: the plan is ``memo``'s itself) and end at or before the earliest instant
        written of their metric keeps its answers, and a built-in formula's value on a row reads
        that row's answers only. With the clock moved, the rows whose periods end at the clock,
        and all of a sparkline's when it rolled over to a new bucket, are run again. Only for KPIs
        ``memo`` has numbers for, with a built-in formula (a plugin's expression may read across
        rows), and when the view is ``memo``'s or the one written right after it (the instants
        written are known: :attr:`~kpitui.pipeline.View.written_from`)."""
        if memo is None:
            return {}
        if view.serial == memo.serial:
            written_from: dict[str, int] = {}  # nothing written since
        elif view.after == memo.serial and view.written_from is not None:
            written_from = view.written_from
        else:
            return {}
        compiled, slots, before = self.program.kpis, plan.slots, memo.plan
        old_slots = before.slots
        out: dict[str, frozenset[int]] = {}
        for kid in to_run:
            kpi = compiled.get(kid)
            if kpi is None or kpi.shape is None or kid not in memo.values or kid in self.errors:
                continue
            if self.errors and self.compiler.broken_dependency(kid) is not None:
                continue
            was = before.plans.get(kid)
            new, old = plan.plans[kid].positions, was.positions if was is not None else ()
            if len(new) != len(old):
                continue
            reads = [(read.steps, written_from.get(read.metric, pipeline.NEVER)) for read in kpi.reads]
            rows: set[int] = set()
            run: set[int] = set()  # a row kept only if it is at every position it holds
            for p1, p0 in zip(new, old):
                for steps, since in reads:
                    period = slots[(p1, steps)]
                    if period[1] > since or period != old_slots[(p0, steps)]:
                        run.add(p1)
                        break
                else:
                    rows.add(p1)
            kept = frozenset(rows - run)
            if kept:
                out[kid] = kept
        return out

    def _values(
        self,
        plan: Plan,
        to_run: set[str],
        evaluation: queries.Evaluation,
        memo: Memo | None,
        carried: dict[str, frozenset[int]],
    ) -> dict[str, KpiValues]:
        """Each KPI's numbers: from ``evaluation`` for the KPIs run, from ``memo`` for the others and
        for the ``carried`` rows of the KPIs run (:meth:`_carried_rows`)."""
        values = {} if memo is None else {k: v for k, v in memo.values.items() if k not in to_run}

        def parts_run(kid: str, row: int) -> dict[str, float | None]:
            return {name: evaluation.values[f"{kid}::{name}"][row] for name in self.program.kpis[kid].parts}

        for kid in to_run:
            kplan, kept = plan.plans[kid], carried.get(kid)
            col = evaluation.values.get(kid)
            if kept is not None and (col is not None or kept.issuperset(kplan.positions)):
                assert memo is not None  # carried rows come from it
                old = memo.values[kid]
                numbers = [old.values[i] if r in kept else col[r] for i, r in enumerate(kplan.positions)]  # type: ignore[index]
                if kplan.current in kept:
                    values[kid] = KpiValues(numbers, old.parts, old.undefined, old.overflow)
                else:
                    values[kid] = KpiValues(numbers, parts_run(kid, kplan.current), *_undefined(evaluation, kid, kplan))
            elif col is not None:
                numbers = [col[r] for r in kplan.positions]
                values[kid] = KpiValues(numbers, parts_run(kid, kplan.current), *_undefined(evaluation, kid, kplan))
        return values

    def _results(
        self,
        results: Results,
        plan: Plan,
        values: dict[str, KpiValues],
        memo: Memo | None,
        to_run: set[str],
        renewed: frozenset[str] | None,
        remade: set[str],
    ) -> dict[str, KpiResult]:
        """Every KPI's result (:meth:`_result`). With the clock moved, the commonest result carried
        over (~290 of the benchmark's 300 KPIs a refresh) is made here as :meth:`Results.moved` makes
        it, with what does not depend on the clock worked out once per KPI and window setting
        (:meth:`_carry_facts`) and what the move did to a plan once per pair of plans KPIs share;
        any other KPI goes through :meth:`_result`. Adds to ``remade`` every KPI whose result is not
        ``memo``'s or ``memo``'s with other periods only (its value, score, status and KPI the same)."""
        if memo is None or memo.now == results.now or self.errors:
            each = {kid: self._result(results, kid, plan, values, memo, to_run, renewed) for kid in plan.plans}
            last: dict[str, KpiResult] = {} if memo is None else memo.results
            remade.update(kid for kid, made in each.items() if made is not last.get(kid))
            return each
        moved_firsts, changed = results.firsts_moved, renewed or frozenset()
        # a KPI reading one of these goes through _result: a first reading moved (its partial history),
        # a newest reading asked again (its freshness)
        touched = changed | moved_firsts if moved_firsts else changed
        kept_results, before_plans, before_rows = memo.results, memo.plan.plans, memo.plan.rows
        facts_of = self._facts.setdefault((memo.window, memo.offset), {})
        groups: dict[tuple[int, int], tuple[Period, Period, bool, bool, bool]] = {}
        equal = results._equal  # Results._same's, inlined: ~300 KPIs a round
        out: dict[str, KpiResult] = {}
        for kid, plan_of in plan.plans.items():
            kept = None if kid in to_run else kept_results.get(kid)
            numbers = values.get(kid)
            if kept is None or kept.error is not None or numbers is None:
                out[kid] = self._result(results, kid, plan, values, memo, to_run, renewed)
                remade.add(kid)
                continue
            facts = facts_of.get(kid, _UNKNOWN)
            if facts is _UNKNOWN:
                facts = facts_of[kid] = self._carry_facts(kid, plan_of)
            if facts is None:
                out[kid] = self._result(results, kid, plan, values, memo, to_run, renewed)
                remade.add(kid)
                continue
            metrics, target, has_target, compares = facts
            before = before_plans[kid]
            key = (id(plan_of), id(before))
            group = groups.get(key)
            if group is None:
                group = groups[key] = (
                    *results._shift(plan_of, before),
                    results._last_year_starts_moved(plan_of, before, before_rows),
                )
            period, previous_period, points_moved, starting, year_moved = group
            kept_previous = kept.previous_period
            if (
                year_moved  # the period last year starts elsewhere: its partial history worked out again
                or (has_target and starting)
                or not metrics.isdisjoint(touched)
                or kept.status is Status.NOT_YET
                or previous_period.start != kept_previous.start  # its partial history
                or (target is not kept.applied_target and target != kept.applied_target)
                or (compares and self._cut_short_moved(results, kid, plan_of, kept, numbers))
            ):
                out[kid] = self._result(results, kid, plan, values, memo, to_run, renewed)
                remade.add(kid)
                continue
            if not points_moved:  # the same periods: the same result
                kept_period = kept.period
                pair = (id(kept_period), id(period))
                same = equal.get(pair)
                if same is None:
                    same = equal[pair] = kept_period is period or kept_period == period
                if same:
                    pair = (id(kept_previous), id(previous_period))
                    same = equal.get(pair)
                    if same is None:
                        same = equal[pair] = kept_previous is previous_period or kept_previous == previous_period
                    if same:
                        out[kid] = kept
                        continue
            # kept with the new periods (and sparkline points): _copy, its freshness and series kept as they are
            made = object.__new__(KpiResult)
            fields = made.__dict__
            fields.update(kept.__dict__)
            fields["period"] = period
            fields["previous_period"] = previous_period
            if points_moved:
                fields["series"] = tuple((at, v) for at, (_, v) in zip(plan_of.points, kept.series))
            out[kid] = made
        return out

    def _objectives(
        self, results: Results, kpis: dict[str, KpiResult], memo: Memo | None, remade: set[str]
    ) -> tuple[ObjectiveResult, ...]:
        """Every objective's result: an objective none of whose KPIs was ``remade`` (:meth:`_results`)
        keeps ``memo``'s score and status (what they are worked out from, each KPI's score, weight,
        value and status, is ``memo``'s), with its KPIs' results of now; the others are worked out."""
        before = memo.objectives if memo is not None else ()
        out = []
        for i, objective in enumerate(self.config.objectives.values()):
            old = before[i] if i < len(before) else None
            if old is not None and old.objective is objective and remade.isdisjoint(objective.kpis):
                members = tuple(kpis[k] for k in objective.kpis if k in kpis)
                if len(members) == len(old.kpis):
                    out.append(ObjectiveResult(objective=objective, score=old.score, status=old.status, kpis=members))
                    continue
            out.append(results.objective(objective, kpis))
        return tuple(out)

    def _carry_facts(self, kid: str, plan: KpiPlan) -> tuple[frozenset[str], Target | None, bool, bool] | None:
        """What :meth:`_results` needs of a KPI carried over that does not depend on the clock, in the
        window setting of ``plan`` (remembered per setting): its metrics, the target that applies,
        whether it has one, whether it reads earlier periods (a growth); ``None`` for a KPI it leaves
        to :meth:`_result`: one whose target is prorated (by the length of the period shown, which
        depends on the clock) or whose judgement depends on the clock (a pace to the end of the
        period, a due date)."""
        compiled = self.program.kpis.get(kid)
        if compiled is None:
            return None
        kpi = self.config.kpis[kid]
        own = periods.parse_window(kpi.window)
        prorated = (
            kpi.target is not None
            and (own.unit, own.count) != (plan.window.unit, plan.window.count)
            and compiled.projectable
        )
        clock_free = (plan.full_end is None or not compiled.projectable) and (
            kpi.target is None or kpi.target.due is None
        )
        if prorated or not clock_free:
            return None
        return compiled.metrics, kpi.target, kpi.target is not None, any(compiled.steps)

    def _result(
        self,
        results: Results,
        kid: str,
        plan: Plan,
        values: dict[str, KpiValues],
        memo: Memo | None,
        to_run: set[str],
        renewed: frozenset[str] | None,
    ) -> KpiResult:
        """A KPI's result: a new one, or the last one carried over (to the new clock when it moved)."""
        kept = memo.results.get(kid) if memo is not None and kid not in to_run else None
        broken = self.errors and self.compiler.broken_dependency(kid) is not None  # no errors: none broken
        if kept is None or kept.error is not None or broken:
            return results.kpi(kid, plan.plans[kid], values.get(kid))
        if memo is not None and memo.now != results.now:
            plan_of, numbers, before = plan.plans[kid], values.get(kid), memo.plan.plans[kid]
            last_year_moved = (
                results.partial_last_year_moved(kid, plan_of, before, memo.plan.rows, kept)
                if numbers is not None  # else made without it: compared as ever
                else results.partial_last_year(kid, plan_of) != kept.partial_last_year
            )
            if last_year_moved or (
                results.compares(kid)
                and (numbers is None or self._cut_short_moved(results, kid, plan_of, kept, numbers))
            ):
                return results.kpi(kid, plan_of, numbers)  # what history covers may have changed
            return results.moved(kid, kept, plan_of, before, renewed or frozenset())
        return kept

    @staticmethod
    def _cut_short_moved(results: Results, kid: str, plan: KpiPlan, kept: KpiResult, numbers: KpiValues) -> bool:
        """Whether a KPI that reads earlier periods (a growth) may have gained or lost its value with the
        clock's move (:meth:`Results.cut_short`: its current period reaches before history does, so
        it has no value): then its result is made again, not carried over by :meth:`Results.moved`
        (which keeps the value and works out the comparison's partial history again).

        Carried over while its current period is cut short now and was before (no value, a partial
        history) with the comparison period reaching before history too (:meth:`Results.kpi` then
        makes it partial, as ``moved`` does); or while it is not cut short now and surely was not
        before: a value of none from a number of its own was cut short, a value of none with a
        partial history may have been."""
        if results.cut_short(kid, plan):
            return not (kept.value is None and kept.partial_history and results.partial_previous(kid, plan))
        return kept.value is None and (numbers.values[0] is not None or kept.partial_history)

    # -- the detail chart ------------------------------------------------------

    def partial_bucket(
        self, kid: str, *, now: dt.datetime, grain: str, window: str | None = None, offset: int = 0
    ) -> Period | None:
        """The last bucket of :meth:`series` when it is still running: ``[its start, now]``; ``None``
        when every bucket is over (a complete window, ``offset > 0``). With ``now`` on a bucket edge
        it is the bucket starting at ``now``. Its value is so far, not the bucket's: charts draw it apart."""
        return self.planner.partial_bucket(
            periods.parse_window(window or self.config.kpis[kid].window), now, grain, offset
        )

    def series(
        self,
        history: Any,
        kid: str,
        *,
        now: dt.datetime,
        grain: str,
        points: int = 30,
        window: str | None = None,
        offset: int = 0,
        compare: str = "previous",
    ) -> charts.Chart:
        """``points`` buckets of ``grain`` ending with the KPI's current period: (start, value, the same bucket
        one period earlier), or with ``compare="last_year"`` the same bucket a year earlier."""
        win = periods.parse_window(window or self.config.kpis[kid].window)
        return charts.kpi_chart(
            self.planner,
            self.compiler,
            self.run,
            as_view(history),
            kid,
            win,
            now=now,
            grain=grain,
            points=points,
            offset=offset,
            compare=compare,
        )

    def metric_series(
        self,
        history: Any,
        metric_id: str,
        *,
        now: dt.datetime,
        grain: str,
        points: int = 30,
        window: str = "today",
        offset: int = 0,
        compare: str = "previous",
    ) -> charts.Chart:
        """A metric's own series, by its aggregation rule: ``points`` buckets of ``grain`` ending with
        ``window``'s current period, as :meth:`series` gives a KPI's (start, value, comparison)."""
        return charts.metric_chart(
            self.planner,
            as_view(history),
            metric_id,
            periods.parse_window(window),
            now=now,
            grain=grain,
            points=points,
            offset=offset,
            compare=compare,
        )


def _undefined(evaluation: queries.Evaluation, kid: str, kplan: KpiPlan) -> tuple[bool, bool]:
    """Is the KPI's current value undefined in ``evaluation`` (:class:`KpiValues`' ``undefined``), and overflowed?"""
    pair = (kid, kplan.current)
    return pair in evaluation.undefined, pair in evaluation.overflowed
