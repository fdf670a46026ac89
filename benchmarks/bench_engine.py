"""KPI evaluation over a large history: load, full evaluation, incremental refresh, memory; pandas and DuckDB
references.

Runs in its own process (``python -m benchmarks.bench_engine STORE CONFIG [REPEAT ROUNDS] [--refresh]``,
started by ``python -m benchmarks``; ``--refresh``: the two budgeted refresh figures alone, on a store
kept by ``python -m benchmarks --only engine --keep DIR``, which it writes to: run it on a copy) so
that its resident memory is the viewer's alone. Prints one JSON object.

Figures
-------
- ``load``: ``History.refresh()`` from an empty history: the store's load
  (columnar snapshot + newer rows) and the index build;
- ``rss``: resident memory with the history loaded and evaluated once
  (after a second for the allocator to hand back what the build freed);
- ``full``: ``Engine.evaluate`` of every KPI's value, comparison and
  sparkline by a new engine (nothing carried over), history loaded;
- ``incremental``: a writer commits 1,000 new readings, then
  ``History.refresh(fold=False)`` + ``Engine.evaluate`` (the timed part), then
  ``History.fold_due()`` as the TUI calls it once the snapshot is posted (the
  fold it starts runs in the background beside the rounds after), repeated
  so that the delta is folded into the base once; three scenarios: the same
  clock instant, the clock 5 s later (as the TUI's refresh), and 1,000
  readings spread over every metric (worst case);
- references: the same roll-up -- every (metric, aggregation, period) the
  300 KPIs read -- answered by pandas/numpy and by DuckDB from the same
  readings, each with its own load-time preparation (timed apart), and
  checked against the engine's answers.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import math
import statistics
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import data  # noqa: E402
from kpitui import pipeline  # noqa: E402
from kpitui.config import load_config  # noqa: E402
from kpitui.engine import Engine  # noqa: E402
from kpitui.engine.queries import row_kpis as _row_kpis  # noqa: E402
from kpitui.history import History  # noqa: E402
from kpitui.store import Store  # noqa: E402


def _status(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    return _status("VmRSS:")


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the parent across exec)."""
    return _status("VmHWM:")


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "best": ordered[0],
        "median": statistics.median(ordered),
        "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
        "n": len(ordered),
    }


def roll_up_requests(engine: Engine, now: dt.datetime) -> pl.DataFrame:
    """Every (metric, aggregation, period) a full evaluation reads."""
    rows, plans, slots = engine.plan(now)
    row_kpis = _row_kpis(plans)
    pairs = [(r, k) for r, kids in row_kpis.items() for k in kids if k in engine.program.kpis]
    return engine.requests(pairs, slots, now)[0].select(*pipeline.REQUESTS_SCHEMA)


def to_pandas(frame: pl.DataFrame):
    """A polars frame as pandas, through numpy (no pyarrow needed)."""
    import pandas as pd

    return pd.DataFrame({name: frame[name].to_numpy() for name in frame.columns})


def pandas_reference(frame: pl.DataFrame, requests: pl.DataFrame) -> tuple[float, float, dict[int, float | None]]:
    """Prepare (sort, per-metric running sums) then answer every request with numpy searchsorted."""
    import numpy as np

    t0 = time.perf_counter()
    df = to_pandas(frame.select("metric", pl.col("at").dt.epoch("us"), "value"))
    df = df.sort_values(["metric", "at"], kind="stable")
    groups = {}
    for metric, part in df.groupby("metric", sort=False):
        at = part["at"].to_numpy()
        value = part["value"].to_numpy()
        groups[metric] = (at, value, np.concatenate([[0.0], np.cumsum(value)]))
    prepared = time.perf_counter() - t0

    t0 = time.perf_counter()
    req = to_pandas(requests)
    out: dict[int, float | None] = {}
    for metric, part in req.groupby("metric", sort=False):
        if metric not in groups:
            out.update({int(r): None for r in part["req"]})
            continue
        at, value, running = groups[metric]
        lo = np.searchsorted(at, part["start"].to_numpy(), "left")
        hi = np.searchsorted(at, part["end"].to_numpy(), "left")
        for r, agg, a, b in zip(part["req"].to_numpy(), part["agg"].to_numpy(), lo, hi):
            if agg in ("sum", "count"):
                v = None if b == 0 else float(running[b] - running[a]) if agg == "sum" else float(b - a)
            elif agg == "last":
                v = float(value[b - 1]) if b > 0 else None
            elif b <= a:
                v = None
            elif agg == "mean":
                v = float((running[b] - running[a]) / (b - a))
            elif agg == "min":
                v = float(value[a:b].min())
            elif agg == "max":
                v = float(value[a:b].max())
            else:
                v = float(np.quantile(value[a:b], pipeline.quantile_of(agg), method="linear"))
            out[int(r)] = v
    return prepared, time.perf_counter() - t0, out


DUCKDB_QUERY = """
WITH inside AS (
    SELECT r.req, count(x.value) AS n, sum(x.value) AS s, min(x.value) AS lo, max(x.value) AS hi,
           quantile_cont(x.value, 0.9) AS p90
    FROM requests r LEFT JOIN readings x ON x.metric = r.metric AND x."at" >= r.start AND x."at" < r."end"
    GROUP BY r.req
),
before AS (
    SELECT r.req, x.value AS last
    FROM requests r ASOF LEFT JOIN readings x ON r.metric = x.metric AND r."end" > x."at"
)
SELECT r.req,
       CASE r.agg
           WHEN 'sum' THEN CASE WHEN b.last IS NOT NULL THEN coalesce(i.s, 0) END
           WHEN 'count' THEN CASE WHEN b.last IS NOT NULL THEN i.n END
           WHEN 'mean' THEN i.s / nullif(i.n, 0)
           WHEN 'last' THEN b.last
           WHEN 'min' THEN i.lo
           WHEN 'max' THEN i.hi
           WHEN 'p90' THEN i.p90
       END AS value
FROM requests r JOIN inside i USING (req) JOIN before b USING (req)
"""


def duckdb_reference(frame: pl.DataFrame, requests: pl.DataFrame) -> tuple[float, float, dict[int, float | None]]:
    """Load the readings into a DuckDB table, then answer every request in one SQL query (range join + ASOF)."""
    import duckdb

    aggs = set(requests["agg"].unique().to_list())
    unknown = aggs - {"sum", "count", "mean", "last", "min", "max", "p90"}
    if unknown:
        raise ValueError(f"the DuckDB reference does not know {sorted(unknown)}")
    con = duckdb.connect()
    t0 = time.perf_counter()
    con.register("loaded", to_pandas(frame.select("metric", pl.col("at").dt.epoch("us"), "value")))
    con.execute('CREATE TABLE readings AS SELECT * FROM loaded ORDER BY metric, "at"')
    con.unregister("loaded")
    prepared = time.perf_counter() - t0
    con.register("requests", to_pandas(requests))
    t0 = time.perf_counter()
    rows = con.execute(DUCKDB_QUERY).fetchall()
    answered = time.perf_counter() - t0
    con.close()
    return prepared, answered, {int(r): (None if v is None else float(v)) for r, v in rows}


def engine_answers(view: pipeline.View, requests: pl.DataFrame) -> dict[int, float | None]:
    aggs = set(requests["agg"].unique().to_list())
    (out,) = pipeline.collect(pipeline.aggregate(view, requests, aggs))
    return dict(zip(out["req"].to_list(), out["value"].to_list()))


def disagreements(a: dict[int, float | None], b: dict[int, float | None]) -> int:
    bad = 0
    for key, x in a.items():
        y = b.get(key)
        if (x is None) != (y is None) or (x is not None and not math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-6)):
            bad += 1
    return bad


def incremental(
    store_path: Path,
    config,
    history: History,
    *,
    now: dt.datetime,
    step: float,
    metrics: list[str],
    rounds: int,
    seed: int,
) -> dict:
    """``rounds`` times: commit 1,000 readings (untimed), then refresh + evaluate (timed)."""
    engine = Engine(config)
    engine.evaluate(history, now)
    writer = Store(store_path)
    refresh_t, evaluate_t, total_t, folds = [], [], [], 0
    seed += history.seq  # new readings even when the store is reused
    try:
        for i in range(rounds):
            start = now if step else now - dt.timedelta(seconds=60)
            later = now + dt.timedelta(seconds=step)
            writer.write(data.new_readings(1000, metrics=metrics, start=start, seconds=step or 60, seed=seed + i))
            base = history.view().base
            t0 = time.perf_counter()
            arrived = history.refresh(fold=False)  # as the TUI refreshes: the fold starts after the evaluation
            t1 = time.perf_counter()
            assert arrived > 900, f"only {arrived} readings arrived"
            engine.evaluate(history, later)
            t2 = time.perf_counter()
            history.fold_due()  # the TUI's Runtime.fold_due once the snapshot is posted: it runs beside later rounds
            folds += history.view().base is not base
            refresh_t.append(t1 - t0)
            evaluate_t.append(t2 - t1)
            total_t.append(t2 - t0)
            now = later
    finally:
        writer.close()
    return {"total": summary(total_t), "refresh": summary(refresh_t), "evaluate": summary(evaluate_t), "folds": folds}


def _refresh_only(result: dict, store_path: Path, config, history: History, now: dt.datetime, rounds: int) -> int:
    """``--refresh``: the two budgeted incremental figures alone (a quicker way to the ≤ 20 ms figures, same
    store state and loop as the full run's)."""
    few = [data.metric_id(i) for i in range(10)]
    for key, step, seed in (("incremental_same_instant", 0, 10_000), ("incremental_clock_moves", 5, 20_000)):
        result[key] = incremental(
            store_path, config, history, now=now, step=step, metrics=few, rounds=rounds, seed=seed
        )
    print(json.dumps(result))
    history.store.close()
    return 0


def main(argv: list[str]) -> int:
    refresh_only = "--refresh" in argv  # the incremental figures alone (no full evaluations, no references)
    argv = [a for a in argv if a != "--refresh"]
    store_path, config_path = Path(argv[0]), Path(argv[1])
    repeat = int(argv[2]) if len(argv) > 2 else 5
    rounds = int(argv[3]) if len(argv) > 3 else 60
    config = load_config(config_path)
    result: dict = {"python_rss_start_mb": rss_mb()}

    reader = Store(store_path)
    history = History(reader)
    t0 = time.perf_counter()
    history.refresh()
    result["load_s"] = time.perf_counter() - t0
    result["load_average"] = (
        " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "n/a"
    )
    result["rows"] = history.height
    result["peak_after_load_mb"] = peak_mb()

    now = data.NOW
    full = []
    for _ in range(0 if refresh_only else repeat):
        engine = Engine(config)
        engine.program  # noqa: B018 - built once per config, not per evaluation
        t0 = time.perf_counter()
        snapshot = engine.evaluate(history, now)
        full.append(time.perf_counter() - t0)
    if refresh_only:
        return _refresh_only(result, store_path, config, history, now, rounds)
    result["full"] = summary(full)
    result["kpis"] = len(snapshot.kpis)
    result["kpis_with_value"] = sum(r.value is not None for r in snapshot.kpis.values())
    result["kpi_errors"] = sum(r.error is not None for r in snapshot.kpis.values())
    del snapshot, engine
    gc.collect()
    time.sleep(1.0)
    result["rss_mb"] = rss_mb()
    result["peak_mb"] = peak_mb()

    few = [data.metric_id(i) for i in range(10)]
    every = [data.metric_id(i) for i in range(len(config.metrics))]
    result["incremental_same_instant"] = incremental(
        store_path, config, history, now=now, step=0, metrics=few, rounds=rounds, seed=10_000
    )
    result["incremental_clock_moves"] = incremental(
        store_path, config, history, now=now, step=5, metrics=few, rounds=rounds, seed=20_000
    )
    result["incremental_every_metric"] = incremental(
        store_path,
        config,
        history,
        now=now + dt.timedelta(hours=1),
        step=5,
        metrics=every,
        rounds=max(10, rounds // 3),
        seed=30_000,
    )

    # references: the same roll-up from the same readings
    engine = Engine(config)
    requests = roll_up_requests(engine, now)
    view = history.view()
    t0 = time.perf_counter()
    ours = engine_answers(view, requests)
    result["roll_up_engine_s"] = time.perf_counter() - t0
    result["roll_up_requests"] = requests.height
    frame = history.frame
    try:
        prepared, answered, theirs = pandas_reference(frame, requests)
        result["pandas"] = {"prepare_s": prepared, "answer_s": answered, "disagree": disagreements(ours, theirs)}
    except Exception as exc:  # noqa: BLE001 - a reference failing must not hide our figures
        result["pandas"] = {"error": f"{type(exc).__name__}: {exc}"}
    try:
        prepared, answered, theirs = duckdb_reference(frame, requests)
        result["duckdb"] = {"prepare_s": prepared, "answer_s": answered, "disagree": disagreements(ours, theirs)}
    except Exception as exc:  # noqa: BLE001
        result["duckdb"] = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result))
    reader.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
