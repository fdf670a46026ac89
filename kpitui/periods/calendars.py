"""The calendar (time zone, week start, fiscal year), grains, and arithmetic on the local wall clock.

See :mod:`kpitui.periods` for the conventions (ambiguous and skipped wall times, fiscal years).
"""

from __future__ import annotations

import calendar as _calendar
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..model import Settings
from ..options import did_you_mean

GRAINS: tuple[str, ...] = ("hour", "day", "week", "month", "quarter", "year")
#: The units a window can be made of.
UNITS: tuple[str, ...] = ("day", "week", "month", "quarter", "year")

_UTC = timezone.utc
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
        return cls(
            timezone=settings.timezone, week_start=settings.week_start, fiscal_year_start=settings.fiscal_year_start
        )

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


#: the span of times typed by a user (``--at``, ``record --at``): a reading before 1970 is refused from sources too
_EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LATEST = datetime(3000, 1, 1, tzinfo=timezone.utc)


def parse_time(text: str, timezone: str) -> datetime:
    """An ISO date or time typed by a user, as UTC; one without an offset is in ``timezone``: a wall time the
    clocks skipped there reads as the jump's length later (02:30 on a New York spring-forward night is 03:30
    EDT), one in a repeated hour as its first pass (``fold=0``); docs/kpis.md says so."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise PeriodError(f"{text.strip()!r} is not a time: use e.g. 2026-03-15 or 2026-03-15 14:30") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_zone(timezone))
    try:
        value = value.astimezone(_UTC)
    except OverflowError:  # 0001-01-01 in a zone east of UTC
        value = _EARLIEST - timedelta(days=1)
    if not _EARLIEST <= value < _LATEST:  # periods around 9999-12-31 (or 0001) cannot be counted: a crash later
        raise PeriodError(f"{text.strip()!r} is out of range: kpitui counts times from 1970 to 2999")
    return value
