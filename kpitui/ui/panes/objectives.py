"""The objectives pane: each objective with its rolled-up score, status and its KPIs at a glance."""

from __future__ import annotations

from typing import Callable, Iterable

from rich.text import Span, Text

from ...formatting import STATUS_SYMBOL, format_score
from ...model import KpiResult, Snapshot
from ..palette import Palette
from ..view import Context, score_bar, status_symbol
from .base import Column, Pane, Row


def rows(snapshot: Snapshot, ctx: Context, match: Callable[[KpiResult], bool] | None = None) -> list[Row]:
    """One row per objective; with a filter, objectives without a matching KPI are dimmed."""
    out = []
    colours = ctx.colours
    for result in snapshot.objectives:
        title = Text.assemble(status_symbol(result.status, colours), " ", result.objective.title)
        if match is not None:
            hits = sum(1 for r in result.kpis if match(r))
            if hits:
                title.append(f" ({hits})", style=colours.accent)
            else:
                title.stylize(colours.muted)
        kpis = kpi_symbols(result.kpis, colours)
        out.append(
            Row(
                key=result.objective.id,
                cells={
                    "title": title,
                    "kpis": kpis,
                    "score": lambda w, r=result: labelled_score(r.score, w, colours.status(r.status), colours.muted),
                },
            )
        )
    return out


def kpi_symbols(results: Iterable[KpiResult], colours: Palette) -> Text:
    """Each KPI's status symbol (``!`` for an error) in its status colour: one character and one span each, as
    ``Text.append`` would make them, without its checks per symbol (300 of them at each refresh with 300 KPIs)."""
    symbols: list[str] = []
    spans: list[Span] = []
    for index, r in enumerate(results):
        symbols.append("!" if r.error else STATUS_SYMBOL.get(r.status, "?"))
        style = colours.bad if r.error else colours.status(r.status)
        if style:
            spans.append(Span(index, index + 1, style))
    return Text("".join(symbols), spans=spans)


def labelled_score(score: float | None, width: int, colour: str, muted: str) -> Text:
    """``██▌░ score 75%``: the objective's rolled-up score says that it is one (the pane has no header)."""
    if score is None:
        return Text("no score", style=muted)
    label = f"score {format_score(score)}"
    bar_w = width - len(label) - 1
    if bar_w < 2:
        return Text(label.rjust(width), style=colour)
    bar = score_bar(score, bar_w + 5, colour, muted)  # its own percentage (5 cells) is replaced by the label
    return Text.assemble(bar[:bar_w], " ", ("score ", muted), (label.removeprefix("score "), colour))


class ObjectivesPane(Pane):
    TITLE = "Objectives"
    SHOW_HEADER = False
    COLUMNS = (
        Column("title", "Objective", 22, grow=1),
        Column("kpis", "KPIs", 5, drop=2),
        Column("score", "Score", 10, grow=2, max=18, drop=1),
    )
