"""The metrics pane: the metrics behind the selected KPI, with their source's health."""

from __future__ import annotations

from typing import AbstractSet, Mapping
from zoneinfo import ZoneInfo

from rich.text import Text

from ...formatting import format_age, format_value
from ...model import MetricStatus
from ...polled import polled_at
from ..view import Context
from .base import Column, Pane, Row


def row(status: MetricStatus, ctx: Context, manual: bool = False, doing: list[str] | None = None) -> Row:
    """``doing``: the source's work in progress (:meth:`kpitui.progress.Tracker.parts`), shown in place of
    the newest reading and the trigger while it lasts."""
    metric, colours = status.metric, ctx.colours
    health = status.health
    error = health.error if health is not None else None
    failing = error is not None
    if doing is not None:  # a backlog: "◌ importing access.log.3.gz, 41%, 1m 10s left"
        note = Text(f"◌ {metric.source}: {', '.join(doing)}", style=colours.muted)
    elif error is not None:
        note = Text(f"✖ {error}", style=colours.bad)
    elif metric.trigger is not None:
        note = Text(metric.trigger.text, style=colours.muted)
    else:
        note = Text(metric.description, style=colours.muted)
    return Row(
        key=metric.id,
        cells={
            "name": Text.assemble(("★ ", colours.warn) if metric.is_key else "  ", metric.name),
            "latest": (lambda w: importing(doing, ctx, w)) if doing is not None else (lambda w: newest(status, ctx, w)),
            "source": Text(metric.source or "", style=colours.bad if failing else colours.muted),
            "polled": Text(format_age(polled_at(status, manual), ctx.now), style=colours.muted),
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


def importing(doing: list[str], ctx: Context, width: int) -> Text:
    """``◌ 41%, 1m 10s left`` (or as much as fits) for a source taking in a backlog: its newest reading is not yet the
    newest."""
    how_far = doing[1:] or doing[:1]
    while len(how_far) > 1 and len(", ".join(how_far)) + 2 > width:
        how_far = how_far[:-1]
    return Text("◌ " + ", ".join(how_far), style=ctx.colours.muted)


def rows(
    statuses: list[MetricStatus],
    ctx: Context,
    manual: AbstractSet[str] = frozenset(),
    doing: Mapping[str, list[str]] | None = None,
) -> list[Row]:
    """``manual``: the ids of metrics recorded by hand (their "Polled" is when last recorded);
    ``doing``: per source, its work in progress (a backlog being imported)."""
    doing = doing or {}
    return [row(s, ctx, s.metric.id in manual, doing.get(s.metric.source or "")) for s in statuses]


class MetricsPane(Pane):
    TITLE = "Metrics"
    COLUMNS = (
        Column("name", "  Metric", 20, grow=2, max=30),
        Column("latest", "Newest", 10, grow=1, max=18, right=True),
        Column("source", "Source", 8, drop=2),
        Column("polled", "Polled", 8, right=True, drop=3),
        Column("note", "Trigger", 10, grow=2, drop=1),
    )
