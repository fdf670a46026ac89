"""A window as of now: the period it covers, the one it compares with, the same period last year, and length ratios."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ..model import Period
from .calendars import (
    _MONTH_SPAN,
    Calendar,
    PeriodError,
    _add_months,
    _aware,
    _localize,
    _utc,
    _wall,
    _wall_shift,
    _wall_truncate,
)
from .labels import _complete_label, _partial_label, _plural, _unit_label, _week_number
from .windows import Window, _window


def _bounds(w: Window, now_wall: datetime, cal: Calendar, offset: int) -> tuple[datetime, datetime | None]:
    """Wall-clock ``(start, end)`` of ``w``; ``end`` is None for "until now"."""
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise PeriodError(f"offset must be a whole number of periods back (0, 1, 2, …), got {offset!r}")
    current = _wall_truncate(now_wall, w.unit, cal)
    if w.complete:
        return _wall_shift(current, w.unit, -(offset + 1) * w.count), _wall_shift(current, w.unit, -offset * w.count)
    first = _wall_shift(current, w.unit, -(w.count - 1))  # trailing: this unit and the N-1 before it
    if offset == 0:
        return first, None
    return _wall_shift(first, w.unit, -offset * w.count), _wall_shift(first, w.unit, -(offset - 1) * w.count)


def _now(now: datetime, cal: Calendar) -> tuple[datetime, datetime]:
    local = _aware(now).astimezone(cal.tz)
    return local, local.replace(tzinfo=None)


def resolve(window: Window | str, now: datetime, cal: Calendar, offset: int = 0) -> Period:
    """The period ``window`` covers as of ``now``, ``offset`` whole periods back.

    ``offset=0``: the current window (to-date windows end at ``now``);
    ``offset=k``: ``k`` periods back, complete.
    """
    w = _window(window)
    tz = cal.tz
    local, wall = _now(now, cal)
    start, end = _bounds(w, wall, cal, offset)
    if end is None:
        if w.trailing:
            label = f"last {_plural(w.count, w.unit)}"
        else:
            label = f"{_unit_label(start, w.unit, cal)} to date"
        return Period(_localize(start, tz), local, label, closed=True)
    return Period(_localize(start, tz), _localize(end, tz), _complete_label(w, start, end, cal))


def previous(window: Window | str, now: datetime, cal: Calendar, offset: int = 0) -> Period:
    """The period to compare ``resolve(window, now, cal, offset)`` with.

    A to-date window at ``offset=0`` compares with the period before it cut at
    the same elapsed wall-clock time (MTD on Nov 24 14:00 -> Oct 1 00:00 ..
    Oct 24 14:00), clipped to that period's end (MTD on Mar 31 -> all of
    February). Complete periods compare with the whole period before.
    """
    w = _window(window)
    if w.complete or offset > 0:
        return resolve(w, now, cal, offset + 1)
    tz = cal.tz
    _, wall = _now(now, cal)
    start, _ = _bounds(w, wall, cal, 0)
    prev_start = _wall_shift(start, w.unit, -w.count)
    prev_end = prev_start + (wall.replace(fold=0) - start)
    if prev_end >= start:
        return Period(_localize(prev_start, tz), _localize(start, tz), _complete_label(w, prev_start, start, cal))
    label = _partial_label(w, prev_start, prev_end, cal)
    return Period(_localize(prev_start, tz), _localize(prev_end, tz), label, closed=True)


def same_elapsed(earlier: datetime, start: datetime, now: datetime, cal: Calendar) -> datetime:
    """The instant as long after ``earlier`` as ``now`` is after ``start``, on the local wall clock
    (the notion of elapsed time of every comparison and of pace: see docs/kpis.md). The repeated
    hour of a fall-back reads as its first pass; a wall time the clocks skip is the transition."""
    tz = cal.tz
    elapsed = _wall(now, tz).replace(fold=0) - _wall(start, tz).replace(fold=0)
    return _localize(_wall(earlier, tz).replace(fold=0) + elapsed, tz)


def earlier_cut(start: datetime, end: datetime, unit: str, n: int, cal: Calendar) -> Period:
    """The period ``n`` ``unit``s before ``[start, end]`` (a period as of its end: to date, or a running
    bucket), cut the way :func:`previous` cuts a to-date window's: from the start ``n`` units earlier,
    as long on the wall clock (:func:`same_elapsed`), clipped to the whole period before (then
    half-open). Hours are elapsed hours, as :func:`~kpitui.periods.shift` moves them."""
    if unit == "hour":
        earlier = _utc(start) - timedelta(hours=n)
        cut = earlier + (_utc(end) - _utc(start))
        if cut >= _utc(start):
            return Period(earlier.astimezone(cal.tz), start)
        return Period(earlier.astimezone(cal.tz), cut.astimezone(cal.tz), closed=True)
    wall, earlier_wall, earlier_at = _earlier_start(_utc(start), unit, n, cal)
    cut_wall = earlier_wall + (_wall(end, cal.tz).replace(fold=0) - wall)
    if cut_wall >= wall:
        return Period(earlier_at, start)
    return Period(earlier_at, _localize(cut_wall, cal.tz), closed=True)


@functools.lru_cache(maxsize=1024)
def _earlier_start(start: datetime, unit: str, n: int, cal: Calendar) -> tuple[datetime, datetime, datetime]:
    """``start``'s wall time, the wall time ``n`` units earlier and that instant (``start`` in UTC: a
    key without folds); the same few starts come back every refresh."""
    wall = _wall(start, cal.tz).replace(fold=0)
    earlier = _wall_shift(wall, unit, -n)
    return wall, earlier, _localize(earlier, cal.tz)


def same_period_last_year(window: Window | str, now: datetime, cal: Calendar, offset: int = 0) -> Period:
    """``resolve(window, now, cal, offset)`` one year earlier, on the wall clock.

    Dates are moved back 12 months with month ends clipped (Feb 29 2024 ->
    Feb 28 2023). Week windows start at the week with the same week number a
    year earlier (W01 2027 -> W01 2026, whose Monday may be in December;
    W53 -> W52 when the year before has 52 weeks; see :func:`bucket_label`),
    keeping their length, so they still start on the calendar's week start.
    """
    w = _window(window)
    tz = cal.tz
    _, wall = _now(now, cal)
    start, end = _bounds(w, wall, cal, offset)
    partial = end is None
    if end is None:
        end = wall.replace(fold=0)
    if w.unit == "week":
        moved = _same_week_last_year(start, cal)
        start, end = moved, moved + (end - start)
    else:
        start, end = _add_months(start, -12), _add_months(end, -12)
    if partial:
        label = _partial_label(w, start, end, cal)
    else:
        label = _complete_label(w, start, end, cal)
    return Period(_localize(start, tz), _localize(end, tz), label, closed=partial)


@dataclass(frozen=True)
class ToDate:
    """A to-date window's current period, comparison period and same period last year (``offset=0``)
    as :func:`resolve`, :func:`previous` and :func:`same_period_last_year` give them, with what they
    share worked out once: the wall-clock starts (and their instants) depend on ``now`` only through
    the start of its ``window.unit`` on the wall clock, so one :class:`ToDate` serves every ``now``
    whose wall clock is in that same unit (:meth:`of` says where it starts); only the ends are
    worked out per ``now``, by the same wall-clock arithmetic as those functions."""

    window: Window
    tz: ZoneInfo
    cal: Calendar
    start: datetime  # wall start of the current period
    start_at: datetime  # ... localised
    label: str  # the current period's
    prev_start: datetime  # wall start of the period compared with
    prev_start_at: datetime
    prev_whole: Period  # the period compared with when all of it has elapsed
    year_start: datetime  # wall start of the same period last year
    year_start_at: datetime

    @classmethod
    def of(cls, window: Window | str, now: datetime, cal: Calendar) -> ToDate:
        w = _window(window)
        if not w.to_date:
            raise PeriodError(f"{w.name} is not a to-date window")
        tz = cal.tz
        _, wall = _now(now, cal)
        start, _ = _bounds(w, wall, cal, 0)
        if w.trailing:
            label = f"last {_plural(w.count, w.unit)}"
        else:
            label = f"{_unit_label(start, w.unit, cal)} to date"
        prev_start = _wall_shift(start, w.unit, -w.count)
        start_at = _localize(start, tz)
        prev_whole = Period(_localize(prev_start, tz), start_at, _complete_label(w, prev_start, start, cal))
        year_start = _same_week_last_year(start, cal) if w.unit == "week" else _add_months(start, -12)
        return cls(w, tz, cal, start, start_at, label, prev_start, prev_whole.start, prev_whole, year_start,
                   _localize(year_start, tz))  # fmt: skip

    def current(self, local: datetime) -> Period:
        """``resolve(window, now)``; ``local``: ``now`` in the calendar's zone."""
        return Period(self.start_at, local, self.label, closed=True)

    def previous(self, wall: datetime) -> Period:
        """``previous(window, now)``; ``wall``: ``now``'s local wall time with ``fold=0``."""
        prev_end = self.prev_start + (wall - self.start)
        if prev_end >= self.start:
            return self.prev_whole
        label = _partial_label(self.window, self.prev_start, prev_end, self.cal)
        return Period(self.prev_start_at, _localize(prev_end, self.tz), label, closed=True)

    def last_year(self, wall: datetime) -> Period:
        """``same_period_last_year(window, now)``; ``wall``: ``now``'s local wall time with ``fold=0``."""
        if self.window.unit == "week":
            end = self.year_start + (wall - self.start)
        else:
            end = _add_months(wall, -12)
        label = _partial_label(self.window, self.year_start, end, self.cal)
        return Period(self.year_start_at, _localize(end, self.tz), label, closed=True)


_UNIT_DAYS = {"day": 1, "week": 7}


def _whole_wall(w: Window, wall: datetime, cal: Calendar, offset: int) -> tuple[datetime, datetime]:
    """Wall-clock bounds of the whole period ``w`` stands for: a to-date one to the end of its current unit."""
    start, end = _bounds(w, wall, cal, offset)
    return start, end if end is not None else _wall_shift(start, w.unit, w.count)


def length_ratio(shown: Window | str, own: Window | str, now: datetime, cal: Calendar, offset: int = 0) -> float:
    """How many of ``own``'s periods the whole period of ``shown`` (as of ``now``, ``offset`` back) lasts:
    the factor a per-period target of ``own`` is prorated by to apply to ``shown``.

    Lengths are whole periods (a to-date window counts to the end of its current
    unit) on the calendar, never elapsed hours: two month-like windows (months,
    quarters, years) compare in months (a year is 12 months), two day-like ones
    (days, weeks) in days; a month-like window against a day-like one in the
    calendar days of the month-like period involved (for ``own``: the one
    holding the shown period's last moment, or ``now`` while it runs).
    """
    s, o = _window(shown), _window(own)
    if s.unit in _MONTH_SPAN and o.unit in _MONTH_SPAN:
        return s.count * _MONTH_SPAN[s.unit] / (o.count * _MONTH_SPAN[o.unit])
    if s.unit in _UNIT_DAYS and o.unit in _UNIT_DAYS:
        return s.count * _UNIT_DAYS[s.unit] / (o.count * _UNIT_DAYS[o.unit])
    _, wall = _now(now, cal)
    start, end = _whole_wall(s, wall, cal, offset)
    if s.unit in _MONTH_SPAN:
        return (end.date() - start.date()).days / (o.count * _UNIT_DAYS[o.unit])
    ref = min(wall, end - timedelta(microseconds=1))
    last = _wall_truncate(ref, o.unit, cal)
    first = _wall_shift(last, o.unit, -(o.count - 1))
    own_days = (_wall_shift(last, o.unit, 1).date() - first.date()).days
    return s.count * _UNIT_DAYS[s.unit] / own_days


def _week_one(year: int, cal: Calendar) -> datetime:
    """The (wall) start of week 1 of ``year``: the first week whose
    4th day falls in ``year`` (ISO 8601 for Monday weeks)."""
    jan4 = datetime(year, 1, 4)
    return jan4 - timedelta(days=(jan4.weekday() - cal.week_start) % 7)


def weeks_last_year(period: Period, cal: Calendar) -> Period:
    """``period`` (starting on a week start) a year earlier the way week windows compare with last year:
    from the week with the same week number one week-year earlier, as long on the wall clock
    (W46 2026 from Friday Nov 13 against W46 2025 from Friday Nov 14, not Thursday Nov 13 2025)."""
    tz = cal.tz
    start = _wall(period.start, tz).replace(fold=0)
    moved = _same_week_last_year(start, cal)
    end = moved + (_wall(period.end, tz).replace(fold=0) - start)
    return Period(_localize(moved, tz), _localize(end, tz), closed=period.closed)


def _same_week_last_year(start: datetime, cal: Calendar) -> datetime:
    """The wall start of the week with ``start``'s week number one week-year earlier (the last
    week of that year when it has fewer)."""
    week_start = _wall_truncate(start, "week", cal)
    week, year = _week_number(week_start)
    weeks = (_week_one(year, cal) - _week_one(year - 1, cal)).days // 7
    return _week_one(year - 1, cal) + timedelta(weeks=min(week, weeks) - 1) + (start - week_start)
