"""PostgreSQL history figures (issue 13): ingest, full load into the viewer's index, incremental refresh.

    python -m benchmarks.bench_postgres ROWS [URL]     # URL default: $KPITUI_BENCH_PG_URL or $KPITUI_TEST_PG_URL

Creates a database of its own on that server (dropped afterwards), writes the
generated history (:mod:`benchmarks.data`) in 100,000-row transactions under
one instance, loads it into a viewer's index (:class:`kpitui.history.History`),
then has a second instance ("another host") write 1,000 readings and times the
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
        with PostgresStore(target, readonly=True, path="/tmp/kpitui-bench-side") as viewer, PostgresStore(
            target, instance="web2", path="/tmp/kpitui-bench-side"
        ) as other:
            history = History(viewer)
            history.refresh()
            for i in range(20):
                start = data.NOW - dt.timedelta(hours=1) + dt.timedelta(seconds=i)
                other.write(
                    data.new_readings(1000, metrics=[data.metric_id(k) for k in range(10)], start=start, seconds=1, seed=900 + i),
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


def main(argv: list[str]) -> int:
    rows = int(argv[0]) if argv else 1_000_000
    url = argv[1] if len(argv) > 1 else os.environ.get("KPITUI_BENCH_PG_URL") or os.environ.get("KPITUI_TEST_PG_URL")
    if not url:
        print(json.dumps({"skipped": "no PostgreSQL URL (KPITUI_BENCH_PG_URL or KPITUI_TEST_PG_URL)"}))
        return 0
    print(json.dumps(measure(rows, url)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
