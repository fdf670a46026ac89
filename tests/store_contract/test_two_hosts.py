"""Two collectors on two "hosts" (two processes, two configs, two access logs) feeding one PostgreSQL history."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from tests.store_contract.test_postgres_cli import run
from tests.test_cli import kpitui_script

PATHS = ["/", "/pricing", "/newsletter/thank-you", "/newsletter", "/blog/post"]
START = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)
DAYS = [START.date() + dt.timedelta(days=d) for d in range(7)]


def write_log(path: Path, seed: int, step: int) -> None:
    rng = random.Random(seed)
    with path.open("w") as out:
        for minute in range(0, 7 * 24 * 60, step):
            when = START + dt.timedelta(minutes=minute + rng.randrange(step))
            stamp = when.strftime("%d/%b/%Y:%H:%M:%S +0000")
            out.write(
                f'203.0.113.{rng.randint(1, 250)} - - [{stamp}] "GET {rng.choice(PATHS)} HTTP/1.1" 200 512 "-" "x"\n'
            )


def host_config(tmp_path: Path, host: str) -> Path:
    config = tmp_path / f"{host}.toml"
    config.write_text(
        f"""
[storage]
url = "${{KPITUI_DATABASE_URL}}"
instance = "{host}"
path = "{tmp_path / (host + "-side.sqlite3")}"

[sources.web]
type = "access_log"
path = "{host}.log"

[metrics.signups]
name = "Newsletter sign-ups"
source = "web"
trigger = "A visitor viewed the newsletter thank-you page"
condition = 'path == "/newsletter/thank-you"'
"""
    )
    return config


def grep(day: dt.date, *logs: Path) -> int:
    pattern = day.strftime("%d/%b/%Y") + r'.*"GET /newsletter/thank-you '
    total = 0
    for log in logs:
        found = subprocess.run(["grep", "-c", pattern, str(log)], capture_output=True, text=True)
        total += int(found.stdout.strip() or 0)
    return total


def daily(config: Path, env: dict[str, str], *extra: str) -> dict[str, float]:
    result = run(
        "series",
        "signups",
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
        *extra,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return {row["start"][:10]: row["value"] for row in json.loads(result.stdout)["points"]}


@pytest.mark.slow
def test_counts_from_two_hosts_add_up_to_grep_of_both_logs(tmp_path, pg_url):
    env = {"KPITUI_DATABASE_URL": pg_url}
    logs = {host: tmp_path / f"{host}.log" for host in ("web1", "web2")}
    write_log(logs["web1"], 1, 5)
    write_log(logs["web2"], 2, 7)
    configs = {host: host_config(tmp_path, host) for host in logs}
    # both collectors at once, twice (the second run finds nothing new: idempotent)
    for _ in range(2):
        running = [
            subprocess.Popen(
                [kpitui_script(), "collect", "--once", "--config", str(configs[h])],
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for h in configs
        ]
        for process in running:
            _, err = process.communicate(timeout=180)
            assert process.returncode == 0, err
    both = daily(configs["web1"], env)
    assert [both[d.isoformat()] for d in DAYS] == [grep(d, *logs.values()) for d in DAYS]
    assert sum(grep(d, *logs.values()) for d in DAYS) > 100
    # each instance alone, from either config (a viewer may be anywhere)
    for host, log in logs.items():
        alone = daily(configs["web2"], env, "--instance", host)
        assert [alone[d.isoformat()] for d in DAYS] == [grep(d, log) for d in DAYS]
    # more lines on one host: read from its own cursor, never counted twice
    with logs["web2"].open("a") as out:
        for minute in range(5):
            stamp = (START + dt.timedelta(days=3, minutes=minute)).strftime("%d/%b/%Y:%H:%M:%S +0000")
            out.write(f'198.51.100.7 - - [{stamp}] "GET /newsletter/thank-you HTTP/1.1" 200 1 "-" "x"\n')
    for host in ("web2", "web1", "web2"):
        assert run("collect", "--once", "--config", str(configs[host]), env=env).returncode == 0
    both = daily(configs["web1"], env)
    assert [both[d.isoformat()] for d in DAYS] == [grep(d, *logs.values()) for d in DAYS]
