"""How periods read: "Nov 2026", "W48 2026", "Q3 FY2027", "Oct 2026 to Oct 24 14:00"."""

from __future__ import annotations

from datetime import datetime, timedelta

from .calendars import Calendar, _wall_shift
from .windows import Window

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


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
