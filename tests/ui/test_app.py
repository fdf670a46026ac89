"""Pilot-driven tests of every interaction, asserting on app state and the messages posted."""

from __future__ import annotations

import datetime as dt
import io
import threading

import pytest
from rich.console import Console
from textual.widgets import Input, Select
from ui_helpers import NOW, known_readings, make_app, pane_keys, pane_text, wait_for, wait_ready

from kpitui.api import readings_frame
from kpitui.store import Store
from kpitui.ui import bindings
from kpitui.ui.commands import commands
from kpitui.ui.messages import ConfigFailed, ConfigReloaded, Evaluated, Polled, ReadingSaved, RuntimeReady
from kpitui.ui.panes.base import MESSAGE_KEY
from kpitui.ui.runtime import open_store
from kpitui.ui.screens.add_reading import AddReadingScreen
from kpitui.ui.screens.dashboard import DashboardScreen
from kpitui.ui.screens.detail import DetailScreen, SeriesReady
from kpitui.ui.screens.help import HelpScreen, help_renderable


def of_type(messages, kind):
    return [m for m in messages if isinstance(m, kind)]


# -- start-up and the panes ---------------------------------------------------------------


async def test_first_frame_paints_before_history_loads(config):
    release = threading.Event()

    def slow_store(cfg):
        release.wait(10)
        return open_store(cfg)

    app = make_app(config, store_factory=slow_store)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.snapshot is None
        assert pane_keys(app, "kpis") == []
        assert "opening the history (h.sqlite3, " in pane_text(app, "kpis")  # what is being done, with which file
        assert "opening the history (h.sqlite3, " in pane_text(app, "objectives")
        release.set()
        await wait_ready(pilot)
        assert pane_keys(app, "objectives") == ["leads", "profit", "clients"]


async def test_first_frame_has_the_footer_keys(config):
    """The footer's keys are painted with the first frame, not one refresh later."""
    from kpitui.ui.app import KpiApp

    at_first_refresh: list[int] = []

    class Probe(KpiApp):
        def on_mount(self) -> None:
            super().on_mount()
            self.call_after_refresh(lambda: at_first_refresh.append(len(self.screen.query("FooterKey"))))

    app = Probe(config, collect=False, watch_config=False)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: bool(at_first_refresh))
        assert at_first_refresh[0] > 0


async def test_dashboard_shows_objectives_kpis_and_metrics(config):
    messages = []
    app = make_app(config)
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await wait_ready(pilot)
        assert of_type(messages, RuntimeReady) and of_type(messages, Evaluated)
        assert pane_keys(app, "objectives") == ["leads", "profit", "clients"]
        assert pane_keys(app, "kpis") == ["leads"]
        assert pane_keys(app, "metrics") == ["requests", "signups"] or pane_keys(app, "metrics") == [
            "signups",
            "requests",
        ]
        kpis = pane_text(app, "kpis")
        result = app.snapshot.kpis["leads"]
        assert result.value is not None
        assert f"{result.value:,.0f}" in kpis  # value through format_value
        assert "100" in kpis  # the target
        assert "%" in kpis  # progress and change
        metrics = pane_text(app, "metrics")
        assert "★ Newsletter sign-ups" in metrics
        assert "A visitor viewed /newsletter/thank-you" in metrics
        assert "manual" in metrics


async def test_tab_and_shift_tab_move_between_panes(config):
    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        assert app.focused.id == "kpis"
        await pilot.press("tab")
        assert app.focused.id == "metrics"
        await pilot.press("tab")
        assert app.focused.id == "objectives"
        await pilot.press("shift+tab")
        assert app.focused.id == "metrics"


async def test_j_k_and_arrows_select_objective_and_kpis_follow(config):
    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        screen = app.screen
        await pilot.press("shift+tab")
        assert app.focused.id == "objectives"
        await pilot.press("j")
        assert screen.objective_id == "profit"
        assert pane_keys(app, "kpis") == ["profit"]
        assert set(pane_keys(app, "metrics")) == {"revenue", "expenses"}
        await pilot.press("down")
        assert screen.objective_id == "clients"
        assert pane_keys(app, "kpis") == ["onboarding"]
        await pilot.press("k", "up")
        assert screen.objective_id == "leads"
        await pilot.press("enter")  # enter on an objective goes to its KPIs
        assert app.focused.id == "kpis"


async def test_lower_is_better_change_is_green_when_it_falls(config):
    app = make_app(config)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_ready(pilot)
        # its own window (quarter to date) compares with a quarter before the first reading: partial history
        assert app.snapshot.kpis["onboarding"].partial_history
        await pilot.press("m")  # month to date: the previous month is all in the history
        await wait_for(
            pilot,
            lambda: app.window == "month_to_date" and app.snapshot.kpis["onboarding"].period.label.startswith("Mar"),
        )
        onboarding = app.snapshot.kpis["onboarding"]
        assert onboarding.change is not None and onboarding.change < 0
        from kpitui.ui.palette import palette_of
        from kpitui.ui.view import change_text

        colours = palette_of(app)
        assert change_text(onboarding, "$", colours).style == colours.good
        leads = app.snapshot.kpis["leads"]
        expected = colours.good if leads.change > 0 else colours.bad
        assert change_text(leads, "$", colours).style == expected


# -- detail ---------------------------------------------------------------------------------


@pytest.mark.slow
async def test_enter_opens_detail_with_chart_grain_keys_and_escape_back(config):
    messages = []
    app = make_app(config)
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        await wait_ready(pilot)
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        await wait_ready(pilot)
        screen = app.screen
        assert screen.kpi_id == "leads"
        assert screen.shown == ("day", "month_to_date", 0)
        ready = of_type(messages, SeriesReady)
        assert ready and len(ready[-1].points) == 31
        chart = screen.query_one("#chart")
        assert chart.spec is not None and chart.spec.target.value == 100
        for key, grain in (("W", "week"), ("M", "month"), ("H", "hour"), ("D", "day"), ("g", "week")):
            await pilot.press(key)
            await wait_ready(pilot)
            assert screen.shown[0] == grain
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_enter_on_metric_opens_detail_with_the_metric(config):
    app = make_app(config)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_ready(pilot)
        await pilot.press("tab", "enter")
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.kpi_id == "leads"
        metric_id = app.screen.metric_id
        assert metric_id in {"signups", "requests"}
        await wait_ready(pilot)
        chart = app.screen.query_one("#chart").spec
        assert chart.name == f"{config.metrics[metric_id].name} by day"
        assert chart.target is None  # a metric has no target; its KPI does
        assert "behind Lead generation" in str(app.screen.query_one("#detail-summary").render())


async def test_window_keys_change_every_kpi_and_zero_goes_back(config):
    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        assert app.snapshot.kpis["leads"].period.label == "Mar 2026 to date"
        assert app.snapshot.kpis["onboarding"].period.label.startswith("Q1 2026")
        for key, window, label in (
            ("w", "week_to_date", "W12 2026 to date"),
            ("m", "month_to_date", "Mar 2026 to date"),
            ("u", "quarter_to_date", "Q1 2026 to date"),
            ("y", "year_to_date", "2026 to date"),
        ):
            await pilot.press(key)
            await wait_ready(pilot)
            assert app.window == window
            assert {r.period.label for r in app.snapshot.kpis.values()} == {label}
        await pilot.press("t")
        await wait_ready(pilot)
        assert app.window == "trailing_30d"
        await pilot.press("0")
        await wait_ready(pilot)
        assert app.window == ""
        assert app.snapshot.kpis["leads"].period.label == "Mar 2026 to date"
        assert app.snapshot.kpis["onboarding"].period.label.startswith("Q1 2026")


async def test_brackets_step_to_previous_and_next_period(config):
    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        await pilot.press("left_square_bracket")
        await wait_ready(pilot)
        assert app.offset == 1
        assert app.snapshot.kpis["leads"].period.label == "Feb 2026"
        await pilot.press("left_square_bracket")
        await wait_ready(pilot)
        assert app.snapshot.kpis["leads"].period.label == "Jan 2026"
        await pilot.press("right_square_bracket", "right_square_bracket")
        await wait_ready(pilot)
        assert app.offset == 0
        assert app.snapshot.kpis["leads"].period.label == "Mar 2026 to date"
        await pilot.press("right_square_bracket")  # already current: stays
        assert app.offset == 0


# -- data ------------------------------------------------------------------------------------


async def test_refresh_rereads_the_store(config):
    app = make_app(config, refresh_seconds=3600)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        before = app.snapshot.kpis["leads"].value
        with Store(config.storage.path) as other:  # like `kpitui record` from another terminal
            other.write(readings_frame([("signups", NOW - dt.timedelta(hours=1), 50.0)]), mode="replace")
        await pilot.press("r")
        await wait_for(pilot, lambda: app.snapshot.kpis["leads"].value == before + 50)


async def test_light_check_picks_up_readings_from_another_process(config):
    app = make_app(config, refresh_seconds=0.1)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        before = app.snapshot.kpis["leads"].value
        with Store(config.storage.path) as other:
            other.write(readings_frame([("requests", NOW - dt.timedelta(hours=2), 7.0)]), mode="replace")
        await wait_for(pilot, lambda: app.snapshot.kpis["leads"].value == before + 7)


async def test_add_reading_validates_inline_then_saves(config):
    messages = []
    app = make_app(config)
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        await wait_ready(pilot)
        before = app.snapshot.kpis["leads"].value
        await pilot.press("a")
        form = app.screen
        assert isinstance(form, AddReadingScreen)
        assert form.query_one("#metric", Select).value in {"signups", "requests"}
        form.query_one("#metric", Select).value = "signups"
        # no value
        await pilot.press("ctrl+s")
        assert app.screen is form
        assert "enter a number" in str(form.query_one("#form-error").render())
        # not a number
        form.query_one("#value", Input).value = "lots"
        await pilot.press("ctrl+s")
        assert app.screen is form and "not a number" in str(form.query_one("#form-error").render())
        # a bad time
        form.query_one("#value", Input).value = "12"
        form.query_one("#at", Input).value = "yesterday-ish"
        await pilot.press("ctrl+s")
        assert app.screen is form and "not a time" in str(form.query_one("#form-error").render())
        # a good one
        form.query_one("#at", Input).value = "2026-03-18 09:30"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, AddReadingScreen))
        saved = of_type(messages, ReadingSaved)
        assert saved and saved[-1].metric == "signups" and saved[-1].value == 12
        assert saved[-1].at == dt.datetime(2026, 3, 18, 9, 30, tzinfo=dt.timezone.utc)
        await wait_for(pilot, lambda: app.snapshot.kpis["leads"].value == before + 12)
        with Store(config.storage.path) as store:
            frame, _ = store.load()
        assert frame.filter((frame["metric"] == "signups") & (frame["value"] == 12.0)).height >= 1


@pytest.mark.slow
async def test_add_reading_escape_cancels(config):
    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        await pilot.press("a")
        assert isinstance(app.screen, AddReadingScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_filter_narrows_kpis_and_metrics(config):
    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        await pilot.press("slash")
        assert app.focused.id == "filter"
        await pilot.press(*"reven")
        assert pane_keys(app, "kpis") == ["profit"]
        assert pane_keys(app, "metrics") == ["revenue"]
        await pilot.press("enter")
        assert app.focused.id == "kpis"
        await pilot.press("slash", *"zzz")
        assert pane_keys(app, "kpis") == []
        assert "no KPI matches" in pane_text(app, "kpis")
        await pilot.press("escape")
        assert app.screen.filter_text == ""
        assert pane_keys(app, "kpis") == ["leads"]


async def test_help_lists_every_binding_with_the_users_keys(make_config):
    config = make_config(extra='\n[keymap]\nrefresh = "ctrl+r"\n')
    app = make_app(config)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_ready(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(help_renderable(app))
        text = console.export_text()
        for section in bindings.SECTIONS:
            for binding in section.bindings:
                assert binding.id in text
                assert binding.description in text
        assert "^r" in text
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


@pytest.mark.slow
async def test_palette_has_every_action_as_category_colon_action(config):
    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        titles = {title for title, _, _ in commands(app, app.screen)}
        for scope in ("app", "dashboard"):
            section = next(s for s in bindings.SECTIONS if s.scope == scope)
            for binding in section.bindings:
                if binding.id not in bindings.NOT_IN_PALETTE:
                    assert f"{bindings.CATEGORY[binding.id]}: {binding.description}" in titles
        assert "kpi: Open Lead generation" in titles
        # run one through the real palette
        await pilot.press("ctrl+p")
        await pilot.press(*"year to date")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.window == "year_to_date")


async def test_theme_toggle(config):
    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        dark = app.current_theme.dark
        await pilot.press("ctrl+t")
        assert app.current_theme.dark is not dark
        await pilot.press("ctrl+t")
        assert app.current_theme.dark is dark


async def test_keymap_remaps_and_unknown_ids_warn(make_config):
    config = make_config(extra='\n[keymap]\nquit = "x"\nrefrsh = "z"\n')
    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        assert "refrsh" in app.problems["keymap"] and "refresh" in app.problems["keymap"]
        assert app.screen.query_one("#banner").display
        await pilot.press("q")
        assert app.is_running
        await pilot.press("x")
        await wait_for(pilot, lambda: not app.is_running)
    assert app.return_code == 0


async def test_q_quits(config):
    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running)


# -- errors ------------------------------------------------------------------------------------


async def test_failing_source_shows_its_error_on_its_own_metrics_only(config):
    with Store(config.storage.path) as store:
        store.record_health(
            "demo", ok=False, error="timed out after 5s", at=NOW, next_attempt=NOW + dt.timedelta(minutes=1)
        )
    app = make_app(config)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_ready(pilot)
        assert "timed out" not in pane_text(app, "metrics")  # leads: manual metrics
        await pilot.press("shift+tab", "j")
        assert set(pane_keys(app, "metrics")) == {"revenue", "expenses"}
        metrics = pane_text(app, "metrics")
        assert metrics.count("✖ timed out after 5s") == 2
        assert "timed out" in str(app.screen.query_one("#metric-info").render())


async def test_kpi_error_is_shown(config):
    app = make_app(config)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_ready(pilot)
        app.runtime.engine.errors["leads"] = "formula 'sum' (plugin x) failed: boom"
        app.request_evaluate(force=True)
        await wait_for(pilot, lambda: app.snapshot.kpis["leads"].error is not None)
        await pilot.pause()
        assert "error" in pane_text(app, "kpis")
        assert "boom" in str(app.screen.query_one("#kpi-info").render())


async def test_store_that_cannot_open_is_a_banner_not_a_crash(config):
    def broken(cfg):
        raise OSError("disk on fire")

    app = make_app(config, store_factory=broken)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: "store" in app.problems)
        assert "disk on fire" in app.problems["store"]
        assert app.screen.query_one("#banner").display
        await pilot.press("a")  # the form still opens; saving says why it cannot
        app.screen.query_one("#metric", Select).value = "signups"
        app.screen.query_one("#value", Input).value = "3"
        await pilot.press("ctrl+s")
        assert "not open" in str(app.screen.query_one("#form-error").render())


# -- config reload -------------------------------------------------------------------------------


async def test_config_reload_bad_edit_keeps_last_good_and_good_edit_applies(config):
    messages = []
    app = make_app(config, watch_config=True, config_check_seconds=0.05)
    async with app.run_test(message_hook=messages.append) as pilot:
        await wait_ready(pilot)
        good_text = config.path.read_text()
        before = app.snapshot
        config.path.write_text(good_text.replace('window = "month_to_date"', 'window = "fortnight"', 1))
        await wait_for(pilot, lambda: "config" in app.problems)
        assert of_type(messages, ConfigFailed)
        assert "fortnight" in app.problems["config"]
        assert app.screen.query_one("#banner").display
        assert app.snapshot is before and app.runtime is not None
        config.path.write_text(good_text.replace('name = "Lead generation"', 'name = "Leads in"'))
        await wait_for(pilot, lambda: of_type(messages, ConfigReloaded))
        await wait_for(pilot, lambda: app.snapshot.kpis["leads"].kpi.name == "Leads in")
        assert "config" not in app.problems
        assert "Leads in" in pane_text(app, "kpis")
        assert app.snapshot.kpis["leads"].value == before.kpis["leads"].value  # history kept


# -- live collecting ------------------------------------------------------------------------------


async def test_sources_are_polled_and_a_slow_one_fails_alone(make_config):
    config = make_config(
        extra_sources="""
        [sources.fast]
        type = "command"
        interval = 0.2

        [sources.slow]
        type = "command"
        timeout = 0.3
        interval = 0.2
        """,
        extra_metrics="""
        [metrics.visitors]
        name = "Visitors"
        source = "fast"
        command = "echo 42"

        [metrics.stuck]
        name = "Stuck metric"
        source = "slow"
        command = "sleep 5"
        """,
        extra="""
        [kpis.traffic]
        name = "Traffic"
        formula = "sum"
        metrics = ["visitors", "stuck"]
        window = "month_to_date"

        [objectives.traffic]
        title = "Traffic"
        kpis = ["traffic"]
        """,
    )
    messages = []
    app = make_app(config, collect=True)
    async with app.run_test(size=(120, 30), message_hook=messages.append) as pilot:
        await wait_for(pilot, lambda: {"fast", "slow"} <= {m.source for m in of_type(messages, Polled)}, timeout=15)
        polled = {m.source: m.result for m in of_type(messages, Polled)}
        assert polled["fast"].error is None
        assert "timed out" in polled["slow"].error
        # the fast source was polled again while the slow one was stuck: timers re-arm per source
        await wait_for(pilot, lambda: sum(1 for m in of_type(messages, Polled) if m.source == "fast") >= 2, timeout=15)
        await wait_for(
            pilot,
            lambda: (
                app.snapshot is not None
                and app.snapshot.metrics["stuck"].health is not None
                and app.snapshot.metrics["stuck"].health.error
            ),
        )
        assert app.snapshot.metrics["visitors"].latest == 42
        assert app.snapshot.metrics["visitors"].health.error is None
        app.show_objective("traffic")
        await pilot.pause()
        metrics = pane_text(app, "metrics")
        stuck_line = next(line for line in metrics.splitlines() if "Stuck" in line)
        visitors_line = next(line for line in metrics.splitlines() if "Visitors" in line)
        assert "timed out" in stuck_line and "✖" not in visitors_line


async def test_no_collect_polls_nothing(make_config):
    config = make_config(
        extra_sources='\n[sources.fast]\ntype = "command"\ninterval = 0.1\n',
        extra_metrics='\n[metrics.visitors]\nsource = "fast"\ncommand = "echo 42"\n',
    )
    messages = []
    app = make_app(config, collect=False)
    async with app.run_test(message_hook=messages.append) as pilot:
        await wait_ready(pilot)
        await pilot.pause(0.4)
        assert not of_type(messages, Polled)
        assert app.runtime.collector is None


# -- terminals --------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_resizing_never_breaks(config):
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_ready(pilot)
        for size in ((40, 12), (200, 60), (80, 24), (155, 30), (100, 20)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
        await pilot.press("enter")
        await wait_ready(pilot)
        for size in ((30, 10), (120, 40)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
        assert app.is_running
        assert (
            pane_keys(app, "kpis")
            if isinstance(app.screen, DashboardScreen)
            else app.screen.query_one("#chart").spec is not None
        )


async def test_every_binding_has_an_id():
    from kpitui.ui.app import KpiApp
    from kpitui.ui.panes.base import Pane

    for cls in (KpiApp, DashboardScreen, DetailScreen, HelpScreen, AddReadingScreen, Pane):
        for binding in cls.BINDINGS:
            assert binding.id, f"{cls.__name__}: {binding.key} has no id"
    ids = [b.id for s in bindings.SECTIONS for b in s.bindings]
    assert len(ids) == len(set(ids))
    assert MESSAGE_KEY not in ids


async def test_app_keys_do_not_fire_behind_the_form(config):
    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        await pilot.press("a")
        form = app.screen
        form.query_one("#cancel").focus()
        await pilot.press("q", "w", "left_square_bracket")
        assert app.is_running and app.screen is form
        assert app.window == "" and app.offset == 0


async def test_kpis_without_an_objective_are_listed(make_config):
    config = make_config(
        extra='\n[kpis.costs]\nname = "Costs"\nformula = "sum"\nmetrics = ["expenses"]\nunit = "currency"\n'
    )
    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        assert pane_keys(app, "objectives")[-1] == "__unassigned__"
        app.show_objective("__unassigned__")
        await pilot.pause()
        assert pane_keys(app, "kpis") == ["costs"]
        assert pane_keys(app, "metrics") == ["expenses"]


async def test_keys_typed_fast_follow_the_focus(config):
    """tab then j in one burst: j moves the pane tab went to (focus changes at once)."""
    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        await pilot.press("shift+tab", "j", "slash", "r", "e", "v")
        assert app.screen.objective_id == "profit"
        assert app.screen.filter_text == "rev"


async def test_quick_successive_config_edits_keep_the_history_usable(config):
    app = make_app(config, watch_config=True, config_check_seconds=0.02)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        text = config.path.read_text()
        for name in ("One", "Two", "Three"):
            config.path.write_text(text.replace('name = "Lead generation"', f'name = "{name}"'))
            await pilot.pause(0.05)
        await wait_for(pilot, lambda: app.snapshot.kpis["leads"].kpi.name == "Three")
        before = app.snapshot.kpis["leads"].value
        with Store(config.storage.path) as other:
            other.write(readings_frame([("signups", NOW - dt.timedelta(hours=1), 5.0)]), mode="replace")
        await pilot.press("r")
        await wait_for(pilot, lambda: app.snapshot.kpis["leads"].value == before + 5)
        assert "store" not in app.problems and "evaluate" not in app.problems


async def test_palette_offers_every_window(config):
    from kpitui.periods import WINDOW_NAMES

    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        found = {title: callback for title, _, callback in commands(app, app.screen)}
        assert "window: Last month" in found and "window: Trailing 90d" in found
        assert len([t for t in found if t.startswith("window: ")]) == len(WINDOW_NAMES) + 1  # + each KPI's own
        await found["window: Last month"]()
        await wait_ready(pilot)
        assert app.window == "last_month"
        assert app.snapshot.kpis["leads"].period.label == "Feb 2026"


async def test_the_dashboard_down_samples_old_readings_like_kpitui_collect(make_config, tmp_path):
    config = make_config()
    path = config.path
    path.write_text(path.read_text().replace("[storage]\n", "[storage]\nraw_retention_days = 30\n", 1))
    old = (NOW - dt.timedelta(days=60)).replace(hour=12, minute=0, second=0, microsecond=0)
    with Store(config.storage.path) as store:
        store.write(
            readings_frame([("signups", old + dt.timedelta(minutes=m), 1.0) for m in (10, 20, 30)]), mode="replace"
        )
    from kpitui.config import load_config

    config = load_config(path)
    app = make_app(config, collect=True)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        await wait_for(pilot, lambda: not any(w.group == "compact" and not w.is_finished for w in app.workers))
    with Store(config.storage.path) as store:
        frame, _ = store.load()
    hour = frame.filter(
        (frame["metric"] == "signups") & (frame["at"] >= old) & (frame["at"] < old + dt.timedelta(hours=1))
    )
    assert hour.height == 1 and hour["n"].to_list() == [4]  # noon's reading + the three: one row standing for four
    noon = sum(v for m, at, v in known_readings() if m == "signups" and at == old)
    assert hour["value"].to_list() == [noon + 3.0]
