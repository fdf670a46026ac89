"""Why a KPI moved: its change split by input, one line per input; enter opens that input's chart."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from ...explain import Explanation, label_of
from ...formatting import format_change, format_value
from ...model import KpiResult
from ..literal import literal


@dataclass
class DrillDown(Message):
    """Open the chart of ``ref`` (a metric or a KPI id) at the same window and grain."""

    ref: str


class WhyMoved(OptionList):
    """``Why it moved vs Feb 1–18: +16 =`` then one option per input (``Newsletter sign-ups +12 (20 vs 8)``)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.refs: list[str | None] = []  # per option: the metric or KPI it opens

    def highlighted_ref(self) -> str | None:
        index = self.highlighted
        return self.refs[index] if index is not None and index < len(self.refs) else None

    def show(
        self,
        result: KpiResult | None,
        explanation: Explanation | None,
        names: dict[str, str],
        units: dict[str, str],
        currency: str,
        muted: str = "",
    ) -> None:
        self.clear_options()
        self.refs = []
        if result is None or explanation is None:
            self.border_title = "Why it moved: working it out…"
            return
        kpi = result.kpi
        against = result.previous_period.label or "the previous period"
        if not explanation.decomposed:
            self.border_title = literal(f"Why it moved vs {against}")
            self.add_option(Option(Text(f"{explanation.reason}", style=muted), disabled=True))
            return
        total = format_change(explanation.change, None, kpi.unit, kpi.decimals, currency)
        self.border_title = literal(f"Why it moved vs {against}: {kpi.name} {total} =")
        for part in explanation.contributions:
            line = Text()
            line.append(label_of(part, names))
            line.append(f" {format_change(part.amount, None, kpi.unit, kpi.decimals, currency)}", style="bold")
            if part.current is not None or part.previous is not None:
                unit = units.get(part.ref or "", "number") if part.label not in ("current", "previous") else kpi.unit
                line.append(
                    f"  ({_shown(part.current, unit, currency)} now, {_shown(part.previous, unit, currency)} before)",
                    style=muted,
                )
            if part.ref is not None:
                line.append("  ⏎ chart", style=muted)
            self.add_option(Option(line, id=str(len(self.refs)), disabled=part.ref is None))
            self.refs.append(part.ref)
        if self.option_count and self.highlighted is None:
            self.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        ref = self.refs[int(event.option.id)] if event.option.id is not None else None
        if ref is not None:
            self.post_message(DrillDown(ref))


def _shown(value: float | None, unit: str, currency: str) -> str:
    return "no data" if value is None else format_value(value, unit, None, currency)
