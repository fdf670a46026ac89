"""The add-reading form, driven by Pilot: values typed by unit, and the manual readings it can correct or delete."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

from textual.widgets import Checkbox, Input, OptionList, Select
from ui_helpers import NOW, make_app, wait_for, wait_ready

from kpitui.store import Store
from kpitui.ui.messages import ReadingSaved
from kpitui.ui.screens.add_reading import AddReadingScreen


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


# -- correcting and deleting manual readings ----------------------------------------------


def _typed(config, value: float, at: dt.datetime = NOW - dt.timedelta(hours=1)):
    with Store(config.storage.path) as store:
        reading, _ = store.record_manual("signups", at, value)
    return reading


async def _open_on_signups(pilot):
    app = pilot.app
    await pilot.press("a")
    form = app.screen
    assert isinstance(form, AddReadingScreen)
    form.query_one("#metric", Select).value = "signups"
    await wait_for(pilot, lambda: form.recent and form.recent[0].value == 5)
    return form


async def test_the_form_lists_a_metrics_manual_readings_and_corrects_one(config):
    reading = _typed(config, 5)
    messages = []
    app = make_app(config)
    async with app.run_test(size=(80, 24), message_hook=messages.append) as pilot:
        await wait_ready(pilot)
        before = app.snapshot.kpis["leads"].value
        form = await _open_on_signups(pilot)
        listing = form.query_one("#recent", OptionList)
        assert listing.display and f"#{reading.id}" in str(listing.get_option_at_index(0).prompt)
        listing.focus()
        listing.highlighted = 0
        await pilot.press("enter")
        assert form.editing is not None and form.editing.id == reading.id
        assert form.query_one("#value", Input).value == "5"
        assert form.query_one("#at", Input).value == "2026-03-18 14:30"
        form.query_one("#value", Input).value = "9"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, AddReadingScreen))
        await wait_for(pilot, lambda: app.snapshot.kpis["leads"].value == before + 4)
    with Store(config.storage.path) as store:
        assert store.manual_reading(reading.id).value == 9


async def test_the_form_deletes_a_manual_reading_and_the_kpi_drops(config):
    reading = _typed(config, 5)
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_ready(pilot)
        before = app.snapshot.kpis["leads"].value
        form = await _open_on_signups(pilot)
        form.query_one("#recent", OptionList).focus()
        form.query_one("#recent", OptionList).highlighted = 0
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: not isinstance(app.screen, AddReadingScreen))
        await wait_for(pilot, lambda: app.snapshot.kpis["leads"].value == before - 5)
    with Store(config.storage.path) as store:
        assert reading.id not in [r.id for r in store.manual_readings(["signups"])]


async def test_a_negative_count_in_the_form_is_an_explicit_choice(config):
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_ready(pilot)
        before = app.snapshot.kpis["leads"].value
        await pilot.press("a")
        form = app.screen
        form.query_one("#metric", Select).value = "signups"
        await pilot.pause()
        form.query_one("#value", Input).value = "-3"
        form.query_one("#at", Input).value = "2026-03-18 10:00"
        await pilot.press("ctrl+s")
        assert app.screen is form and "signups is a count, so -3 is refused" in _error(form)
        box = form.query_one("#allow-negative", Checkbox)
        assert box.display
        box.value = True
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, AddReadingScreen))
        await wait_for(pilot, lambda: app.snapshot.kpis["leads"].value == before - 3)


async def test_a_time_later_than_now_in_the_form_is_refused_with_now_beside_it(config):
    """The app's clock is 2026-03-18 15:30 UTC: 17:30 is two hours ahead (typed for 07:30?), 15:33 is clock skew."""
    app = make_app(config)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_ready(pilot)
        await pilot.press("a")
        form = app.screen
        form.query_one("#metric", Select).value = "signups"
        await pilot.pause()
        form.query_one("#value", Input).value = "3"
        form.query_one("#at", Input).value = "2026-03-18 17:30"
        await pilot.press("ctrl+s")
        error = " ".join(_error(form).split())
        assert app.screen is form and "2026-03-18 17:30 UTC is in the future (now 2026-03-18 15:30 UTC)" in error, error
        assert "kpitui record --allow-future" in error
        form.query_one("#at", Input).value = "2026-03-18 15:33"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, AddReadingScreen))
        # the note names the reading's time, as `kpitui record` echoes it
        await wait_for(
            pilot, lambda: any(" = 3 at 2026-03-18 15:33 UTC (reading " in n.message for n in app._notifications)
        )


async def test_a_running_viewer_stops_counting_a_reading_deleted_from_the_command_line(config):
    reading = _typed(config, 5)
    app = make_app(config, refresh_seconds=0.1)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        before = app.snapshot.kpis["leads"].value
        script = str(Path(sys.executable).with_name("kpitui"))
        deleted = subprocess.run(
            [script, "readings", "delete", str(reading.id), "--config", str(config.path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert deleted.returncode == 0 and f"deleted reading {reading.id}" in deleted.stdout, deleted.stderr
        await wait_for(pilot, lambda: app.snapshot.kpis["leads"].value == before - 5, timeout=20)


async def test_a_source_fed_metric_takes_no_reading_typed_by_hand_and_says_why(config):
    """Revenue comes from the demo source: the form offered it, and a typed value would have been mixed into
    what the source counts. The form now offers manual metrics only, and `a` on a source-fed metric says why."""
    from kpitui.ui import navigation

    app = make_app(config)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_ready(pilot)
        navigation.open_detail(app, None, "revenue")
        await pilot.pause()
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AddReadingScreen))
        form = app.screen
        notes = [n.message for n in app._notifications]
        assert any("Revenue is fed by the source demo" in n and "without a source" in n for n in notes), notes
        select = form.query_one("#metric", Select)
        assert select.value is Select.NULL  # not preselected on a metric it cannot take
        offered = {value for _, value in select._options if isinstance(value, str)}
        manual = {m.id for m in config.metrics.values() if m.source == "manual"}
        assert offered == manual and "revenue" not in offered and "expenses" not in offered


async def test_a_metric_of_a_manual_source_with_its_own_id_takes_a_reading_typed_by_hand(make_config):
    """A ``[sources.hand] type = "manual"`` source's metric is a manual metric: the form refused it ("fed by the
    source hand ... Manual readings are for metrics without a source") since the id was compared with "manual"."""
    from kpitui.ui import navigation

    config = make_config(
        extra_sources='[sources.hand]\ntype = "manual"\n',
        extra_metrics='[metrics.temp]\nname = "Temp"\nsource = "hand"\n',
    )
    app = make_app(config)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_ready(pilot)
        navigation.open_detail(app, None, "temp")
        await pilot.pause()
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AddReadingScreen))
        notes = [n.message for n in app._notifications]
        assert not any("fed by the source" in n for n in notes), notes
        select = app.screen.query_one("#metric", Select)
        assert select.value == "temp"
        assert "temp" in {value for _, value in select._options if isinstance(value, str)}
