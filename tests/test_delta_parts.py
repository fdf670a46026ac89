"""The writer's columnar delta parts (kpitui.sqlite_store.delta): the rows written since any sequence
number read from them equal the rows read from the table, through rewrites, increments, deletions,
compaction, snapshots and a damaged part."""

from __future__ import annotations

import datetime as dt
import sqlite3
import tempfile
from pathlib import Path

import polars as pl
import pytest
from compaction_rollups import one_row as hourly
from hypothesis import HealthCheck, given, settings, strategies as st

from kpitui.api import readings_frame
from kpitui.history import History
from kpitui.sqlite_store import delta
from kpitui.store import Store

T = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def at(second: int) -> dt.datetime:
    return T + dt.timedelta(seconds=second)


def from_table(store: Store, since: int) -> list[tuple]:
    rows = store._conn.execute("SELECT metric_id, at, value, n FROM readings WHERE seq > ?", (since,)).fetchall()
    return sorted(rows)


def from_store(store: Store, since: int) -> list[tuple]:
    return sorted(store._fetch_since(since).iter_rows())


def parts(store: Store) -> int:
    try:
        return store._conn.execute("SELECT count(*) FROM delta_parts").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.fixture(scope="module")
def small_parts():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(delta, "PART_ROWS", 3)
        patch.setattr(delta, "MAX_ROWS", 40)
        yield


step = st.one_of(
    st.tuples(
        st.sampled_from(["replace", "add"]),
        st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 12), st.integers(-3, 3).map(float)), max_size=8),
    ),
    st.just(("delete", None)),
    st.just(("compact", None)),
    st.just(("snapshot", None)),
)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=12))
def test_rows_since_from_the_parts_equal_the_table(steps, small_parts):
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "h.sqlite3", snapshot_rows=None)
        viewer = History(Store(Path(tmp) / "h.sqlite3", snapshot_rows=None))
        try:
            store.write(readings_frame([("a", at(0), 1.0)]))
            store.snapshot()
            for kind, arg in steps:
                if kind in ("replace", "add") and arg:
                    store.write(readings_frame([(m, at(s), v) for m, s, v in arg]), mode=kind)
                elif kind == "delete":
                    store.delete_metric("c")
                elif kind == "compact":
                    store.compact(at(6), hourly)
                elif kind == "snapshot":
                    store.snapshot()
                top = store.load()[1]
                for since in range(0, top + 1):
                    assert from_store(store, since) == from_table(store, since)
                viewer.refresh()
                fresh = History(store)
                fresh.refresh()
                assert sorted(viewer.frame.rows()) == sorted(fresh.frame.rows())
        finally:
            viewer.store.close()
            store.close()


def test_a_collector_s_polls_are_kept_as_parts_and_loads_read_them(tmp_path, small_parts):
    store = Store(tmp_path / "h.sqlite3")
    store.write(readings_frame([(m, at(s), 1.0) for m in "ab" for s in range(20)]))
    store.snapshot()
    for poll in range(10):
        store.write(readings_frame([("a", at(100 + poll), float(poll)), ("b", at(poll), 5.0), ("c", at(poll), 1.0)]))
    store.write(readings_frame([("a", at(100), 2.0)]), mode="add")  # a row of the first part, rewritten
    assert parts(store) >= 8
    snapshot_seq = store._conn.execute("SELECT value FROM meta WHERE key = 'snapshot_seq'").fetchone()[0]
    assert from_store(store, snapshot_seq) == from_table(store, snapshot_seq)
    # an incremental load from there reads the parts too, and returns what the table holds since
    assert store._parts_since(snapshot_seq)
    loaded, top = store.load(since=snapshot_seq)
    names = dict(store._conn.execute("SELECT id, name FROM metrics").fetchall())
    table = [(names[m], a, v) for m, a, v, _ in from_table(store, snapshot_seq)]
    assert sorted(loaded.select("metric", pl.col("at").dt.epoch("us"), "value").rows()) == sorted(table)
    assert top == store._conn.execute("SELECT max(seq) FROM readings").fetchone()[0]
    history = History(store)
    history.refresh()
    table_only = History(Store(tmp_path / "h.sqlite3", snapshot_rows=None))
    table_only.store._conn.execute("UPDATE meta SET value = 0 WHERE key = 'delta_seq'")  # parts not used
    table_only.refresh()
    assert sorted(history.frame.rows()) == sorted(table_only.frame.rows())
    table_only.store.close()
    # a damaged part: the rows come from the table instead
    store._conn.execute("UPDATE delta_parts SET data = x'00' WHERE through = (SELECT min(through) FROM delta_parts)")
    assert from_store(store, snapshot_seq) == from_table(store, snapshot_seq)
    # a snapshot drops the parts it holds; a deletion drops them all
    store.write(readings_frame([("a", at(300), 1.0)]))
    store.snapshot()
    assert parts(store) == 0
    for poll in range(3):
        store.write(readings_frame([("c", at(200 + poll), 1.0), ("b", at(200 + poll), 2.0), ("a", at(1), float(poll))]))
    assert parts(store) >= 1
    store.delete_metric("c")
    assert parts(store) == 0
    assert from_store(store, 0) == from_table(store, 0)
    store.close()


def _first_part(store: Store) -> bytes:
    return store._conn.execute("SELECT data FROM delta_parts ORDER BY through LIMIT 1").fetchone()[0]


def _damage_first_part(store: Store, data: bytes) -> None:
    store._conn.execute(
        "UPDATE delta_parts SET data = ? WHERE through = (SELECT min(through) FROM delta_parts)", (data,)
    )


@pytest.mark.parametrize(
    "damage",
    [
        "cut",  # the header and schema whole, the record batch cut short: fails in the one query of every part
        "flipped",  # a byte of the compressed body changed
        "another schema",  # a whole Arrow file, but not the parts' columns
        "reordered",  # the parts' columns in another order
        "another type",  # a column of another type
    ],
)
def test_a_part_that_cannot_be_read_as_the_parts_are_leaves_the_rows_to_the_table(tmp_path, small_parts, damage):
    """The parts are decoded in one query (:func:`kpitui.sqlite_store.delta.fetch_since`): any part that is
    not the parts' own columns, or whose body does not decode, makes the rows since come from the table,
    as when each part was decoded (and its schema checked) on its own."""
    store = Store(tmp_path / "h.sqlite3")
    store.write(readings_frame([(m, at(s), 1.0) for m in "ab" for s in range(20)]))
    store.snapshot()
    for poll in range(6):
        store.write(readings_frame([("a", at(100 + poll), float(poll)), ("b", at(poll), 5.0), ("c", at(poll), 1.0)]))
    snapshot_seq = store._conn.execute("SELECT value FROM meta WHERE key = 'snapshot_seq'").fetchone()[0]
    assert parts(store) >= 3 and from_store(store, snapshot_seq) == from_table(store, snapshot_seq)
    good = pl.read_ipc(_first_part(store))
    if damage == "cut":
        data = _first_part(store)
        data = data[: len(data) * 2 // 3]
    elif damage == "flipped":
        data = bytearray(_first_part(store))
        data[len(data) // 2] ^= 0xFF
        data = bytes(data)
    elif damage == "another schema":
        data = good.rename({"value": "reading"}).write_ipc(None, compression="lz4").getvalue()
    elif damage == "reordered":
        data = good.select(reversed(good.columns)).write_ipc(None, compression="lz4").getvalue()
    else:
        data = good.with_columns(pl.col("value").cast(pl.Float32)).write_ipc(None, compression="lz4").getvalue()
    _damage_first_part(store, data)
    fetched = store._fetch_since(snapshot_seq)
    assert fetched.schema == pl.Schema(delta.ID_FRAME_SCHEMA)
    assert sorted(fetched.iter_rows()) == from_table(store, snapshot_seq)
    table = History(Store(tmp_path / "h.sqlite3", snapshot_rows=None))
    table.store._conn.execute("UPDATE meta SET value = 0 WHERE key = 'delta_seq'")  # parts not used
    table.refresh()
    history = History(store)
    history.refresh()
    assert sorted(history.frame.rows()) == sorted(table.frame.rows())
    table.store.close()
    store.close()


@pytest.mark.parametrize("top", [2, 1_000, 2**31])  # 2**31: the ids leave 31 bits, the times span 2**32 (no fit)
def test_each_reading_s_latest_version_as_the_struct_of_the_two_finds_it(top):
    """The rows since kept by :func:`delta._latest` (the id and time as one integer where they fit)
    are those a distinct on the struct of the two keeps, in the same order."""
    import random

    rng = random.Random(top)
    rows = [
        (rng.choice([0, 1, top]), rng.choice([0, 2**31, 2**32]) + rng.randrange(2), float(i), 1, i) for i in range(400)
    ]
    frame = pl.DataFrame(rows, schema=delta._SCHEMA, orient="row")
    got = frame.filter(delta._latest(frame))
    assert got.equals(frame.filter(pl.struct("metric_id", "at").is_last_distinct()))
    assert 0 < got.height < frame.height
