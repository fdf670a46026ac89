"""Targets, OKR-style scores, statuses and pace. Pure functions over numbers."""

from __future__ import annotations

import datetime as dt

from .model import Period, Status, Target, Thresholds


def _clip(x: float) -> float:
    return max(0.0, min(1.0, x))


def score(target: Target | None, value: float | None) -> float | None:
    """How far ``value`` has come from the target's baseline (0) to its value (1).

    - ``reach`` / ``above``: linear from ``baseline`` (default 0) to ``value``;
      works downwards too when the baseline is above the value.
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
    if goal == baseline:
        return 1.0 if value >= goal else 0.0
    return _clip((value - baseline) / (goal - baseline))


def status(score_: float | None, value: float | None, has_target: bool, thresholds: Thresholds) -> Status:
    if value is None:
        return Status.NO_DATA
    if not has_target or score_ is None:
        return Status.NO_TARGET
    if score_ >= thresholds.on_track:
        return Status.ON_TRACK
    if score_ >= thresholds.at_risk:
        return Status.AT_RISK
    return Status.OFF_TRACK


def elapsed_fraction(period: Period, full_end: dt.datetime, now: dt.datetime) -> float | None:
    """How much of ``[period.start, full_end)`` has passed at ``now`` (0..1)."""
    total = (full_end - period.start).total_seconds()
    if total <= 0:
        return None
    return max(0.0, min(1.0, (now - period.start).total_seconds() / total))


def projection(value: float | None, fraction: float | None) -> float | None:
    """The period's end value at the current rate (pace), for additive KPIs."""
    if value is None or not fraction or fraction <= 0:
        return None
    return value / fraction


def rollup(scores: list[tuple[float | None, float]]) -> float | None:
    """Weighted mean of the KPI scores that have one."""
    known = [(s, w) for s, w in scores if s is not None and w > 0]
    total = sum(w for _, w in known)
    if not known or total == 0:
        return None
    return sum(s * w for s, w in known) / total
