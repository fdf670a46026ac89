"""`--at` on a bucket edge: a reading stamped exactly at `at` belongs to the bucket starting at `at`
(shown "so far"), never to the bucket that ends there. Counts are checked against `grep -c` on the log.

The access log stamps each hour's count at the hour's start, so the lines of 00:00-00:59 are a
reading at 00:00: the one that sits exactly on a day edge.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
from pathlib import Path

import pytest
from test_cli import run

UTC = dt.timezone.utc


def _line(when: dt.datetime, path: str) -> str:
    stamp = when.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'198.51.100.{random.randint(1, 250)} - - [{stamp}] "GET {path} HTTP/1.1" 200 512 "-" "curl/8"\n'


def _grep(log: Path, pattern: str) -> int:
    found = subprocess.run(["grep", "-c", pattern + r'.*"GET /signup/done ', str(log)], capture_output=True, text=True)
    return int(found.stdout.strip() or 0)


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    random.seed(18)
    log = tmp_path / "access.log"
    start = dt.datetime(2026, 3, 6, tzinfo=UTC)
    with log.open("w") as out:
        for minute in range(0, 6 * 24 * 60, 3):  # Mar 6 .. Mar 11, busy around midnight too
            when = start + dt.timedelta(minutes=minute)
            if when.hour == 0 or random.random() < 0.4:
                out.write(_line(when, random.choice(["/signup/done", "/", "/pricing"])))
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f"""
[storage]
path = "{tmp_path / "h.sqlite3"}"

[sources.web]
type = "access_log"
path = "access.log"

[metrics.signups]
name = "Sign-ups"
source = "web"
condition = 'path == "/signup/done"'

[kpis.signups_day]
name = "Sign-ups yesterday"
formula = "sum"
metrics = ["signups"]
window = "yesterday"

[kpis.signups_today]
name = "Sign-ups today"
formula = "sum"
metrics = ["signups"]
window = "today"
"""
    )
    collected = run("collect", "--once", "--config", str(config))
    assert collected.returncode == 0, collected.stderr
    return config, log


def _series(config: Path, ident: str, at: str, points: int = 4) -> dict[str, float | None]:
    result = run(
        "series",
        ident,
        "--grain",
        "day",
        "--points",
        str(points),
        "--at",
        at,
        "--format",
        "json",
        "--config",
        str(config),
    )
    assert result.returncode == 0, result.stderr
    return {row["start"][:10]: row["value"] for row in json.loads(result.stdout)["points"]}


@pytest.mark.slow
def test_series_at_a_day_edge_keeps_the_reading_at_at_out_of_the_day_before(tmp_path):
    config, log = _setup(tmp_path)
    day = {d: _grep(log, f"{d:02d}/Mar/2026") for d in range(6, 12)}
    first_hour = {d: _grep(log, f"{d:02d}/Mar/2026:00:") for d in range(6, 12)}
    assert min(first_hour.values()) > 2  # the edge reading is big enough to be seen

    for ident in ("signups", "signups_today"):
        by_day = _series(config, ident, "2026-03-10T00:00:00")
        # complete days are half-open: Mar 9 is Mar 9 only
        assert [by_day[f"2026-03-0{d}"] for d in (7, 8, 9)] == [day[7], day[8], day[9]], ident
        # the reading at `at` is the new day's, so far
        assert by_day["2026-03-10"] == first_hour[10], ident

    # off the edge nothing changes: every day before `at` is the whole day
    by_day = _series(config, "signups", "2026-03-10T12:00:00")
    assert [by_day[f"2026-03-0{d}"] for d in (7, 8, 9)] == [day[7], day[8], day[9]]
    assert by_day["2026-03-10"] == sum(_grep(log, f"10/Mar/2026:{h:02d}:") for h in range(13))


def test_report_at_a_day_edge_compares_whole_days(tmp_path):
    config, log = _setup(tmp_path)
    result = run("report", "--at", "2026-03-10T00:00:00", "--format", "json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    kpis = {k["id"]: k for k in json.loads(result.stdout)["kpis"]}
    # yesterday = Mar 9 only; its previous period Mar 8 only (not the reading at Mar 9 00:00)
    assert kpis["signups_day"]["value"] == _grep(log, "09/Mar/2026")
    assert kpis["signups_day"]["previous"] == _grep(log, "08/Mar/2026")
    # today as of 00:00 is the reading at 00:00; compared with the day before at the same elapsed time
    assert kpis["signups_today"]["value"] == _grep(log, "10/Mar/2026:00:")
    assert kpis["signups_today"]["previous"] == _grep(log, "09/Mar/2026:00:")
