"""Incremental evaluation: what the last evaluation left that new readings and a moved clock did not change.

Nothing here can go stale: the :class:`Memo` is used only for a view whose
lineage says exactly which metrics changed since
(:class:`kpitui.pipeline.View`), with the same window and offset, and only for
KPIs that read none of those metrics and none of whose periods moved over a
reading (:func:`stale`); each metric's newest reading is asked again for the
metrics written and those with a reading the clock moved over
(:meth:`Memo.renewed`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable

from .. import pipeline
from ..model import KpiResult, MetricStatus, ObjectiveResult, SourceHealth
from .planning import Layout, Plan, utc
from .program import Program
from .queries import Latest
from .results import KpiValues


@dataclass(frozen=True)
class Memo:
    """The engine's last evaluation: its view (``serial``), clock, window setting, plan and outcome."""

    serial: int
    now: dt.datetime
    window: str | None
    offset: int
    plan: Plan
    values: dict[str, KpiValues]
    latest: Latest
    results: dict[str, KpiResult]
    metric_status: dict[str, MetricStatus]
    health: dict[str, SourceHealth]  # the source health the metric statuses were made with
    #: instant -> {metric: its first reading at or after it} (µs; :data:`~kpitui.pipeline.NEVER`: none),
    #: for the ends of the regions the last clock move probed (see :func:`stale`)
    nexts: dict[int, dict[str, int]] = field(default_factory=dict)
    #: the objectives' results, in the config's order (:meth:`~kpitui.engine.Engine._objectives`)
    objectives: tuple[ObjectiveResult, ...] = ()

    def changed(self, view: pipeline.View, window: str | None, offset: int) -> frozenset[str] | None:
        """The metrics written between this evaluation's view and ``view``; ``None`` when this memo
        cannot serve ``view`` (another window setting, or a view not next in its lineage)."""
        if (self.window, self.offset) != (window, offset):
            return None
        if view.serial == self.serial:
            return frozenset()
        if view.after == self.serial:
            return view.written
        return None

    def passed(self, view: pipeline.View, now: dt.datetime) -> frozenset[str]:
        """The metrics with a reading at or after the earlier of this evaluation's clock and ``now``:
        those the clock moved over a reading of (a superset), none when it did not move. Their newest
        reading is asked again, as is that of the metrics written; no other metric has a reading in
        a span that starts there."""
        if self.now == now:
            return frozenset()
        return view.metrics_since(min(utc(self.now), utc(now)))

    def nexts_kept(self, changed: frozenset[str]) -> dict[int, dict[str, int]]:
        """:attr:`nexts` of the metrics whose readings did not change since (``changed``): still true."""
        if not changed or all(changed.isdisjoint(found) for found in self.nexts.values()):
            return self.nexts
        return {at: {m: f for m, f in found.items() if m not in changed} for at, found in self.nexts.items()}

    def latest_with(self, new: Latest, renewed: Iterable[str]) -> Latest:
        """The newest readings: this evaluation's, with those of ``renewed`` from ``new`` (absent there: dropped)."""
        out = dict(self.latest)  # copied whole, then the few renewed taken out: their order as before
        for m in renewed:
            out.pop(m, None)
        out.update(new)
        return out


def stale(
    program: Program,
    layout: Layout,
    view: pipeline.View,
    memo: Memo,
    plan: Plan,
    changed: frozenset[str],
    now: dt.datetime,
    passed: frozenset[str],
) -> tuple[set[str], dict[int, dict[str, int]]]:
    """The KPIs whose numbers may differ from ``memo``'s: they read a ``changed`` metric, or one of
    their periods moved (the clock did) over a reading of one of their metrics (``layout``: the
    shapes ``memo`` was planned in; ``passed``: :meth:`Memo.passed`, the only metrics to look for
    in a span that starts at or after the earlier clock).

    And what to remember for the next clock move (:attr:`Memo.nexts`): a region a period moved over
    is probed with the metric's first reading at or after its start (there is one in the region
    when it comes before the region's end), and when none is in the region that reading is also
    the first at or after the region's end, where the next move of the same period starts. So a
    period that moves by a few seconds at a time over no reading is probed without a search."""
    compiled = program.kpis
    plans = plan.plans
    out = (plans.keys() - memo.values.keys()) | (plans.keys() - compiled.keys())
    out.update(*(program.readers.get(m, ()) for m in changed))
    known = memo.nexts_kept(changed)
    if memo.now == now:
        return out, known
    # KPIs sharing a plan and the steps back they read share the regions their periods moved over.
    groups: dict[tuple[Any, ...], list[str]] = {}
    before_plans = memo.plan.plans
    for first, by_steps in _by_steps(compiled, layout):
        new, old = plans[first].positions, before_plans[first].positions
        for steps, these, members in by_steps:  # (the positions, two tuples, hashed once per shape)
            kept = these if out.isdisjoint(members) else [kid for kid in these if kid not in out]
            if kept:
                groups.setdefault((new, old, steps), []).extend(kept)
    since = pipeline.micros(min(utc(memo.now), utc(now)))
    # Each region a period moved over is probed once for the metrics of every group it moved in.
    regions: dict[int, set[tuple[int, int]]] = {}  # group -> the regions its periods moved over
    asked: dict[tuple[int, int], set[str]] = {}  # region -> the metrics to look for there
    each: dict[tuple[Any, ...], set[tuple[int, int]]] = {}  # (new, old, one step back) -> its regions
    for g, ((new, old, steps), kids) in enumerate(groups.items()):
        if len(new) != len(old):
            out.update(kids)
            continue
        moved = _moved_regions(plan, memo.plan, new, old, steps, each)
        if moved:
            regions[g] = moved
            read = _metrics_read(compiled, tuple(kids))
            for region in moved:
                asked.setdefault(region, set()).update(read & passed if region[0] >= since else read)
    if not regions:
        return out, known
    hit, nexts = _held(view, asked, known)
    if not hit:  # the usual move: no region holds a reading
        return out, nexts
    for g, kids in enumerate(groups.values()):
        spans = regions.get(g)
        if spans:
            out.update(
                kid
                for kid in kids
                if not compiled[kid].metrics.isdisjoint(hit)
                and any(not spans.isdisjoint(hit.get(m, ())) for m in compiled[kid].metrics)
            )
    return out, nexts


_Steps = tuple[frozenset[int], tuple[str, ...], frozenset[str]]
#: (id of the compiled KPIs, id of the layout) -> (the compiled KPIs, the layout, per shape its first
#: KPI and its KPIs by the steps back they read): see _by_steps
_BY_STEPS: dict[tuple[int, int], tuple[dict[str, Any], Layout, list[tuple[str, list[_Steps]]]]] = {}


def _by_steps(compiled: dict[str, Any], layout: Layout) -> list[tuple[str, list[_Steps]]]:
    """Per shape of ``layout``: its first KPI, and its KPIs by the steps back they read (steps, the
    KPIs in the shape's order, the same as a set), remembered per config (the stale probe grouped the
    ~300 KPIs again at every clock move: ~0.2 ms)."""
    key = (id(compiled), id(layout))
    found = _BY_STEPS.get(key)
    if found is None or found[0] is not compiled or found[1] is not layout:
        if len(_BY_STEPS) > 64:
            _BY_STEPS.clear()
        shapes = []
        for kids in layout.shapes.values():
            by_steps: dict[frozenset[int], list[str]] = {}
            for kid in kids:
                if kid in compiled:
                    by_steps.setdefault(compiled[kid].steps, []).append(kid)
            shapes.append((kids[0], [(steps, tuple(these), frozenset(these)) for steps, these in by_steps.items()]))
        found = _BY_STEPS[key] = (compiled, layout, shapes)
    return found[2]


#: (id of the compiled KPIs, KPIs) -> (the compiled KPIs, the metrics they read): see _metrics_read
_READ: dict[tuple[int, tuple[str, ...]], tuple[dict[str, Any], frozenset[str]]] = {}


def _metrics_read(compiled: dict[str, Any], kids: tuple[str, ...]) -> frozenset[str]:
    """Every metric ``kids`` read, remembered per group of KPIs (the stale probe asks the same groups at
    every clock move: their union made again was ~250 generator steps a move)."""
    key = (id(compiled), kids)
    found = _READ.get(key)
    if found is None or found[0] is not compiled:
        if len(_READ) > 1024:
            _READ.clear()
        found = _READ[key] = (compiled, frozenset().union(*(compiled[k].metrics for k in kids)))
    return found[1]


def _held(
    view: pipeline.View, asked: dict[tuple[int, int], set[str]], known: dict[int, dict[str, int]]
) -> tuple[dict[str, set[tuple[int, int]]], dict[int, dict[str, int]]]:
    """Which regions (start, end) hold a reading of which of the metrics ``asked`` there: metric ->
    its regions with a reading; and each metric's first reading at or after the end of each of its
    regions without one (for :attr:`Memo.nexts`). ``known``: first readings known to be so.

    The usual clock move (~1,000 region-metric pairs, nearly all with nothing there) is answered per
    region: when every metric asked has a known first reading at or after the region's start and the
    earliest of them is at or after its end, no metric has a reading there, and those first readings
    are the first at or after the end too."""
    hit: dict[str, set[tuple[int, int]]] = {}
    nexts: dict[int, dict[str, int]] = {}
    todo: list[tuple[str, int, int]] = []
    empty: dict[str, int] = {}
    clear: dict[str, int]

    def keep(b: int, found: dict[str, int]) -> None:
        have = nexts.get(b)
        nexts[b] = found if have is None else {**have, **found}

    for region, metrics in asked.items():
        if not metrics:
            continue
        a, b = region
        from_a = known.get(a, empty)
        if from_a.keys() >= metrics:  # every first reading known: the region is answered without a search
            mine = from_a if len(from_a) == len(metrics) else {m: from_a[m] for m in metrics}
            if min(mine.values()) >= b:
                keep(b, mine)
                continue
            clear = dict(mine)
            for m in [m for m, found in mine.items() if found < b]:
                del clear[m]
                hit.setdefault(m, set()).add(region)
            if clear:
                keep(b, clear)
            continue
        clear = {}
        for m in metrics:
            found = from_a.get(m)
            if found is None:
                todo.append((m, a, b))
            elif found < b:
                hit.setdefault(m, set()).add(region)
            else:
                clear[m] = found
        if clear:
            keep(b, clear)
    if todo:
        searched = pipeline.next_readings(view, ((m, a) for m, a, _ in todo))
        after: dict[int, dict[str, int]] = {}
        for m, a, b in todo:
            found = searched[(m, a)]
            if found < b:
                hit.setdefault(m, set()).add((a, b))
            else:
                after.setdefault(b, {})[m] = found
        for b, clear in after.items():
            keep(b, clear)
    return hit, nexts


def _moved_regions(
    plan: Plan,
    before: Plan,
    new: tuple[int, ...],
    old: tuple[int, ...],
    steps: frozenset[int],
    each: dict[tuple[Any, ...], set[tuple[int, int]]] | None = None,
) -> set[tuple[int, int]]:
    """The spans (µs) the periods of rows ``old`` (in ``before``) moved over to become rows ``new``
    (in ``plan``), for each step back in ``steps``. ``each``: those of one step back, kept for the
    groups of the same rows that read it too (a shape's KPIs that read back and those that do not).

    A slot that is ``before``'s own (the same tuple: a plan of the same hour copies the slots of
    every row that does not end at now) moved over nothing, and is passed over without a look."""
    if len(steps) == 1 or each is None:
        return _moved_by_step(plan, before, new, old, steps)
    moved: set[tuple[int, int]] = set()
    for s in steps:
        key = (new, old, s)
        found = each.get(key)
        if found is None:
            found = each[key] = _moved_by_step(plan, before, new, old, (s,))
        moved |= found
    return moved


def _moved_by_step(
    plan: Plan, before: Plan, new: tuple[int, ...], old: tuple[int, ...], steps: Iterable[int]
) -> set[tuple[int, int]]:
    """:func:`_moved_regions` worked out."""
    moved: set[tuple[int, int]] = set()
    now_slots, old_slots = plan.slots, before.slots
    for p1, p0 in zip(new, old):
        for s in steps:
            n, o = now_slots[(p1, s)], old_slots[(p0, s)]
            if n is o:
                continue
            (a1, b1), (a0, b0) = n, o
            if a1 != a0:
                moved.add((min(a0, a1), max(a0, a1)))
            if b1 != b0:
                moved.add((min(b0, b1), max(b0, b1)))
    return moved


def first_readings(view: pipeline.View, now: dt.datetime) -> dict[str, int]:
    """Each metric's first reading in ``view`` (µs), of the metrics with a reading by ``now``
    (:attr:`~kpitui.pipeline.View.firsts` itself when every first reading is by ``now``)."""
    firsts = view.firsts
    now_us = pipeline.micros(utc(now))
    if not firsts or max(firsts.values()) <= now_us:
        return firsts
    return {m: first for m, first in firsts.items() if first <= now_us}
