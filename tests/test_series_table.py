"""``kpitui series`` as text says what its numbers are (name, unit, grain, as of when), shows the comparison
``--compare`` asks for (it was silently left out of the table and the CSV), and marks a bucket still running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

KPITUI = str(Path(sys.executable).with_name("kpitui"))


def kpitui(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([KPITUI, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.slow
def test_series_text_and_csv_say_what_they_show_and_keep_the_comparison(tmp_path):
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[kpitui]\ntimezone = "UTC"\n[storage]\npath = "{tmp_path / "h.sqlite3"}"\n'
        '[metrics.fees]\nname = "Fees"\nunit = "currency"\naggregation = "sum"\n'
    )
    for value, at in (("70", "2026-03-01 09:00"), ("30", "2026-03-02 10:00"), ("50", "2026-03-03 08:00")):
        assert kpitui("record", "fees", value, "--at", at, "--config", str(config)).returncode == 0
    args = ("series", "fees", "--grain", "day", "--points", "2", "--at", "2026-03-03 12:00", "--config", str(config))
    table = kpitui(*args, "--compare", "previous").stdout.splitlines()
    assert table[0] == "Fees (currency) per day, as of 2026-03-03 12:00 UTC; vs the same day a day earlier"
    assert table[1].split() == ["day", "starting", "value", "a", "day", "earlier", "difference"]
    assert table[2].split() == ["2026-03-02", "00:00", "UTC", "$30.00", "$70.00", "-$40.00"]
    assert table[3].split() == [
        "2026-03-03",
        "00:00",
        "UTC",
        "$50.00",
        "$30.00",
        "+$20.00",
        "(so",
        "far:",
        "to",
        "12:00",
        "UTC)",
    ]
    plain = kpitui(*args).stdout.splitlines()
    assert plain[0] == "Fees (currency) per day, as of 2026-03-03 12:00 UTC" and len(plain[2].split()) == 4
    csv = kpitui(*args, "--compare", "previous", "--format", "csv").stdout.splitlines()
    assert csv == [
        "start,value,compare,difference,end,undefined",
        "2026-03-02T00:00:00+00:00,30.0,70.0,-40.0,2026-03-03T00:00:00+00:00,",
        "2026-03-03T00:00:00+00:00,50.0,30.0,20.0,2026-03-03T12:00:00+00:00,",
    ]
    # the JSON says where each bucket ends: the running one at --at, its value so far (the table's "so far")
    import json

    points = json.loads(kpitui(*args, "--format", "json").stdout)["points"]
    assert [(p["start"], p["end"], p["value"]) for p in points] == [
        ("2026-03-02T00:00:00+00:00", "2026-03-03T00:00:00+00:00", 30.0),
        ("2026-03-03T00:00:00+00:00", "2026-03-03T12:00:00+00:00", 50.0),
    ]


@pytest.mark.slow
def test_series_says_how_far_back_the_comparison_really_is_and_keeps_columns_apart(tmp_path):
    """Each bucket is compared with the bucket holding the instant one window before its start: over a
    window shorter than the grain (a metric's series reads ``today``'s; a KPI of ``today`` by week) that is
    the bucket just before, a week earlier, never "a day earlier". Numbers too wide for their column are
    still kept apart by a space."""
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[kpitui]\ntimezone = "UTC"\n[storage]\npath = "{tmp_path / "h.sqlite3"}"\n'
        '[metrics.fees]\nname = "Fees"\nunit = "number"\naggregation = "sum"\n'
        '[kpis.daily]\nformula = "sum"\nmetrics = ["fees"]\nwindow = "today"\n'
        '[kpis.monthly]\nformula = "sum"\nmetrics = ["fees"]\nwindow = "month_to_date"\n'
    )
    for value, at in (("1e15", "2026-03-02 09:00"), ("7", "2026-03-09 10:00"), ("5", "2026-03-10 10:00")):
        assert kpitui("record", "fees", value, "--at", at, "--config", str(config)).returncode == 0
    common = ("--grain", "week", "--points", "2", "--at", "2026-03-12 12:00", "--compare", "previous")
    for shown in ("fees", "daily"):
        table = kpitui("series", shown, *common, "--config", str(config)).stdout.splitlines()
        assert table[0].endswith("; vs the same week a week earlier"), table[0]
        assert table[1].split() == ["week", "starting", "value", "a", "week", "earlier", "difference"]
        # the week of Mar 9 (so far: to Thursday 12:00) against the week of Mar 2 to Thursday 12:00
        assert table[3].split()[:6] == [
            "2026-03-09",
            "00:00",
            "UTC",
            "12",
            "1,000,000,000,000,000",
            "-999,999,999,999,988",
        ]
    # a month-to-date KPI by week: each week against the week holding the day a month before its start
    table = kpitui("series", "monthly", *common, "--config", str(config)).stdout.splitlines()
    assert table[0].endswith("; vs the same week a month earlier"), table[0]


@pytest.mark.slow
def test_a_complete_window_series_says_its_last_bucket_ends_where_the_window_does(tmp_path):
    """A KPI over a complete period (``last_week``) charted by month ends with that week: the month's
    bucket holds the readings up to the week's end (Mar 9 00:00), so its ``end`` and the table say so,
    not ``--at`` (Mar 12 12:00, whose readings of Mar 10 the value leaves out)."""
    import json

    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[kpitui]\ntimezone = "UTC"\n[storage]\npath = "{tmp_path / "h.sqlite3"}"\n'
        '[metrics.fees]\nname = "Fees"\nunit = "number"\naggregation = "sum"\n'
        '[kpis.weekly]\nname = "Fees last week"\nformula = "sum"\nmetrics = ["fees"]\nwindow = "last_week"\n'
    )
    for value, at in (("3", "2026-02-20 09:00"), ("4", "2026-03-02 09:00"), ("500", "2026-03-10 10:00")):
        assert kpitui("record", "fees", value, "--at", at, "--config", str(config)).returncode == 0
    args = ("series", "weekly", "--grain", "month", "--points", "2", "--at", "2026-03-12 12:00")
    points = json.loads(kpitui(*args, "--format", "json", "--config", str(config)).stdout)["points"]
    assert [(p["start"], p["end"], p["value"]) for p in points] == [
        ("2026-02-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00", 3.0),
        ("2026-03-01T00:00:00+00:00", "2026-03-09T00:00:00+00:00", 4.0),
    ]
    table = kpitui(*args, "--config", str(config)).stdout.splitlines()
    assert table[3].split()[3:] == ["4", "(to", "2026-03-09", "00:00", "UTC:", "the", "end", "of", "W10", "2026)"]
    assert "so far" not in "\n".join(table)
    csv = kpitui(*args, "--format", "csv", "--config", str(config)).stdout.splitlines()  # the same end as JSON's
    assert csv[0] == "start,value,end,undefined"
    assert csv[-1] == "2026-03-01T00:00:00+00:00,4.0,2026-03-09T00:00:00+00:00,"
    # a to-date window's running bucket still ends at --at, so far
    monthly = tmp_path / "monthly.toml"
    monthly.write_text(config.read_text().replace('window = "last_week"', 'window = "month_to_date"'))
    points = json.loads(kpitui(*args, "--format", "json", "--config", str(monthly)).stdout)["points"]
    assert (points[-1]["end"], points[-1]["value"]) == ("2026-03-12T12:00:00+00:00", 504.0)
