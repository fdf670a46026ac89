"""The metrics pane: the metrics behind the selected KPI, with their source's health."""

from __future__ import annotations

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
            "latest": Text(format_value(status.latest, metric.unit, metric.decimals, ctx.currency), style="bold"),
            "source": Text(metric.source or "", style=colours.bad if failing else colours.muted),
            "updated": Text(format_age(updated_at(status, manual), ctx.now), style=colours.muted),
            "note": note,
        },
    )


def rows(statuses: list[MetricStatus], ctx: Context, manual: set[str] = frozenset()) -> list[Row]:  # type: ignore[assignment]
    """``manual``: the ids of metrics recorded by hand (their "Updated" is when last recorded)."""
    return [row(s, ctx, s.metric.id in manual) for s in statuses]


class MetricsPane(Pane):
    TITLE = "Metrics"
    COLUMNS = (
        Column("name", "  Metric", 20, grow=1, max=30),
        Column("latest", "Latest", 10, right=True),
        Column("source", "Source", 8, drop=2),
        Column("updated", "Updated", 8, right=True, drop=3),
        Column("note", "Trigger", 10, grow=2, drop=1),
    )
