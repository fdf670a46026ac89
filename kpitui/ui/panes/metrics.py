"""The metrics pane: the metrics behind the selected KPI, with their source's health."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from rich.text import Text

from ...formatting import format_age, format_value
from ...model import MetricStatus
from ..view import Context, updated_at
from .base import Column, Pane, Row


def row(status: MetricStatus, ctx: Context, manual: bool = False) -> Row:
    metric, colours = status.metric, ctx.colours
    health = status.health
    failing = health is not None and health.error is not None
    if failing:
        note = Text(f"✖ {health.error}", style=colours.bad)  # type: ignore[union-attr]
    elif metric.trigger is not None:
        note = Text(metric.trigger.text, style=colours.muted)
    else:
        note = Text(metric.description, style=colours.muted)
    return Row(
        key=metric.id,
        cells={
            "name": Text.assemble(("★ ", colours.warn) if metric.is_key else "  ", metric.name),
            "latest": lambda w: newest(status, ctx, w),
            "source": Text(metric.source or "", style=colours.bad if failing else colours.muted),
            "updated": Text(format_age(updated_at(status, manual), ctx.now), style=colours.muted),
            "note": note,
        },
    )


def newest(status: MetricStatus, ctx: Context, width: int) -> Text:
    """``12 at 14:00`` (today) or ``12 on 01 Dec``: the newest reading and when it was taken, as far as it fits."""
    metric = status.metric
    text = Text.assemble((format_value(status.latest, metric.unit, metric.decimals, ctx.currency), "bold"))
    if status.latest_at is not None:
        tz = ZoneInfo(ctx.timezone)
        local, today = status.latest_at.astimezone(tz), ctx.now.astimezone(tz).date()
        when = f" at {local:%H:%M}" if local.date() == today else f" on {local:%d %b}"
        if text.cell_len + len(when) <= width:
            text.append(when, style=ctx.colours.muted)
    return text


def rows(statuses: list[MetricStatus], ctx: Context, manual: set[str] = frozenset()) -> list[Row]:  # type: ignore[assignment]
    """``manual``: the ids of metrics recorded by hand (their "Updated" is when last recorded)."""
    return [row(s, ctx, s.metric.id in manual) for s in statuses]


class MetricsPane(Pane):
    TITLE = "Metrics"
    COLUMNS = (
        Column("name", "  Metric", 20, grow=2, max=30),
        Column("latest", "Newest", 10, grow=1, max=18, right=True),
        Column("source", "Source", 8, drop=2),
        Column("updated", "Updated", 8, right=True, drop=3),
        Column("note", "Trigger", 10, grow=2, drop=1),
    )
