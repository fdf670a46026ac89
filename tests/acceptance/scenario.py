"""Scenario data for the independent acceptance tests: our own config, CSV export and access log.

Deterministic (a seeded ``random.Random``) so a failure can be replayed; nothing
here imports kpitui. The CLI is the only way data gets in (``kpitui record``,
``kpitui collect --once``), as a user would.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

UTC = dt.timezone.utc


def kpitui(config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "kpitui", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"kpitui {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


def report(config: Path, at: str, *extra: str) -> dict:
    return json.loads(kpitui(config, "report", "--format", "json", "--at", at, *extra).stdout)


def series(config: Path, ident: str, at: str, *extra: str) -> dict:
    return json.loads(kpitui(config, "series", ident, "--format", "json", "--at", at, *extra).stdout)


# -- the CSV export (file source, hour buckets) ------------------------------------------------------
CSV_COLUMNS = ["time", "sales", "revenue", "expenses", "subscribers", "onboarding", "latency", "visits", "signups"]


@dataclass
class Export:
    rows: list[dict] = field(default_factory=list)

    def write(self, path: Path) -> None:
        lines = [",".join(CSV_COLUMNS)]
        for row in self.rows:
            lines.append(",".join("" if row.get(c) is None else str(row[c]) for c in CSV_COLUMNS))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_export(seed: int, start: dt.datetime, end: dt.datetime, extra: list[dt.datetime] = ()) -> Export:
    """One row at most per UTC hour (so each stored hour bucket is one row), a random subset of hours.

    Times are written in UTC with an explicit offset, at a random minute inside the hour."""
    rng = random.Random(seed)
    export = Export()
    hour = start.replace(minute=0, second=0, microsecond=0)
    subscribers = 1000.0
    hours = []
    while hour < end:
        if rng.random() < 0.22:
            hours.append(hour)
        hour += dt.timedelta(hours=1)
    hours = sorted(set(hours) | {h.replace(minute=0, second=0, microsecond=0) for h in extra})
    for h in hours:
        at = h + dt.timedelta(minutes=rng.randrange(0, 60), seconds=rng.randrange(0, 60))
        subscribers += rng.randrange(-3, 9)
        row = {"time": at.strftime("%Y-%m-%d %H:%M:%S+00:00")}
        if rng.random() < 0.8:
            row["sales"] = rng.randrange(0, 7)
        if rng.random() < 0.7:
            row["revenue"] = round(rng.uniform(10, 900), 2)
        if rng.random() < 0.6:
            row["expenses"] = round(rng.uniform(5, 500), 2)
        if rng.random() < 0.5:
            row["subscribers"] = int(subscribers)
        if rng.random() < 0.15:
            row["onboarding"] = rng.randrange(3600, 15 * 86400)
        if rng.random() < 0.5:
            row["latency"] = rng.randrange(20, 2500)
        visits = rng.randrange(5, 80)
        row["visits"] = visits
        row["signups"] = rng.randrange(0, max(1, visits // 4))
        export.rows.append(row)
    return export


def csv_values(export: Export, column: str) -> list[tuple[dt.datetime, float]]:
    out = []
    for row in export.rows:
        if row.get(column) is None:
            continue
        at = dt.datetime.strptime(row["time"], "%Y-%m-%d %H:%M:%S+00:00").replace(tzinfo=UTC)
        out.append((at, float(row[column])))
    return out


# -- the access log -------------------------------------------------------------------------------
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) Mobile/15E148",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
    "curl/8.5.0",
    "Mozilla/5.0 (compatible; bingbot/2.0)",
]
PATHS = ["/", "/pricing", "/signup/start", "/signup/done", "/blog/über-uns", "/api/v1/items?page=2", "/static/a.css"]


def log_line(at: dt.datetime, offset_minutes: int, client: str, method: str, path: str, status: int, agent: str) -> str:
    tz = dt.timezone(dt.timedelta(minutes=offset_minutes))
    stamp = at.astimezone(tz).strftime("%d/%b/%Y:%H:%M:%S %z")
    return f'{client} - - [{stamp}] "{method} {path} HTTP/1.1" {status} 512 "-" "{agent}"'


def make_log(seed: int, start: dt.datetime, end: dt.datetime, offsets: list[int]) -> list[str]:
    """Lines a few minutes apart with random clients, paths, statuses and agents, and odd lines mixed in:
    garbage, an empty line, a huge line, unicode, a line whose timestamp is not a date."""
    rng = random.Random(seed)
    lines = []
    at = start
    while at < end:
        at += dt.timedelta(seconds=rng.randrange(30, 2400))
        client = f"10.0.{rng.randrange(0, 4)}.{rng.randrange(1, 40)}"
        method = "POST" if rng.random() < 0.15 else "GET"
        path = rng.choice(PATHS)
        status = rng.choice([200, 200, 200, 201, 204, 301, 304, 404, 500, 503])
        lines.append(log_line(at, rng.choice(offsets), client, method, path, status, rng.choice(AGENTS)))
        r = rng.random()
        if r < 0.01:
            lines.append("this is not a log line at all")
        elif r < 0.015:
            lines.append("")
        elif r < 0.017:
            lines.append(log_line(at, 0, client, "GET", "/" + "x" * 70_000, 200, AGENTS[0]))
        elif r < 0.02:
            lines.append(f'{client} - - [31/Foo/2026:99:99:99 +0000] "GET / HTTP/1.1" 200 1 "-" "x"')
        elif r < 0.025:
            lines.append(log_line(at, 0, client, "GET", "/café/naïve-東京", 200, "Mozilla/5.0 (ünïcødé)"))
    return lines
