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


def test_report_and_series_echo_at_on_the_configs_clock(zoned):
    run("record", "sales", "3", "--at", "2026-12-01 09:00", "--config", str(zoned))
    report = run("report", "--at", "2026-12-01 13:30", "--config", str(zoned))
    assert report.returncode == 0, report.stderr
    assert "KPIs as of 2026-12-01 13:30 EST" in report.stdout
    series = run("series", "sales", "--at", "2026-12-01 13:30", "--points", "2", "--config", str(zoned))
    assert series.stdout.splitlines()[-1].startswith("2026-12-01 00:00 EST"), series.stdout
    data = json.loads(run("series", "sales", "--at", "2026-12-01 13:30", "--points", "1", "--format", "json", "--config", str(zoned)).stdout)
    assert data["points"][0]["start"] == "2026-12-01T00:00:00-05:00"


def test_a_zone_without_letters_shows_its_offset(write_config):
    config = write_config('[kpitui]\ntimezone = "Asia/Kathmandu"\n\n[metrics.sales]\nunit = "count"\n')
    out = run("record", "sales", "1", "--at", "2026-12-01T00:00:00Z", "--config", str(config)).stdout
    assert "at 2026-12-01 05:45:00 UTC+05:45" in out


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
