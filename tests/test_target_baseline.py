"""A target says the baseline its Progress counts from, and a score reads the same everywhere.

``Email list size 6,063 of ≥ 6,500`` read Progress 70% because the target's baseline is 5,000, which
no cell showed; and the same score read 0.57 in ``report`` and 57% in the TUI. Checked through the CLI
against hand arithmetic on readings of known value.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math

import pytest
from test_cli import run
from test_semantics import project

UTC = dt.timezone.utc
AT = ("--at", "2026-12-10 12:00")

BODY = """
[metrics.subscribers]
name = "Subscribers"
unit = "count"
aggregation = "last"
[metrics.leads]
name = "Leads"
unit = "count"

[kpis.list_size]
name = "List size"
formula = "sum"
metrics = ["subscribers"]
unit = "count"
window = "month_to_date"
target = { kind = "above", value = 6500, baseline = 5000 }

[kpis.lead_gen]
name = "Lead Generation"
formula = "sum"
metrics = ["leads"]
unit = "count"
window = "month_to_date"
target = { kind = "reach", value = 930, baseline = 310 }

[kpis.plain]
name = "Plain leads"
formula = "sum"
metrics = ["leads"]
unit = "count"
window = "month_to_date"
target = 900

[objectives.growth]
title = "Grow"
kpis = ["list_size", "lead_gen", "plain"]
"""


def readings():
    rows = [("subscribers", dt.datetime(2026, 12, 9, 12, tzinfo=UTC), 6063.0)]
    day = dt.datetime(2026, 11, 1, 12, tzinfo=UTC)
    while day < dt.datetime(2026, 12, 10, tzinfo=UTC):
        rows.append(("leads", day, 31.0))
        day += dt.timedelta(days=1)
    return rows


def cli(config, *args: str) -> str:
    done = run(*args, "--no-collect", "--config", str(config), *AT)
    assert done.returncode == 0, done.stderr
    return done.stdout


def row(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith(name))


@pytest.mark.slow
def test_the_target_cell_names_the_baseline_progress_counts_from(tmp_path):
    config = project(tmp_path, BODY, readings())
    data = json.loads(cli(config, "report", "--format", "json"))
    kpis = {k["id"]: k for k in data["kpis"]}
    # Progress counts from the baseline: (6,063 - 5,000) / (6,500 - 5,000) = 70%, not 6,063 / 6,500 = 93%
    assert kpis["list_size"]["progress"] == round((6063 - 5000) / 1500, 6)
    assert kpis["list_size"]["applied_target"]["baseline"] == 5000
    table = cli(config, "report", "--width", "0")
    size = row(table, "List size")
    assert "≥ 6,500 from 5,000" in size and f"{math.floor((6063 - 5000) / 1500 * 100)}%" in size
    lead = row(table, "Lead Generation")  # 9 days of 31 leads: 279, from 310 toward 930: 0%
    assert "930 from 310" in lead
    plain = row(table, "Plain leads")  # a baseline of 0 (the default) is not worth a word
    assert "from" not in plain and " 900 " in plain
    assert '"from B": the baseline' in table  # the legend says what it is
    # the CSV carries the baseline beside the target
    csv_rows = {r["kpi"]: r for r in csv.DictReader(io.StringIO(cli(config, "report", "--format", "csv")))}
    assert float(csv_rows["list_size"]["target_baseline"]) == 5000
    assert csv_rows["plain"]["target_baseline"] == ""
    # the scorecard (markdown, html) shows the same target text
    markdown = cli(config, "report", "--format", "markdown")
    assert "≥ 6,500 from 5,000" in row(markdown, "| List size")
    assert "≥ 6,500 from 5,000" in cli(config, "report", "--format", "html")
    # and says what "from" and the score are, as the report's legend does
    assert "“from B”: the baseline" in markdown and "Score: 0–100%" in markdown


@pytest.mark.slow
def test_a_prorated_target_keeps_its_baseline_in_report_and_scorecard(tmp_path):
    config = project(tmp_path, BODY, readings())
    week = json.loads(cli(config, "report", "--format", "json", "--window", "week_to_date"))
    lead = next(k for k in week["kpis"] if k["id"] == "lead_gen")
    assert lead["target_basis"] == "prorated"
    applied = lead["applied_target"]
    target, baseline = (f"{round(applied[k]):,}" for k in ("value", "baseline"))
    table = cli(config, "report", "--width", "0", "--window", "week_to_date")
    assert f"{target} from {baseline} (prorated)" in row(table, "Lead Generation")
    # the scorecard showed the KPI's own 930 a month beside a week's value
    markdown = cli(config, "report", "--format", "markdown", "--window", "week_to_date")
    assert f"{target} from {baseline} (prorated)" in row(markdown, "| Lead Generation")


@pytest.mark.slow
def test_a_score_is_one_percentage_everywhere(tmp_path):
    config = project(tmp_path, BODY, readings())
    data = json.loads(cli(config, "report", "--format", "json"))
    score = next(k for k in data["kpis"] if k["id"] == "list_size")["score"]
    objective = data["objectives"][0]["score"]
    assert 0 < score < 1 and 0 < objective < 1  # JSON keeps the number 0..1
    shown = f"{math.floor(score * 100 + 1e-9)}%"
    table = cli(config, "report", "--width", "0")
    assert shown in row(table, "List size").split()
    assert f"score {math.floor(objective * 100 + 1e-9)}%" in row(table, "Grow")
    assert "0." + shown[:-1] not in row(table, "List size")
    markdown = cli(config, "report", "--format", "markdown")
    assert f"| {shown} |" in row(markdown, "| List size")
    assert f"score {math.floor(objective * 100 + 1e-9)}%" in cli(config, "report", "--format", "html")


@pytest.mark.slow
def test_the_scorecard_shows_the_projection_a_score_is_on(tmp_path):
    """A to-date KPI is scored on its projection: the scorecard (Markdown, HTML; digests send it) gave Score 100%
    beside 279 of 900 with no projection anywhere, while the report's table has On pace for (check15)."""
    config = project(tmp_path, BODY, readings())
    data = {k["id"]: k for k in json.loads(cli(config, "report", "--format", "json"))["kpis"]}
    # 279 leads (Dec 1-9 12:00) in 9 days 12 hours of December's 31: 279 / (9.5 / 31), over the target of 900
    assert data["plain"]["projection"] == round(279 / (9.5 / 31), 6)
    markdown = cli(config, "report", "--format", "markdown")
    header = next(line for line in markdown.splitlines() if line.startswith("| KPI"))
    plain = row(markdown, "| Plain leads")
    cells = dict(zip(header.strip("| ").split(" | "), plain.strip("| ").split(" | ")))
    assert cells["On pace for"] == "910 ✓" and cells["Score"] == "100%"
    assert "On pace for: the value projected" in markdown
    page = cli(config, "report", "--format", "html")
    assert ">On pace for</th>" in page and ">910 ✓</td>" in page
