"""A number in the KPI pane is never cut: ``6,790,2…`` (check12's 6,790,251,596,132 at 160 columns) said nothing of
its size. The Value and On pace for columns are as wide as their widest cell, as the Target column is."""

from __future__ import annotations

import datetime as dt

from ui_helpers import NOW, make_app, pane_text, wait_ready

from kpitui.api import readings_frame
from kpitui.formatting import format_projection, format_value
from kpitui.store import Store

BIG = """
[metrics.volume]
name = "Volume"
unit = "number"
aggregation = "sum"
"""

KPI = """
[kpis.volume_today]
name = "Volume"
formula = "sum"
metrics = ["volume"]
window = "month_to_date"
target = { kind = "reach", value = 9e13 }

[objectives.volume]
title = "Volume"
kpis = ["volume_today"]
"""


async def test_a_huge_value_and_its_projection_are_shown_whole(make_config, tmp_path):
    config = make_config(extra=KPI, extra_metrics=BIG)
    with Store(str(tmp_path / "h.sqlite3")) as store:
        # 6,790,251,596,132 on each of Mar 2 and Mar 9: 13,580,503,192,264 by Mar 18 15:30
        days = (NOW - dt.timedelta(days=16), NOW - dt.timedelta(days=9))
        store.write(readings_frame([("volume", at, 6790251596132.0) for at in days]), mode="replace")
    app = make_app(config)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_ready(pilot)
        app.show_objective("volume")
        await pilot.pause()
        result = app.snapshot.kpis["volume_today"]
        assert result.value == 13580503192264.0
        value, pace = format_value(result.value, "number"), format_projection(result)
        assert value == "13,580,503,192,264"  # by hand: 2 x 6,790,251,596,132
        pane = app.screen.query_one("#kpis")
        widths = {str(c.label).strip(): c.width for c in pane.columns.values()}
        row = next(line for line in pane_text(app, "kpis").splitlines() if "Volume" in line)
        assert value in row and pace in row
        assert widths["Value"] >= len(value), widths
        assert widths["On pace for"] >= len(pace), widths
