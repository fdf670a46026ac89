""" "Polled" says when the numbers were last brought up to date: the source's last successful poll,
or for a manual metric when it was last recorded; never a reading's bucket start."""

from __future__ import annotations

import datetime as dt

import pytest
from ui_helpers import NOW, known_readings, make_app, pane_text, wait_ready

from kpitui.formatting import format_age
from kpitui.store import Store


def row_of(app, pane: str, name: str) -> str:
    return next(line for line in pane_text(app, pane).splitlines() if name in line)


async def test_updated_is_the_sources_last_successful_poll(config):
    # the newest demo reading is yesterday noon (its bucket start), the poll was two minutes ago
    with Store(config.storage.path) as store:
        store.record_health(
            "demo", ok=True, at=NOW - dt.timedelta(minutes=2), next_attempt=NOW + dt.timedelta(minutes=1)
        )
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_ready(pilot)
        app.show_objective("profit")
        await pilot.pause()
        assert row_of(app, "kpis", "Operating profit").endswith("2m ago")
        assert row_of(app, "metrics", "Revenue").split(" | ")[3].strip() == "2m ago"


async def test_a_manual_metric_is_updated_when_last_recorded_and_an_unpolled_source_never(config):
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_ready(pilot)
        # manual metrics: when last recorded (sign-ups daily, retainer requests every third day)
        newest = {m: max(at for mid, at, _ in known_readings() if mid == m) for m in ("signups", "requests")}
        assert (
            row_of(app, "metrics", "Newsletter sign-ups").split(" | ")[3].strip()
            == format_age(newest["signups"], NOW)
            == "1d ago"
        )
        # a KPI is as up to date as its least recently updated metric
        assert row_of(app, "kpis", "Lead generation").endswith(format_age(newest["requests"], NOW))
        app.show_objective("profit")
        await pilot.pause()
        # nobody ever polled the demo source: its readings are not "updated 1d ago"
        assert row_of(app, "kpis", "Operating profit").endswith("never")
        assert row_of(app, "metrics", "Revenue").split(" | ")[3].strip() == "never"


async def test_the_detail_views_say_when_the_newest_reading_was_taken(config):
    from kpitui.formatting import format_time

    with Store(config.storage.path) as store:
        store.record_health(
            "demo", ok=True, at=NOW - dt.timedelta(minutes=2), next_attempt=NOW + dt.timedelta(minutes=1)
        )
    newest = max(at for mid, at, _ in known_readings() if mid in ("revenue", "expenses"))
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_ready(pilot)
        app.show_objective("profit")
        await pilot.pause()
        await pilot.press("enter")
        await wait_ready(pilot)
        summary = str(app.screen.query_one("#detail-summary").render())
        assert f"newest reading at {format_time(newest, 'UTC')}" in summary
        await pilot.press("escape", "tab")
        await pilot.press("enter")
        await wait_ready(pilot)
        summary = str(app.screen.query_one("#detail-summary").render())
        assert f"at {format_time(newest, 'UTC')}" in summary
        assert "last polled 2m ago" in summary


async def test_the_newest_reading_says_when_it_was_taken(config):
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_ready(pilot)
        pane = app.screen.query_one("#metrics")
        assert "Newest" in [str(c.label).strip() for c in pane.columns.values()]
        newest = max(at for mid, at, _ in known_readings() if mid == "signups")
        value = next(v for mid, at, v in known_readings() if mid == "signups" and at == newest)
        assert row_of(app, "metrics", "Newsletter sign-ups").split(" | ")[1].strip() == f"{value:.0f} on {newest:%d %b}"


@pytest.mark.slow
async def test_pace_says_by_when(config):
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_ready(pilot)
        await pilot.press("enter")
        await wait_ready(pilot)
        assert "on pace for" in str(app.screen.query_one("#detail-summary").render())
        assert "by the end of 31 Mar 2026" in str(app.screen.query_one("#detail-summary").render())


async def test_the_panes_say_polled_and_vs_previous_as_the_help_does(config):
    """The poll's column is "Polled" (``kpitui report``'s "Newest reading" is the reading's age: "Updated" meant one
    in the TUI and the other in the report), and the change says what it is against."""
    import io

    from rich.console import Console

    from kpitui.ui.screens.help import help_renderable

    app = make_app(config)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_ready(pilot)
        labels = {
            pane: [str(c.label).strip() for c in app.screen.query_one(f"#{pane}").columns.values()]
            for pane in ("kpis", "metrics")
        }
        assert labels["kpis"][-1] == "Polled" and "vs previous" in labels["kpis"]
        assert labels["metrics"][1:4] == ["Newest", "Source", "Polled"]
        assert "Updated" not in labels["kpis"] + labels["metrics"]
        console = Console(width=160, record=True, file=io.StringIO())
        console.print(help_renderable(app))
        text = console.export_text()
        assert "Polled" in text and "vs previous" in text and "Updated" not in text
