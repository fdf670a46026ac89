"""How fast does the access_log source parse and count?

Generates a combined-format access log (default 2,000,000 lines, built with
polars, not a Python loop), then measures:

- full parse: all lines parsed and counted into 10 metrics in one go (the
  64 MiB per-poll cap lifted), which is the parser's throughput;
- first import: ``fetch`` from no cursor with the normal cap, as many polls as
  it takes;
- incremental poll: append ``--append`` lines (default 10,000) and ``fetch``
  from the saved cursor;
- collect --once: the whole log as a backlog through the installed
  ``kpitui collect --once`` (every 64 MiB chunk committed), against
  ``grep -c`` on the same file (for that row "best" is the collector's poll
  time and "median" the process's wall time).

Wall time is best of ``--repeat`` runs (this machine is shared; the best run
is the least disturbed); CPU time (all threads) is shown beside it.

    python benchmarks/bench_access_log.py --lines 2000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kpitui.api import SourceContext  # noqa: E402
from kpitui.builtin.access_log import (  # noqa: E402
    AccessLogMetricOptions,
    AccessLogOptions,
    AccessLogSource,
    Cursor,
)
from kpitui.model import Metric, SourceSpec, Trigger  # noqa: E402

CONDITIONS = {
    "newsletter_signups": 'path == "/newsletter/thank-you" and status < 400',
    "retainer_requests": 'method == "POST" and startswith(path, "/retainer/submit")',
    "server_errors": "status >= 500",
    "bot_hits": 'contains(lower(agent), "bot")',
    "blog_views": 'startswith(path, "/blog/") and status == 200',
    "pricing_views": 'path == "/pricing"',
    "google_referrals": 'matches(referrer, "^https?://(www\\\\.)?google\\\\.")',
    "not_found": "status == 404",
    "home_or_about": 'path in ["/", "/about"]',
    "big_downloads": "bytes > 40000",
}

PATHS = [
    "/", "/about", "/pricing", "/newsletter/thank-you", "/retainer/submit", "/static/app.js",
    "/static/site.css", "/blog/post-1", "/blog/post-2", "/blog/post-3", "/search?q=kpi", "/contact",
]  # fmt: skip
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Googlebot/2.1 (+http://www.google.com/bot.html)",
    "curl/8.4.0",
]
REFERRERS = ["-", "https://www.google.com/", "https://news.ycombinator.com/", "https://example.org/blog/"]


def generate(lines: int, *, seed: int = 1, start: dt.datetime | None = None, days: float = 7.0) -> bytes:
    """``lines`` combined-format lines over ``days``, in time order, built column-wise with polars."""
    start = start or dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
    step_us = max(1, int(days * 86_400_000_000 / max(lines, 1)))
    i = pl.int_range(0, lines, eager=True).alias("i")

    def pick(options: list[str], salt: int) -> pl.Expr:
        index = (pl.col("i").hash(seed + salt) % len(options)).cast(pl.Int64)
        return pl.lit(pl.Series(options)).gather(index)

    def number(salt: int, modulo: int) -> pl.Expr:
        return (pl.col("i").hash(seed + salt) % modulo).cast(pl.Int64)

    frame = pl.DataFrame(i).select(
        pl.concat_str(
            [
                number(1, 223) + 1,
                pl.lit("."),
                number(2, 256),
                pl.lit("."),
                number(3, 256),
                pl.lit("."),
                number(4, 256),
                pl.lit(" - - ["),
                (pl.lit(start) + pl.duration(microseconds=pl.col("i") * step_us))
                .dt.convert_time_zone("Europe/Berlin")
                .dt.strftime("%d/%b/%Y:%H:%M:%S %z"),
                pl.lit('] "'),
                pl.when(number(5, 12) == 4).then(pl.lit("POST")).otherwise(pl.lit("GET")),
                pl.lit(" "),
                pick(PATHS, 6),
                pl.lit(' HTTP/1.1" '),
                pl.lit(pl.Series([200, 200, 200, 200, 304, 301, 404, 500])).gather(number(7, 8)).cast(pl.String),
                pl.lit(" "),
                number(8, 50_000).cast(pl.String),
                pl.lit(' "'),
                pick(REFERRERS, 9),
                pl.lit('" "'),
                pick(AGENTS, 10),
                pl.lit('"'),
            ]
        ).alias("line")
    )
    return ("\n".join(frame["line"].to_list()) + "\n").encode() if lines else b""


def make_source(path: Path, *, cap: int | None = None) -> AccessLogSource:
    metrics = [
        Metric(
            id=mid, name=mid, source="web", trigger=Trigger(text=text, condition=text), options=AccessLogMetricOptions()
        )
        for mid, text in CONDITIONS.items()
    ]
    options = AccessLogOptions(path=str(path), bucket="hour", import_rotated=False)
    spec = SourceSpec(id="web", type="access_log", interval=60, timeout=60, options=options)
    source = AccessLogSource(spec, metrics, SourceContext(config_dir=path.parent))
    if cap is not None:
        source.max_poll_bytes = cap
    return source


def collect_once(log: Path, kpitui: str | None = None) -> dict:
    """A backlog: one ``kpitui collect --once`` over the whole log from no cursor, against ``grep -c`` on it.

    Runs the installed console script (as users do) with the 10 metrics of
    :data:`CONDITIONS`; ``poll_s`` is the time the collector reports for the
    source (every 64 MiB chunk fetched and stored), ``wall_s`` the whole
    process. ``server_errors`` stored must equal ``grep -c`` of 5xx lines.
    """
    import re
    import shutil
    import subprocess

    from kpitui.store import Store

    script = kpitui or str(Path(sys.executable).with_name("kpitui"))
    folder = log.parent
    history = folder / "collect-once.sqlite3"
    for old in folder.glob("collect-once.sqlite3*"):  # a backlog from no cursor: a fresh history each run
        old.unlink()
    metrics = "".join(
        f"[metrics.{mid}]\nsource = \"web\"\ncondition = '{text}'\n\n" for mid, text in CONDITIONS.items()
    )
    config = folder / "collect-once.toml"
    config.write_text(
        f'[storage]\npath = "{history}"\n\n[sources.web]\ntype = "access_log"\npath = "{log}"\n'
        f"import_rotated = false\ntimeout = 600\n\n{metrics}"
    )
    t0 = time.perf_counter()
    done = subprocess.run([script, "collect", "--once", "--config", str(config)], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"kpitui collect --once failed: {done.stderr[-300:]}")
    match = re.search(r"web: (\d+) readings.* in ([0-9.]+)s(?: \((\d+) chunks\))?", done.stdout)
    assert match, done.stdout
    grep = shutil.which("grep") or "grep"
    t0 = time.perf_counter()
    found = subprocess.run([grep, "-c", 'HTTP/1.1" 5[0-9][0-9] ', str(log)], capture_output=True, text=True)
    grep_s = time.perf_counter() - t0
    with Store(history, readonly=True) as store:
        frame, _ = store.load()
    stored = int(frame.filter(pl.col("metric") == "server_errors")["value"].sum())
    return {
        "wall_s": wall,
        "poll_s": float(match.group(2)),
        "chunks": int(match.group(3) or 1),
        "grep_s": grep_s,
        "grep_count": int(found.stdout.strip() or 0),
        "stored_count": stored,
    }


def collect_once_runs(log: Path, runs: int = 3) -> dict:
    """:func:`collect_once` ``runs`` times (each a fresh history): the run of median polling time, with
    ``poll_runs``/``wall_runs``/``grep_runs`` of them all; every run must store what ``grep -c`` counts."""
    done = [collect_once(log) for _ in range(runs)]
    for once in done:
        if once["stored_count"] != once["grep_count"]:
            stored, counted = once["stored_count"], once["grep_count"]
            raise RuntimeError(f"collect --once stored {stored:,} 5xx, grep -c counts {counted:,}")
    middle = sorted(done, key=lambda once: once["poll_s"])[(runs - 1) // 2]
    return {
        **middle,
        "grep_s": statistics.median(once["grep_s"] for once in done),
        "poll_runs": [once["poll_s"] for once in done],
        "wall_runs": [once["wall_s"] for once in done],
        "grep_runs": [once["grep_s"] for once in done],
    }


def timed(run, repeat: int) -> tuple[float, float, float, object]:
    """(best wall, median wall, CPU of the best run, result) over ``repeat`` runs."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    best = min(range(repeat), key=walls.__getitem__)
    return walls[best], statistics.median(walls), cpus[best], result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=2_000_000, help="lines in the generated log (default 2,000,000)")
    parser.add_argument("--append", type=int, default=10_000, help="lines appended for the incremental poll")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (best is reported)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="kpitui-bench-") as tmp:
        log = Path(tmp) / "access.log"
        t0 = time.perf_counter()
        data = generate(args.lines)
        log.write_bytes(data)
        print(f"generated {args.lines:,} lines ({len(data) / 2**20:.0f} MiB) in {time.perf_counter() - t0:.1f}s")

        rows: list[tuple[str, float, float, float, str]] = []
        full = make_source(log, cap=1 << 62)
        best, median, cpu, result = timed(lambda: full._count(data, Cursor()), args.repeat)
        readings, bad = result  # type: ignore[misc]
        counted = int(readings.filter(pl.col("metric") == "server_errors")["value"].sum())
        rows.append(("full parse -> 10 metric counts", best, median, cpu, f"{args.lines / best / 1e6:.2f} M lines/s"))
        once = collect_once(log)
        rows.append(
            (
                f"collect --once, whole log ({once['chunks']} chunks)",
                once["poll_s"],
                once["wall_s"],
                float("nan"),
                f"grep -c {once['grep_s'] * 1000:.0f} ms ({once['poll_s'] / once['grep_s']:.1f}x); "
                f"5xx {once['stored_count']:,} stored = {once['grep_count']:,} grep",
            )
        )

        def first_import() -> tuple[str | None, int]:
            source, cursor, polls = make_source(log), None, 0
            while True:
                polls += 1
                result = source.fetch(cursor, dt.datetime.now(dt.timezone.utc))
                if result.cursor == cursor or result.readings.height == 0:
                    return result.cursor, polls
                cursor = result.cursor

        best_i, median_i, cpu_i, (cursor, polls) = timed(first_import, max(1, args.repeat // 2))  # type: ignore[misc]
        rows.append((f"first import, 64 MiB polls ({polls - 1})", best_i, median_i, cpu_i, "fetch() loop"))

        source = make_source(log)
        extra = generate(args.append, seed=2, start=dt.datetime(2024, 3, 8, tzinfo=dt.timezone.utc), days=0.1)
        polls: list[tuple[float, float]] = []
        for _ in range(args.repeat):
            with log.open("ab") as handle:
                handle.write(extra)
            wall, cpu_start = time.perf_counter(), time.process_time()
            result = source.fetch(cursor, dt.datetime.now(dt.timezone.utc))
            polls.append((time.perf_counter() - wall, time.process_time() - cpu_start))
            cursor = result.cursor
        walls = [w for w, _ in polls]
        best_p = min(polls)
        rows.append(
            (
                f"incremental poll of {args.append:,} lines",
                best_p[0],
                statistics.median(walls),
                best_p[1],
                f"{result.readings.height} readings",
            )
        )

        print(f"\n{'measurement':<40} {'best':>9} {'median':>9} {'cpu':>9}  note")
        for name, best, median, cpu, note in rows:
            shown_cpu = f"{cpu * 1000:>7.0f}ms" if cpu == cpu else f"{'-':>9}"
            print(f"{name:<40} {best * 1000:>7.0f}ms {median * 1000:>7.0f}ms {shown_cpu}  {note}")
        print(
            f"\n(check: {counted:,} server errors counted, {bad} malformed lines; targets: full <= 1500 ms, "
            "poll <= 50 ms)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
