"""A comparison over a period the history only partly covers says so: a growth KPI whose earlier
period starts before the first reading shows no value (``partial history``), and "a year earlier"
that starts before the first reading is flagged ``partial_last_year`` (as ``previous`` is with
``partial_history``), so no year-over-year change is shown against it."""

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
def test_growth_and_last_year_over_partly_covered_history_say_so(tmp_path):
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[kpitui]\ntimezone = "UTC"\n[storage]\npath = "{tmp_path / "h.sqlite3"}"\n'
        '[metrics.visits]\nunit = "count"\n[metrics.signups]\nunit = "count"\n'
        '[kpis.visits_q]\nformula = "sum"\nmetrics = ["visits"]\nwindow = "quarter_to_date"\n'
        '[kpis.signup_growth_q]\nformula = "growth"\nof = "signups"\nwindow = "quarter_to_date"\n'
        '[kpis.signup_growth_m]\nformula = "growth"\nof = "signups"\nwindow = "month_to_date"\n'
    )
    readings = [
        ("visits", "40", "2025-11-15 10:00"),  # last year's Q4 (from Oct 1) is only partly covered
        ("visits", "50", "2026-11-20 10:00"),
        ("signups", "10", "2026-08-15 10:00"),  # Q3 (from Jul 1) is only partly covered
        ("signups", "8", "2026-11-01 10:00"),
        ("signups", "12", "2026-12-01 10:00"),
    ]
    for metric, value, at in readings:
        done = kpitui("record", metric, value, "--at", at, "--config", str(config))
        assert done.returncode == 0, done.stderr
    at = ("--at", "2026-12-02 00:00", "--config", str(config))
    data = json.loads(kpitui("report", "--format", "json", *at).stdout)
    kpis = {k["id"]: k for k in data["kpis"]}
    assert kpis["visits_q"]["value"] == 50
    assert kpis["visits_q"]["last_year"] == 40 and kpis["visits_q"]["partial_last_year"] is True
    growth = kpis["signup_growth_q"]
    assert growth["value"] is None and growth["partial_history"] is True  # not +X% against half a quarter
    month = kpis["signup_growth_m"]  # Dec 1 to date against Nov 1 to date: both covered
    assert month["value"] == 50.0 and month["partial_history"] is False and month["partial_last_year"] is True
    table = kpitui("report", "--width", "0", *at).stdout
    row = next(line for line in table.splitlines() if "Signup growth q" in line)
    assert "partial history" in row and "%" not in row
