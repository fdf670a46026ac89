"""Calendar windows, grains, previous periods and bucketing, in a time zone.

Everything here is time-zone aware. Inputs (``now``, ``value``) may be aware
datetimes in any zone; outputs are aware datetimes in the calendar's zone
(:class:`zoneinfo.ZoneInfo`). Periods are half-open ``[start, end)``.

Conventions
-----------
* Calendar arithmetic (days, weeks, months, quarters, years) is done on the
  local wall clock and then localised:

  - an *ambiguous* wall time (the repeated hour at fall-back) resolves to its
    first occurrence;
  - a *nonexistent* wall time (the skipped hour at spring-forward) resolves to
    the first valid instant after it, i.e. the transition itself
    (``Sep 6 00:00`` in America/Santiago, where midnight is skipped, becomes
    ``Sep 6 01:00 -03``).

  So a day bucket lasts 23 or 25 hours on DST days, a month bucket starts at
  local midnight on the 1st whatever the offset.
* Hours are elapsed hours: a fall-back day has 25 hourly buckets (the
  repeated hour appears twice, once per offset), a spring-forward day 23.
* Weeks start on ``Calendar.week_start`` (0 = Monday … 6 = Sunday).
* Quarters and years follow ``Calendar.fiscal_year_start`` (a month).
  A fiscal year is **named after the calendar year in which it ends**: with
  ``fiscal_year_start = 4``, FY2026 runs from 2025-04-01 to 2026-03-31 and its
  Q1 is Apr–Jun 2025. With the default start (January) labels are plain
  calendar years ("2026", "Q3 2026"); otherwise they carry "FY"
  ("FY2026", "Q3 FY2026").
* Weeks are labelled ``W<nn> <year>`` with ISO-style numbering generalised to
  any week start: a week belongs to the year holding its 4th day (for Monday
  weeks, its Thursday), and week 1 is the first such week. With Monday weeks
  this is exactly the ISO 8601 week number.
* Trailing windows (``trailing_<N>d``/``w``/``m``) are made of whole local
  units: the current (partial) unit plus the ``N-1`` before it. So
  ``trailing_30d`` is ``[local midnight today - 29 days, now)``,
  ``trailing_4w`` starts at the start of the week three weeks before this one
  and ``trailing_3m`` on the 1st of the month two months ago.
* ``offset`` steps back whole periods; periods at ``offset > 0`` are complete.

Python compares and subtracts aware datetimes that share a ``tzinfo`` object
by their *wall clock* (PEP 495), which is wrong across a fall-back. This
package compares instants in UTC; callers doing their own arithmetic on the
returned datetimes should do the same (``.astimezone(timezone.utc)``).

The package: ``calendars`` (:class:`Calendar`, grains, :class:`PeriodError`,
wall-clock arithmetic), ``windows`` (:class:`Window`, :func:`parse_window`),
``buckets`` (truncating, shifting, bucket starts and ends, in Python and in
polars), ``labels`` (how a period reads) and ``resolving`` (a window as of
now: :func:`resolve`, :func:`previous`, :func:`same_period_last_year`,
:func:`length_ratio`).
"""

from __future__ import annotations

from .buckets import bucket_end, bucket_label, bucket_starts, shift, truncate, truncate_datetime
from .calendars import GRAINS, UNITS, Calendar, PeriodError, parse_time as parse_time
from .resolving import (
    ToDate,
    earlier_cut,
    length_ratio,
    previous,
    resolve,
    same_elapsed,
    same_period_last_year,
    weeks_last_year,
)
from .windows import WINDOW_NAMES, WINDOW_PATTERNS, Window, default_grain, earlier_text, parse_window

__all__ = [
    "GRAINS",
    "UNITS",
    "WINDOW_NAMES",
    "WINDOW_PATTERNS",
    "Calendar",
    "PeriodError",
    "ToDate",
    "Window",
    "bucket_end",
    "bucket_label",
    "bucket_starts",
    "default_grain",
    "earlier_cut",
    "earlier_text",
    "length_ratio",
    "parse_window",
    "previous",
    "resolve",
    "same_elapsed",
    "same_period_last_year",
    "shift",
    "truncate",
    "truncate_datetime",
    "weeks_last_year",
]
