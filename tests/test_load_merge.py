"""A full load of a store with readings written since its snapshot (a collector's store, nearly always):
the tail is merged into the snapshot's order (metric, time), so the viewer's index needs no sort, and
what the viewer sees is exactly the table (read back here with plain SQL)."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3

import polars as pl

from kpitui.history import History
from kpitui.store import Store

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 1, 1, tzinfo=UTC)


def _frame(rows: list[tuple[str, dt.datetime, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"metric": pl.String, "at": pl.Datetime("us", "UTC"), "value": pl.Float64}, orient="row"
    )


def _table(path) -> pl.DataFrame:
    con = sqlite3.connect(path)
    rows = con.execute("SELECT m.name, r.at, r.value FROM readings r JOIN metrics m ON m.id = r.metric_id").fetchall()
    con.close()
    return pl.DataFrame(rows, schema={"metric": pl.String, "at": pl.Int64, "value": pl.Float64}, orient="row").sort(
        "metric", "at"
    )


def _seen(history: History) -> pl.DataFrame:
    frame = history.frame.select("metric", pl.col("at").dt.epoch("us"), "value")
    return frame.sort("metric", "at")


def test_tail_since_the_snapshot_is_merged_in_order(tmp_path):
    rng = random.Random(5)
    path = tmp_path / "h.sqlite3"
    store = Store(path, snapshot_rows=10)
    names = [f"m{i:02d}" for i in range(12)]
    base = [
        (rng.choice(names[:8]), T0 + dt.timedelta(minutes=rng.randrange(50_000)), float(rng.randrange(100)))
        for _ in range(3000)
    ]
    store.write(_frame(base))
    History(store).refresh()  # a full load writes the snapshot
    snap_seq = store._meta("snapshot_seq")
    assert snap_seq > 0
    # the tail: new times, rewrites of snapshot rows (middle of segments), new metrics, one metric emptied of nothing
    rewrites = [(m, at, v + 1000) for m, at, v in rng.sample(base, 40)]
    fresh = [
        (
            rng.choice(names),
            T0 + dt.timedelta(minutes=rng.randrange(40_000, 60_000), seconds=7),
            float(rng.randrange(100)),
        )
        for _ in range(300)
    ]
    for chunk in (rewrites[:20], fresh[:150], rewrites[20:], fresh[150:]):  # several polls
        store.write(_frame(chunk))
    assert store._meta("snapshot_seq") == snap_seq  # the snapshot is older than the tail

    ids, id_names, _ = Store(path, readonly=True).load_ids()
    keys = ids.select("metric_id", "at")
    assert keys.equals(keys.sort("metric_id", "at")) and keys.n_unique() == keys.height  # grouped, sorted, once each

    history = History(Store(path, readonly=True))
    history.refresh()
    assert _seen(history).equals(_table(path))
    # the plain load (names per row) says the same
    loaded, _ = Store(path, readonly=True).load()
    assert loaded.select("metric", pl.col("at").dt.epoch("us"), "value").sort("metric", "at").equals(_table(path))


def test_a_snapshot_out_of_order_is_still_read_right(tmp_path):
    """A snapshot written by an earlier version (snapshot rows, then the tail appended) is sorted once."""
    path = tmp_path / "h.sqlite3"
    store = Store(path, snapshot_rows=1)
    store.write(_frame([("b", T0, 1.0), ("a", T0, 2.0), ("b", T0 + dt.timedelta(hours=1), 3.0)]))
    frame, names, seq = store.load_ids()
    shuffled = frame.reverse()
    store._conn.execute("UPDATE meta SET value = 0 WHERE key = 'snapshot_seq'")
    store._write_snapshot(shuffled, seq, store._meta("generation"))
    assert store._meta("snapshot_seq") == seq
    store.write(_frame([("a", T0 + dt.timedelta(hours=2), 4.0), ("b", T0, 5.0)]))
    history = History(Store(path, readonly=True))
    history.refresh()
    assert _seen(history).equals(_table(path))
