"""Issue 17's done-when, on the bundled sample, by keyboard: from an objective to the KPI that slipped,
which input moved it, the annotation that explains it, and the top paths of the log lines its trigger
matched; every number checked against the demo's access log (read by hand here, like grep -c)."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ui_helpers import wait_for, wait_ready

from kpitui import periods
from kpitui.config import load_config
from kpitui.location import data_dir
from kpitui.ui.screens.detail import DetailScreen
from kpitui.ui.widgets.why import WhyMoved

KPITUI = Path(sys.executable).with_name("kpitui")
#: KPITUI_SCREENSHOTS=docs/images: save each step's screen there (the README's walk-through)
SHOTS = os.environ.get("KPITUI_SCREENSHOTS")
LINE = re.compile(r'\[([^\]]+)\] "(\S+) (\S+) HTTP/1\.1" (\d{3}) ')


def _log_counts(log: Path, start: dt.datetime, end: dt.datetime) -> dict[str, int]:
    """GET .../newsletter/thank-you... with status 200 per path in [start, end), read line by line."""
    counts: dict[str, int] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        found = LINE.search(line)
        assert found, line
        at = dt.datetime.strptime(found.group(1), "%d/%b/%Y:%H:%M:%S %z")
        method, target, status = found.group(2), found.group(3), found.group(4)
        if start <= at < end and method == "GET" and target.startswith("/newsletter/thank-you") and status == "200":
            counts[target] = counts.get(target, 0) + 1
    return counts


def _shot(app, name: str) -> None:
    if SHOTS:
        app.save_screenshot(name, SHOTS)


@pytest.mark.slow
async def test_objective_to_slipped_kpi_to_input_annotation_and_top_paths_on_the_sample(tmp_path, monkeypatch):
    from kpitui.ui.app import KpiApp

    monkeypatch.chdir(tmp_path)  # no ./kpitui.toml, no user config: the bundled sample
    collected = subprocess.run([str(KPITUI), "collect", "--once"], capture_output=True, text=True, timeout=300)
    assert collected.returncode == 0, collected.stderr
    assert "web: " in collected.stdout  # the access_log source read the demo's log
    config = load_config(None)
    assert config.is_sample
    log = data_dir() / "demo-access.log"
    assert log.is_file() and log.stat().st_size > 1_000_000  # about 70 days of the made-up site

    app = KpiApp(config, collect=False, watch_config=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_ready(pilot)
        await pilot.press("shift+tab")  # the objectives pane
        assert app.focused.id == "objectives"
        _shot(app, "walkthrough-1-objectives.svg")
        await pilot.press("enter")  # the first objective, Increase lead generation: its KPIs
        assert app.focused.id == "kpis"
        await pilot.press("enter")  # its first KPI, Lead Generation
        await wait_ready(pilot)
        screen = app.screen
        assert isinstance(screen, DetailScreen) and screen.kpi_id == "lead_generation"
        result = app.snapshot.kpis["lead_generation"]
        period = result.period
        if (app.now() - period.start) > dt.timedelta(hours=6):  # the newsletter form broke just before the log began
            assert result.change is not None and result.change < 0, result.change

        why = screen.query_one(WhyMoved)
        await wait_for(pilot, lambda: why.option_count >= 2)
        lines = [str(why.get_option_at_index(i).prompt) for i in range(why.option_count)]
        assert why.border_title.startswith(f"Why it moved vs {result.previous_period.label}: Lead Generation ")
        signups = next(line for line in lines if line.startswith("Newsletter sign-ups "))
        now_count = int(re.search(r"\((\d[\d,]*) now, ", signups).group(1).replace(",", ""))

        # the annotation the demo's annotation source supplies is marked on the chart and named in its legend
        await wait_for(pilot, lambda: screen.query_one("#chart").spec is not None)
        spec = screen.query_one("#chart").spec
        assert any("broke the newsletter form" in text for _, text in spec.markers), spec.markers
        assert any("broke the newsletter form" in note for note in spec.notes), spec.notes
        _shot(app, "walkthrough-2-why-it-moved.svg")

        # enter on the highlighted input (newsletter sign-ups first) opens its chart and what its trigger matched
        screen.query_one(WhyMoved).focus()
        assert why.highlighted_ref() == "newsletter_signups"
        await pilot.press("enter")
        await wait_ready(pilot)
        metric_screen = app.screen
        assert isinstance(metric_screen, DetailScreen) and metric_screen.metric_id == "newsletter_signups"
        box = metric_screen.query_one("#detail-matches")
        await wait_for(pilot, lambda: "matched in" in str(box.render()), timeout=30)
        shown = str(box.render())
        _shot(app, "walkthrough-3-top-paths.svg")

    matched = int(re.search(r"matched in (.+?): ([\d,]+) lines?", shown).group(2).replace(",", ""))
    assert re.search(r"matched in (.+?):", shown).group(1) == period.label
    tops = {path: int(n.replace(",", "")) for n, path in re.findall(r"([\d,]+)× (/newsletter/thank-you[^\s,]*)", shown)}
    assert tops, shown
    end = app.now()
    by_hand = _log_counts(log, period.start, end)
    assert matched == sum(by_hand.values())
    assert sum(tops.values()) <= matched
    for path, count in tops.items():
        assert count == by_hand[path], (path, count, by_hand)
    # the value the KPI counts for the period is what the access_log source read of the same lines
    # (the demo may append a line while the source reads: never more than the log holds)
    assert now_count <= matched
    cal = periods.Calendar.from_settings(config.settings)
    assert period.start == periods.resolve(periods.parse_window("month_to_date"), end, cal).start
