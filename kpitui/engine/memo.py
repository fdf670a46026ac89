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
from dataclasses import dataclass
from typing import Any, Iterable

from .. import pipeline
from ..model import KpiResult, MetricStatus, SourceHealth
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

    def latest_with(self, new: Latest, renewed: Iterable[str]) -> Latest:
        """The newest readings: this evaluation's, with those of ``renewed`` from ``new`` (absent there: dropped)."""
        renewed = set(renewed)
        out = {m: v for m, v in self.latest.items() if m not in renewed}
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
) -> set[str]:
    """The KPIs whose numbers may differ from ``memo``'s: they read a ``changed`` metric, or one of
    their periods moved (the clock did) over a reading of one of their metrics (``layout``: the
    shapes ``memo`` was planned in; ``passed``: :meth:`Memo.passed`, the only metrics to look for
    in a span that starts at or after the earlier clock)."""
    compiled = program.kpis
    plans = plan.plans
    out = (plans.keys() - memo.values.keys()) | (plans.keys() - compiled.keys())
    out.update(*(program.readers.get(m, ()) for m in changed))
    if memo.now == now:
        return out
    # KPIs sharing a plan and the steps back they read share the regions their periods moved over.
    groups: dict[tuple[Any, ...], list[str]] = {}
    for kids in layout.shapes.values():
        new, old = plans[kids[0]].positions, memo.plan.plans[kids[0]].positions
        for kid in kids:
            if kid not in out:
                groups.setdefault((new, old, compiled[kid].steps), []).append(kid)
    since = pipeline.micros(min(utc(memo.now), utc(now)))
    # Each region a period moved over is probed once for the metrics of every group it moved in.
    regions: dict[int, set[tuple[int, int]]] = {}  # group -> the regions its periods moved over
    asked: dict[tuple[int, int], set[str]] = {}  # region -> the metrics to look for there
    for g, ((new, old, steps), kids) in enumerate(groups.items()):
        if len(new) != len(old):
            out.update(kids)
            continue
        moved = _moved_regions(plan, memo.plan, new, old, steps)
        if moved:
            regions[g] = moved
            read = frozenset().union(*(compiled[k].metrics for k in kids))
            for region in moved:
                asked.setdefault(region, set()).update(read & passed if region[0] >= since else read)
    if not regions:
        return out
    held = pipeline.touched(view, ((m, a, b) for (a, b), metrics in asked.items() for m in metrics))
    hit: dict[str, set[tuple[int, int]]] = {}  # metric -> the regions holding one of its readings
    for m, a, b in held:
        hit.setdefault(m, set()).add((a, b))
    for g, kids in enumerate(groups.values()):
        spans = regions.get(g)
        if spans:
            out.update(kid for kid in kids if any(not spans.isdisjoint(hit.get(m, ())) for m in compiled[kid].metrics))
    return out


def _moved_regions(
    plan: Plan, before: Plan, new: tuple[int, ...], old: tuple[int, ...], steps: frozenset[int]
) -> set[tuple[int, int]]:
    """The spans (µs) the periods of rows ``old`` (in ``before``) moved over to become rows ``new``
    (in ``plan``), for each step back in ``steps``."""
    moved: set[tuple[int, int]] = set()
    for p1, p0 in zip(new, old):
        for s in steps:
            (a1, b1), (a0, b0) = plan.slots[(p1, s)], before.slots[(p0, s)]
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
