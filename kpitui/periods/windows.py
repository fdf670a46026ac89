"""Windows: what ``month_to_date``, ``last_week``, ``trailing_30d`` mean, parsed, and the grain a chart of one reads
best at."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..options import did_you_mean
from .calendars import UNITS, PeriodError


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
            raise PeriodError(f"window {text!r}: the number of {unit}s must be between 1 and {_TRAILING_MAX[letter]}")
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


#: a grain's and a window unit's nominal length in days, to tell which of the two is longer
_NOMINAL_DAYS = {"hour": 1 / 24, "day": 1, "week": 7, "month": 30, "quarter": 91, "year": 365}


def earlier_text(window: Window | str, grain: str) -> str:
    """How far back a chart's comparison bucket is, in words: each ``grain`` bucket is compared with
    the bucket holding the instant one ``window`` before its start (see
    :meth:`kpitui.engine.planning.Planner.bucket_before`): ``"a month earlier"``, ``"7 days earlier"``;
    over a window shorter than the grain (``today`` by week) that is the bucket just before: ``"a week
    earlier"``."""
    w = _window(window)
    if w.count * _NOMINAL_DAYS[w.unit] < _NOMINAL_DAYS[grain]:
        return f"a {grain} earlier"
    return f"a {w.unit} earlier" if w.count == 1 else f"{w.count} {w.unit}s earlier"


def _max_days(w: Window) -> int:
    per = {"day": 1, "week": 7, "month": 31, "quarter": 92, "year": 366}[w.unit]
    return per * w.count
