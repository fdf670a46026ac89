"""The add-reading form, driven by Pilot: values typed by unit, and the manual readings it can correct or delete."""

from __future__ import annotations

import datetime as dt

from textual.widgets import Input, Select

from kpitui.store import Store
from kpitui.ui.messages import ReadingSaved
from kpitui.ui.screens.add_reading import AddReadingScreen
from ui_helpers import make_app, wait_for, wait_ready


def _error(form) -> str:
    return str(form.query_one("#form-error").render())


async def test_a_duration_metric_takes_durations_as_people_type_them(config):
    messages = []
    app = make_app(config)
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        await wait_ready(pilot)
        await pilot.press("a")
        form = app.screen
        assert isinstance(form, AddReadingScreen)
        form.query_one("#metric", Select).value = "onboarding_time"
        await pilot.pause()
        assert "4h 30m" in form.query_one("#value", Input).placeholder
        form.query_one("#value", Input).value = "9x"
        await pilot.press("ctrl+s")
        assert app.screen is form and "'9x': expected a duration like 90m, 4h 30m, 9d" in _error(form)
        form.query_one("#value", Input).value = "4h 30m"
        form.query_one("#at", Input).value = "2026-03-17 09:30"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, AddReadingScreen))
        saved = [m for m in messages if isinstance(m, ReadingSaved)]
        assert saved and saved[-1].metric == "onboarding_time" and saved[-1].value == 16200
    with Store(config.storage.path) as store:
        frame, _ = store.load(metrics=["onboarding_time"])
    at = dt.datetime(2026, 3, 17, 9, 30, tzinfo=dt.timezone.utc)
    assert frame.filter(frame["at"] == at)["value"].to_list() == [16200.0]
