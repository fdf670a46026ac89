"""Issue 15 item 2: could Arrow read straight from SQLite through ADBC replace the columnar snapshot cache?

A viewer's full load three ways, each in a fresh process over the same file (warm page cache):

- ``snapshot``: :meth:`kpitui.store.Store.load_ids` as shipped: the Arrow IPC snapshot parts plus the
  rows written since it (``--tail`` readings in polls of 1,000) merged into (metric, at) order;
- ``adbc``: ``SELECT metric_id, at, value, n FROM readings`` (in seq order since schema 7; it was
  primary-key order) through ``adbc-driver-sqlite`` into Arrow, then polars, cast to the same id
  frame and sorted by (metric, at); no snapshot, nothing to invalidate;
- ``sqlite3``: the store's own table read without a snapshot (``_fetch_metrics``: Python's
  ``sqlite3``, the whole table in seq order, sorted), what a load costs when the cache is missing.

Run: ``python -m benchmarks.bench_adbc --rows 3000000`` (needs the ``bench`` extra; builds its store
under ``--dir``, reused when it exists).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

_READERS = {
    "snapshot": """
from kpitui.store import Store
with Store(PATH, readonly=True) as store:
    frame, names, seq = store.load_ids()
""",
    "adbc": """
import adbc_driver_sqlite.dbapi as adbc
import polars as pl
from kpitui.store_common import ID_FRAME_SCHEMA
with adbc.connect(f"file:{PATH}?mode=ro") as con, con.cursor() as cur:
    cur.execute("SELECT metric_id, at, value, n FROM readings")
    table = cur.fetch_arrow_table()
    cur.execute("SELECT id, name FROM metrics")
    names = dict(cur.fetchall())
frame = pl.from_arrow(table).select(pl.col(c).cast(t) for c, t in ID_FRAME_SCHEMA.items()).sort("metric_id", "at")
""",
    "sqlite3": """
from kpitui.store import Store
with Store(PATH, readonly=True, snapshot_rows=None) as store:
    with store._guard("read"), store._transaction("DEFERRED"):
        ids = [r[0] for r in store._conn.execute("SELECT id FROM metrics ORDER BY id")]
        frame = store._fetch_metrics(ids, every=True)
""",
}


def build(path: Path, rows: int, tail: int) -> None:
    """A bulk-built store of ``rows`` readings (64 KiB pages, as the suite's), its snapshot, then ``tail`` more."""
    from benchmarks import data
    from kpitui.store import Store

    store = Store(path, page_size=65536)
    frame = data.history(rows, metrics=max(50, rows // 10_000))
    for offset in range(0, frame.height, 100_000):
        store.write(frame.slice(offset, 100_000))
    store.snapshot()
    for i in range(tail // 1000):
        start = data.NOW - dt.timedelta(hours=2) + dt.timedelta(seconds=30 * i)
        metrics = [data.metric_id(k) for k in range(50)]
        store.write(data.new_readings(1000, metrics=metrics, start=start, seconds=30, seed=900 + i))
    store.close()


def time_reader(name: str, path: Path) -> tuple[float, int]:
    """Wall time of one load in a fresh process (import time excluded), and the rows it gave."""
    code = (
        f"import time\nPATH = {str(path)!r}\nimport polars\nt0 = time.perf_counter()\n{_READERS[name]}\n"
        "print(time.perf_counter() - t0, frame.height)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, height = out.stdout.split()
    return float(seconds), int(height)


def compare(path: Path, runs: int = 5) -> dict:
    """Median, min and max seconds of each reader over ``runs`` alternating runs."""
    times: dict[str, list[float]] = {name: [] for name in _READERS}
    heights: dict[str, int] = {}
    for _ in range(runs):
        for name in _READERS:
            seconds, heights[name] = time_reader(name, path)
            times[name].append(seconds)
    return {
        name: {"median_s": statistics.median(t), "min_s": min(t), "max_s": max(t), "rows": heights[name]}
        for name, t in times.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--tail", type=int, default=45_000, help="readings written after the snapshot")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/kpitui-bench-adbc"))
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"h{args.rows}.sqlite3"
    if not path.exists():
        t0 = time.perf_counter()
        build(path, args.rows, args.tail)
        print(f"built {path} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print(
        json.dumps({"rows": args.rows, "tail": args.tail, "load": " ".join(load), **compare(path, args.runs)}, indent=1)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
