"""Alerts in the TUI: evaluated when it collects, a toast, the header, the alerts screen on `!` (also in help and
palette)."""

from __future__ import annotations

import json

from ui_helpers import NOW, make_app, wait_for, wait_ready

from kpitui.api import readings_frame
from kpitui.store import Store
from kpitui.ui import bindings
from kpitui.ui.commands import commands
from kpitui.ui.screens.alerts import AlertsScreen, alerts_table
from kpitui.ui.screens.help import help_renderable

ALERTS = """
[notifiers.file]
type = "command"
command = "cat >> sent.jsonl; echo >> sent.jsonl"

[alerts.leads_low]
kpi = "leads"
when = "value < 1000"
notify = ["file"]

[alerts.revenue_quiet]
metric = "revenue"
when = "stale"
notify = ["file"]
"""


async def test_a_firing_alert_toasts_shows_in_the_header_and_on_the_alerts_screen(make_config, tmp_path):
    config = make_config(extra=ALERTS)
    app = make_app(config, collect=True)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_ready(pilot)
        await wait_for(pilot, lambda: app.alerting is not None and app.alerting.firing, timeout=20)
        # leads: 5 sign-ups and requests a day is far below 1000; revenue's last reading (yesterday noon)
        # is older than 3 x the demo source's 30 s interval
        assert [aid for aid, _ in app.alerting.firing] == ["leads_low", "revenue_quiet"]
        assert "⚠ 2 alerts firing: leads_low, revenue_quiet" in app.sub_title
        assert any("FIRING leads_low: Lead generation: value < 1000" in str(n.message) for n in app._notifications)
        sent = tmp_path / "sent.jsonl"
        await wait_for(pilot, lambda: sent.exists() and sent.read_text().strip(), timeout=20)
        first = json.loads(sent.read_text().splitlines()[0])
        assert first["key"] == "leads_low/1/firing/1"

        await pilot.press("exclamation_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen))
        assert app.screen.query_one("#alerts-table")
        await wait_for(pilot, lambda: _rendered(alerts_table(app), "file: delivered"), timeout=20)
        screen_text = _text(alerts_table(app))
        assert "leads_low" in screen_text and "firing" in screen_text and "file: delivered" in screen_text
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, AlertsScreen))

        # the alert clears: a resolved toast, and the header no longer lists it
        with Store(config.storage.path) as store:
            store.write(readings_frame([("signups", NOW.replace(hour=10), 5000.0)]), mode="replace")
        app.request_evaluate(force=True)
        await wait_for(pilot, lambda: [aid for aid, _ in app.alerting.firing] == ["revenue_quiet"], timeout=20)
        assert "⚠ 1 alert firing: revenue_quiet" in app.sub_title
        assert any("RESOLVED leads_low" in str(n.message) for n in app._notifications)


async def test_the_alerts_key_has_an_id_and_is_in_help_and_the_palette(config):
    binding = next(b for b in bindings.APP if b.id == "alerts")
    assert binding.key == "exclamation_mark" and binding.action == "alerts"
    app = make_app(config)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_ready(pilot)
        titles = {title for title, _, _ in commands(app, app.screen)}
        assert any(t.endswith("Alerts") for t in titles), titles
        assert _rendered(help_renderable(app), "Alerts")
        await pilot.press("exclamation_mark")  # without rules: the screen says how to add them
        await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen))
        assert "No alerts or digests are configured" in _text(alerts_table(app))


def _text(renderable) -> str:
    import io

    from rich.console import Console

    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def _rendered(renderable, needle: str) -> bool:
    return needle in _text(renderable)
