"""Small presentation helpers shared by panes and screens: no business logic, only text."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from rich.text import Text

from ..formatting import (
    PACE_MARK,
    STATUS_SYMBOL,
    format_change,
    format_progress,
    format_projection,
    format_score,
    format_target,
    format_value,
)
from ..model import Kpi, KpiResult, Status, Target
from .palette import Palette

_EIGHTHS = " ▏▎▍▌▋▊▉█"


@dataclass(frozen=True)
class Context:
    """What every row function needs besides the snapshot."""

    now: dt.datetime
    currency: str
    colours: Palette
    timezone: str = "UTC"
    #: per KPI, its trend buckets that hold an annotation (:attr:`kpitui.model.Snapshot.annotated`)
    annotated: dict[str, frozenset[int]] = field(default_factory=dict)


def status_symbol(status: Status, colours: Palette) -> Text:
    return Text(STATUS_SYMBOL.get(status, "?"), style=f"bold {colours.status(status)}")


def value_text(kpi: Kpi, value: float | None, currency: str) -> str:
    return format_value(value, kpi.unit, kpi.decimals, currency)


def target_text(kpi: Kpi, currency: str, target: Target | None = None) -> str:
    """``680``, ``≥ 5,000``, ``≤ 7d``, ``1.0%–2.0%``; empty without a target.

    ``target``: the target that applies to the window shown (``KpiResult.target``), else the KPI's own.
    """
    target = target if target is not None else kpi.target
    return "" if target is None else format_target(target, kpi.unit, kpi.decimals, currency)


def score_bar(score: float | None, width: int, colour: str, muted: str, pct: str | None = None) -> Text:
    """``█████▌░░ 69%``: a bar of the 0..1 score and its percentage (``pct``: another text for it)."""
    if score is None:
        return Text("—", style=muted)
    pct = f"{pct or format_score(score):>4}"
    bar_w = max(0, width - len(pct) - 1)
    text = Text()
    if bar_w:
        eighths = round(max(0.0, min(1.0, score)) * bar_w * 8)
        full, part = divmod(eighths, 8)
        text.append("█" * full + (_EIGHTHS[part] if part else ""), style=colour)
        text.append("░" * (bar_w - full - (1 if part else 0)), style=muted)
        text.append(" ")
    text.append(pct, style=colour)
    return text


#: marks a target prorated from the KPI's own window to the one shown (help and the info line say so in words)
PRORATED = "≈"


def applied_target_text(result: KpiResult, currency: str, width: int | None = None) -> str:
    """The target for the window shown: ``900``; prorated ``203 (prorated)``, or ``≈ 203`` where that does not fit."""
    text = target_text(result.kpi, currency, result.target)
    if text and result.target_basis == "prorated":
        long = f"{text} (prorated)"
        return long if width is None or len(long) <= width else f"{PRORATED} {text}"
    return text


def basis_text(result: KpiResult, currency: str) -> str:
    """In words, how the target applies to the window shown (empty for the KPI's own window)."""
    kpi = result.kpi
    if result.target_basis == "prorated" and kpi.target is not None:
        return (
            f"target {target_text(kpi, currency, result.target)} prorated from {target_text(kpi, currency)} per "
            f"{window_words(kpi.window)}"
        )
    if result.target_basis == "kept":
        return (
            f"target {target_text(kpi, currency)} as for its own window ({window_words(kpi.window)}; not an amount "
            "to prorate)"
        )
    return ""


def window_words(window: str) -> str:
    """``month_to_date`` -> ``month``, ``trailing_30d`` -> ``30 days``."""
    if window.startswith("trailing_"):
        rest = window.removeprefix("trailing_")
        return {"d": f"{rest[:-1]} days", "w": f"{rest[:-1]} weeks", "m": f"{rest[:-1]} months"}.get(rest[-1:], rest)
    return window.removesuffix("_to_date").replace("_", " ")


def progress_bar(progress: float | None, width: int, colour: str, muted: str) -> Text:
    """``██░ 23%``: how far the value is toward the target (over 100% past it)."""
    if progress is None:
        return Text("—", style=muted)
    return score_bar(progress, width, colour, muted, format_progress(progress))


def pace_text(result: KpiResult, currency: str, colours: Palette) -> Text:
    """``998 ✓``: the value projected to the period's end (or due date), ✓ when it meets the target. A projection
    short of the target has no mark and the colour of the KPI's status (:data:`kpitui.formatting.PACE_MARK`)."""
    if result.projection is None:
        return Text("—", style=colours.muted)
    style = {True: colours.good, False: colours.status(result.status), None: colours.text}[result.on_pace]
    return Text(format_projection(result, currency) + PACE_MARK[result.on_pace], style=style)


def change_text(result: KpiResult, currency: str, colours: Palette, width: int | None = None) -> Text:
    """The change vs the previous period, green when it is good news (inverted for lower-is-better KPIs)."""
    kpi = result.kpi
    if result.partial_history:
        return Text("partial history", style=colours.muted)
    full = format_change(result.change, result.change_pct, kpi.unit, kpi.decimals, currency)
    text = full if width is None or len(full) <= width else full.split(" (")[0]
    direction = kpi.target.direction if kpi.target else "up"
    if result.change is None or result.change == 0 or direction == "within":
        style = colours.muted if result.change is None else colours.text
    else:
        good = (result.change > 0) == (direction == "up")
        style = colours.good if good else colours.bad
    return Text(text, style=style)


def matches(query: str, *names: str | None) -> bool:
    q = query.strip().lower()
    return not q or any(q in (n or "").lower() for n in names)
