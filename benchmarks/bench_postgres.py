"""PostgreSQL history figures (issue 13): ingest, full load into the viewer's index, incremental refresh.

    python -m benchmarks.bench_postgres ROWS [URL]     # URL default: $KPITUI_BENCH_PG_URL or $KPITUI_TEST_PG_URL
    python -m benchmarks.bench_postgres --load ROWS [URL]   # the full load alone, ROWS made by the server

Creates a database of its own on that server (dropped afterwards), writes the
generated history (:mod:`benchmarks.data`) in 100,000-row transactions under
one instance (timed to the end of the snapshot upkeep a collector makes once its backlog
is read, ``catch_up``; ``writes_s``: the writes alone), loads it into a viewer's index
(:class:`kpitui.history.History`), then has a second instance ("another host") write 1,000 readings and times the
viewer's refresh. Prints one JSON object.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import time
import urllib.parse
import uuid
from typing import Any

from benchmarks import data


def _with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def measure(rows: int, url: str) -> dict:
    import psycopg

    from kpitui.history import History
    from kpitui.postgres_store import PostgresStore

    name = f"kpitui_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    target = _with_database(url, name)
    out: dict = {"rows": rows}
    try:
        frame = data.history(rows)
        out["rows"] = frame.height
        with PostgresStore(target, instance="web1", path="/tmp/kpitui-bench-side") as store:
            batch = 100_000
            t0 = time.perf_counter()
            for offset in range(0, frame.height, batch):
                store.write(frame.slice(offset, batch))
            out["writes_s"] = time.perf_counter() - t0
            store.catch_up()  # what the collector does once it has read its backlog (kpitui.collector)
            out["ingest_s"] = time.perf_counter() - t0
            out["ingest_per_s"] = frame.height / out["ingest_s"]
        with psycopg.connect(target, autocommit=True) as con:
            con.execute("VACUUM ANALYZE kpitui.readings")
        loads = []
        for _ in range(3):
            with PostgresStore(target, readonly=True, path="/tmp/kpitui-bench-side") as viewer:
                history = History(viewer, background=False)
                t0 = time.perf_counter()
                history.refresh()
                loads.append(time.perf_counter() - t0)
                assert history.height == frame.height, (history.height, frame.height)
        out["load_s"] = min(loads)
        out["load_runs_s"] = loads
        refreshes = []
        with (
            PostgresStore(target, readonly=True, path="/tmp/kpitui-bench-side") as viewer,
            PostgresStore(target, instance="web2", path="/tmp/kpitui-bench-side") as other,
        ):
            history = History(viewer)
            history.refresh()
            for i in range(20):
                start = data.NOW - dt.timedelta(hours=1) + dt.timedelta(seconds=i)
                other.write(
                    data.new_readings(
                        1000, metrics=[data.metric_id(k) for k in range(10)], start=start, seconds=1, seed=900 + i
                    ),
                    mode="add",
                )
                t0 = time.perf_counter()
                changed = history.refresh()
                refreshes.append(time.perf_counter() - t0)
                assert changed > 0
            history.wait()
        out["refresh_median_s"] = statistics.median(refreshes)
        out["refresh_max_s"] = max(refreshes)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return out


def measure_load(rows: int, url: str) -> dict:
    """The viewer's full load of ``rows`` readings (1,000 metrics, one a minute each, one instance),
    made by the server (``generate_series``: cheap at 10M): from a current snapshot, and from a
    snapshot an eighth of the history behind (the most a writer leaves before refreshing it)."""
    import psycopg

    from kpitui.history import History
    from kpitui.postgres_store import PostgresStore

    name = f"kpitui_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    target = _with_database(url, name)
    side = "/tmp/kpitui-bench-side"
    out: dict = {"rows": rows}
    start_us = (data.NOW - dt.timedelta(days=400) - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(
        microseconds=1
    )

    def generate(con: Any, first: int, last: int, *, bulk: bool = False) -> None:
        if bulk:  # indexes built once afterwards (a sort) rather than row by row
            con.execute("ALTER TABLE kpitui.readings DROP CONSTRAINT readings_pkey")
            con.execute("DROP INDEX kpitui.readings_seq")
        con.execute(
            "INSERT INTO kpitui.readings (metric_id, instance_id, at, value, seq) "
            "SELECT 1 + g %% 1000, 1, %s + (g / 1000) * 60000000, (g %% 10000) / 100.0, g "
            "FROM generate_series(%s::bigint, %s::bigint) g",
            (start_us, first, last),
        )
        if bulk:
            con.execute("SET maintenance_work_mem = '256MB'")
            con.execute("ALTER TABLE kpitui.readings ADD PRIMARY KEY (metric_id, at, instance_id)")
            con.execute(
                "CREATE INDEX readings_seq ON kpitui.readings USING brin (seq) "
                "WITH (pages_per_range = 32, autosummarize = on)"
            )
        con.execute("UPDATE kpitui.meta SET value = %s WHERE key = 'seq'", (last,))
        con.execute("VACUUM ANALYZE kpitui.readings")

    def load() -> float:
        times = []
        for _ in range(3):
            with PostgresStore(target, readonly=True, path=side) as viewer:
                history = History(viewer, background=False)
                t0 = time.perf_counter()
                history.refresh()
                times.append(time.perf_counter() - t0)
                assert history.height == height, (history.height, height)
        return min(times)

    try:
        with PostgresStore(target, instance="web1", path=side) as writer:
            with psycopg.connect(target, autocommit=True) as con:  # ids 1..1000 for m0000..m0999, 1 for web1
                con.execute(
                    "INSERT INTO kpitui.metrics (id, name) SELECT g + 1, 'm' || lpad(g::text, 4, '0') FROM "
                    "generate_series(0, 999) g"
                )
                con.execute("INSERT INTO kpitui.instances (id, name) VALUES (1, 'web1')")
                t0 = time.perf_counter()
                generate(con, 1, rows, bulk=True)
                out["generate_s"] = time.perf_counter() - t0
            height = rows
            t0 = time.perf_counter()
            writer.snapshot()
            out["snapshot_s"] = time.perf_counter() - t0
            out["load_s"] = load()
            with psycopg.connect(target, autocommit=True) as con:
                generate(con, rows + 1, rows + rows // 8)
            height = rows + rows // 8
            out["load_stale_s"] = load()
            out["load_stale_rows_since"] = rows // 8
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return out


def figures(rows: int, figure: Any) -> tuple[list, dict]:
    """The three PostgreSQL figures for ``python -m benchmarks`` (``figure``: its Figure class), and the raw numbers."""
    url = os.environ.get("KPITUI_BENCH_PG_URL") or os.environ.get("KPITUI_TEST_PG_URL")
    group = "5 PostgreSQL"
    names = (
        "ingest, one collector, 100k-row transactions",
        "full load into the viewer's index (columnar snapshot + rows since)",
        "refresh after another instance wrote 1,000 readings",
    )
    budgets = ("≥ 100,000 /s", "10M in ≤ 2 s", "≤ 50 ms")
    if not url:
        return [figure(group, n, b, "not measured: no KPITUI_TEST_PG_URL") for n, b in zip(names, budgets)], {}
    try:
        out = measure(rows, url)
    except Exception as exc:  # noqa: BLE001 - a server that went away: say so, keep the other figures
        return [figure(group, n, b, f"not measured: {exc}".splitlines()[0]) for n, b in zip(names, budgets)], {
            "error": str(exc)
        }
    scale = out["rows"] / 10_000_000
    note = f"{out['rows']:,} readings" + ("" if scale >= 1 else f"; load budget scaled to {2 * scale:.2g} s")
    return [
        figure(
            group, names[0], budgets[0], f"{out['ingest_per_s']:,.0f} /s", ok=out["ingest_per_s"] >= 100_000, note=note
        ),
        figure(group, names[1], budgets[1], f"{out['load_s']:.2f} s", ok=out["load_s"] <= 2.0 * scale, note=note),
        figure(
            group,
            names[2],
            budgets[2],
            f"{out['refresh_median_s'] * 1000:.0f} ms median",
            ok=out["refresh_median_s"] <= 0.050,
            note=f"max {out['refresh_max_s'] * 1000:.0f} ms over 20 runs",
        ),
    ], out


def main(argv: list[str]) -> int:
    only_load = bool(argv) and argv[0] == "--load"
    argv = argv[1:] if only_load else argv
    rows = int(argv[0]) if argv else (10_000_000 if only_load else 1_000_000)
    url = argv[1] if len(argv) > 1 else os.environ.get("KPITUI_BENCH_PG_URL") or os.environ.get("KPITUI_TEST_PG_URL")
    if not url:
        print(json.dumps({"skipped": "no PostgreSQL URL (KPITUI_BENCH_PG_URL or KPITUI_TEST_PG_URL)"}))
        return 0
    print(json.dumps(measure_load(rows, url) if only_load else measure(rows, url)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
