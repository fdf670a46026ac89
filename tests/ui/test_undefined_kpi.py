"""A ratio ÷ 0 shows "⊘ undefined" with why, in the KPI table, the line under it, the objective and the help legend;
never "○ no data" beside a newest reading of "just now"."""

from __future__ import annotations

import datetime as dt
import io

from rich.console import Console
from ui_helpers import NOW, make_app, pane_text, wait_for, wait_ready

from kpitui.api import readings_frame
from kpitui.config import load_config
from kpitui.store import Store

CONFIG = """\
[storage]
path = "{storage}"

[metrics.signups]
name = "Sign-ups"
unit = "count"

[metrics.views]
name = "Ad views"
unit = "count"

[kpis.conversion]
name = "Conversion"
formula = "ratio"
numerator = "signups"
denominator = "views"
window = "today"
target = {{ kind = "reach", value = 0.05 }}

[objectives.grow]
title = "Grow the list"
kpis = ["conversion"]
"""


def config_for(tmp_path):
    storage = (tmp_path / "h.sqlite3").as_posix()
    (tmp_path / "kpitui.toml").write_text(CONFIG.format(storage=storage), encoding="utf-8")
    yesterday = NOW.replace(hour=9) - dt.timedelta(days=1)
    with Store(storage) as store:  # ad views yesterday only: 0 today; 3 sign-ups today
        store.write(
            readings_frame([("views", yesterday, 100.0), ("signups", NOW.replace(hour=9), 3.0)]), mode="replace"
        )
    return load_config(tmp_path / "kpitui.toml")


async def test_a_zero_denominator_reads_undefined_with_why(tmp_path):
    from kpitui.ui.screens.help import help_renderable

    app = make_app(config_for(tmp_path))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_ready(pilot)
        kpis = pane_text(app, "kpis")
        assert "⊘ Conversion" in kpis and "÷ 0" in kpis, kpis
        assert "○" not in kpis
        info = str(app.screen.query_one("#kpi-info").render())
        assert "⊘ undefined: ÷ 0: views is 0" in info, info
        objectives = pane_text(app, "objectives")
        assert "⊘ Grow the list" in objectives, objectives
        from kpitui.ui.screens.detail import DetailScreen

        app.screen.query_one("#kpis").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen))
        summary = str(app.screen.query_one("#detail-summary").render())
        assert "⊘ undefined (÷ 0: views is 0)" in summary, summary
        await wait_for(pilot, lambda: app.screen.query_one("#chart").spec is not None)
        notes = app.screen.query_one("#chart").spec.notes
        assert any(n.startswith("⊘ undefined in ") and "(÷ 0: views is 0)" in n for n in notes), notes
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("question_mark")
        console = Console(width=200, record=True, file=io.StringIO())
        console.print(help_renderable(app))
        assert "⊘ undefined" in console.export_text()


async def test_a_sum_beyond_the_largest_float_reads_overflow(tmp_path):
    """Two sign-up readings of 1e308 today sum to inf: the table says overflow, the info line and the detail why."""
    from kpitui.ui.screens.detail import DetailScreen

    storage = (tmp_path / "h.sqlite3").as_posix()
    config = CONFIG.replace(
        'formula = "ratio"\nnumerator = "signups"\ndenominator = "views"', 'formula = "sum"\nmetrics = ["signups"]'
    )
    (tmp_path / "kpitui.toml").write_text(config.format(storage=storage), encoding="utf-8")
    with Store(storage) as store:
        store.write(
            readings_frame([("signups", NOW.replace(hour=8), 1e308), ("signups", NOW.replace(hour=9), 1e308)]),
            mode="replace",
        )
    app = make_app(load_config(tmp_path / "kpitui.toml"))
    why = "overflow: the value or a sum it reads exceeds 1.8e308, the largest number"
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_ready(pilot)
        kpis = pane_text(app, "kpis")
        assert "⊘ Conversion" in kpis and "overflow" in kpis and "÷ 0" not in kpis, kpis
        info = str(app.screen.query_one("#kpi-info").render())
        assert f"⊘ undefined: {why}" in info, info
        app.screen.query_one("#kpis").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen))
        summary = str(app.screen.query_one("#detail-summary").render())
        assert f"⊘ undefined ({why})" in " ".join(summary.split()), summary
