"""What the dashboard shows in its edge states: a filter that matches nothing, a config without KPIs."""

from __future__ import annotations

from ui_helpers import make_app, pane_keys, pane_text, wait_ready


def info(app, widget_id: str) -> str:
    return str(app.screen.query_one(f"#{widget_id}").render())


async def test_a_filter_without_a_match_hides_the_last_kpis_context_and_metrics(config):
    """Typed one key at a time (a match on the way, then none): nothing of the last match stays."""
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_ready(pilot)
        await pilot.press("slash")
        box = app.screen.query_one("#filter")
        box.value = "rev"  # then "revzzz" before the panes' highlight events of "rev" arrive (fast typing)
        box.value = "revzzz"
        await pilot.pause(0.2)
        assert app.screen.kpi_id is None
        assert pane_keys(app, "kpis") == []
        assert pane_keys(app, "metrics") == []
        assert info(app, "kpi-info") == ""
        assert info(app, "metric-info") == ""
        assert "Metrics · " not in app.screen.query_one("#metrics").border_title


async def test_a_pane_message_is_not_cut_at_80_columns(config):
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_ready(pilot)
        await pilot.press("slash", "z", "z", "z")
        await pilot.pause(0.2)
        text = pane_text(app, "kpis")
        assert "no KPI matches “zzz”" in text, text
        assert "…" not in text


async def test_help_says_which_history_file_the_app_shows(config):
    import io

    from rich.console import Console

    from kpitui.ui.screens.help import HelpScreen, help_renderable

    app = make_app(config)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_ready(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=200, record=True, file=io.StringIO())
        console.print(help_renderable(app))
        text = console.export_text()
        assert f"history at {config.storage.path} ([storage] path)" in text  # markup characters shown as they are
        assert str(config.path) in text


async def test_the_one_time_history_notice_is_shown_in_the_tui(config):
    config.history_notice = "kpitui: this config now has its own history /x.sqlite3"
    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        assert any(config.history_notice in n.message for n in app._notifications)


NO_KPIS = """\
[storage]
path = "{storage}"

[metrics.signups]
name = "Newsletter sign-ups"
unit = "count"
trigger = "A visitor viewed /newsletter/thank-you"

[metrics.revenue]
name = "Revenue"
unit = "currency"
"""


async def test_a_config_with_metrics_and_no_kpis_shows_its_metrics(tmp_path):
    from ui_helpers import NOW, wait_for

    from kpitui.api import readings_frame
    from kpitui.config import load_config
    from kpitui.store import Store

    storage = (tmp_path / "h.sqlite3").as_posix()
    (tmp_path / "kpitui.toml").write_text(NO_KPIS.format(storage=storage), encoding="utf-8")
    with Store(storage) as store:
        store.write(
            readings_frame([("signups", NOW.replace(hour=9), 7.0), ("revenue", NOW.replace(hour=9), 120.0)]),
            mode="replace",
        )
    app = make_app(load_config(tmp_path / "kpitui.toml"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_ready(pilot)
        assert pane_keys(app, "metrics") == ["signups", "revenue"]
        assert "7" in pane_text(app, "metrics") and "$120" in pane_text(app, "metrics")
        assert "no KPIs in the config" in pane_text(app, "kpis")
        assert "no KPI selected" not in pane_text(app, "metrics")
        # enter on the row goes to the metrics, enter on a metric opens its detail and chart
        await pilot.press("shift+tab", "enter")
        assert app.focused.id == "metrics"
        await pilot.press("enter")
        from kpitui.ui.screens.detail import DetailScreen

        await wait_for(
            pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.query_one("#chart").spec is not None
        )
        assert "read by no KPI" in str(app.screen.query_one("#detail-summary").render())


async def test_metrics_no_kpi_reads_are_listed_beside_the_objectives(make_config):
    config = make_config(extra_metrics='\n[metrics.page_likes]\nname = "Page likes"\nunit = "count"\n')
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_ready(pilot)
        assert pane_keys(app, "objectives")[-1] == "__metrics__"
        app.show_objective("__metrics__")
        await pilot.pause()
        assert pane_keys(app, "metrics") == ["page_likes"]
