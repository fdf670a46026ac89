"""A new user's first access-log metric: daily counts from `kpitui series` equal `grep -c` for each day."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess

import pytest
from test_cli import run

PATHS = ["/", "/pricing", "/newsletter/thank-you", "/newsletter", "/retainer/submit", "/blog/post"]


def line(when: dt.datetime, path: str, status: int = 200, method: str = "GET") -> str:
    stamp = when.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return (
        f'203.0.113.{random.randint(1, 250)} - - [{stamp}] "{method} {path} HTTP/1.1" {status} 512 "-" "Mozilla/5.0"\n'
    )


@pytest.mark.slow
def test_daily_counts_match_grep(tmp_path):
    random.seed(11)
    log = tmp_path / "access.log"
    start = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)
    with log.open("w") as out:
        for minute in range(0, 7 * 24 * 60, 7):
            out.write(line(start + dt.timedelta(minutes=minute), random.choice(PATHS)))
        out.write("this is not a log line\n")
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f"""
[storage]
path = "{tmp_path / "h.sqlite3"}"

[sources.web]
type = "access_log"
path = "access.log"

[metrics.newsletter_signups]
name = "Newsletter sign-ups"
source = "web"
trigger = "A visitor viewed the newsletter thank-you page"
condition = 'path == "/newsletter/thank-you"'
"""
    )
    collected = run("collect", "--once", "--config", str(config))
    assert collected.returncode == 0, collected.stderr
    assert "1 skipped" in collected.stdout

    def counts() -> dict[str, float]:
        result = run(
            "series",
            "newsletter_signups",
            "--grain",
            "day",
            "--points",
            "9",
            "--at",
            "2026-03-10T00:00:00",
            "--format",
            "json",
            "--config",
            str(config),
        )
        assert result.returncode == 0, result.stderr
        return {row["start"][:10]: row["value"] for row in json.loads(result.stdout)["points"]}

    def grep(day: dt.date) -> int:
        pattern = day.strftime("%d/%b/%Y") + r'.*"GET /newsletter/thank-you '
        found = subprocess.run(["grep", "-c", pattern, str(log)], capture_output=True, text=True)
        return int(found.stdout.strip() or 0)

    days = [dt.date(2026, 3, d) for d in range(2, 9)]
    by_day = counts()
    assert [by_day[d.isoformat()] for d in days] == [grep(d) for d in days]
    assert sum(grep(d) for d in days) > 50

    # new lines are read incrementally, never counted twice
    with log.open("a") as out:
        for hour in range(5):
            out.write(
                line(dt.datetime(2026, 3, 8, 20 + hour // 2, hour, tzinfo=dt.timezone.utc), "/newsletter/thank-you")
            )
    assert run("collect", "--once", "--config", str(config)).returncode == 0
    assert run("collect", "--once", "--config", str(config)).returncode == 0
    by_day = counts()
    assert [by_day[d.isoformat()] for d in days] == [grep(d) for d in days]
