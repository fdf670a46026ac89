"""The KPI pane: the selected objective's KPIs (or every KPI matching the filter)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from rich.text import Text

from ...formatting import format_age, sparkline
from ...model import KpiResult, Status
from ..view import Context, applied_target_text, change_text, pace_text, progress_bar, status_symbol, value_text
from .base import Column, Pane, Row, fit_columns

#: in the Trend column: this bucket holds an annotation
ANNOTATED = "▲"


def row(result: KpiResult, ctx: Context, polled: dt.datetime | None = None) -> Row:
    kpi, colours = result.kpi, ctx.colours
    if result.error:
        value = Text("error", style=f"bold {colours.bad}")
        symbol = Text("!", style=f"bold {colours.bad}")
    elif result.status is Status.UNDEFINED:  # no number from inputs with data: "÷ 0" or "overflow" where that is why
        why = result.undefined or ""
        shown = "÷ 0" if why.startswith("÷ 0") else "overflow" if why.startswith("overflow") else "undefined"
        value = Text(shown, style=colours.muted)
        symbol = status_symbol(result.status, colours)
    else:
        value = Text(value_text(kpi, result.value, ctx.currency), style="bold")
        symbol = status_symbol(result.status, colours)
    values = [v for _, v in result.series]
    if result.target is None:
        progress = lambda w: Text("no target", style=colours.muted)  # noqa: E731
    else:
        progress = lambda w: progress_bar(result.progress, w, colours.accent, colours.muted)  # noqa: E731
    return Row(
        key=kpi.id,
        cells={
            "name": Text.assemble(symbol, " ", kpi.name),
            "period": Text(result.period.label or "", style=colours.muted),
            "value": value,
            "target": lambda w: Text(applied_target_text(result, ctx.currency, w), style=colours.text),
            "progress": progress,
            "pace": pace_text(result, ctx.currency, colours),
            "change": lambda w: change_text(result, ctx.currency, colours, w),
            "trend": lambda w: trend_text(values, ctx.annotated.get(kpi.id, frozenset()), w, ctx),
            "polled": Text(format_age(polled, ctx.now), style=colours.muted),
        },
    )


def trend_text(values: list[float | None], marked: frozenset[int], width: int, ctx: Context) -> Text:
    """The last ``width`` buckets as a sparkline; a bucket holding an annotation shows ▲ (the detail chart's marker)
    in the warning colour instead of its bar, so the mark shows on the highlighted row too."""
    shown = values[-width:]
    first = len(values) - len(shown)
    text = Text(style=ctx.colours.accent)
    for index, bar in enumerate(sparkline(shown)):
        if first + index in marked:
            text.append(ANNOTATED, style=f"bold {ctx.colours.warn}")
        else:
            text.append(bar)
    return text


def rows(results: list[KpiResult], ctx: Context, polled: dict[str, dt.datetime | None] | None = None) -> list[Row]:
    """``polled``: per KPI, when its metrics were last brought up to date (:func:`kpitui.polled.kpi_polled_at`)."""
    return [row(r, ctx, (polled or {}).get(r.kpi.id)) for r in results]


class KpiPane(Pane):
    TITLE = "KPIs"
    COLUMNS = (
        Column("name", "  KPI", 20, grow=3, max=34),
        Column("period", "Period", 12, drop=7),
        Column("value", "Value", 8, right=True),
        Column("target", "Target", 8, grow=2, max=18, right=True),
        Column("progress", "Progress", 8, grow=4, max=14),
        Column("pace", "On pace for", 11, right=True, drop=2),
        Column("change", "vs previous", 11, grow=1, max=17, right=True, drop=3),
        Column("trend", "Trend", 8, grow=5, max=14, drop=4),
        Column("polled", "Polled", 8, right=True, drop=6),
    )

    #: the Target column's widest: a target with its baseline (``≥ 6,500 from 5,000``) fits it
    TARGET_MAX = 24
    #: the widest a number column (Value, On pace for) grows to: ``-$1,234,567,890,123 ✓`` fits it
    NUMBER_MAX = 22
    #: the widest the Period column grows to: ``Dec 2026 to date``, ``Nov 2026 to Nov 3 18:01`` fits it
    PERIOD_MAX = 24
    #: the columns as wide as their widest cell (up to that width), so that no figure is cut
    FITTED = {"target": TARGET_MAX, "value": NUMBER_MAX, "pace": NUMBER_MAX, "period": PERIOD_MAX}

    def show(self, rows: list[Row], message: str | None = None, select: str | None = None) -> None:
        """The Target, Value and On pace for columns are as wide as their widest cell (up to :attr:`FITTED`), so
        a baseline is never cut off and a number never loses its last digits (``6,790,2…`` of 6,790,251,596,132
        said nothing of its size): other columns drop out first, as on any narrow terminal."""
        self._fitted = {
            key: min(most, max((_natural_width(r.cells.get(key)) for r in rows), default=0))
            for key, most in self.FITTED.items()
        }
        super().show(rows, message, select)

    def _fit(self) -> list[tuple[Column, int]]:
        need = getattr(self, "_fitted", {})
        columns = tuple(replace(c, width=max(c.width, need.get(c.key, 0))) for c in self.COLUMNS)
        return fit_columns(columns, max(20, self.scrollable_content_region.width), self.cell_padding)


def _natural_width(cell: object) -> int:
    """How wide a cell is when nothing limits it."""
    if callable(cell):
        cell = cell(1_000)
    return cell.cell_len if isinstance(cell, Text) else len(str(cell or ""))
