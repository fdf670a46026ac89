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
    from kpitui.ui.screens.help import HelpScreen, help_renderable
    import io

    from rich.console import Console

    app = make_app(config)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_ready(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=200, record=True, file=io.StringIO())
        console.print(help_renderable(app))
        text = console.export_text()
        assert f"history at {config.storage.path}" in text
        assert str(config.path) in text


async def test_the_one_time_history_notice_is_shown_in_the_tui(config):
    config.history_notice = "kpitui: this config now has its own history /x.sqlite3"
    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        assert any(config.history_notice in n.message for n in app._notifications)
