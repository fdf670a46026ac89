"""One parser for what users type: times, durations and the values of readings.

The CLI (``record``, ``readings``, ``--at``, ``collect --every``), the TUI's
add-reading form and the config's duration keys all go through here, so
``9d`` means the same everywhere and a mistake reads the same everywhere.

- :func:`parse_time`: an ISO date or time; one without an offset is on the
  config's clock.
- :func:`parse_duration`: ``90`` (seconds), ``45s``, ``90m``, ``4h 30m``,
  ``1h30m``, ``1.5h``, ``9d``, ``2w``; unit words (``4 hours 30 minutes``) too.
- :func:`parse_value`: a reading's value for a metric's unit: a duration for
  ``unit = "duration"``, else a number (``1,200``, ``$1,200`` for currency,
  ``12.5%`` for percent).

Each raises :class:`InputError` whose message is one line a newcomer understands.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import TYPE_CHECKING

from .epoch import FUTURE_SLACK

if TYPE_CHECKING:
    from .model import Metric

DURATION_HINT = "expected a duration like 90m, 4h 30m, 9d"
NUMBER_HINT = "e.g. 12 or 3.5"

_UNIT_SECONDS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "wk": 604800, "wks": 604800, "week": 604800, "weeks": 604800,
}  # fmt: skip
_PART = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]+)\s*,?", re.IGNORECASE)


class InputError(ValueError):
    """What the user typed cannot be used; the message says what was expected."""


def parse_duration(text: str | int | float, *, negative: bool = False) -> float:
    """Seconds from ``90``, ``45s``, ``90m``, ``4h 30m``, ``1h30m``, ``1.5h``, ``9d``, ``2w``.

    A plain number is seconds. ``negative``: a leading ``-`` is allowed
    (``-2h``); otherwise a negative duration is refused.
    """
    if isinstance(text, bool):
        raise InputError(f"{text!r}: {DURATION_HINT}")
    if isinstance(text, (int, float)):
        seconds = float(text)
        shown = repr(text)
    else:
        shown = repr(text.strip())
        body = text.strip()
        sign = 1.0
        if body[:1] in "+-" and body:
            sign = -1.0 if body[0] == "-" else 1.0
            body = body[1:].strip()
        seconds = _seconds(body, shown) * sign
    if not math.isfinite(seconds):
        raise InputError(f"{shown}: {DURATION_HINT}")
    if seconds < 0 and not negative:
        raise InputError(f"{shown}: a duration cannot be negative ({DURATION_HINT})")
    return seconds


def _seconds(body: str, shown: str) -> float:
    if not body:
        raise InputError(f"{shown or repr('')}: {DURATION_HINT}")
    try:
        return float(body)  # plain seconds
    except ValueError:
        pass
    total, pos = 0.0, 0
    for match in _PART.finditer(body):
        unit = match.group(2).lower()
        if match.start() != pos or unit not in _UNIT_SECONDS:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[unit]
        pos = match.end()
    if pos != len(body):
        raise InputError(f"{shown}: {DURATION_HINT}")
    return total


def parse_number(text: str, *, currency: str = "$") -> float:
    """A number as people type it: ``12``, ``3.5``, ``1,200``, ``1_200``, ``$1,200``, ``12.5%``, ``-3``."""
    cleaned = text.strip().replace(",", "").replace("_", "").replace(" ", "")
    if currency:
        cleaned = cleaned.replace(currency, "", 1)
    if cleaned.endswith("%"):
        cleaned = cleaned[:-1]
    if not cleaned:
        raise InputError(f"enter a number ({NUMBER_HINT})")
    try:
        value = float(cleaned)
    except ValueError:
        raise InputError(f"{text.strip()!r} is not a number ({NUMBER_HINT})") from None
    if not math.isfinite(value):
        raise InputError(f"{text.strip()!r} is not a finite number ({NUMBER_HINT})")
    return value


def parse_value(text: str, unit: str, *, currency: str = "$") -> float:
    """A reading's value for a metric of ``unit``: a duration (in seconds) for ``duration``, else a number."""
    if unit == "duration":
        if not text.strip():
            raise InputError(f"enter a duration ({DURATION_HINT})")
        return parse_duration(text, negative=True)
    return parse_number(text, currency=currency)


def negative_refused(metric: Metric, value: float, allowed: bool, how: str) -> str | None:
    """Why a negative ``value`` is refused for ``metric``, or ``None`` when it is accepted.

    A count or a duration below zero is taken for a mistake unless it is made a
    choice: ``allowed`` (``--allow-negative``, the form's tick box, ``how`` says
    which) or the metric's ``allow_negative = true``. Other units (currency,
    number, percent, ratio) can be negative.
    """
    if value >= 0 or allowed or getattr(metric, "allow_negative", False) or metric.unit not in ("count", "duration"):
        return None
    what = "a count" if metric.unit == "count" else "a duration"
    return (
        f"{metric.id} is {what}, so {value:g} is refused as a mistake; to record a correction {how} "
        f"(or set allow_negative = true in [metrics.{metric.id}])"
    )


#: how far after now a typed reading's time may be without a choice (--allow-future): two clocks' skew, not a plan
FUTURE_SKEW = dt.timedelta(minutes=5)
#: how far after now a reading's time may ever be: a source's readings later than this are dropped as well,
#: so a typed one is held to the same day
FUTURE_LIMIT = FUTURE_SLACK


def future_refused(at: dt.datetime, now: dt.datetime, allowed: bool, how: str, timezone: str) -> str | None:
    """Why a reading's time ``at`` is refused for being after ``now``, or ``None`` when it is accepted.

    A reading stands for when it was taken: a time more than :data:`FUTURE_SKEW` ahead is taken for a
    mistake (18:00 typed for 08:00, the wrong day) unless it is made a choice, ``allowed`` (``how`` says how);
    more than :data:`FUTURE_LIMIT` ahead is refused even then, as sources' readings are dropped.
    """
    if at <= now + FUTURE_SKEW:
        return None
    from .formatting import format_time

    when, clock = format_time(at, timezone), format_time(now, timezone)
    if at > now + FUTURE_LIMIT:
        return f"{when} is more than a day after now ({clock}): a reading's time is when it was taken"
    if allowed:
        return None
    return (
        f"{when} is in the future (now {clock}): a reading's time is when it was taken; "
        f"to record one ahead anyway (up to a day) {how}"
    )


def can_be_negative(metric: Metric) -> bool:
    """Whether a negative value for ``metric`` needs no explicit choice."""
    return bool(getattr(metric, "allow_negative", False)) or metric.unit not in ("count", "duration")


def typed_text(value: float, unit: str) -> str:
    """``value`` as a user would type it back (exactly): ``1d 2h 3m 4s`` for durations, ``1234.5`` else."""
    if unit == "duration":
        sign, rest = ("-" if value < 0 else ""), abs(value)
        parts = []
        for size, name in ((86400, "d"), (3600, "h"), (60, "m")):
            whole = int(rest // size)
            if whole:
                parts.append(f"{whole}{name}")
                rest -= whole * size
        if rest or not parts:
            parts.append(f"{rest:g}s" if rest != int(rest) else f"{int(rest)}s")
        return sign + " ".join(parts)
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def value_hint(unit: str) -> str:
    """What to type for a metric of ``unit`` (a placeholder, a help line)."""
    if unit == "duration":
        return "a duration, e.g. 90m, 4h 30m or 9d (plain numbers are seconds)"
    if unit == "percent":
        return "a percentage, e.g. 12.5"
    return "a number, e.g. 12 or 3.5"


def parse_time(text: str, timezone: str) -> dt.datetime:
    """An ISO date or time typed by a user, as UTC; one without an offset is on ``timezone``'s clock."""
    from .periods import PeriodError, parse_time as _parse

    try:
        return _parse(text, timezone)
    except PeriodError as exc:
        raise InputError(str(exc)) from None
