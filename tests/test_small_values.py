"""A small value keeps its size in every format: JSON and CSV keep at least 6 significant digits (not 6 decimals
only: 4.7e-07 was 0, 4.74e-06 was 5e-06), and the table never shows a non-zero value as 0.00.

The expected numbers are worked out by hand from the recorded readings (check12: a metric of values near 1e-7)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

KPITUI = str(Path(sys.executable).with_name("kpitui"))


def kpitui(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run([KPITUI, *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("small")
    path = tmp / "kpitui.toml"
    path.write_text(
        f'[kpitui]\ntimezone = "UTC"\n[storage]\npath = "{tmp / "h.sqlite3"}"\n'
        '[metrics.dose]\nunit = "number"\naggregation = "sum"\n'
        '[metrics.drift]\nunit = "number"\naggregation = "sum"\n'
        '[metrics.rate]\nunit = "ratio"\naggregation = "sum"\n'
        '[metrics.fee]\nunit = "currency"\naggregation = "sum"\n'
        '[kpis.dose_today]\nformula = "sum"\nmetrics = ["dose"]\nwindow = "today"\n'
        '[kpis.drift_today]\nformula = "sum"\nmetrics = ["drift"]\nwindow = "today"\n'
        '[kpis.rate_today]\nformula = "sum"\nmetrics = ["rate"]\nwindow = "today"\n'
        '[kpis.fee_today]\nformula = "sum"\nmetrics = ["fee"]\nwindow = "today"\n'
    )
    readings = (
        ("dose", "4.7e-7", "2026-03-02 09:00"),
        ("dose", "2.2e-7", "2026-03-02 10:00"),
        ("drift", "-0.0123456789", "2026-03-02 09:00"),
        ("rate", "0.0004", "2026-03-02 09:00"),
        ("fee", "0.001", "2026-03-02 09:00"),
    )
    for metric, value, at in readings:
        kpitui("record", metric, value, "--at", at, "--config", str(path))
    return path


AT = ("--at", "2026-03-02 12:00")


@pytest.mark.slow
def test_json_keeps_six_significant_digits_of_a_small_value(config):
    data = json.loads(kpitui("report", "--format", "json", "--no-collect", *AT, "--config", str(config)).stdout)
    kpis = {k["id"]: k for k in data["kpis"]}
    assert kpis["dose_today"]["value"] == 6.9e-07  # 4.7e-7 + 2.2e-7 (6 decimals gave 1e-06)
    assert kpis["drift_today"]["value"] == -0.0123457  # 6 significant digits (6 decimals gave -0.012346)
    assert kpis["rate_today"]["value"] == 0.0004
    points = json.loads(
        kpitui(
            "series", "dose", "--grain", "hour", "--points", "4", "--format", "json", *AT, "--config", str(config)
        ).stdout
    )["points"]
    assert [p["value"] for p in points] == [4.7e-07, 2.2e-07, 0.0, 0.0]  # 09:00 .. 12:00 (6 decimals: all 0)


def test_csv_writes_a_small_value_in_full_without_an_exponent(config):
    out = kpitui("report", "--format", "csv", "--no-collect", *AT, "--config", str(config)).stdout
    rows = {r["kpi"]: r for r in csv.DictReader(out.splitlines())}
    assert rows["dose_today"]["value"] == "0.00000069"
    assert rows["drift_today"]["value"] == "-0.0123457"


def test_the_table_never_shows_a_non_zero_value_as_zero(config):
    out = kpitui("report", "--width", "0", "--no-collect", *AT, "--config", str(config)).stdout
    lines = {line.split()[0] + " " + line.split()[1]: line for line in out.splitlines() if "today" in line.lower()}
    assert "6.9e-07" in lines["Dose today"] and "0.00" not in lines["Dose today"]
    assert " -0.01 " in lines["Drift today"]  # two decimals: still non-zero, so kept as it was
    assert "0.0004" in lines["Rate today"] and "0.000 " not in lines["Rate today"]
    assert "$0.001" in lines["Fee today"] and "$0.00 " not in lines["Fee today"]
