"""The KPI pane's figures say what they are: progress (value toward the target) apart from pace
(the projection), the target for the window shown (prorated or kept), partial history, not yet scored."""

from __future__ import annotations

import datetime as dt
import math

from ui_helpers import make_app, pane_text, wait_for, wait_ready

from kpitui.formatting import format_progress, format_value
from kpitui.model import Status


def headers(app, pane_id: str) -> list[str]:
    pane = app.screen.query_one(f"#{pane_id}")
    return [str(c.label).strip() for c in pane.columns.values()]


def row_of(app, pane: str, name: str) -> list[str]:
    line = next(line for line in pane_text(app, pane).splitlines() if name in line)
    return [c.strip() for c in line.split(" | ")]


def info(app) -> str:
    return str(app.screen.query_one("#kpi-info").render())


async def test_progress_is_value_toward_target_and_pace_is_its_own_labelled_column(config):
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_ready(pilot)
        app.show_objective("profit")
        await pilot.pause()
        result = app.snapshot.kpis["profit"]
        # value 7,704 of a 5,000 target: progress is their ratio, not the pace score (capped at 100%)
        assert (
            result.progress is not None
            and result.score is not None
            and round(result.progress * 100) != round(result.score * 100)
        )
        cells = dict(zip(headers(app, "kpis"), row_of(app, "kpis", "Operating profit")))
        assert cells["Progress"].endswith(format_progress(result.progress))
        assert "On pace for" in cells and cells["On pace for"].startswith(f"${result.projection:,.0f}")
        # the score that sets the status is labelled in the line under the pane
        assert f"score {math.floor(result.score * 100 + 1e-9)}%" in info(app)


async def test_at_80_columns_every_header_and_label_is_whole(config):
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_ready(pilot)
        for pane in ("kpis", "metrics"):
            shown = headers(app, pane)
            labels = [c.label.strip() for c in app.screen.query_one(f"#{pane}").COLUMNS if c.label.strip() in shown]
            assert shown == labels, shown
        assert {"Value", "Target", "Progress", "On pace for"} <= set(headers(app, "kpis"))
        # the objectives pane has no header: its score says it is one
        assert "score " in pane_text(app, "objectives")


async def test_a_prorated_target_is_marked_and_explained(config):
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_ready(pilot)
        await pilot.press("w")
        await wait_for(pilot, lambda: app.snapshot.kpis["leads"].target_basis == "prorated")
        await pilot.pause()
        result = app.snapshot.kpis["leads"]
        target = format_value(result.target.value, "count")
        cells = dict(zip(headers(app, "kpis"), row_of(app, "kpis", "Lead generation")))
        assert cells["Target"] in (f"≈ {target}", f"{target} (prorated)")
        assert f"target {target} prorated from 100 per month" in info(app)
        assert cells["Progress"].endswith(format_progress(result.progress))


async def test_partial_history_instead_of_a_change(config):
    app = make_app(config)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_ready(pilot)
        app.show_objective("clients")
        await pilot.pause()
        assert app.snapshot.kpis["onboarding"].partial_history
        cells = dict(zip(headers(app, "kpis"), row_of(app, "kpis", "Onboarding time")))
        assert cells["vs previous"] == "partial history"
        assert "partial history" in info(app) and "%" not in cells["vs previous"]


async def test_not_yet_scored_at_the_very_start_of_a_period(config):
    start = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    app = make_app(config, now=lambda: start)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_ready(pilot)
        assert app.snapshot.kpis["leads"].status is Status.NOT_YET
        assert row_of(app, "kpis", "Lead generation")[0].startswith("◌ ")
        assert "not yet scored" in info(app)
        await pilot.press("question_mark")
        from io import StringIO

        from rich.console import Console

        from kpitui.ui.screens.help import help_renderable

        console = Console(width=120, record=True, file=StringIO())
        console.print(help_renderable(app))
        assert "◌ not yet scored" in console.export_text()


async def test_a_kept_target_says_so(config):
    app = make_app(config)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_ready(pilot)
        await pilot.press("w")
        await wait_for(pilot, lambda: app.snapshot.kpis["onboarding"].target_basis == "kept")
        app.show_objective("clients")
        await pilot.pause()
        assert "as for its own window (quarter; not an amount to prorate)" in info(app)
        cells = dict(zip(headers(app, "kpis"), row_of(app, "kpis", "Onboarding time")))
        assert "≈" not in cells["Target"] and "prorated" not in cells["Target"]


async def test_progress_just_short_of_the_target_never_reads_100_percent(make_config):
    """996 of a 1,000 target is 99% in the KPI pane and the detail view, as in `kpitui report` (not 100%)."""
    from kpitui.api import readings_frame
    from kpitui.store import Store

    config = make_config(
        extra='[kpis.near]\nname = "Nearly there"\nformula = "sum"\nmetrics = ["signups"]\n'
        'window = "month_to_date"\ntarget = 1000\n[objectives.near]\ntitle = "Near"\nkpis = ["near"]\n',
        readings=False,
    )
    with Store(config.storage.path) as store:
        store.write(readings_frame([("signups", dt.datetime(2026, 3, 2, 12, tzinfo=dt.timezone.utc), 996.0)]))
    app = make_app(config)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_ready(pilot)
        app.show_objective("near")
        await pilot.pause()
        assert app.snapshot.kpis["near"].progress == 0.996
        cells = dict(zip(headers(app, "kpis"), row_of(app, "kpis", "Nearly there")))
        assert cells["Progress"].endswith(" 99%"), cells
        app.open_detail("near", None)
        await wait_ready(pilot)
        assert "progress 99%" in str(app.screen.query_one("#detail-summary").render())


BASELINED = """
[kpis.revenue_level]
name = "Revenue level"
formula = "sum"
metrics = ["revenue"]
window = "month_to_date"
unit = "currency"
target = { kind = "above", value = 9000, baseline = 3000 }

[objectives.revenue]
title = "Revenue"
kpis = ["revenue_level"]
"""


async def test_a_target_shows_the_baseline_its_progress_counts_from(make_config):
    """Progress (value - baseline) / (target - baseline) read 'wrong' against a target cell without the baseline;
    at 80 columns the whole target shows (other columns give way), and the score reads as the report's."""
    app = make_app(make_config(extra=BASELINED))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_ready(pilot)
        app.show_objective("revenue")
        await pilot.pause()
        result = app.snapshot.kpis["revenue_level"]
        assert result.value is not None and result.progress is not None
        assert result.progress == max(0.0, (result.value - 3000) / 6000)
        cells = dict(zip(headers(app, "kpis"), row_of(app, "kpis", "Revenue level")))
        assert cells["Target"] == "≥ $9,000 from $3,000"
        assert cells["Progress"].endswith(format_progress(result.progress))
        objective = app.snapshot.objectives[-1]
        assert f"score {math.floor(objective.score * 100 + 1e-9)}%" in pane_text(app, "objectives")


async def test_a_wide_pane_names_each_kpis_period_and_a_narrower_one_keeps_its_columns(config):
    """KPIs over their own windows sit side by side (a month to date beside a quarter to date): where there is room
    each row says which period its value covers, as the report's Period; where there is not, Period goes first and
    the line under the pane says the selected KPI's."""
    app = make_app(config)
    async with app.run_test(size=(200, 40)) as pilot:
        await wait_ready(pilot)
        assert headers(app, "kpis")[:3] == ["KPI", "Period", "Value"]
        for result in app.screen.listing().kpis(app.screen.objective_id):
            assert row_of(app, "kpis", result.kpi.name)[1] == result.period.label
    app = make_app(config)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_ready(pilot)
        # too narrow for every column: Period goes first, the others stay as they were
        assert "Period" not in headers(app, "kpis") and headers(app, "kpis")[-1] == "Polled"
