"""Times and durations as users type them and as kpitui echoes them, through the real console script."""

from __future__ import annotations

import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

import pytest

from tests.test_cli import run


@pytest.fixture
def zoned(write_config):
    """A config on New York's clock with a manual count metric, a manual duration metric and a command source."""
    return write_config(
        """
        [kpitui]
        timezone = "America/New_York"

        [sources.shell]
        type = "command"

        [metrics.sales]
        unit = "count"

        [metrics.onboarding_time]
        unit = "duration"

        [metrics.queue]
        source = "shell"
        command = "echo 7"
        """
    )


def test_record_echoes_the_time_on_the_configs_clock(zoned):
    winter = run("record", "sales", "3", "--at", "2026-12-01 13:30", "--config", str(zoned))
    assert winter.returncode == 0, winter.stderr
    assert "at 2026-12-01 13:30:00 EST" in winter.stdout
    summer = run("record", "sales", "4", "--at", "2026-07-01T09:15:00+00:00", "--config", str(zoned))
    assert "at 2026-07-01 05:15:00 EDT" in summer.stdout, summer.stdout


@pytest.mark.slow
def test_report_and_series_echo_at_on_the_configs_clock(zoned):
    run("record", "sales", "3", "--at", "2026-12-01 09:00", "--config", str(zoned))
    report = run("report", "--at", "2026-12-01 13:30", "--config", str(zoned))
    assert report.returncode == 0, report.stderr
    assert "KPIs as of 2026-12-01 13:30 EST" in report.stdout
    series = run("series", "sales", "--at", "2026-12-01 13:30", "--points", "2", "--config", str(zoned))
    assert series.stdout.splitlines()[-1].startswith("2026-12-01 00:00 EST"), series.stdout
    data = json.loads(
        run(
            "series", "sales", "--at", "2026-12-01 13:30", "--points", "1", "--format", "json", "--config", str(zoned)
        ).stdout
    )
    assert data["points"][0]["start"] == "2026-12-01T00:00:00-05:00"


@pytest.mark.slow
def test_a_zone_without_letters_shows_its_offset(write_config):
    config = write_config('[kpitui]\ntimezone = "Asia/Kathmandu"\n\n[metrics.sales]\nunit = "count"\n')
    out = run("record", "sales", "1", "--at", "2026-12-01T00:00:00Z", "--config", str(config)).stdout
    assert "at 2026-12-01 05:45:00 UTC+05:45" in out


@pytest.mark.slow
def test_collect_log_lines_use_the_configs_clock(write_config):
    config = write_config(
        '[kpitui]\ntimezone = "Asia/Kathmandu"\n\n[sources.shell]\ntype = "command"\n\n'
        '[metrics.queue]\nsource = "shell"\ncommand = "echo 7"\n'
    )
    before = dt.datetime.now(ZoneInfo("Asia/Kathmandu"))
    out = run("collect", "--once", "--config", str(config))
    assert out.returncode == 0, out.stderr
    stamp = re.match(r"(\d\d):(\d\d):(\d\d) UTC\+05:45 shell: 1 readings", out.stdout)
    assert stamp, out.stdout
    logged = before.replace(hour=int(stamp[1]), minute=int(stamp[2]), second=int(stamp[3]), microsecond=0)
    assert abs((logged - before).total_seconds()) < 120 or abs((logged - before).total_seconds()) > 86400 - 120


# -- durations ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "typed, seconds",
    [
        ("9d", 9 * 86400),
        ("4h 30m", 16200),
        ("90m", 5400),
        ("1h30m", 5400),
        ("45s", 45),
        ("120", 120),
        ("1.5h", 5400),
        ("2 days 3 hours", 183600),
    ],
)
def test_record_a_duration_as_people_type_it(zoned, typed, seconds):
    recorded = run("record", "onboarding_time", typed, "--at", "2026-03-02 10:00", "--config", str(zoned))
    assert recorded.returncode == 0, recorded.stderr
    rows = json.loads(
        run(
            "series",
            "onboarding_time",
            "--at",
            "2026-03-02 12:00",
            "--points",
            "1",
            "--format",
            "json",
            "--config",
            str(zoned),
        ).stdout
    )
    # the day's bucket still running at --at: its end is --at (series JSON's end, label14)
    assert rows["points"] == [
        {"start": "2026-03-02T00:00:00-05:00", "end": "2026-03-02T12:00:00-05:00", "value": seconds}
    ]


@pytest.mark.parametrize(
    "metric, typed, message",
    [
        ("onboarding_time", "9x", "value: '9x': expected a duration like 90m, 4h 30m, 9d"),
        ("onboarding_time", "4h 30", "value: '4h 30': expected a duration like 90m, 4h 30m, 9d"),
        ("onboarding_time", "", "value: enter a duration"),
        ("sales", "9d", "value: '9d' is not a number"),
    ],
)
def test_a_mistyped_value_is_one_line_exit_2(zoned, metric, typed, message):
    result = run("record", metric, typed, "--config", str(zoned))
    assert result.returncode == 2 and result.stderr.strip() == f"kpitui: {message}" or message in result.stderr, (
        result.stderr
    )
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_config_durations_accept_units(write_config):
    config = write_config(
        """
        [storage]
        path = "h.sqlite3"
        raw_retention_days = "13w"

        [ui]
        refresh_seconds = "2s"

        [sources.shell]
        type = "command"
        interval = "5m"
        timeout = "1m 30s"

        [metrics.queue]
        source = "shell"
        command = "echo 7"

        [metrics.onboarding_time]
        unit = "duration"

        [kpis.onboarding]
        formula = "mean"
        metrics = ["onboarding_time"]
        unit = "duration"
        target = { kind = "below", value = "5d", baseline = "12d" }
        """
    )
    from kpitui.config import load_config

    loaded = load_config(config)
    assert (loaded.sources["shell"].interval, loaded.sources["shell"].timeout) == (300, 90)
    assert loaded.storage.raw_retention_days == 91 and loaded.ui["refresh_seconds"] == 2
    assert (loaded.kpis["onboarding"].target.value, loaded.kpis["onboarding"].target.baseline) == (432000, 1036800)
    assert run("check", "--config", str(config)).returncode == 0
    report = json.loads(run("report", "--no-collect", "--format", "json", "--config", str(config)).stdout)
    assert report["kpis"][0]["target"]["value"] == 432000


@pytest.mark.slow
@pytest.mark.parametrize(
    "table, message",
    [
        (
            '[sources.shell]\ntype = "command"\ninterval = "9x"',
            "[sources.shell] interval: '9x': expected a duration like 90m, 4h 30m, 9d",
        ),
        (
            '[sources.shell]\ntype = "command"\ntimeout = "0s"',
            "[sources.shell] interval and timeout must be positive durations",
        ),
        (
            '[storage]\npath = "h.sqlite3"\nraw_retention_days = "36h"',
            "[storage] raw_retention_days: '36h' is not a whole number of days",
        ),
        ('[ui]\nrefresh_seconds = "soon"', "[ui] refresh_seconds: 'soon': expected a duration like 90m, 4h 30m, 9d"),
    ],
)
def test_config_duration_mistakes_exit_2(write_config, table, message):
    config = write_config(table + '\n\n[metrics.queue]\nsource = "manual"\n')
    result = run("check", "--config", str(config))
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
