"""The alerts screen: every rule and digest, its state, when it last fired and the last delivery."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ...console import escape_controls as literal_text
from .. import bindings
from ..palette import palette_of
from .tables import section_table


def alerts_table(app) -> Table | Text:
    from ...alerts.commands import describe

    colours = palette_of(app)
    data = describe(app.config, app.config.storage.path)
    if not data["alerts"] and not data["digests"]:
        return Text(
            "No alerts or digests are configured: add [notifiers.ID] and [alerts.ID] tables (see the README's "
            "Alerts section)."
        )
    table = section_table(colours, "Alerts", show_header=True)
    table.add_column("Alert", style="bold", no_wrap=True)
    table.add_column("State", no_wrap=True)
    table.add_column("Rule", overflow="fold")
    table.add_column("Now", overflow="fold", ratio=2)
    table.add_column("Last fired", no_wrap=True)
    table.add_column("Last delivery", overflow="fold", ratio=1)
    for a in data["alerts"]:
        state = {
            "firing": Text("✖ firing", style=colours.bad),
            "ok": Text("● ok", style=colours.good),
            "unknown": Text("○ not yet", style=colours.muted),
        }[a["state"]]
        deliveries = "; ".join(
            f"{d['notifier']}: {d['result'] or 'none'}" + (f" ({d['error']})" if d["error"] else "")
            for d in a["deliveries"]
        )
        table.add_row(  # Text: an alert's id, text or delivery error may hold "[/x]" (Rich markup)
            Text(literal_text(a["id"])),
            state,
            Text(literal_text(f"{a['when']} · {a['watches']['kind']} {a['watches']['id']}")),
            Text(literal_text(a["text"] or "")),
            (a["last_fired"] or "never")[:16].replace("T", " "),
            Text(literal_text(deliveries)),
        )
    for g in data["digests"]:
        deliveries = "; ".join(
            f"{d['notifier']}: {d['result'] or 'none'}" + (f" ({d['error']})" if d["error"] else "")
            for d in g["deliveries"]
        )
        table.add_row(
            Text(literal_text(f"digest {g['id']}")),
            Text("· scheduled", style=colours.muted),
            Text(literal_text(g["schedule"])),
            f"{g['format']} report",
            (g["last_slot"] or "never")[:16].replace("T", " "),
            Text(literal_text(deliveries)),
        )
    return table


class AlertsScreen(ModalScreen[None]):
    """Rules, state and deliveries (times in UTC); escape closes."""

    BINDINGS = bindings.HELP

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="alerts-body"):
            yield Static(alerts_table(self.app), id="alerts-table")

    def action_close(self) -> None:
        self.dismiss(None)
