"""Snapshot tests (pytest-textual-snapshot): fixed readings, a fixed clock, no collecting.

Update after an intended change with ``pytest tests/ui --snapshot-update`` and
look at the report before committing the new SVGs.
"""

from __future__ import annotations

import datetime as dt

import pytest
import textual.constants
from textual.widgets import Input
from ui_helpers import NOW, make_app, wait_for, wait_ready

from kpitui.store import Store


@pytest.fixture(autouse=True)
def truecolor(monkeypatch):
    """The same pictures whatever $TERM says (a plain xterm would pick the 16-colour palette)."""
    monkeypatch.setattr(textual.constants, "COLOR_SYSTEM", "truecolor")


def ready_then(*keys: str, wait_chart: bool = False):
    """A run_before: wait for the data, press ``keys``, wait again, stop input cursors blinking."""

    async def run_before(pilot) -> None:
        await wait_ready(pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await wait_ready(pilot)
        if wait_chart:
            await wait_for(pilot, lambda: pilot.app.screen.query_one("#chart").spec is not None)
        for box in pilot.app.screen.query(Input):
            box.cursor_blink = False
        await pilot.pause()

    return run_before


class TestDashboard:
    def test_dashboard(self, snap_compare, config):
        assert snap_compare(make_app(config), terminal_size=(120, 34), run_before=ready_then())

    def test_dashboard_80x24(self, snap_compare, config):
        assert snap_compare(make_app(config), terminal_size=(80, 24), run_before=ready_then())

    def test_dashboard_80x24_16_colours(self, snap_compare, config, monkeypatch):
        monkeypatch.setattr(textual.constants, "COLOR_SYSTEM", "standard")
        assert snap_compare(make_app(config), terminal_size=(80, 24), run_before=ready_then())

    def test_wide_layout(self, snap_compare, config):
        assert snap_compare(make_app(config), terminal_size=(160, 34), run_before=ready_then())

    def test_year_to_date_previous_period(self, snap_compare, config):
        assert snap_compare(
            make_app(config), terminal_size=(100, 28), run_before=ready_then("y", "left_square_bracket")
        )

    def test_source_in_error(self, snap_compare, config):
        with Store(config.storage.path) as store:
            store.record_health(
                "demo", ok=False, error="timed out after 5s", at=NOW, next_attempt=NOW + dt.timedelta(minutes=2)
            )
        # the profit objective's metrics come from the failing source
        assert snap_compare(make_app(config), terminal_size=(100, 28), run_before=ready_then("shift+tab", "j"))


class TestDetail:
    def test_detail_with_chart(self, snap_compare, config):
        assert snap_compare(make_app(config), terminal_size=(100, 30), run_before=ready_then("enter", wait_chart=True))

    def test_detail_weekly_at_80x24(self, snap_compare, config):
        assert snap_compare(
            make_app(config), terminal_size=(80, 24), run_before=ready_then("enter", "W", wait_chart=True)
        )

    def test_metric_detail(self, snap_compare, config):
        assert snap_compare(
            make_app(config), terminal_size=(100, 30), run_before=ready_then("tab", "enter", wait_chart=True)
        )


class TestModals:
    def test_help(self, snap_compare, fixed_length_config):
        assert snap_compare(
            make_app(fixed_length_config), terminal_size=(100, 34), run_before=ready_then("question_mark")
        )

    def test_add_reading_form_with_an_error(self, snap_compare, config):
        async def run_before(pilot) -> None:
            await ready_then("a")(pilot)
            await wait_for(pilot, lambda: bool(pilot.app.screen.recent))  # the metric's manual readings, by id
            pilot.app.screen.query_one("#value", Input).value = "twelve"
            await pilot.press("ctrl+s")
            await pilot.pause()

        assert snap_compare(make_app(config), terminal_size=(80, 24), run_before=run_before)
