"""The help screen: every binding, generated from the binding lists and the user's keymap."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ...formatting import STATUS_SYMBOL
from ...model import Status
from .. import bindings
from ..palette import palette_of
from ..view import PRORATED
from .tables import section_table


def key_text(app, binding) -> str:
    """How the binding's keys show, after the keymap: ``j / down``."""
    keys = bindings.effective_keys(binding, app.keymap)
    shown = []
    for key in keys.split(","):
        key = key.strip()
        if binding.key_display and keys == binding.key and key == binding.key.split(",")[0]:
            shown.append(binding.key_display)
        else:
            shown.append(app.get_key_display(binding.with_key(key)))
    return " / ".join(dict.fromkeys(shown))


def about(app) -> Table:
    """Which config and which history file the app shows, and on which clock."""
    from ...location import describe

    colours = palette_of(app)
    config = app.config
    table = section_table(colours, "About")
    table.add_column("what", style="bold", no_wrap=True, width=16)
    table.add_column("value", ratio=1, overflow="fold")
    table.add_row("config", Text(f"{config.path.resolve()} ({config.origin})"))
    table.add_row("history", Text(describe(config)))  # Text: "[storage] path" is not markup
    table.add_row("time zone", Text(f"{config.settings.timezone}: every time and period on screen is on this clock"))
    return table


#: what each figure on the dashboard is (the README's "Reading the dashboard" says the same)
COLUMNS = (
    (
        "Objectives",
        (
            "each objective: its KPIs' statuses (one symbol per KPI), then its score, the weighted mean of its "
            "KPIs' scores"
        ),
    ),
    ("Value", "the KPI over the period named under the KPIs (its own window, or the one w m u y t chose)"),
    (
        "Period",
        "the period a KPI's value covers (KPIs over their own windows differ); a narrow terminal leaves the column"
        " out: the line under the KPIs names the selected KPI's",
    ),
    (
        "Target",
        (
            "the target for that period: ≥ stay at or above, ≤ stay at or under; ≥ 6,500 from 5,000: the baseline "
            f"the score (and Progress, but for a ≤ limit) counts from; {PRORATED} 203 / 203 (prorated): an additive "
            "KPI's target scaled from its own window to the one shown"
        ),
    ),
    (
        "Progress",
        (
            "how far the value is toward the target now: value ÷ target, or (value − baseline) ÷ (target − baseline) "
            "with a baseline (for a ≤ limit: the share of the limit used)"
        ),
    ),
    (
        "On pace for",
        (
            "the value projected to the period's end (or the target's due date) at the current rate; ✓: that meets "
            "the target (short of it: no mark; the status says how far)"
        ),
    ),
    (
        "score",
        (
            "0–100% toward the target, on the projection when there is one; it sets the status (under the KPIs, "
            "and an objective's score rolls up its KPIs')"
        ),
    ),
    (
        "vs previous",
        (
            "the change against the previous period (named under the KPIs) cut at the same elapsed time, as % and in"
            " the KPI's unit (pp: percentage points of a percent KPI); partial history: that period starts before "
            "the first reading"
        ),
    ),
    (
        "Trend",
        "the KPI per bucket of its grain, oldest on the left; ▲ in place of a bar: that bucket has an annotation",
    ),
    (
        "Polled",
        "when the source last polled successfully (a separate collector records a poll that finds nothing new at most"
        " once a minute); a manual metric: when it was last recorded; a KPI: its least recently polled metric. Not"
        " the newest reading's time: that is under Newest (kpitui report: Newest reading)",
    ),
    (
        "status line",
        "each source: ● its last poll succeeded, ✖ it failed (the metric's line says why), ◌ polling, · not polled yet",
    ),
    (
        "Newest",
        (
            "a metric's newest reading and when it was taken (a source's reading stands for its bucket: the hour's "
            "count so far at 14:00)"
        ),
    ),
)


def columns(app) -> Table:
    colours = palette_of(app)
    table = section_table(colours, "What the figures are")
    table.add_column("figure", style="bold", no_wrap=True, width=16)
    table.add_column("meaning", ratio=1)
    for name, meaning in COLUMNS:
        table.add_row(name, Text(meaning))
    return table


def help_renderable(app) -> Group:
    colours = palette_of(app)
    parts: list = []
    id_width = max(len(b.id or "") for section in bindings.SECTIONS for b in section.bindings)
    for section in bindings.SECTIONS:
        table = section_table(colours, section.title)
        table.add_column("key", style="bold", no_wrap=True, width=16)
        table.add_column("action", ratio=1)
        table.add_column("id", style=colours.muted, no_wrap=True, width=id_width)
        for binding in section.bindings:
            # Text: a key from [keymap] ("[/x]") is no Rich markup
            table.add_row(Text(key_text(app, binding)), Text(binding.description), Text(binding.id or ""))
        parts.extend([table, Text("")])
    legend = Text()
    for status in (
        Status.ON_TRACK,
        Status.AT_RISK,
        Status.OFF_TRACK,
        Status.NOT_YET,
        Status.NO_DATA,
        Status.UNDEFINED,
        Status.NO_TARGET,
    ):
        legend.append(f"{STATUS_SYMBOL[status]} ", style=colours.status(status))
        legend.append(f"{status.label}   ")
    legend.append("★ ", style=colours.warn)
    legend.append("key metric")
    parts.append(legend)
    parts.extend([Text(""), columns(app)])
    parts.append(
        Text('Remap any key in the config: [keymap] with  id = "keys", e.g.  quit = "ctrl+q".', style=colours.muted)
    )
    parts.extend([Text(""), about(app)])
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    BINDINGS = bindings.HELP

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body") as body:
            body.border_title = "Help"
            body.border_subtitle = "esc closes"
            yield Static(help_renderable(self.app), id="help-text")

    def on_mount(self) -> None:
        self.query_one("#help-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)
