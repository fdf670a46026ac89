"""What the detail view says around its chart, as plain functions (state -> Rich ``Text``):
a KPI's summary, a metric's, the window and grain controls, the chart's legend notes."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.text import Text

from ... import periods
from ...formatting import (
    STATUS_SYMBOL,
    format_age,
    format_change,
    format_progress,
    format_score,
    format_time,
    format_value,
)
from ...model import NO_NUMBER, Status
from .. import bindings
from ..view import applied_target_text, basis_text, change_text, pace_text, value_text

if TYPE_CHECKING:
    from ...config import Config
    from ...model import Kpi, KpiResult, Metric, MetricStatus
    from ..palette import Palette


def annotation_notes(notes, cal: periods.Calendar, most: int = 2) -> tuple[str, ...]:
    """Legend entries for the newest annotations on the chart: ``▲ 04 Mar Launched the webinar ads``."""
    shown = [f"▲ {note.at.astimezone(cal.tz):%d %b %H:%M} {note.text}" for note in list(notes)[-most:]]
    if len(notes) > most:
        shown.insert(0, f"▲ {len(notes) - most} earlier")
    return tuple(shown)


def axis_label(at, grain: str, cal: periods.Calendar) -> str:
    """Short x-axis labels: days as ``25 Oct``; other grains as the core labels them."""
    if grain == "day":
        return f"{at.astimezone(cal.tz):%d %b}"
    return periods.bucket_label(at, grain, cal)


#: how the y axis names each unit (the tick labels show the number only)
AXIS_UNITS = {"count": "count", "percent": "%", "ratio": "ratio", "duration": "duration", "number": "number"}


def y_axis(unit: str, grain: str, currency: str) -> str:
    """``y axis: count, by day``: what the chart's numbers are (``$`` for money) and what each point covers."""
    return f"y axis: {currency if unit == 'currency' else AXIS_UNITS.get(unit, unit)}, by {grain}"


def partial_bucket(points: list, grain: str, cal: periods.Calendar, now: dt.datetime | None) -> str | None:
    """``18 Mar to 15:30`` when the chart's last bucket is still in progress (it holds ``now``, the snapshot's time)."""
    if not points or now is None:
        return None
    start = points[-1][0]
    if not start <= now < periods.bucket_end(start, grain, cal):
        return None
    return f"{axis_label(start, grain, cal)} to {now.astimezone(cal.tz):%H:%M}"


def year_difference(result: KpiResult | None, currency: str) -> tuple[str, ...]:
    """``Mar 2026 to date 178 vs 160 a year earlier: +18 (+11.2%)`` for a KPI (its window's values)."""
    if result is not None and result.partial_last_year:
        return (f"{result.period.label} vs a year earlier: partial history (it starts before the first reading)",)
    if result is None or result.value is None or result.last_year is None:
        return ()
    change = result.value - result.last_year
    pct = change / abs(result.last_year) * 100 if result.last_year else None
    now, then = value_text(result.kpi, result.value, currency), value_text(result.kpi, result.last_year, currency)
    return (
        (
            f"{result.period.label} {now} vs {then} a year earlier: "
            f"{format_change(change, pct, result.kpi.unit, result.kpi.decimals, currency)}"
        ),
    )


def controls(window: str, offset: int, grain: str | None, colours: Palette) -> Text:
    """``window month_to_date (1 back)   grain  hour ▸day  week  month  (H D W M, g)``."""
    text = Text()
    grains = "  ".join(("▸" if g == grain else " ") + g for g in bindings.GRAINS)
    text.append(f"window {window}", style=colours.accent)
    if offset:
        text.append(f" ({offset} back)", style=colours.accent)
    text.append(f"   grain {grains}", style=colours.muted)
    text.append("  (H D W M, g)", style=colours.muted)
    return text


def kpi_summary(kpi: Kpi, result: KpiResult | None, config: Config, colours: Palette) -> Text:
    """The KPI's value, target, status, change, pace and newest reading."""
    currency = config.settings.currency
    text = Text()
    text.append(kpi.name, style="bold")
    if result is None:
        text.append("  loading…", style=colours.muted)
        return text
    if result.error:
        text.append(f"  ✖ {result.error}", style=colours.bad)
        return text
    status = colours.status(result.status)
    text.append(f"  {result.period.label}  ", style=colours.muted)
    text.append(value_text(kpi, result.value, currency), style="bold")
    if result.target is not None:
        text.append(f"  target {applied_target_text(result, currency)}", style=colours.muted)
        if result.progress is not None:
            text.append(f"  progress {format_progress(result.progress)}", style=colours.muted)
    text.append(f"  {STATUS_SYMBOL[result.status]} {result.status.label}", style=status)
    if result.status is Status.UNDEFINED:  # the inputs have data, the formula gives no number: say why
        text.append(f" ({result.undefined or NO_NUMBER})", style=status)
    if result.score is not None:
        text.append(f" (score {format_score(result.score)})", style=status)
    basis = basis_text(result, currency)
    if basis:
        text.append(f"\n{basis}", style=colours.muted)
    text.append("\n")
    text.append(f"vs {result.previous_period.label or 'previous period'}: ", style=colours.muted)
    text.append_text(change_text(result, currency, colours))
    if result.last_year is not None:
        partial = " (partial history)" if result.partial_last_year else ""
        text.append(f"  · a year ago {value_text(kpi, result.last_year, currency)}{partial}", style=colours.muted)
    if result.projection is not None:
        text.append("  · on pace for ", style=colours.muted)
        text.append_text(pace_text(result, currency, colours))
        if result.projected_to is not None:
            last = (result.projected_to - dt.timedelta(microseconds=1)).astimezone(ZoneInfo(config.settings.timezone))
            text.append(f" by the end of {last:%d %b %Y}", style=colours.muted)
    parts = "  ".join(f"{name} {format_value(v, 'number')}" for name, v in result.parts.items())
    if parts:
        text.append(f"  · {parts}", style=colours.muted)
    newest = (
        f"newest reading at {format_time(result.freshness, config.settings.timezone)}"
        if result.freshness
        else "no reading yet"
    )
    text.append(f"\n{newest}", style=colours.muted)
    return text


def metric_summary(
    metric: Metric,
    status: MetricStatus | None,
    behind: Kpi | None,
    config: Config,
    colours: Palette,
    now: dt.datetime | None,
) -> Text:
    """A metric's rule, newest reading, source health and trigger (opened from a KPI's metrics pane)."""
    text = Text()
    text.append(("★ " if metric.is_key else "") + metric.name, style="bold")
    read_by = f"behind {behind.name}" if behind is not None else "read by no KPI"
    text.append(f"  {metric.aggregation} of {metric.unit} readings · {read_by}", style=colours.muted)
    if status is not None and now is not None:
        text.append("\n")
        text.append_text(freshness(metric, status, config, colours, now))
    health = status.health if status else None
    if health is not None and health.error:
        tz = ZoneInfo(config.settings.timezone)
        text.append(f"\n✖ {health.error}", style=colours.bad)
        text.append(f"  ({health.failures} failure{'s' if health.failures != 1 else ''}", style=colours.muted)
        if health.next_attempt:
            text.append(f", next try {health.next_attempt.astimezone(tz):%H:%M:%S}", style=colours.muted)
        text.append(")", style=colours.muted)
    if metric.trigger is not None:
        spec = config.sources.get(metric.source or "")
        origin = (
            f"source {spec.id} ({spec.type})"
            if spec is not None and spec.type != "manual"
            else "readings recorded by hand"
        )
        text.append(f"\ncounted by {origin} when: {metric.trigger.text}", style=colours.muted)
        if metric.trigger.condition:
            text.append(f"\ncondition: {metric.trigger.condition}", style=colours.muted)
    elif metric.description and not (health is not None and health.error):
        text.append(f"\n{metric.description}", style=colours.muted)
    return text


def freshness(metric: Metric, status: MetricStatus, config: Config, colours: Palette, now: dt.datetime) -> Text:
    """``newest reading 6,052 at 2026-12-01 23:00 EST · source demo last polled 2m ago``."""
    tz = config.settings.timezone
    text = Text()
    if status.latest_at is None:
        text.append("no reading yet", style=colours.muted)
    else:
        value = format_value(status.latest, metric.unit, metric.decimals, config.settings.currency)
        text.append(f"newest reading {value} at {format_time(status.latest_at, tz)}", style=colours.muted)
    spec = config.sources.get(metric.source or "")
    if spec is None or spec.type == "manual":
        text.append(" · recorded by hand", style=colours.muted)
    else:
        polled = status.health.last_success if status.health else None
        text.append(f" · source {metric.source} last polled {format_age(polled, now)}", style=colours.muted)
    return text
