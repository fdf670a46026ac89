"""Every key of the UI in one place.

Each binding has an ``id`` (users remap it in the config's ``[keymap]``
table) and a category (the help screen groups by it; the command palette
titles actions "category: description"). Help and palette are generated from
these lists, so they cannot go stale.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

#: binding id -> category
CATEGORY: dict[str, str] = {}
#: binding ids that make no sense from the command palette (cursor movement, closing the palette's own screen…)
NOT_IN_PALETTE: set[str] = set()

#: The windows the window keys switch every KPI to (None: each KPI's own window).
WINDOWS: dict[str, str | None] = {
    "week_to_date": "week to date",
    "month_to_date": "month to date",
    "quarter_to_date": "quarter to date",
    "year_to_date": "year to date",
    "trailing_30d": "last 30 days",
}
GRAINS: tuple[str, ...] = ("hour", "day", "week", "month")


def bind(
    keys: str,
    action: str,
    description: str,
    id: str,
    category: str,
    *,
    show: bool = True,
    key_display: str | None = None,
    palette: bool = True,
    tooltip: str = "",
    priority: bool = False,
) -> Binding:
    CATEGORY[id] = category
    if not palette:
        NOT_IN_PALETTE.add(id)
    return Binding(
        keys,
        action,
        description,
        show=show,
        key_display=key_display,
        tooltip=tooltip or description,
        id=id,
        priority=priority,
    )


APP = [
    bind("q", "quit", "Quit", "quit", "app"),
    bind("question_mark", "help", "Help", "help", "app", key_display="?"),
    bind("ctrl+p", "command_palette", "Commands", "command_palette", "app", show=False, palette=False),
    bind("r", "refresh", "Refresh", "refresh", "data", tooltip="Poll sources now and re-read the history"),
    bind("a", "add_reading", "Add reading", "add_reading", "data", tooltip="Record a manual reading"),
    bind(
        "n",
        "annotate",
        "Annotate",
        "annotate",
        "data",
        show=False,
        tooltip="Add an annotation (a dated note: 'Launched the webinar ads'), marked on the detail chart",
    ),
    bind(
        "exclamation_mark",
        "alerts",
        "Alerts",
        "alerts",
        "data",
        key_display="!",
        show=False,
        tooltip="Alert rules, their state and deliveries",
    ),
    bind("w", "set_window('week_to_date')", "Week to date", "window_week", "window", show=False),
    bind("m", "set_window('month_to_date')", "Month to date", "window_month", "window", show=False),
    bind("u", "set_window('quarter_to_date')", "Quarter to date", "window_quarter", "window", show=False),
    bind("y", "set_window('year_to_date')", "Year to date", "window_year", "window", show=False),
    bind("t", "set_window('trailing_30d')", "Last 30 days", "window_trailing_30d", "window", show=False),
    bind("0", "set_window('')", "Each KPI's own window", "window_own", "window", show=False),
    bind(
        "left_square_bracket",
        "step_period(1)",
        "Previous period",
        "period_previous",
        "period",
        key_display="[",
        show=False,
    ),
    bind(
        "right_square_bracket", "step_period(-1)", "Next period", "period_next", "period", key_display="]", show=False
    ),
    bind(
        "i",
        "cycle_instance",
        "Collector instance: all / each",
        "instance",
        "instance",
        show=False,
        tooltip="a history shared by several collectors (PostgreSQL): show every instance's readings summed, or one "
        "instance's",
    ),
    bind("ctrl+t", "toggle_theme", "Light/dark theme", "toggle_theme", "view", show=False),
]

DASHBOARD = [
    bind("tab", "next_pane", "Next pane", "next_pane", "view", show=False),
    bind("shift+tab", "previous_pane", "Previous pane", "previous_pane", "view", show=False),
    bind("slash", "filter", "Filter", "filter", "view", key_display="/"),
    bind("escape", "clear_filter", "Clear filter", "clear_filter", "view", show=False),
]

PANE = [
    bind("enter", "select_cursor", "Open", "open", "pane", show=False, palette=False),
    bind("down,j", "cursor_down", "Down", "cursor_down", "pane", show=False, palette=False),
    bind("up,k", "cursor_up", "Up", "cursor_up", "pane", show=False, palette=False),
    bind("pageup", "page_up", "Page up", "page_up", "pane", show=False, palette=False),
    bind("pagedown", "page_down", "Page down", "page_down", "pane", show=False, palette=False),
    bind("home,g", "scroll_top", "First row", "first_row", "pane", show=False, palette=False),
    bind("end,G", "scroll_bottom", "Last row", "last_row", "pane", show=False, palette=False),
    bind("left,h", "cursor_left", "Scroll left", "scroll_left", "pane", show=False, palette=False),
    bind("right,l", "cursor_right", "Scroll right", "scroll_right", "pane", show=False, palette=False),
]

DETAIL = [
    bind("escape", "back", "Back", "back", "detail"),
    bind("H", "set_grain('hour')", "Hourly", "grain_hour", "grain", show=False),
    bind("D", "set_grain('day')", "Daily", "grain_day", "grain", show=False),
    bind("W", "set_grain('week')", "Weekly", "grain_week", "grain", show=False),
    bind("M", "set_grain('month')", "Monthly", "grain_month", "grain", show=False),
    bind("g", "cycle_grain", "Next grain", "grain_next", "grain"),
    bind(
        "c",
        "toggle_compare",
        "Compare: previous period / a year earlier",
        "compare",
        "detail",
        show=False,
        tooltip="the chart's second line: the period before, or the same period a year earlier with the difference",
    ),
    bind(
        "enter",
        "drill_down",
        "Open input's chart",
        "drill_down",
        "detail",
        show=False,
        tooltip="open the chart of the input highlighted under 'Why it moved', at the same window and grain",
    ),
]

FORM = [
    bind("escape", "cancel", "Cancel", "form_cancel", "form", palette=False),
    bind("ctrl+s", "save", "Save", "form_save", "form", palette=False),
    bind(
        "ctrl+d",
        "delete_reading",
        "Delete reading",
        "form_delete",
        "form",
        palette=False,
        tooltip="delete the manual reading loaded from (or highlighted in) the form's list",
    ),
]

HELP = [
    bind("escape,question_mark,q", "close", "Close help", "help_close", "help", key_display="esc", palette=False),
]


@dataclass(frozen=True)
class Section:
    title: str
    scope: str  # "app", "dashboard", "pane", "detail", "form", "help"
    bindings: tuple[Binding, ...]


SECTIONS: tuple[Section, ...] = (
    Section("Everywhere", "app", tuple(APP)),
    Section("Dashboard", "dashboard", tuple(DASHBOARD)),
    Section("In a pane", "pane", tuple(PANE)),
    Section("Detail view", "detail", tuple(DETAIL)),
    Section("Add-reading form", "form", tuple(FORM)),
    Section("Help", "help", tuple(HELP)),
)


def all_ids() -> set[str]:
    return {b.id for s in SECTIONS for b in s.bindings if b.id}


def effective_keys(binding: Binding, keymap: dict[str, str]) -> str:
    """The keys a binding answers to once the user's keymap is applied."""
    return keymap.get(binding.id or "", binding.key)
