"""access_log buckets follow ``[kpitui] timezone``: daily (and hourly) counts equal `grep -c` on the server's local
times.

nginx writes ``$time_local`` in the server's zone, so grepping a local day
(``04/Mar/2026``) or hour (``04/Mar/2026:15``) counts exactly what that local
bucket must hold, including across a DST change and in half-hour zones.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from test_cli import run

PATHS = ["/", "/pricing", "/newsletter/thank-you", "/newsletter", "/blog/post"]
START = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)  # the US changes to DST on 8 March 2026


def write_log(path: Path, zone: str, seed: int = 4) -> None:
    rng = random.Random(seed)
    tz = ZoneInfo(zone)
    with path.open("w") as out:
        for minute in range(0, 9 * 24 * 60, 11):
            when = (START + dt.timedelta(minutes=minute)).astimezone(tz)
            out.write(f'198.51.100.{rng.randint(1, 250)} - - [{when:%d/%b/%Y:%H:%M:%S %z}] '
                      f'"GET {rng.choice(PATHS)} HTTP/1.1" 200 512 "-" "Mozilla/5.0"\n')  # fmt: skip


def grep(log: Path, prefix: str) -> int:
    found = subprocess.run(
        ["grep", "-c", f"\\[{prefix}.*GET /newsletter/thank-you ", str(log)], capture_output=True, text=True
    )
    return int(found.stdout.strip() or 0)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("zone", "bucket"),
    [("America/New_York", "day"), ("Asia/Kolkata", "day"), ("Asia/Kolkata", "hour"), ("Australia/Adelaide", "day")],
)
def test_buckets_follow_the_configured_time_zone(tmp_path: Path, zone: str, bucket: str) -> None:
    log = tmp_path / "access.log"
    write_log(log, zone)
    cfg = tmp_path / "kpitui.toml"
    cfg.write_text(
        f"""
[kpitui]
timezone = "{zone}"

[storage]
path = "{tmp_path / "h.sqlite3"}"

[sources.web]
type = "access_log"
path = "access.log"
bucket = "{bucket}"

[metrics.signups]
source = "web"
condition = 'path == "/newsletter/thank-you"'
"""
    )
    collected = run("collect", "--once", "--config", str(cfg))
    assert collected.returncode == 0, collected.stderr
    tz = ZoneInfo(zone)
    days = [dt.date(2026, 3, d) for d in range(3, 10)]
    # --at inside the last bucket: a reading stamped exactly at --at counts as of --at (docs/kpis.md)
    if bucket == "day":
        points, at = "8", "2026-03-09T23:30:00"
    else:
        points, at = "48", "2026-03-06T23:30:00"  # 5 and 6 March, hour by hour
    result = run(
        "series", "signups", "--grain", bucket, "--points", points, "--at", at, "--format", "json", "--config", str(cfg)
    )
    assert result.returncode == 0, result.stderr
    rows = {
        dt.datetime.fromisoformat(row["start"]).astimezone(tz): row["value"] or 0
        for row in json.loads(result.stdout)["points"]
    }
    if bucket == "day":
        got = {start.date(): value for start, value in rows.items()}
        expected = {day: grep(log, day.strftime("%d/%b/%Y")) for day in days}
        assert {day: got.get(day, 0) for day in days} == expected
    else:
        got = {start.strftime("%d/%b/%Y:%H"): value for start, value in rows.items()}
        hours = [start.strftime("%d/%b/%Y:%H") for start in rows if start < dt.datetime(2026, 3, 7, tzinfo=tz)]
        assert len(hours) >= 47
        assert {h: got[h] for h in hours} == {h: grep(log, h) for h in hours}
    assert sum(expected.values() if bucket == "day" else got.values()) > 50
