"""Numbers, changes, ages and sparklines as text, shared by the report and the TUI."""

from __future__ import annotations

import datetime as dt
import math

from .model import KpiResult, Status, Target

SPARK = "▁▂▃▄▅▆▇█"
STATUS_SYMBOL = {
    Status.ON_TRACK: "●",
    Status.AT_RISK: "▲",
    Status.OFF_TRACK: "✖",
    Status.NO_DATA: "○",
    Status.NO_TARGET: "·",
    Status.NOT_YET: "◌",
    Status.UNDEFINED: "⊘",
}


def status_words(result: KpiResult) -> str:
    """A KPI's status as the tables show it: ``● on track``; an undefined one with why, ``⊘ undefined (÷ 0: ad_views
    is 0)``; a failed one with its error."""
    text = f"{STATUS_SYMBOL[result.status]} {result.status.label}"
    if result.status is Status.UNDEFINED and result.undefined:
        text += f" ({result.undefined})"
    return text + (f" ({result.error})" if result.error else "")


#: The mark after a projection (On pace for): ✓ when it meets the target. A projection short of the target has no
#: mark: a pass/fail cross there read as a verdict beside the Status's own (561 ✗ beside "80% ● on track": a
#: projection at 80% of a target is on track by the score's bands), and ✗ looked like off track's ✖. The Score
#: says how far short it is, the Status what that means.
PACE_MARK = {True: " ✓", False: "", None: ""}


#: from here on a float's integer digits past the 16th or 17th are not the number's (they are the binary value's
#: expansion: 1e308 printed in full was 100,000,000,000,000,001,097,906,362,…, 309 digits): such a value is shown
#: in the shortest form that reads back as it, as the JSON has it (1e+308, 2.5e+17)
EXACT_DIGITS_BELOW = 1e16


def _grouped(value: float, decimals: int) -> str:
    if abs(value) >= EXACT_DIGITS_BELOW and math.isfinite(value):
        return repr(float(value))
    return f"{value:,.{decimals}f}"


def _fixed(value: float, decimals: int) -> str:
    """``value`` with the unit's default ``decimals``, but a non-zero value too small for them keeps two
    significant digits (``0.0047``, ``4.7e-07``), never ``0.00``: a default is a choice of how to round, not a
    promise that the value is zero. A KPI's own ``decimals`` is applied as written (:func:`format_value`)."""
    if value != 0 and round(value, decimals) == 0:
        return f"{value:.2g}"
    return _grouped(value, decimals)


def json_number(value: float | None) -> float | None:
    """A number as every JSON document (and the CSV report) gives it: rounded to 6 decimals, so 0.1 + 0.2 is
    0.3, but never to fewer than 6 significant digits, so a small value keeps its size (4.74002e-06, not 5e-06;
    4e-07, not 0). See docs/json.md."""
    if value is None:
        return None
    if value == 0 or not math.isfinite(value) or abs(value) >= 0.1:
        return round(value, 6)
    return round(value, 5 - math.floor(math.log10(abs(value))))


def format_duration(seconds: float) -> str:
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    for size, unit, sub, subunit in ((86400, "d", 3600, "h"), (3600, "h", 60, "m"), (60, "m", 1, "s")):
        if s >= size:
            whole = int(s // size)
            rest = int(round((s - whole * size) / sub))
            if rest * sub >= size:
                whole, rest = whole + 1, 0
            return f"{sign}{whole}{unit}" + (f" {rest}{subunit}" if rest else "")
    return f"{sign}{s:.0f}s"


def format_value(value: float | None, unit: str = "number", decimals: int | None = None, currency: str = "$") -> str:
    """``value`` for people: ``1,234``, ``$12,500``, ``4.2%``, ``9d 4h``; ``—`` for no data."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if unit == "count":
        if decimals is not None:
            return _grouped(value, decimals)
        return _fixed(value, 0 if float(value).is_integer() or abs(value) >= 100 else 1)
    if unit == "currency":
        text = (
            _grouped(abs(value), decimals)
            if decimals is not None
            else _fixed(abs(value), 0 if abs(value) >= 1000 else 2)
        )
        return f"-{currency}{text}" if value < 0 else f"{currency}{text}"
    if unit == "percent":
        return (_grouped(value, decimals) if decimals is not None else _fixed(value, 1)) + "%"
    if unit == "ratio":
        return _grouped(value, decimals) if decimals is not None else _fixed(value, 3)
    if unit == "duration":
        return format_duration(value)
    if decimals is not None:
        return _grouped(value, decimals)
    if abs(value) >= 1000 or float(value).is_integer():
        return _grouped(value, 0)
    return _fixed(value, 2)


def format_projection(result: KpiResult, currency: str = "$") -> str:
    """A KPI's projection, never more precise than the value it projects: a whole count projects to a whole count."""
    kpi, decimals = result.kpi, result.kpi.decimals
    if (
        decimals is None
        and kpi.unit in ("number", "count")
        and result.value is not None
        and float(result.value).is_integer()
    ):
        decimals = 0
    return format_value(result.projection, kpi.unit, decimals, currency)


def format_change(
    change: float | None,
    change_pct: float | None,
    unit: str = "number",
    decimals: int | None = None,
    currency: str = "$",
) -> str:
    """``+12.3% (+89)``; ``—`` when there is nothing to compare with."""
    if change is None:
        return "—"
    if unit == "percent":  # a change of a percentage is in percentage points
        sign = "+" if change > 0 else ("-" if change < 0 else "±")
        points = f"{sign}{_grouped(abs(change), decimals) if decimals is not None else _fixed(abs(change), 1)} pp"
        return points if change_pct is None else f"{points} ({sign}{abs(change_pct):.1f}%)"
    absolute = format_value(abs(change), unit, decimals, currency)
    sign = "+" if change > 0 else ("-" if change < 0 else "±")
    if change_pct is None:
        return f"{sign}{absolute}"
    return f"{sign}{abs(change_pct):.1f}% ({sign}{absolute})"


def format_age(at: dt.datetime | None, now: dt.datetime) -> str:
    """How long ago: ``just now``, ``5m ago``, ``3h ago``, ``2d ago``; ``never``."""
    if at is None:
        return "never"
    seconds = (now - at).total_seconds()
    if seconds < 0:
        return "in the future"
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h ago"
    return f"{int(seconds // 86400)}d ago"


def sparkline(values: list[float | None] | tuple[float | None, ...]) -> str:
    """Unicode block sparkline; a gap is a space."""
    known = [v for v in values if v is not None]
    if not known:
        return " " * len(values)
    low, high = min(known), max(known)
    span = high - low
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        else:
            index = 3 if span == 0 else int(round((v - low) / span * (len(SPARK) - 1)))
            out.append(SPARK[index])
    return "".join(out)


def format_score(score: float | None) -> str:
    """``57%``: a 0..1 score as a percentage, rounded down, so a score shown as 70% is never really 0.697 (at
    risk); the report, the scorecard and the TUI alike (JSON and CSV keep the 0..1 number)."""
    return "—" if score is None else f"{math.floor(score * 100 + 1e-9):.0f}%"


def format_time(at: dt.datetime, timezone: str, *, seconds: bool = False, date: bool = True) -> str:
    """``at`` on the config's clock with its zone: ``2026-12-01 13:30 EST`` (``UTC+05:30`` where the
    zone has no letters). Every time kpitui echoes to a person goes through here."""
    from zoneinfo import ZoneInfo

    local = at.astimezone(ZoneInfo(timezone))
    zone = local.strftime("%Z")
    if not zone or zone[0] in "+-":
        offset = local.strftime("%z")
        zone = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    clock = "%H:%M:%S" if seconds else "%H:%M"
    return f"{local.strftime(('%Y-%m-%d ' if date else '') + clock)} {zone}"


def format_progress(progress: float | None) -> str:
    """``23%``: how far the value (as it is) has come toward the target, rounded down, so a value just
    short of its target never reads 100% (the report, the KPI pane and the detail view alike)."""
    return "—" if progress is None else f"{math.floor(progress * 100 + 1e-9):.0f}%"


def target_baseline(target: Target) -> float | None:
    """The baseline the score counts from, when it is not implicit: a ``reach`` or ``above`` target's other
    than 0 (Progress counts from it too), a ``below`` limit's configured one (where its score falls to 0; its
    Progress is still the share of the limit used). ``None`` otherwise (the defaults; a range has none)."""
    if target.kind in ("reach", "above") and target.baseline is not None and target.baseline != 0:
        return target.baseline
    if target.kind == "below":
        return target.baseline
    return None


def range_text(low: str, high: str) -> str:
    """``1.0%–2.0%``; a range with a negative end says "to" (``-30,000–-10,000`` read as one odd number)."""
    return f"{low} to {high}" if low.startswith("-") or high.startswith("-") else f"{low}–{high}"


def format_target(target: Target, unit: str = "number", decimals: int | None = None, currency: str = "$") -> str:
    """``680``, ``≥ 5,000``, ``≤ 7d``, ``1.0%–2.0%``: a target as the report, the scorecard and the TUI show it;
    with the baseline its progress counts from when that is not 0: ``≥ 6,500 from 5,000``."""

    def fmt(v: float | None) -> str:
        return format_value(v, unit, decimals, currency)

    if target.kind == "within":
        return range_text(fmt(target.low), fmt(target.high))
    text = {"above": "≥ ", "below": "≤ "}.get(target.kind, "") + fmt(target.value)
    # a limit's baseline is where its score falls to 0: "≤ 5d from 12d" says why 7d scores 71% (its progress is
    # still the share of the limit used, 140%); without it the score's origin was nowhere on screen
    baseline = target_baseline(target)
    return text if baseline is None else f"{text} from {fmt(baseline)}"
