"""``report``'s text Trend column marks a bucket holding an annotation with ▲, as the TUI's Trend
and the detail chart do, and a legend line says what the mark means."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

KPITUI = str(Path(sys.executable).with_name("kpitui"))
#: the Trend column's legend: what its bars are (a month-to-date KPI: days), and with a mark what the mark means
BUCKETS = (
    "Trend: the KPI per bucket, the last 14, oldest first: buckets of its grain when it sets one, else an hour over "
    "a one-day window, a day up to a month, a week up to a quarter, a month up to two years, else a quarter; a gap: "
    "no number"
)
NOTE = BUCKETS + "; ▲ in it marks one holding an annotation (kpitui annotations list)."


def kpitui(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([KPITUI, *args], capture_output=True, text=True, env=env, timeout=120)


def trend_of(table: str, name: str) -> str:
    header = next(line for line in table.splitlines() if "Trend" in line and "KPI" in line)
    row = next(line for line in table.splitlines() if line.strip().startswith(name))
    return row[header.index("Trend") :].split()[0]


@pytest.mark.slow
def test_the_report_trend_marks_annotated_buckets_and_says_what_the_mark_means(tmp_path):
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[kpitui]\ntimezone = "UTC"\n[storage]\npath = "{tmp_path / "h.sqlite3"}"\n'
        '[metrics.leads]\nunit = "count"\n[metrics.calls]\nunit = "count"\n'
        '[kpis.lead_total]\nname = "Lead total"\nformula = "sum"\nmetrics = ["leads"]\nwindow = "month_to_date"\n'
        '[kpis.call_total]\nname = "Call total"\nformula = "sum"\nmetrics = ["calls"]\nwindow = "month_to_date"\n'
    )
    for day in range(5, 11):
        for metric in ("leads", "calls"):
            at = f"2026-03-{day:02d} 10:00"
            assert kpitui("record", metric, str(day), "--at", at, "--config", str(config)).returncode == 0
    at = ("--at", "2026-03-10 12:00", "--config", str(config))
    before = kpitui("report", "--width", "0", *at).stdout
    assert "▲" not in trend_of(before, "Lead total") and NOTE not in before  # no annotation, no mark, no note
    assert BUCKETS + "." in before  # but what the bars are, always beside the column
    done = kpitui("annotate", "Launched the ads", "--at", "2026-03-08 09:00", "--metric", "leads", *at[2:])
    assert done.returncode == 0, done.stderr
    table = kpitui("report", "--width", "0", *at).stdout
    trend = trend_of(table, "Lead total")
    assert trend.count("▲") == 1 and trend.index("▲") == len(trend) - 3  # Mar 8, two days before the last bucket
    assert "▲" not in trend_of(table, "Call total")  # the note is about leads only
    assert NOTE in table
    narrow = kpitui("report", "--width", "80", *at).stdout  # the Trend column drops out: so does its note
    assert "Trend" not in narrow.splitlines()[3] and "▲ in it marks" not in narrow and "Trend:" not in narrow
