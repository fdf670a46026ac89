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
module compares instants in UTC; callers doing their own arithmetic on the
returned datetimes should do the same (``.astimezone(timezone.utc)``).
"""

from __future__ import annotations

import calendar as _calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from .model import Period, Settings
from .options import did_you_mean

__all__ = [
    "GRAINS",
    "UNITS",
    "WINDOW_NAMES",
    "WINDOW_PATTERNS",
    "Calendar",
    "PeriodError",
    "Window",
    "bucket_end",
    "bucket_label",
    "bucket_starts",
    "default_grain",
    "length_ratio",
    "parse_window",
    "previous",
    "resolve",
    "same_elapsed",
    "same_period_last_year",
    "shift",
    "truncate",
    "truncate_datetime",
]

GRAINS: tuple[str, ...] = ("hour", "day", "week", "month", "quarter", "year")
#: The units a window can be made of.
UNITS: tuple[str, ...] = ("day", "week", "month", "quarter", "year")

_UTC = timezone.utc
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_SPAN = {"month": 1, "quarter": 3, "year": 12}


class PeriodError(ValueError):
    """A window, grain or calendar setting that cannot be used; the message is meant for users."""


# --------------------------------------------------------------------------- calendar


@dataclass(frozen=True)
class Calendar:
    """Where and how periods are cut: time zone, first day of the week, first month of the fiscal year."""

    timezone: str = "UTC"
    week_start: int = 0  # 0 = Monday … 6 = Sunday
    fiscal_year_start: int = 1  # month 1..12; quarters and years follow it

    def __post_init__(self) -> None:
        if not isinstance(self.week_start, int) or isinstance(self.week_start, bool) or not 0 <= self.week_start <= 6:
            raise PeriodError(f"week_start must be 0 (Monday) … 6 (Sunday), got {self.week_start!r}")
        if (
            not isinstance(self.fiscal_year_start, int)
            or isinstance(self.fiscal_year_start, bool)
            or not 1 <= self.fiscal_year_start <= 12
        ):
            raise PeriodError(f"fiscal_year_start must be a month 1..12, got {self.fiscal_year_start!r}")
        _zone(self.timezone)  # validate early, with a suggestion

    @classmethod
    def of(cls, settings: Settings) -> Calendar:
        """The calendar of kpitui's ``[kpitui]`` settings: the one way to build it from them."""
        return cls(timezone=settings.timezone, week_start=settings.week_start, fiscal_year_start=settings.fiscal_year_start)

    @property
    def tz(self) -> ZoneInfo:
        return _zone(self.timezone)

    @property
    def is_fiscal(self) -> bool:
        """True when years do not start in January (labels then say "FY")."""
        return self.fiscal_year_start != 1

    @classmethod
    def from_settings(cls, settings: object) -> Calendar:
        """Build from :class:`kpitui.model.Settings` (or anything with the same attributes)."""
        return cls(
            timezone=getattr(settings, "timezone", "UTC"),
            week_start=getattr(settings, "week_start", 0),
            fiscal_year_start=getattr(settings, "fiscal_year_start", 1),
        )


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        if not isinstance(name, str) or not name or name != name.strip():
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        import zoneinfo

        hint = did_you_mean(str(name), sorted(zoneinfo.available_timezones()))
        raise PeriodError(
            f"unknown time zone {name!r}{hint}; use an IANA name such as 'UTC', 'Europe/London' or 'America/New_York'"
        ) from None


# --------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class Window:
    """A parsed window: a number of units, ending now (to date) or the last complete ones."""

    name: str  # canonical text, e.g. "month_to_date", "trailing_30d"
    unit: str  # "day" | "week" | "month" | "quarter" | "year"
    count: int = 1
    to_date: bool = True  # the current period is partial and ends at `now`
    complete: bool = False  # the last complete period ("last_month", "yesterday")

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise PeriodError(f"window unit must be one of {', '.join(UNITS)}, got {self.unit!r}")
        if not isinstance(self.count, int) or self.count < 1:
            raise PeriodError(f"window count must be a whole number >= 1, got {self.count!r}")
        if self.to_date == self.complete:
            raise PeriodError("a window is either to date (ends now) or complete, not both or neither")

    @property
    def trailing(self) -> bool:
        return self.name.startswith("trailing_")

    def __str__(self) -> str:
        return self.name


_FIXED: dict[str, Window] = {
    w.name: w
    for w in (
        Window("today", "day"),
        Window("yesterday", "day", to_date=False, complete=True),
        Window("week_to_date", "week"),
        Window("month_to_date", "month"),
        Window("quarter_to_date", "quarter"),
        Window("year_to_date", "year"),
        Window("last_week", "week", to_date=False, complete=True),
        Window("last_month", "month", to_date=False, complete=True),
        Window("last_quarter", "quarter", to_date=False, complete=True),
        Window("last_year", "year", to_date=False, complete=True),
    )
}

_ALIASES: dict[str, str] = {
    "wtd": "week_to_date",
    "mtd": "month_to_date",
    "qtd": "quarter_to_date",
    "ytd": "year_to_date",
    "week": "week_to_date",
    "month": "month_to_date",
    "quarter": "quarter_to_date",
    "year": "year_to_date",
    "this_week": "week_to_date",
    "this_month": "month_to_date",
    "this_quarter": "quarter_to_date",
    "this_year": "year_to_date",
}

#: Canonical window names, for help text. Every entry parses.
WINDOW_NAMES: tuple[str, ...] = (
    *_FIXED,
    "trailing_7d",
    "trailing_30d",
    "trailing_90d",
    "trailing_12w",
    "trailing_3m",
    "trailing_12m",
)
#: The trailing window patterns, for help text.
WINDOW_PATTERNS: tuple[str, ...] = ("trailing_<N>d", "trailing_<N>w", "trailing_<N>m")

_TRAILING_UNITS = {"d": "day", "w": "week", "m": "month"}
_TRAILING_MAX = {"d": 3660, "w": 530, "m": 120}
_TRAILING_RE = re.compile(r"(?:trailing|last)_?(\d+)_?(d|days?|w|weeks?|m|months?)")


@lru_cache(maxsize=256)
def parse_window(text: str) -> Window:
    """Parse a window name (see :data:`WINDOW_NAMES`, :data:`WINDOW_PATTERNS`, and the aliases
    ``wtd``/``mtd``/``qtd``/``ytd`` and ``week``/``month``/``quarter``/``year``)."""
    if isinstance(text, Window):
        return text
    if not isinstance(text, str):
        raise PeriodError(f"a window must be text such as 'month_to_date', got {text!r}")
    key = re.sub(r"[\s\-]+", "_", text.strip().lower())
    key = _ALIASES.get(key, key)
    if key in _FIXED:
        return _FIXED[key]
    m = _TRAILING_RE.fullmatch(key)
    if m:
        n, letter = int(m.group(1)), m.group(2)[0]
        unit = _TRAILING_UNITS[letter]
        if not 1 <= n <= _TRAILING_MAX[letter]:
            raise PeriodError(
                f"window {text!r}: the number of {unit}s must be between 1 and {_TRAILING_MAX[letter]}"
            )
        return Window(f"trailing_{n}{letter}", unit, n, to_date=True, complete=False)
    valid = ", ".join((*_FIXED, *WINDOW_PATTERNS))
    trail = re.fullmatch(r"(?:trailing|last)_?(\d*)_?.*", key)
    if trail and trail.group(1):
        hint = f" (did you mean 'trailing_{int(trail.group(1))}d'?)"
    else:
        hint = did_you_mean(key, [*_FIXED, *_ALIASES, "trailing_30d", "trailing_12w", "trailing_3m"])
    aliases = "wtd, mtd, qtd, ytd, week, month, quarter, year"
    raise PeriodError(f"unknown window {text!r}{hint}; valid: {valid} (aliases: {aliases})")


def _window(window: Window | str) -> Window:
    return window if isinstance(window, Window) else parse_window(window)


def default_grain(window: Window | str) -> str:
    """The bucket size a chart of ``window`` reads best at."""
    w = _window(window)
    if w.unit == "day" and w.count == 1:
        return "hour"
    if _max_days(w) <= 31:
        return "day"
    if w.unit == "quarter" or _max_days(w) <= 93:
        return "week"
    if w.unit == "year" or _max_days(w) <= 731:
        return "month"
    return "quarter"


def _max_days(w: Window) -> int:
    per = {"day": 1, "week": 7, "month": 31, "quarter": 92, "year": 366}[w.unit]
    return per * w.count


def _check_grain(grain: str) -> str:
    if grain not in GRAINS:
        raise PeriodError(f"unknown grain {grain!r}{did_you_mean(str(grain), GRAINS)}; valid: {', '.join(GRAINS)}")
    return grain


# --------------------------------------------------------------------------- wall-clock helpers


def _aware(value: datetime, what: str = "now") -> datetime:
    if not isinstance(value, datetime):
        raise PeriodError(f"{what} must be a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise PeriodError(f"{what} must be timezone-aware (got naive {value.isoformat()})")
    return value


def _wall(value: datetime, tz: ZoneInfo) -> datetime:
    """The naive local wall time of an aware ``value`` (``fold`` kept)."""
    return value.astimezone(tz).replace(tzinfo=None)


def _localize(wall: datetime, tz: ZoneInfo, fold: int = 0) -> datetime:
    """Attach ``tz`` to a naive wall time.

    Ambiguous: ``fold`` picks the occurrence (0 = first). Nonexistent: the first
    valid instant after it (the transition).
    """
    back = wall.replace(tzinfo=tz, fold=fold).astimezone(_UTC).astimezone(tz)
    if back.replace(tzinfo=None) == wall:  # naive comparison ignores fold
        return back
    # In a gap: the two folds map either side of the transition; find it (to the second).
    a = wall.replace(tzinfo=tz, fold=0).timestamp()
    b = wall.replace(tzinfo=tz, fold=1).timestamp()
    lo, hi = int(min(a, b)) - 1, int(-(-max(a, b) // 1))
    after = datetime.fromtimestamp(hi, tz).utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, tz)


def _add_months(wall: datetime, n: int) -> datetime:
    idx = wall.year * 12 + wall.month - 1 + n
    year, month0 = divmod(idx, 12)
    if not 1 <= year <= 9999:
        raise PeriodError(f"date out of range: {n:+d} months from {wall:%Y-%m-%d}")
    day = min(wall.day, _calendar.monthrange(year, month0 + 1)[1])
    return wall.replace(year=year, month=month0 + 1, day=day)


def _wall_truncate(wall: datetime, grain: str, cal: Calendar) -> datetime:
    if grain == "hour":
        return wall.replace(minute=0, second=0, microsecond=0)
    day = wall.replace(hour=0, minute=0, second=0, microsecond=0, fold=0)
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=(day.weekday() - cal.week_start) % 7)
    span = _MONTH_SPAN[grain]
    idx = day.year * 12 + day.month - 1
    start = idx - (idx - (cal.fiscal_year_start - 1)) % span
    return day.replace(year=start // 12, month=start % 12 + 1, day=1)


def _wall_shift(wall: datetime, unit: str, n: int) -> datetime:
    if unit == "hour":
        return wall + timedelta(hours=n)
    if unit == "day":
        return wall + timedelta(days=n)
    if unit == "week":
        return wall + timedelta(weeks=n)
    return _add_months(wall, n * _MONTH_SPAN[unit])


def _utc(value: datetime) -> datetime:
    return value.astimezone(_UTC)


# --------------------------------------------------------------------------- public datetime helpers


def truncate_datetime(value: datetime, grain: str, cal: Calendar) -> datetime:
    """The local start of the ``grain`` bucket holding ``value`` (pure Python twin of :func:`truncate`)."""
    _check_grain(grain)
    tz = cal.tz
    local = _aware(value, "value").astimezone(tz)
    wall = _wall_truncate(local.replace(tzinfo=None), grain, cal)
    return _localize(wall, tz, fold=local.fold if grain == "hour" else 0)


def shift(value: datetime, grain: str, n: int, cal: Calendar) -> datetime:
    """``value`` moved ``n`` grains later (earlier if negative).

    Days and longer move the local wall clock (same time of day; month ends
    clipped: Jan 31 + 1 month = Feb 28) and re-localise; hours are elapsed hours.
    """
    _check_grain(grain)
    tz = cal.tz
    value = _aware(value, "value")
    if n == 0:
        return value.astimezone(tz)
    if grain == "hour":
        return (_utc(value) + timedelta(hours=n)).astimezone(tz)
    return _localize(_wall_shift(_wall(value, tz), grain, n), tz)


def bucket_end(value: datetime, grain: str, cal: Calendar) -> datetime:
    """The end (= the next bucket's start) of the ``grain`` bucket holding ``value``.

    Prefer this to ``shift(start, grain, 1)``: where local midnight is skipped
    (America/Santiago, Asia/Beirut, America/Havana …) a day bucket starts at
    01:00 and shifting that wall time would give 01:00 the next day.
    """
    _check_grain(grain)
    tz = cal.tz
    local = _aware(value, "value").astimezone(tz)
    if grain == "hour":
        start, step, nxt = truncate_datetime(local, "hour", cal), 1, local
        while _utc(nxt) <= _utc(local):  # a bucket can be 30 or 90 minutes (Lord Howe)
            nxt = truncate_datetime(_utc(start) + timedelta(hours=step), "hour", cal)
            step += 1
        return nxt
    wall = _wall_truncate(local.replace(tzinfo=None), grain, cal)
    while True:
        wall = _wall_shift(wall, grain, 1)
        nxt = _localize(wall, tz)
        if _utc(nxt) > _utc(local):  # a skipped local day (Samoa 2011) has no bucket
            return nxt


def bucket_starts(period: Period, grain: str, cal: Calendar) -> list[datetime]:
    """Starts of the ``grain`` buckets covering ``[period.start, period.end)``.

    The first start may precede ``period.start`` (a week bucket of a month);
    an empty period has no buckets.
    """
    _check_grain(grain)
    tz = cal.tz
    start = _utc(_aware(period.start, "period.start"))
    end = _utc(_aware(period.end, "period.end"))
    out: list[datetime] = []
    if start >= end:
        return out
    if grain == "hour":
        s = truncate_datetime(start, "hour", cal)
        while _utc(s) < end:
            out.append(s)
            s = bucket_end(s, "hour", cal)
        return out
    wall = _wall_truncate(start.astimezone(tz).replace(tzinfo=None), grain, cal)
    while True:
        s = _localize(wall, tz)
        if _utc(s) >= end:
            return out
        if not out or _utc(s) > _utc(out[-1]):  # a skipped local day (Samoa 2011) yields nothing
            out.append(s)
        wall = _wall_shift(wall, grain, 1)


def bucket_label(value: datetime, grain: str, cal: Calendar) -> str:
    """A short label for the bucket starting at ``value``: "14:00", "2026-11-24", "W48 2026",
    "Nov 2026", "Q4 2026" / "Q3 FY2027", "2026" / "FY2027"."""
    _check_grain(grain)
    local = _aware(value, "value").astimezone(cal.tz)
    if grain == "hour":
        return f"{truncate_datetime(local, 'hour', cal):%H:%M}"
    return _unit_label(_wall_truncate(local.replace(tzinfo=None), grain, cal), grain, cal)


# --------------------------------------------------------------------------- polars


def truncate(expr: pl.Expr, grain: str, cal: Calendar) -> pl.Expr:
    """Map a tz-aware Datetime expression (any zone, any time unit) to the local start of its
    ``grain`` bucket, as ``Datetime("us", cal.timezone)``.

    Same rules as :func:`truncate_datetime`: weeks follow ``week_start``,
    quarters and years ``fiscal_year_start``; an hour keeps the offset of its
    instant (two buckets for the repeated hour); a bucket start the clocks skip
    becomes the transition instant. The column must be tz-aware (store UTC).
    """
    _check_grain(grain)
    tz = cal.timezone
    local = expr.dt.convert_time_zone(tz).dt.cast_time_unit("us")
    wall = local.dt.replace_time_zone(None)
    if grain == "hour":
        start = wall.dt.truncate("1h")
    elif grain == "day":
        start = wall.dt.truncate("1d")
    elif grain == "week":
        back = (wall.dt.weekday().cast(pl.Int32) - 1 - cal.week_start) % 7  # weekday(): Monday = 1
        start = wall.dt.truncate("1d") - pl.duration(days=back)
    elif grain == "month":
        start = wall.dt.truncate("1mo")
    else:
        # Move fiscal starts onto calendar ones, truncate, move back (naive: no DST involved).
        lag = (cal.fiscal_year_start - 1) % _MONTH_SPAN[grain]
        start = wall.dt.truncate("1mo")
        if lag:
            start = start.dt.offset_by(f"-{lag}mo")
        start = start.dt.truncate("1q" if grain == "quarter" else "1y")
        if lag:
            start = start.dt.offset_by(f"{lag}mo")
    if grain == "hour":
        is_first = wall.dt.replace_time_zone(tz, ambiguous="earliest") == local
        ambiguous: str | pl.Expr = pl.when(is_first).then(pl.lit("earliest")).otherwise(pl.lit("latest"))
    else:
        ambiguous = "earliest"
    localized = start.dt.replace_time_zone(tz, ambiguous=ambiguous, non_existent="null")
    # A start the clocks skip: localise the same wall time a day earlier and add 24 elapsed hours,
    # which lands on the transition when the gap begins at the bucket start (always, for
    # hour-aligned transitions; _localize is exact in every case).
    day_before = (start - timedelta(days=1)).dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    skipped = day_before + timedelta(days=1)
    return localized.fill_null(skipped)


# --------------------------------------------------------------------------- labels


def _fiscal_year(wall: datetime, cal: Calendar) -> int:
    """The fiscal year holding ``wall``, named after the calendar year it ends in."""
    if cal.fiscal_year_start == 1:
        return wall.year
    return wall.year + 1 if wall.month >= cal.fiscal_year_start else wall.year


def _year_label(wall: datetime, cal: Calendar) -> str:
    fy = _fiscal_year(wall, cal)
    return f"FY{fy}" if cal.is_fiscal else str(fy)


def _week_number(start: datetime) -> tuple[int, int]:
    mid = start + timedelta(days=3)  # the 4th day decides the year (ISO: the Thursday)
    return (mid.timetuple().tm_yday - 1) // 7 + 1, mid.year


def _unit_label(wall: datetime, unit: str, cal: Calendar) -> str:
    if unit == "hour":
        return f"{wall:%Y-%m-%d %H:00}"
    if unit == "day":
        return f"{wall:%Y-%m-%d}"
    if unit == "week":
        week, year = _week_number(wall)
        return f"W{week:02d} {year}"
    if unit == "month":
        return f"{_MONTHS[wall.month - 1]} {wall.year}"
    if unit == "quarter":
        q = (wall.month - cal.fiscal_year_start) % 12 // 3 + 1
        return f"Q{q} {_year_label(wall, cal)}"
    return _year_label(wall, cal)


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def _moment(end: datetime, unit: str) -> str:
    """How a partial period's end reads: "14:00" within a day, else "Oct 24 14:00"."""
    if unit == "day":
        return f"{end:%H:%M}"
    return f"{_MONTHS[end.month - 1]} {end.day} {end:%H:%M}"


def _complete_label(w: Window, start: datetime, end: datetime, cal: Calendar) -> str:
    """Label of a complete period of ``w.count`` units from wall ``start`` to wall ``end``."""
    if w.count == 1:
        return _unit_label(start, w.unit, cal)
    if w.unit == "month":
        last = _wall_shift(end, "month", -1)
        return f"{_unit_label(start, 'month', cal)} to {_unit_label(last, 'month', cal)}"
    last_day = end - timedelta(days=1)
    return f"{start:%Y-%m-%d} to {last_day:%Y-%m-%d}"


def _partial_label(w: Window, start: datetime, end: datetime, cal: Calendar) -> str:
    """Label of a comparison period that stops part-way ("Oct 2026 to Oct 24 14:00")."""
    if w.trailing:
        return f"{start:%Y-%m-%d} to {end:%Y-%m-%d %H:%M}"
    return f"{_unit_label(start, w.unit, cal)} to {_moment(end, w.unit)}"


# --------------------------------------------------------------------------- resolving windows


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
    if partial:
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


def _same_week_last_year(start: datetime, cal: Calendar) -> datetime:
    """The wall start of the week with ``start``'s week number one week-year earlier (the last
    week of that year when it has fewer)."""
    week_start = _wall_truncate(start, "week", cal)
    week, year = _week_number(week_start)
    weeks = (_week_one(year, cal) - _week_one(year - 1, cal)).days // 7
    return _week_one(year - 1, cal) + timedelta(weeks=min(week, weeks) - 1) + (start - week_start)


def parse_time(text: str, timezone: str) -> datetime:
    """An ISO date or time typed by a user, as UTC; one without an offset is in ``timezone``."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise PeriodError(f"{text.strip()!r} is not a time: use e.g. 2026-03-15 or 2026-03-15 14:30") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_zone(timezone))
    return value.astimezone(_UTC)
