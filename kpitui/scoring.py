"""Targets, OKR-style scores, statuses, pace and comparisons. Pure functions over numbers.

Target semantics (see ``docs/kpis.md``):

- A target without ``due`` is *recurring*: it applies to each period of the
  KPI's window. For a projectable KPI (additive inputs) in a to-date window
  the score uses the value projected to the period's end at the current rate
  (pace); otherwise the value as it is.
- A target with ``due`` is *one-off*: until the end of the due day (in the
  configured time zone) a projectable KPI is scored on its value projected to
  that moment; from then on (and for KPIs that cannot be projected) on the
  value as it is.
- The score runs from the baseline (0) to the target (1), see :func:`score`;
  the status comes from the score and the KPI's (or objective's) bands.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from .model import Period, Status, Target, Thresholds

if TYPE_CHECKING:
    from .model import KpiResult


def _clip(x: float) -> float:
    return max(0.0, min(1.0, x))


def score(target: Target | None, value: float | None) -> float | None:
    """How far ``value`` has come from the target's baseline (0) to its value (1).

    - ``reach``: linear from ``baseline`` (default 0) to ``value``; works
      downwards too when the baseline is above the value.
    - ``above``: 1 at or over ``value``, linear from ``baseline`` (default 0) below it.
    - ``below``: 1 at or under ``value``, falling to 0 at ``baseline``
      (default twice the value, or value + 1 when the value is 0).
    - ``within``: 1 inside ``[low, high]``, falling to 0 one range-width outside.
    """
    if target is None or value is None:
        return None
    if target.kind == "within":
        low, high = target.low, target.high
        assert low is not None and high is not None
        width = (high - low) or max(abs(low), 1.0)
        if value < low:
            return _clip(1 - (low - value) / width)
        if value > high:
            return _clip(1 - (value - high) / width)
        return 1.0
    goal = target.value
    assert goal is not None
    if target.kind == "below":
        baseline = target.baseline if target.baseline is not None else (2 * goal if goal > 0 else goal + 1)
        if value <= goal:
            return 1.0
        return _clip((baseline - value) / (baseline - goal))
    baseline = target.baseline if target.baseline is not None else 0.0
    if target.kind == "above" and (value >= goal or baseline >= goal):
        return 1.0 if value >= goal else 0.0
    if goal == baseline:
        return 1.0 if value >= goal else 0.0
    return _clip((value - baseline) / (goal - baseline))


def progress(target: Target | None, value: float | None) -> float | None:
    """How far ``value`` (as it is: no pace) has come toward the target, 1 = there.

    - ``reach``, ``above``: ``(value - baseline) / (target - baseline)``
      (baseline default 0, so ``value / target``), from 0 up, over 1 beyond
      the target; a ``reach`` downwards (baseline above the target) counts the
      way down the same way;
    - ``below`` (a limit, such as a budget): the share of the limit used,
      ``value / limit`` (over 1: over the limit); none for a limit of 0 or less;
    - ``within``: none (a range has no "toward": the status says whether it is inside).
    """
    if target is None or value is None or target.kind == "within":
        return None
    goal = target.value
    assert goal is not None
    if target.kind == "below":
        return value / goal if goal > 0 else None
    baseline = target.baseline if target.baseline is not None else 0.0
    if goal == baseline:
        return 1.0 if value >= goal else 0.0
    return max(0.0, (value - baseline) / (goal - baseline))


def prorate(target: Target, factor: float) -> Target:
    """A per-period target of an additive KPI scaled to a period ``factor`` times as long.

    Every amount scales (value, baseline, range); a due date belongs to the
    KPI's own window, so the prorated target is per period of the shown one.
    """

    def scaled(x: float | None) -> float | None:
        return None if x is None else x * factor

    return replace(
        target,
        value=scaled(target.value),
        baseline=scaled(target.baseline),
        low=scaled(target.low),
        high=scaled(target.high),
        due=None,
    )


def meets(target: Target | None, value: float | None) -> bool | None:
    """Whether ``value`` meets the target outright (score 1); ``None`` without both."""
    if target is None or value is None:
        return None
    if target.kind == "within":
        assert target.low is not None and target.high is not None
        return target.low <= value <= target.high
    assert target.value is not None
    if target.direction == "down":
        return value <= target.value
    return value >= target.value


def status(
    score_: float | None, value: float | None, has_target: bool, thresholds: Thresholds, *, undefined: bool = False
) -> Status:
    """The status of a score (or of a value without a target). ``undefined``: the value is none while the
    inputs have data (a ratio ÷ 0): ``undefined``, not ``no data``."""
    if value is None:
        return Status.UNDEFINED if undefined else Status.NO_DATA
    if not has_target or score_ is None:
        return Status.NO_TARGET
    if score_ >= thresholds.on_track:
        return Status.ON_TRACK
    if score_ >= thresholds.at_risk:
        return Status.AT_RISK
    return Status.OFF_TRACK


def elapsed_fraction(
    period: Period, full_end: dt.datetime, now: dt.datetime, timezone: str | None = None
) -> float | None:
    """How much of ``[period.start, full_end)`` has passed at ``now`` (0..1).

    With ``timezone``, on that zone's wall clock (the notion of elapsed time of
    comparisons too: a month is its calendar days, whatever DST does; the
    repeated hour of a fall-back reads as its first pass); else in elapsed seconds.
    """
    if timezone is None:
        start, end, at = period.start, full_end, now
    else:
        tz = ZoneInfo(timezone)
        start, end, at = (x.astimezone(tz).replace(tzinfo=None, fold=0) for x in (period.start, full_end, now))
    total = (end - start).total_seconds()
    if total <= 0:
        return None
    return max(0.0, min(1.0, (at - start).total_seconds() / total))


def project(value: float | None, fraction: float | None) -> float | None:
    """The value at the end of a span of which ``fraction`` has passed, at the current rate (pace)."""
    if value is None or not fraction or fraction <= 0:
        return None
    return value / fraction


projection = project  # the earlier name


def due_end(due: dt.date, timezone: str = "UTC") -> dt.datetime:
    """The moment a one-off target falls due: the end of its ``due`` day, local time, in UTC."""
    local = dt.datetime.combine(due + dt.timedelta(days=1), dt.time(0), tzinfo=ZoneInfo(timezone))
    return local.astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class Judgement:
    """How a KPI's value stands against its target right now."""

    score: float | None
    projection: float | None  # the value projected at the current rate, if the KPI is projectable
    projected_to: dt.datetime | None  # the period's end, or a one-off target's due moment
    on_pace: bool | None  # does the projection meet the target? None: no projection or no target


def judge(
    target: Target | None,
    value: float | None,
    *,
    start: dt.datetime,
    period_end: dt.datetime | None,
    now: dt.datetime,
    timezone: str = "UTC",
) -> Judgement:
    """Score ``value`` (a to-date value since ``start``) against ``target`` at ``now``.

    ``period_end``: the end of the whole current period when the KPI can be
    projected (a projectable formula in a to-date window), else ``None``.
    """
    if period_end is None and (target is None or target.due is None):
        return Judgement(score(target, value), None, None, None)  # nothing to project
    utc = dt.timezone.utc  # compare instants, never wall clocks (PEP 495)
    start, now = start.astimezone(utc), now.astimezone(utc)
    period_end = period_end.astimezone(utc) if period_end is not None else None
    period = Period(start, period_end or now)
    projection = projected_to = None
    if period_end is not None:
        projection = project(value, elapsed_fraction(period, period_end, now, timezone))
        projected_to = period_end if projection is not None else None
    scored = value
    if target is not None and target.due is not None:
        deadline = due_end(target.due, timezone)
        if now < deadline and period_end is not None:
            projection = project(value, elapsed_fraction(period, deadline, now, timezone))
            projected_to = deadline if projection is not None else None
            scored = projection if projection is not None else value
        else:  # past due (nothing left to project to), or not projectable
            projection = projected_to = None
    elif projection is not None:
        scored = projection
    on_pace = meets(target, projection) if scored is projection and projection is not None else None
    return Judgement(score(target, scored), projection, projected_to, on_pace)


def _distance(target: Target, value: float) -> float:
    assert target.low is not None and target.high is not None
    return max(target.low - value, 0.0, value - target.high)


def better(result: "KpiResult", against: Literal["previous", "last_year"] = "previous") -> bool | None:
    """Is the change from the previous period (or the same period last year) an improvement?

    Higher is better unless the KPI's target says otherwise: a ``below``
    target (or a ``reach`` target under its baseline) makes lower better, a
    ``within`` target makes closer to the range better. ``None``: no change,
    or nothing to compare.
    """
    if against == "last_year" and result.partial_last_year:
        return None  # a year earlier only partly covered by history: nothing to compare
    other = result.previous if against == "previous" else result.last_year
    value = result.value
    if value is None or other is None or value == other:
        return None
    target = result.kpi.target
    direction = target.direction if target is not None else "up"
    if direction == "within":
        assert target is not None
        now, then = _distance(target, value), _distance(target, other)
        return None if now == then else now < then
    return value > other if direction == "up" else value < other


def rollup(scores: list[tuple[float | None, float]]) -> float | None:
    """Weighted mean of the KPI scores that have one."""
    known = [(s, w) for s, w in scores if s is not None and w > 0]
    total = sum(w for _, w in known)
    if not known or total == 0:
        return None
    weighted = sum(s * w for s, w in known)
    if math.isfinite(total) and math.isfinite(weighted):
        return weighted / total
    # weights near the float maximum (1e308): their sum overflowed (inf / inf was NaN, a traceback where the
    # score is shown); the same mean with each weight divided by the largest
    top = max(w for _, w in known)
    if not math.isfinite(top):
        return None
    return sum(s * (w / top) for s, w in known) / sum(w / top for _, w in known)
