"""One contract, two histories: every test here runs against SQLite and against a real PostgreSQL.

What :class:`kpitui.history_store.HistoryStore` promises: idempotent ingest, a
cursor committed with its readings, ``expect_cursor`` conflicts, sequence numbers
and generations for incremental viewers, compaction, source health, schema
versions migrated forward, and the columnar load.
"""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from kpitui.api import readings_frame
from kpitui.history import History
from kpitui.history_store import HistoryStore
from kpitui.store import LOADED_SCHEMA, CursorConflict, StoreError

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 3, 1, tzinfo=UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def frame(*rows: tuple[str, int, float]) -> pl.DataFrame:
    return readings_frame([(m, at(t), v) for m, t, v in rows])


def values(store) -> dict[tuple[str, dt.datetime], float]:
    loaded, _ = store.load()
    return {(m, a): v for m, a, v in loaded.select("metric", "at", "value").iter_rows()}


def test_both_satisfy_the_protocol(open_store):
    assert isinstance(open_store(), HistoryStore)


def test_replace_is_idempotent(open_store):
    store = open_store()
    rows = frame(("visits", 0, 3.0), ("visits", 1, 4.0), ("orders", 0, 1.0))
    assert store.write(rows) == 3
    assert store.write(rows) == 0  # the same values again change nothing
    assert store.write(frame(("visits", 1, 5.0))) == 1
    assert values(store) == {("visits", at(0)): 3.0, ("visits", at(1)): 5.0, ("orders", at(0)): 1.0}


def test_add_sums_and_adding_zero_changes_nothing(open_store):
    store = open_store()
    assert store.write(frame(("hits", 0, 2.0), ("hits", 0, 3.0)), mode="add") == 1  # summed in the frame first
    assert store.write(frame(("hits", 0, 4.0)), mode="add") == 1
    assert store.write(frame(("hits", 0, 0.0)), mode="add") == 0
    assert values(store) == {("hits", at(0)): 9.0}


def test_bad_rows_are_dropped_and_counted(open_store):
    store = open_store()
    rows = pl.DataFrame({"metric": ["a", None, "a"], "at": [at(0), at(1), at(2)], "value": [1.0, 2.0, float("nan")]})
    assert store.write(rows) == 1
    assert store.last_dropped == 2


def test_cursor_commits_with_its_readings_and_a_conflict_writes_nothing(open_store):
    one, two = open_store(), open_store()
    one.write(frame(("hits", 0, 1.0)), mode="add", source="log", cursor="10", set_cursor=True, expect_cursor=None)
    assert two.cursor("log") == "10"
    with pytest.raises(CursorConflict):  # two read the cursor before one moved it: its lines are counted already
        two.write(frame(("hits", 0, 1.0)), mode="add", source="log", cursor="10", set_cursor=True, expect_cursor=None)
    assert values(two) == {("hits", at(0)): 1.0}
    assert two.cursor("log") == "10"
    two.write(frame(("hits", 1, 2.0)), mode="add", source="log", cursor="20", set_cursor=True, expect_cursor="10")
    assert one.cursor("log") == "20"
    assert values(one) == {("hits", at(0)): 1.0, ("hits", at(1)): 2.0}


def test_a_write_that_fails_keeps_the_old_cursor(open_store):
    store = open_store()
    store.write(frame(("a", 0, 1.0)), source="s", cursor="1", set_cursor=True)
    with pytest.raises(ValueError):
        store.write(pl.DataFrame({"x": [1]}), source="s", cursor="2", set_cursor=True)
    assert store.cursor("s") == "1"


def test_incremental_loads_see_only_new_rows_and_deletions_move_the_generation(open_store):
    writer, viewer = open_store(), open_store()
    writer.write(frame(("a", 0, 1.0), ("b", 0, 2.0)))
    first, seq = viewer.load()
    assert first.height == 2 and seq > 0
    empty, same = viewer.load(since=seq)
    assert empty.height == 0 and same == seq
    writer.write(frame(("a", 1, 3.0), ("a", 0, 1.0)))  # one new, one unchanged
    new, later = viewer.load(since=seq)
    assert later > seq
    assert new.select("metric", "at", "value").rows() == [("a", at(1), 3.0)]
    generation = viewer.generation()
    assert writer.delete_metric("b") == 1
    assert viewer.generation() != generation
    assert viewer.metric_names() == ["a"]


def test_a_viewer_history_picks_up_another_writers_rows(open_store):
    writer, reader = open_store(), open_store()
    history = History(reader, background=False)
    writer.write(frame(("a", 0, 1.0)))
    history.refresh()
    writer.write(frame(("a", 1, 2.0), ("b", 0, 5.0)))
    assert history.refresh() == 2
    got = history.frame.sort("metric", "at").select("metric", "value").rows()
    assert got == [("a", 1.0), ("a", 2.0), ("b", 5.0)]


def _hourly_sum(metric: str, rows: pl.DataFrame) -> pl.DataFrame:
    hour = 3_600_000_000
    return (
        rows.with_columns((pl.col("at") // hour * hour).alias("bucket"))
        .group_by("bucket")
        .agg(
            pl.col("value").sum(),
            pl.col("n").sum(),
            pl.col("at").min().alias("first"),
            pl.col("at").max().alias("last"),
            pl.len().alias("rows"),
        )
        .filter(pl.col("rows") > 1)  # a bucket already down to one row is left alone
        .drop("rows")
        .rename({"bucket": "at"})
        .sort("at")
    )


def test_compaction_replaces_old_rows_closes_their_past_and_moves_the_generation(open_store):
    store = open_store()
    store.write(frame(*[("hits", minute, 1.0) for minute in range(0, 180, 10)]))
    generation = store.generation()
    dry = store.compact(at(120), _hourly_sum, dry_run=True)
    assert (dry.replaced, dry.written) == (12, 2)
    assert values(store)[("hits", at(10))] == 1.0  # a dry run changes nothing
    done = store.compact(at(120), _hourly_sum)
    assert (done.replaced, done.written) == (12, 2)
    assert store.generation() != generation
    loaded, _ = store.load()
    rows = {(a, v, n) for _, a, v, n in loaded.sort("at").iter_rows()}
    assert (at(0), 6.0, 6) in rows and (at(60), 6.0, 6) in rows and (at(120), 1.0, 1) in rows
    assert loaded.height == 2 + 6
    assert store.compacted_before("hits") == at(120)
    store.write(frame(("hits", 30, 9.0)))  # a snapshot source re-sending the compacted past
    assert store.last_compacted == 1
    assert store.compact(at(120), _hourly_sum).replaced == 0  # compacting again is a no-op


def test_source_health_is_shared(open_store):
    one, two = open_store(), open_store()
    one.record_health("log", ok=False, error="no such file", at=at(0), next_attempt=at(5))
    one.record_health("log", ok=False, error="still missing", at=at(5))
    got = two.health()["log"]
    assert (got.failures, got.error, got.last_error) == (2, "still missing", at(5))
    one.record_health("log", ok=True, at=at(10))
    got = two.health()["log"]
    assert (got.failures, got.error, got.last_success) == (0, None, at(10))


def test_the_columnar_load_returns_every_reading_exactly(open_store):
    store = open_store()
    rng = random.Random(7)
    rows = [(f"m{rng.randrange(20)}", at(i), rng.uniform(-1e6, 1e6)) for i in range(30_000)]
    rows.append(("tiny", at(1), 1e-300))
    rows.append(("exact", at(2), 0.1 + 0.2))
    written = readings_frame(rows)
    store.write(written)
    loaded, _ = store.load()
    assert loaded.schema == pl.Schema(LOADED_SCHEMA)
    assert_frame_equal(
        loaded.sort("metric", "at").select("metric", "at", "value"),
        written.sort("metric", "at").select("metric", "at", "value"),
    )
    only, _ = store.load(metrics=["tiny", "exact"])
    assert sorted(only["metric"].to_list()) == ["exact", "tiny"]


def test_a_read_only_store_refuses_writes(open_store):
    open_store().write(frame(("a", 0, 1.0)))
    viewer = open_store(readonly=True)
    assert viewer.load()[0].height == 1
    with pytest.raises(StoreError, match="read-only"):
        viewer.write(frame(("a", 1, 1.0)))


# -- schema versions ----------------------------------------------------------


def _make_old(backend: str, location) -> None:
    """A history of each backend's first schema version, holding one reading."""
    if backend == "sqlite":
        import sqlite3

        from kpitui.store import _MIGRATIONS

        con = sqlite3.connect(location)
        con.executescript(_MIGRATIONS[0])
        con.execute("INSERT INTO metrics (id, name) VALUES (1, 'a')")
        con.execute("INSERT INTO readings (metric_id, at, value, seq) VALUES (1, 1709251200000000, 4.0, 1)")
        con.execute("UPDATE meta SET value = 1 WHERE key = 'seq'")
        con.execute("PRAGMA user_version = 1")
        con.commit()
        con.close()
    else:
        import psycopg

        from kpitui.postgres_store import _MIGRATIONS

        with psycopg.connect(location, autocommit=True) as con:
            con.execute("CREATE SCHEMA kpitui")
            con.execute(_MIGRATIONS[0])
            con.execute("UPDATE kpitui.meta SET value = 1 WHERE key IN ('schema_version', 'seq')")
            con.execute("INSERT INTO kpitui.metrics (name) VALUES ('a')")
            con.execute("INSERT INTO kpitui.instances (name) VALUES ('local')")
            con.execute(
                "INSERT INTO kpitui.readings (metric_id, instance_id, at, value, seq) "
                "SELECT m.id, i.id, 1709251200000000, 4.0, 1 FROM kpitui.metrics m, kpitui.instances i"
            )


def _bump_version(backend: str, location) -> None:
    if backend == "sqlite":
        import sqlite3

        con = sqlite3.connect(location)
        con.execute("PRAGMA user_version = 99")
        con.commit()
        con.close()
    else:
        import psycopg

        with psycopg.connect(location, autocommit=True) as con:
            con.execute("UPDATE kpitui.meta SET value = 99 WHERE key = 'schema_version'")


def test_an_older_schema_is_migrated_forward_and_a_newer_one_refused(backend, history_location, open_store):
    _make_old(backend, history_location)
    with pytest.raises(StoreError, match="upgrade"):
        open_store(readonly=True)  # a viewer does not migrate
    store = open_store()
    assert values(store) == {("a", T0): 4.0}
    store.write(frame(("a", 1, 1.0)))
    assert store.compact(at(120), _hourly_sum).written == 1  # needs the newest schema (compacted past)
    store.close()
    _bump_version(backend, history_location)
    with pytest.raises(StoreError, match="newer than this kpitui"):
        open_store()


def test_the_snapshot_load_equals_the_table_after_later_writes_and_deletes(open_store):
    """The columnar snapshot (written by a writer's full load) plus the rows written since it
    load exactly what the table holds: rewrites, increments, another instance's counts, a deleted metric."""
    writer = open_store(snapshot_rows=1_000)
    rng = random.Random(11)
    rows = [(f"m{rng.randrange(5)}", i, rng.uniform(-1e3, 1e3)) for i in range(5_000)]
    writer.write(frame(*rows))
    writer.write(frame(("hits", 0, 2.0), ("hits", 1, 3.0)), mode="add")
    writer.snapshot()
    writer.write(frame(("m1", 1, 0.1 + 0.2), ("new", 7, 1e-300)))  # a rewrite and a new metric, after it
    writer.write(frame(("hits", 0, 5.0)), mode="add")
    expected = {(m, at(t)): v for m, t, v in rows} | {("m1", at(1)): 0.1 + 0.2, ("new", at(7)): 1e-300}
    expected |= {("hits", at(0)): 7.0, ("hits", at(1)): 3.0}
    if open_store.backend == "postgres":
        open_store(instance="web2").write(frame(("hits", 0, 10.0), ("hits", 9, 1.0)), mode="add")
        expected |= {("hits", at(0)): 17.0, ("hits", at(9)): 1.0}
    viewer = open_store(readonly=True)
    assert values(viewer) == expected
    writer.delete_metric("m2")
    expected = {key: v for key, v in expected.items() if key[0] != "m2"}
    assert values(viewer) == expected
    loaded, _ = viewer.load()
    assert loaded.height == len(expected) and loaded.schema == pl.Schema(LOADED_SCHEMA)


@pytest.mark.parametrize("mode", ["replace", "add"])
def test_a_batch_mixing_rewrites_and_new_rows_stores_each_once(open_store, mode):
    """One batch: a metric's rows overlapping stored ones, another's after its stored ones, a new metric,
    and two metrics whose first time here is not stored but which lie among stored rows: one meets a
    stored key further on (d, at 4), one does not (e) (PostgreSQL tries those without a conflict check)."""
    store = open_store()
    store.write(frame(*[(m, t, 1.0) for m in ("a", "b") for t in range(10)]), mode=mode)
    store.write(frame(*[(m, t, 1.0) for m in ("d", "e") for t in range(0, 10, 2)]), mode=mode)
    written = store.write(
        frame(
            *[("a", t, 2.0) for t in range(5, 15)],
            *[("b", t, 3.0) for t in range(20, 25)],
            ("c", 0, 4.0),
            ("d", 1, 2.0),
            ("d", 3, 2.0),
            ("d", 4, 2.0),
            ("e", 1, 2.0),
            ("e", 3, 2.0),
        ),
        mode=mode,
    )
    assert written == 21
    new_a = 2.0 if mode == "replace" else 3.0
    expected = {("a", at(t)): 1.0 for t in range(5)} | {("a", at(t)): new_a for t in range(5, 10)}
    expected |= {("a", at(t)): 2.0 for t in range(10, 15)} | {("b", at(t)): 1.0 for t in range(10)}
    expected |= {("b", at(t)): 3.0 for t in range(20, 25)} | {("c", at(0)): 4.0}
    expected |= {(m, at(t)): 1.0 for m in ("d", "e") for t in range(0, 10, 2)}
    expected |= {(m, at(t)): 2.0 for m in ("d", "e") for t in (1, 3)} | {("d", at(4)): new_a}
    assert values(store) == expected
    assert store.write(frame(("b", 0, 1.0)), mode="replace") == 0  # unchanged: not rewritten
