"""Trigger health: is a key metric silent for longer than its own recent history makes plausible?

The rule (``when = "silent"`` on a count metric):

1. The *silent span* runs from the end of the last reading with a value
   above zero (its time plus the metric's bucket width, estimated as the
   smallest gap between its reading times, at most a day) to now.
2. The *expected* number of events in that span is the mean, over each of
   the previous ``history_days`` days (default 14) for which the metric
   already had readings, of the events counted in the same span of the clock
   shifted back by that many days. Using the same hours of earlier days keeps
   quiet nights and weekends from looking suspicious.
3. Treating events as a Poisson process, the chance of seeing none in the
   span is ``P = exp(-expected)``. The alert fires when ``P`` is below
   ``probability`` (default 0.01, i.e. more than about 4.6 events were
   expected), and only with at least ``min_days`` (default 3) days of history.

It resolves as soon as a reading above zero arrives. A metric averaging 18
a day that has had nothing for 9 hours expected about 6.75 events: P is
about 0.0012, so it fires; after 4 hours (3 expected, P 0.05) it does not.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

import polars as pl

from ..formatting import format_duration
from ..model import Metric

DAY = dt.timedelta(days=1)
_PATH = re.compile(r"(/[\w\-./~%]+)")


@dataclass(frozen=True)
class Silence:
    """What the rule found: ``firing`` is ``None`` when there is too little history to tell."""

    firing: bool | None
    silent_for: dt.timedelta
    expected: float
    probability: float
    per_day: float
    days: int
    last_event: dt.datetime | None
    text: str


def bucket_width(times: pl.Series) -> dt.timedelta:
    """The smallest gap between distinct reading times (the source's bucket), at most a day."""
    distinct = times.unique().sort()
    if distinct.len() < 2:
        return dt.timedelta(0)
    gap = distinct.diff().drop_nulls().min()
    if not isinstance(gap, dt.timedelta) or gap <= dt.timedelta(0):
        return dt.timedelta(0)
    return min(gap, DAY)


def _subject(metric: Metric) -> str:
    name = metric.name
    return name[:1].lower() + name[1:] if len(name) > 1 and not name[1:2].isupper() else name


def _question(metric: Metric) -> str:
    trigger = metric.trigger
    if trigger is None:
        return "is it still being collected?"
    for text in (trigger.text, trigger.condition or ""):
        m = _PATH.search(text)
        if m and len(m.group(1)) > 1:
            return f"is {m.group(1).rstrip('.')} still reached?"
    return f"does this still happen: {trigger.text.rstrip('.')}?"


def _rate(per_day: float) -> str:
    if per_day >= 10:
        return f"{per_day:,.0f} a day"
    if per_day >= 1:
        return f"{per_day:.1f} a day".replace(".0 ", " ")
    per_week = per_day * 7
    return f"{per_week:.1f} a week".replace(".0 ", " ")


def assess(
    metric: Metric,
    readings: pl.DataFrame,
    now: dt.datetime,
    *,
    history_days: int = 14,
    min_days: int = 3,
    threshold: float = 0.01,
) -> Silence:
    """Apply the rule to one metric's ``readings`` (columns ``at``, ``value``; any order)."""
    frame = readings.select("at", "value").filter(pl.col("at") <= now).sort("at")
    events = frame.filter(pl.col("value") > 0)
    if events.height == 0:
        return Silence(None, dt.timedelta(0), 0.0, 1.0, 0.0, 0, None, f"{metric.name}: no events recorded yet")
    width = bucket_width(frame["at"])
    last_event: dt.datetime = events["at"][-1]
    silent_since = min(last_event + width, now)
    span = now - silent_since
    first_seen: dt.datetime = frame["at"][0]
    total = 0.0
    days = 0
    for k in range(1, history_days + 1):
        start, end = silent_since - k * DAY, now - k * DAY
        if start < first_seen:
            break
        total += float(frame.filter((pl.col("at") >= start) & (pl.col("at") < end))["value"].sum() or 0.0)
        days += 1
    start = max(first_seen, silent_since - history_days * DAY)
    observed = (silent_since - start).total_seconds() / 86400
    history_total = float(frame.filter((pl.col("at") >= start) & (pl.col("at") < silent_since))["value"].sum() or 0.0)
    per_day = history_total / observed if observed > 0 else 0.0
    if days < min_days or span <= dt.timedelta(0):
        reason = "" if days >= min_days else f" (needs {min_days} days of history, has {days})"
        return Silence(
            None if days < min_days else False,
            span,
            0.0,
            1.0,
            per_day,
            days,
            last_event,
            f"{metric.name}: counting{reason}",
        )
    expected = total / days
    probability = math.exp(-expected)
    firing = probability < threshold
    hours = span.total_seconds()
    text = (
        f"no {_subject(metric)} for {format_duration(hours)}, usually {_rate(per_day)}: {_question(metric)}"
        if firing
        else f"{metric.name}: last counted {format_duration(hours)} ago (P of that silence {probability:.2g})"
    )
    return Silence(firing, span, expected, probability, per_day, days, last_event, text)
