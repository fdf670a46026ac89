"""A KPI's default unit says what its number is: a ratio with ``percent = true`` is a percentage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

KPITUI = str(Path(sys.executable).with_name("kpitui"))


def kpitui(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([KPITUI, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.slow
def test_a_percent_ratio_without_unit_is_shown_as_a_percentage(tmp_path):
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[kpitui]\ntimezone = "UTC"\n[storage]\npath = "{tmp_path / "h.sqlite3"}"\n'
        '[metrics.errors]\nunit = "count"\n[metrics.views]\nunit = "count"\n'
        '[kpis.error_rate]\nformula = "ratio"\nnumerator = "errors"\ndenominator = "views"\npercent = true\n'
        'window = "month_to_date"\ntarget = { kind = "below", value = 1.0, baseline = 5.0 }\n'
        '[kpis.share]\nformula = "ratio"\nnumerator = "errors"\ndenominator = "views"\nwindow = "month_to_date"\n'
    )
    for metric, value in (("errors", "3"), ("views", "250")):
        done = kpitui("record", metric, value, "--at", "2026-03-02 10:00", "--config", str(config))
        assert done.returncode == 0, done.stderr
    at = ("--at", "2026-03-03 00:00", "--config", str(config))
    data = json.loads(kpitui("report", "--format", "json", *at).stdout)
    kpis = {k["id"]: k for o in data.get("objectives", []) for k in o["kpis"]} or {k["id"]: k for k in data["kpis"]}
    assert kpis["error_rate"]["value"] == 1.2  # 3 / 250 x 100
    assert kpis["error_rate"]["unit"] == "percent"
    assert kpis["share"]["unit"] == "ratio"  # without percent it stays a ratio
    table = kpitui("report", "--width", "0", *at).stdout
    assert "1.2%" in table and "≤ 1.0%" in table


@pytest.mark.slow
def test_series_numbers_are_rounded_to_6_decimals_like_every_json_document(tmp_path):
    """docs/json.md: numbers are rounded to 6 decimals. 0.1 + 0.2 in one day is 0.3, not 0.30000000000000004."""
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[kpitui]\ntimezone = "UTC"\n[storage]\npath = "{tmp_path / "h.sqlite3"}"\n'
        '[metrics.fees]\nunit = "currency"\naggregation = "sum"\n'
    )
    for value, at in (("0.1", "2026-03-02 10:00"), ("0.2", "2026-03-02 11:00"), ("0.7", "2026-03-01 09:00")):
        assert kpitui("record", "fees", value, "--at", at, "--config", str(config)).returncode == 0
    args = ("series", "fees", "--grain", "day", "--points", "2", "--at", "2026-03-02 12:00", "--config", str(config))
    points = json.loads(kpitui(*args, "--format", "json").stdout)["points"]
    assert [p["value"] for p in points] == [0.7, 0.3]
    compared = json.loads(kpitui(*args, "--format", "json", "--compare", "previous").stdout)["points"]
    assert compared[-1]["difference"] == -0.4  # 0.3 - 0.7, not -0.39999999999999997
    assert kpitui(*args, "--format", "csv").stdout.splitlines()[1:] == [
        "2026-03-01T00:00:00+00:00,0.7,2026-03-02T00:00:00+00:00,",
        "2026-03-02T00:00:00+00:00,0.3,2026-03-02T12:00:00+00:00,",  # end: the running day's at --at
    ]


@pytest.mark.slow
def test_a_kpi_over_duration_metrics_without_unit_takes_their_unit_and_check_says_so(tmp_path):
    """A mean of onboarding times is a duration (9d, a target of "5d"), not a "number" of seconds;
    a sum over metrics of different units stays a number; `check` says which units were inherited."""
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[kpitui]\ntimezone = "UTC"\n[storage]\npath = "{tmp_path / "h.sqlite3"}"\n'
        '[metrics.onboarding_time]\nunit = "duration"\naggregation = "mean"\n'
        '[metrics.fees]\nunit = "currency"\n[metrics.visits]\nunit = "count"\n'
        '[kpis.onboarding]\nformula = "mean"\nmetrics = ["onboarding_time"]\nwindow = "month_to_date"\n'
        'target = { kind = "below", value = "5d", baseline = "12d" }\n'
        '[kpis.slowest]\nformula = "expression"\nexpression = "max(onboarding, onboarding_time)"\n'
        '[kpis.mixed]\nformula = "sum"\nmetrics = ["fees", "visits"]\n'
        '[kpis.per_visit]\nformula = "expression"\nexpression = "fees / visits"\n'
    )
    done = kpitui("record", "onboarding_time", "9d", "--at", "2026-03-02 10:00", "--config", str(config))
    assert done.returncode == 0, done.stderr
    checked = kpitui("check", "--config", str(config))
    assert checked.returncode == 0, checked.stderr
    assert "kpis.onboarding: unit duration (from its metric; no unit in its table)" in checked.stdout
    assert "kpis.slowest: unit duration (from its KPI and metric" in checked.stdout
    assert "kpis.mixed" not in checked.stdout and "kpis.per_visit" not in checked.stdout
    at = ("--at", "2026-03-03 00:00", "--config", str(config))
    data = json.loads(kpitui("report", "--format", "json", *at).stdout)
    kpis = {k["id"]: k for o in data.get("objectives", []) for k in o["kpis"]} or {k["id"]: k for k in data["kpis"]}
    assert kpis["onboarding"]["unit"] == "duration" and kpis["onboarding"]["value"] == 9 * 86400
    assert kpis["slowest"]["unit"] == "duration"
    assert kpis["mixed"]["unit"] == "number" and kpis["per_visit"]["unit"] == "number"
    table = kpitui("report", "--width", "0", *at).stdout
    assert "9d" in table and "≤ 5d" in table


@pytest.mark.slow
def test_a_percent_funnel_is_a_percentage_and_an_absolute_growth_keeps_its_inputs_unit(tmp_path):
    """A funnel with ``percent = true`` is x100 like a ratio's (6.5, not 0.065): its unit is percent, not ratio.
    An absolute growth is this period minus the previous one, in the input's unit (+2 sales, +$30), not percent."""
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[kpitui]\ntimezone = "UTC"\n[storage]\npath = "{tmp_path / "h.sqlite3"}"\n'
        '[metrics.views]\nunit = "count"\n[metrics.buys]\nunit = "count"\n'
        '[metrics.fees]\nunit = "currency"\naggregation = "sum"\n'
        '[kpis.conv]\nformula = "funnel"\nsteps = ["views", "buys"]\npercent = true\nwindow = "last_month"\n'
        '[kpis.conv_plain]\nformula = "funnel"\nsteps = ["views", "buys"]\nwindow = "last_month"\n'
        '[kpis.more_buys]\nformula = "growth"\nof = "buys"\nmode = "absolute"\nwindow = "last_month"\n'
        '[kpis.more_fees]\nformula = "growth"\nof = "fees"\nmode = "absolute"\nwindow = "last_month"\n'
        '[kpis.fee_growth]\nformula = "growth"\nof = "fees"\nwindow = "last_month"\n'
    )
    for metric, value, at in (
        ("views", "200", "2026-02-10 10:00"),
        ("buys", "13", "2026-02-10 10:00"),
        ("buys", "11", "2026-01-10 10:00"),
        ("fees", "130", "2026-02-10 10:00"),
        ("fees", "100", "2026-01-10 10:00"),
        ("buys", "9", "2025-12-10 10:00"),  # the history reaches back before January: a whole comparison
        ("fees", "90", "2025-12-10 10:00"),
    ):
        done = kpitui("record", metric, value, "--at", at, "--config", str(config))
        assert done.returncode == 0, done.stderr
    data = json.loads(kpitui("report", "--format", "json", "--at", "2026-03-03 00:00", "--config", str(config)).stdout)
    kpis = {k["id"]: k for k in data["kpis"]}
    assert (kpis["conv"]["value"], kpis["conv"]["unit"]) == (6.5, "percent")  # 13 / 200 x 100
    assert (kpis["conv_plain"]["value"], kpis["conv_plain"]["unit"]) == (0.065, "ratio")
    assert (kpis["more_buys"]["value"], kpis["more_buys"]["unit"]) == (2.0, "count")  # 13 - 11
    assert (kpis["more_fees"]["value"], kpis["more_fees"]["unit"]) == (30.0, "currency")  # 130 - 100
    assert (kpis["fee_growth"]["value"], kpis["fee_growth"]["unit"]) == (30.0, "percent")  # (130 - 100) / 100
    table = kpitui("report", "--width", "0", "--at", "2026-03-03 00:00", "--config", str(config)).stdout
    assert "6.5%" in table and "$30" in table


@pytest.mark.slow
def test_report_csv_writes_each_number_as_the_json_has_it(tmp_path):
    """The CSV is for scripts and spreadsheets: $1,234,567.89 of revenue is 1234567.89 (it was 1.23457e+06),
    27,036.02 is not cut to 27036, a tiny change keeps its digits, and a whole count stays 52."""
    import csv
    import io

    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[kpitui]\ntimezone = "UTC"\n[storage]\npath = "{tmp_path / "h.sqlite3"}"\n'
        '[metrics.revenue]\nunit = "currency"\naggregation = "sum"\n[metrics.sales]\nunit = "count"\n'
        '[kpis.rev]\nformula = "sum"\nmetrics = ["revenue"]\nwindow = "last_month"\n'
        '[kpis.sold]\nformula = "sum"\nmetrics = ["sales"]\nwindow = "last_month"\n'
    )
    for metric, value, at in (
        ("revenue", "1234567.89", "2026-02-10 10:00"),
        ("revenue", "1234567.88", "2026-01-10 10:00"),
        ("sales", "52", "2026-02-10 10:00"),
        ("sales", "27036.02", "2026-01-10 10:00"),
        ("revenue", "1", "2025-12-10 10:00"),  # the history reaches back before January: a whole comparison
        ("sales", "1", "2025-12-10 10:00"),
    ):
        assert kpitui("record", metric, value, "--at", at, "--config", str(config)).returncode == 0
    at = ("--at", "2026-03-03 00:00", "--config", str(config))
    rows = {r["kpi"]: r for r in csv.DictReader(io.StringIO(kpitui("report", "--format", "csv", *at).stdout))}
    data = {k["id"]: k for k in json.loads(kpitui("report", "--format", "json", *at).stdout)["kpis"]}
    assert (rows["rev"]["value"], rows["rev"]["previous"], rows["rev"]["change"]) == (
        "1234567.89",
        "1234567.88",
        "0.01",
    )
    assert (rows["sold"]["value"], rows["sold"]["previous"], rows["sold"]["change"]) == (
        "52",
        "27036.02",
        "-26984.02",
    )
    for kid, row in rows.items():
        for field in ("value", "previous", "change", "change_pct"):
            assert float(row[field]) == data[kid][field]


@pytest.mark.slow
def test_check_warns_of_a_percent_unit_on_a_ratio_of_fractions(tmp_path):
    """unit = "percent" on a ratio without percent = true shows 0.05 (5%) as 0.05% and a target of 0.05 as
    "≥ 0.1%": check says so and how to mend it; --strict makes it an error (exit 2); each way of mending is quiet."""
    config = tmp_path / "kpitui.toml"
    base = (
        f'[kpitui]\ntimezone = "UTC"\n[storage]\npath = "{tmp_path / "h.sqlite3"}"\n'
        "[metrics.signups]\n[metrics.views]\n"
        '[kpis.conv]\nformula = "ratio"\nnumerator = "signups"\ndenominator = "views"\n'
    )
    config.write_text(base + 'unit = "percent"\ntarget = { kind = "above", value = 0.05 }\n')
    done = kpitui("check", "--config", str(config))
    assert done.returncode == 0
    assert 'warning: kpis.conv: unit "percent", but its ratio formula gives a fraction' in done.stderr
    assert "percent = true" in done.stderr
    assert kpitui("check", "--strict", "--config", str(config)).returncode == 2
    for mended in ('unit = "percent"\npercent = true\n', 'unit = "ratio"\n', ""):
        config.write_text(base + mended)
        done = kpitui("check", "--strict", "--config", str(config))
        assert done.returncode == 0 and "warning" not in done.stderr, (mended, done.stderr)
