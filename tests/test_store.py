"""The reading history: real SQLite files, real processes, no mocks."""

from __future__ import annotations

import datetime as dt
import math
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from polars.testing import assert_frame_equal

from kpitui.api import READINGS_SCHEMA, readings_frame
from kpitui.store import LOADED_SCHEMA, SCHEMA_VERSION, CursorConflict, Store, StoreError

REPO = Path(__file__).resolve().parents[1]
UTC = dt.timezone.utc
T0 = dt.datetime(2024, 3, 1, tzinfo=UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def frame(*rows: tuple[str, int, float | None]) -> pl.DataFrame:
    """Readings from (metric, minutes after T0, value)."""
    return readings_frame([(m, at(t), v) for m, t, v in rows])


def ordered(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort("metric", "at")


def as_dict(df: pl.DataFrame) -> dict[tuple[str, dt.datetime], float]:
    return {(m, a): v for m, a, v in df.select("metric", "at", "value").iter_rows()}


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "sub" / "history.sqlite3") as s:
        yield s


def run_python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


# -- writing and reading back -------------------------------------------------------


def test_round_trip_keeps_exact_schema_and_values(tmp_path):
    path = tmp_path / "deep" / "er" / "history.sqlite3"
    naive = pl.DataFrame(
        {
            "metric": ["revenue", "revenue", "signups"],
            "at": [
                dt.datetime(2024, 1, 1, 12, 0, 0, 123456),
                dt.datetime(1969, 7, 20, 20, 17),
                dt.datetime(2024, 1, 1),
            ],
            "value": [0.1 + 0.2, -1e300, 7],
        }
    )
    with Store(path) as s:
        assert s.path == path and path.is_file()  # parent folders created
        assert s.write(naive) == 3
        loaded, seq = s.load()
    assert loaded.schema == pl.Schema(LOADED_SCHEMA)  # READINGS_SCHEMA plus n, raw readings per row
    assert loaded["n"].to_list() == [1, 1, 1]
    assert seq > 0
    expected = pl.DataFrame(
        {
            "metric": ["revenue", "revenue", "signups"],
            "at": [
                dt.datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=UTC),
                dt.datetime(1969, 7, 20, 20, 17, tzinfo=UTC),
                dt.datetime(2024, 1, 1, tzinfo=UTC),
            ],
            "value": [0.1 + 0.2, -1e300, 7.0],
        },
        schema=READINGS_SCHEMA,
    ).with_columns(n=pl.lit(1, pl.Int64))
    assert_frame_equal(ordered(loaded), ordered(expected))
    # the file is reopened by a fresh Store (another process would see the same)
    with Store(path, readonly=True) as ro:
        again, seq_again = ro.load()
        assert_frame_equal(ordered(again), ordered(expected))
        assert seq_again == seq
        assert ro.metric_names() == ["revenue", "signups"]
        assert ro.integrity_check() == "ok"
        with pytest.raises(StoreError, match="read-only"):
            ro.write(expected)


def test_other_time_zones_are_stored_as_utc(store):
    local = pl.DataFrame({"metric": ["m"], "at": [dt.datetime(2024, 6, 1, 9, 0)], "value": [1.0]}).with_columns(
        pl.col("at").dt.replace_time_zone("Europe/Paris")
    )
    store.write(local)
    loaded, _ = store.load()
    assert loaded["at"].to_list() == [dt.datetime(2024, 6, 1, 7, 0, tzinfo=UTC)]


def test_replace_is_idempotent_and_last_duplicate_wins(store):
    readings = frame(("a", 0, 1.0), ("a", 1, 2.0), ("b", 0, 3.0), ("a", 1, 5.0))
    assert store.write(readings) == 3
    first, seq = store.load()
    assert store.write(readings) == 0  # nothing changed, nothing rewritten
    second, seq2 = store.load()
    assert_frame_equal(ordered(first), ordered(second))
    assert second.height == 3 and seq2 == seq
    assert as_dict(second)[("a", at(1))] == 5.0
    assert store.write(frame(("a", 1, 6.0))) == 1
    assert as_dict(store.load()[0])[("a", at(1))] == 6.0


def test_add_accumulates_and_sums_duplicates_in_one_frame(store):
    assert store.write(frame(("hits", 0, 1.0), ("hits", 0, 2.0), ("hits", 5, 4.0)), mode="add") == 2
    assert as_dict(store.load()[0]) == {("hits", at(0)): 3.0, ("hits", at(5)): 4.0}
    assert store.write(frame(("hits", 0, 10.0), ("hits", 9, 1.0)), mode="add") == 2
    assert as_dict(store.load()[0]) == {("hits", at(0)): 13.0, ("hits", at(5)): 4.0, ("hits", at(9)): 1.0}
    assert store.write(frame(("hits", 0, 0.0)), mode="add") == 0  # adding nothing changes nothing


def test_invalid_rows_are_dropped_and_counted(store):
    readings = pl.DataFrame(
        {
            "metric": ["ok", "nan", "inf", "ninf", "null", "no_time", None],
            "at": [at(0), at(0), at(0), at(0), at(0), None, at(0)],
            "value": [1.0, math.nan, math.inf, -math.inf, None, 1.0, 1.0],
        }
    )
    assert store.write(readings) == 1
    assert store.last_dropped == 6
    assert store.metric_names() == ["ok"]
    assert store.write(readings, mode="add") == 1
    assert as_dict(store.load()[0]) == {("ok", at(0)): 2.0}
    with pytest.raises(ValueError, match="metric, at and value"):
        store.write(pl.DataFrame({"metric": ["x"], "value": [1.0]}))


def test_empty_write_still_commits_the_cursor(store):
    assert store.cursor("log") is None
    assert store.write(readings_frame([]), mode="add", source="log", cursor="120", set_cursor=True) == 0
    assert store.cursor("log") == "120"
    loaded, seq = store.load()
    assert loaded.height == 0 and seq == 0 and loaded.schema == pl.Schema(LOADED_SCHEMA)


# -- cursors are committed with their readings ---------------------------------------


def test_cursor_and_readings_commit_together(tmp_path):
    path = tmp_path / "history.sqlite3"
    writer = Store(path)
    viewer = Store(path)
    writer.write(frame(("lines", 0, 1.0)), mode="add", source="log", cursor="10", set_cursor=True)
    # Make the insert fail half-way through the frame, inside SQLite itself.
    raw = sqlite3.connect(path)
    raw.execute(
        "CREATE TRIGGER fail_late BEFORE INSERT ON readings WHEN NEW.at > 0 AND NEW.value = 99 "
        "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
    )
    raw.commit()
    bad = frame(("lines", 1, 1.0), ("lines", 2, 1.0), ("lines", 3, 99.0))
    with pytest.raises(StoreError, match="disk on fire"):
        writer.write(bad, mode="add", source="log", cursor="40", set_cursor=True)
    assert viewer.cursor("log") == "10"
    assert as_dict(viewer.load()[0]) == {("lines", at(0)): 1.0}
    raw.execute("DROP TRIGGER fail_late")
    raw.commit()
    raw.close()
    writer.write(bad, mode="add", source="log", cursor="40", set_cursor=True)
    assert viewer.cursor("log") == "40"
    assert viewer.load()[0].height == 4
    writer.close()
    viewer.close()


def test_expect_cursor_refuses_a_stale_position(store):
    store.write(frame(("e", 0, 1.0)), mode="add", source="log", cursor="5", set_cursor=True, expect_cursor=None)
    with pytest.raises(CursorConflict, match="another collector"):
        store.write(frame(("e", 0, 1.0)), mode="add", source="log", cursor="9", set_cursor=True, expect_cursor=None)
    assert store.cursor("log") == "5"
    assert as_dict(store.load()[0]) == {("e", at(0)): 1.0}
    store.write(frame(("e", 0, 1.0)), mode="add", source="log", cursor="9", set_cursor=True, expect_cursor="5")
    assert store.cursor("log") == "9"
    assert as_dict(store.load()[0]) == {("e", at(0)): 2.0}


# -- incremental loading ----------------------------------------------------------------


def test_incremental_load_returns_only_new_and_changed_rows(store):
    store.write(frame(("a", 0, 1.0), ("a", 1, 2.0), ("b", 0, 3.0)))
    base, seq = store.load()
    store.write(frame(("a", 1, 20.0), ("b", 0, 3.0), ("c", 0, 4.0)))  # one update, one unchanged, one new
    store.write(frame(("b", 1, 1.0)), mode="add")
    new, seq2 = store.load(since=seq)
    assert seq2 > seq
    assert as_dict(new) == {("a", at(1)): 20.0, ("c", at(0)): 4.0, ("b", at(1)): 1.0}
    merged = Store.merge(base, new)
    assert_frame_equal(ordered(merged), ordered(store.load()[0]))
    assert merged.schema == pl.Schema(LOADED_SCHEMA)
    nothing, seq3 = store.load(since=seq2)
    assert nothing.height == 0 and seq3 == seq2 and nothing.schema == pl.Schema(LOADED_SCHEMA)
    # the names an incremental load remembers, and a metric new since then
    store.write(frame(("a", 2, 7.0), ("d", 0, 8.0)))
    newer, seq4 = store.load(since=seq3)
    assert as_dict(newer) == {("a", at(2)): 7.0, ("d", at(0)): 8.0} and seq4 > seq3
    store.write(frame(("d", 1, 9.0)))
    assert as_dict(store.load(since=seq4)[0]) == {("d", at(1)): 9.0}


def test_load_can_select_metrics(store):
    store.write(frame(("a", 0, 1.0), ("b", 0, 2.0), ("c", 0, 3.0)))
    some, seq = store.load(metrics=["a", "c", "unknown"])
    assert as_dict(some) == {("a", at(0)): 1.0, ("c", at(0)): 3.0}
    store.write(frame(("a", 0, 5.0), ("b", 0, 5.0)))
    new, _ = store.load(since=seq, metrics=["a"])
    assert as_dict(new) == {("a", at(0)): 5.0}


def test_snapshot_serves_full_loads_and_is_dropped_on_delete(tmp_path):
    path = tmp_path / "history.sqlite3"
    with Store(path, snapshot_rows=1) as s:
        s.write(frame(("a", 0, 1.0), ("a", 1, 2.0), ("b", 0, 3.0)))
        s.load()  # fetched 3 >= 1 rows from the table: stores the snapshot
        s.write(frame(("a", 1, 7.0), ("c", 0, 1.0)))
        with Store(path, readonly=True) as ro:
            full, seq = ro.load()
        assert as_dict(full) == {("a", at(0)): 1.0, ("a", at(1)): 7.0, ("b", at(0)): 3.0, ("c", at(0)): 1.0}
        assert as_dict(s.load(metrics=["a"])[0]) == {("a", at(0)): 1.0, ("a", at(1)): 7.0}
        generation = s.generation()
        assert s.delete_metric("a") == 2
        assert s.delete_metric("a") == 0
        assert s.generation() != generation
        assert as_dict(s.load()[0]) == {("b", at(0)): 3.0, ("c", at(0)): 1.0}
        assert s.metric_names() == ["b", "c"]
        s.write(frame(("a", 0, 4.0)))
        after, seq_after = s.load()
        assert as_dict(after) == {("a", at(0)): 4.0, ("b", at(0)): 3.0, ("c", at(0)): 1.0}
        assert seq_after > seq
        s.snapshot()
        raw = sqlite3.connect(path)
        assert raw.execute("SELECT count(*) FROM snapshot_parts").fetchone()[0] == 1
        raw.execute("UPDATE snapshot_parts SET data = x'00112233'")  # damaged: costs speed, never data
        raw.commit()
        raw.close()
        assert_frame_equal(ordered(s.load()[0]), ordered(after))
        assert_frame_equal(ordered(s.load()[0]), ordered(after))  # rewritten by the load before


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["replace", "add", "load", "delete"]),
            st.lists(
                st.tuples(st.sampled_from("xyz"), st.integers(0, 4), st.integers(-3, 3).map(float)),
                max_size=8,
            ),
        ),
        max_size=12,
    ),
    st.sampled_from([None, 1, 4]),
)
def test_any_sequence_of_writes_matches_a_model(steps, snapshot_rows):
    model: dict[tuple[str, dt.datetime], float] = {}
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "h.sqlite3", snapshot_rows=snapshot_rows) as s:
        view, seq, generation = s.load()[0], 0, s.generation()
        for kind, rows in steps:
            if kind == "delete":
                name = rows[0][0] if rows else "x"
                s.delete_metric(name)
                model = {k: v for k, v in model.items() if k[0] != name}
            elif kind == "load":
                s.load()  # may write the snapshot
            else:
                s.write(frame(*rows), mode=kind)
                for m, t, v in rows:
                    key = (m, at(t))
                    model[key] = model.get(key, 0.0) + v if kind == "add" else v
            if s.generation() != generation:
                view, seq, generation = s.load()[0], 0, s.generation()
            new, seq = s.load(since=seq)
            view = Store.merge(view, new)
            assert as_dict(view) == model
        assert as_dict(s.load()[0]) == model


def stored_seqs(path: Path) -> list[tuple[str, int, int]]:
    """(metric, at in µs, seq) of every row, in primary-key order."""
    raw = sqlite3.connect(path)
    try:
        return raw.execute(
            "SELECT name, at, seq FROM readings JOIN metrics ON id = metric_id ORDER BY metric_id, at"
        ).fetchall()
    finally:
        raw.close()


@pytest.mark.slow
@pytest.mark.parametrize("rows", [1, 199, 200, 201, 401, 100_407])
def test_writes_of_any_size_keep_values_counts_and_seq_rules(tmp_path, rows):
    # A write goes to SQLite 200 rows per statement, 100,000 rows at a time: sizes around both.
    path = tmp_path / "h.sqlite3"
    k = pl.int_range(0, rows, eager=True)
    readings = pl.DataFrame(
        {
            "metric": pl.Series([f"m{i % 7}" for i in range(rows)]),
            "at": pl.Series([T0 + dt.timedelta(seconds=13 * i) for i in range(rows)], dtype=pl.Datetime("us", "UTC")),
            "value": ((k % 1000).cast(pl.Float64) / 8 + 0.5),
        }
    ).sample(fraction=1.0, shuffle=True, seed=rows)  # in no particular order, as sources deliver
    bumped = pl.int_range(pl.len()) % 3 == 0
    changed = readings.with_columns(pl.when(bumped).then(pl.col("value") + 1).otherwise(pl.col("value")))
    with Store(path) as s:
        assert s.write(readings) == rows
        assert as_dict(s.load()[0]) == as_dict(readings)
        first = stored_seqs(path)
        numbers = [seq for _, _, seq in first]
        assert numbers == list(range(1, rows + 1))  # one new number per row, increasing in key order

        assert s.write(readings) == 0  # unchanged rows are not rewritten and keep their numbers
        assert stored_seqs(path) == first

        assert s.write(changed) == (rows + 2) // 3
        second = stored_seqs(path)
        old = {(m, a): q for m, a, q in first}
        moved = [q for m, a, q in second if q != old[(m, a)]]
        assert len(moved) == (rows + 2) // 3 and moved == sorted(moved) and min(moved) > rows
        assert as_dict(s.load()[0]) == as_dict(changed)

        assert s.write(readings, mode="add") == rows
        both = as_dict(changed)
        assert as_dict(s.load()[0]) == {key: both[key] + v for key, v in as_dict(readings).items()}
        assert s.integrity_check() == "ok"


def page_size(path: Path) -> int:
    raw = sqlite3.connect(path)
    try:
        return raw.execute("PRAGMA page_size").fetchone()[0]
    finally:
        raw.close()


def test_new_files_get_small_pages_bulk_built_ones_large_and_existing_files_keep_theirs(tmp_path):
    new = tmp_path / "new.sqlite3"
    with Store(new) as s:
        s.write(frame(("a", 0, 1.0)))
    assert page_size(new) == 1024  # a collector's small polls write few bytes (issue 18 item 4)
    bulk = tmp_path / "bulk.sqlite3"
    with Store(bulk, page_size=65536) as s:
        s.write(frame(("a", 0, 1.0)))
    assert page_size(bulk) == 65536
    with Store(bulk) as s:  # opened again without it: keeps its pages
        s.write(frame(("a", 1, 1.0)))
    assert page_size(bulk) == 65536
    # A file made before with other pages: used as it is, never rebuilt.
    old = tmp_path / "old.sqlite3"
    raw = sqlite3.connect(old)
    raw.execute("PRAGMA page_size = 8192")
    raw.execute("PRAGMA journal_mode = WAL")
    raw.close()
    with Store(old) as s:
        s.write(frame(("a", 0, 1.0), ("b", 1, 2.0)))
    assert page_size(old) == 8192
    with Store(old) as s:
        assert s.write(frame(("a", 0, 1.0), ("a", 2, 3.0))) == 1
        assert as_dict(s.load()[0]) == {("a", at(0)): 1.0, ("b", at(1)): 2.0, ("a", at(2)): 3.0}
        assert s.integrity_check() == "ok"
    assert page_size(old) == 8192


# -- source health ---------------------------------------------------------------------


def test_health_round_trip_and_failure_counting(tmp_path):
    path = tmp_path / "history.sqlite3"
    collector, viewer = Store(path), Store(path)
    t1, t2, t3 = at(0), at(1), dt.datetime(2024, 3, 1, 0, 2)  # naive = UTC
    collector.record_health("sql", ok=False, error="connection refused", at=t1, next_attempt=at(5))
    collector.record_health("sql", ok=False, error="timed out after 30s", at=t2)
    h = viewer.health()["sql"]
    assert (h.failures, h.error, h.last_error, h.last_success, h.next_attempt) == (
        2,
        "timed out after 30s",
        t2,
        None,
        None,
    )
    assert not h.ok
    collector.record_health("sql", ok=True, at=t3, next_attempt=at(10))
    collector.record_health("log", ok=True)
    health = viewer.health()
    assert set(health) == {"sql", "log"}
    h = health["sql"]
    assert (h.failures, h.error, h.last_success, h.last_error, h.next_attempt) == (0, None, at(2), t2, at(10))
    assert h.ok and health["log"].last_success is not None
    collector.close()
    viewer.close()


# -- several processes ------------------------------------------------------------------

WRITER = """
    import sys, datetime as dt
    import polars as pl
    from kpitui.store import Store
    path, weight, rounds = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    t0 = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
    with Store(path) as store:
        print("ready", flush=True)
        sys.stdin.readline()  # both writers start together
        for r in range(rounds):
            rows = [(f"m{k % 4}", t0 + dt.timedelta(minutes=k % 5), weight) for k in range(20)]
            frame = pl.DataFrame(rows, schema=["metric", "at", "value"], orient="row")
            store.write(  # as the collector does: the cursor read first, then compared inside the write
                frame, mode="add", source=f"w{weight:g}", cursor=str(r + 1), set_cursor=True,
                expect_cursor=store.cursor(f"w{weight:g}"),
            )
            store.record_health(f"w{weight:g}", ok=True)
"""


def test_two_writer_processes_and_a_reader_never_lose_or_lock(tmp_path):
    path = tmp_path / "history.sqlite3"
    rounds = 60
    writers = [run_python(WRITER, str(path), str(weight), str(rounds), stdin=subprocess.PIPE) for weight in (1, 2)]
    for w in writers:
        assert w.stdout is not None and w.stdout.readline() == "ready\n", w.communicate()[1]
    reader = Store(path)  # this process reads incrementally while both write
    for w in writers:
        assert w.stdin is not None
        w.stdin.write("go\n")
        w.stdin.flush()
    view, seq, loads = reader.load()[0], 0, 0
    while any(w.poll() is None for w in writers) or loads < 3:
        new, seq = reader.load(since=seq)
        view = Store.merge(view, new)
        loads += 1
        time.sleep(0.005)
    for w in writers:
        out, err = w.communicate(timeout=60)
        assert w.returncode == 0, err
    new, seq = reader.load(since=seq)
    view = Store.merge(view, new)
    full, _ = reader.load()
    assert_frame_equal(ordered(view), ordered(full))
    # every (metric, minute) key was hit once per frame for 20 rows over 4 metrics x 5 minutes
    assert full.height == 20
    assert set(full["value"].to_list()) == {(1 + 2) * rounds}
    assert reader.cursor("w1") == reader.cursor("w2") == str(rounds)
    assert {k: h.failures for k, h in reader.health().items()} == {"w1": 0, "w2": 0}
    assert reader.integrity_check() == "ok"
    reader.close()


KILLED = """
    import sys, datetime as dt
    import polars as pl
    from kpitui.store import Store
    t0 = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
    with Store(sys.argv[1]) as store:
        for r in range(100000):
            frame = pl.DataFrame({"metric": ["beats"] * 50,
                                  "at": [t0 + dt.timedelta(minutes=r * 50 + k) for k in range(50)],
                                  "value": [float(r)] * 50})
            store.write(frame, source="beat", cursor=str(r), set_cursor=True)
            print(r, flush=True)
"""


def test_sigkill_loses_nothing_committed(tmp_path):
    path = tmp_path / "history.sqlite3"
    proc = run_python(KILLED, str(path))
    acknowledged = -1
    assert proc.stdout is not None
    while acknowledged < 20:
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else "writer died"
        acknowledged = int(line)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    with Store(path) as s:
        assert s.integrity_check() == "ok"
        stored = int(s.cursor("beat"))
        loaded, _ = s.load()
        assert stored >= acknowledged
        assert loaded.height == (stored + 1) * 50  # readings and cursor always agree
        assert loaded["value"].max() == stored


# -- files kpitui cannot use -------------------------------------------------------------


def test_a_file_that_is_not_a_database_is_refused_by_name(tmp_path):
    path = tmp_path / "notes.sqlite3"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    with pytest.raises(StoreError, match=str(path)):
        Store(path)
    assert path.read_bytes().startswith(b"these are my notes")  # left untouched


def test_another_applications_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="invoices"):
        Store(path)
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 0
    raw.close()


def test_a_newer_schema_version_is_refused(tmp_path):
    path = tmp_path / "history.sqlite3"
    Store(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer") as info:
        Store(path)
    assert str(path) in str(info.value)
    with pytest.raises(StoreError, match="newer"):
        Store(path, readonly=True)


def test_read_only_needs_an_existing_file(tmp_path):
    with pytest.raises(StoreError, match="no history file"):
        Store(tmp_path / "missing.sqlite3", readonly=True)
    assert not (tmp_path / "missing.sqlite3").exists()


def test_closed_store_says_so(tmp_path):
    s = Store(tmp_path / "h.sqlite3")
    s.close()
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.load()
