"""Schema 6: a collector's small polls are staged in ``meta`` rows, on the page its cursor and health are
on, and folded into ``readings`` now and then (kpitui/sqlite_store/staging.py, issue 18 item 4).

What must not change: a viewer in another process reads the poll's values as soon as it commits,
an incremental viewer gets each row once, ``replace`` and ``add`` give the values and counts the
plain upsert gives, every other write sees one table, and a schema 5 file migrates forward.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import polars as pl

from kpitui.api import readings_frame
from kpitui.store import _MIGRATIONS, APPLICATION_ID, SCHEMA_VERSION, Store

T0 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc)


def _poll(store: Store, source: str, rows: list, cursor: str, mode: str = "replace") -> int:
    return store.write(
        readings_frame(rows),
        mode=mode,  # type: ignore[arg-type]
        source=source,
        cursor=cursor,
        set_cursor=True,
        expect_cursor=store.cursor(source),
        polled_at=T0,
    )


def _values(frame: pl.DataFrame) -> dict[tuple[str, dt.datetime], tuple[float, int]]:
    return {(r["metric"], r["at"]): (r["value"], r["n"]) for r in frame.iter_rows(named=True)}


def _in_table(path: Path) -> dict[tuple[str, int], float]:
    with sqlite3.connect(path) as raw:
        rows = raw.execute("SELECT m.name, r.at, r.value FROM readings r JOIN metrics m ON m.id = r.metric_id")
        return {(name, at): value for name, at, value in rows}


def _commit_pages(path: Path) -> list[list[int]]:
    """The pages each commit in the WAL wrote."""
    data = Path(f"{path}-wal").read_bytes()
    page = int.from_bytes(data[8:12], "big")
    commits, current, offset = [], [], 32
    while offset + 24 + page <= len(data):
        current.append(int.from_bytes(data[offset : offset + 4], "big"))
        if int.from_bytes(data[offset + 4 : offset + 8], "big"):
            commits.append(current)
            current = []
        offset += 24 + page
    return commits


def test_a_poll_is_staged_on_the_meta_page_and_a_viewer_in_another_process_reads_it_at_once(tmp_path):
    path = tmp_path / "h.sqlite3"
    with Store(path) as store:
        history = [(f"m{i}", T0 - dt.timedelta(hours=k), float(k)) for i in range(6) for k in range(300)]
        store.write(readings_frame(history))
        store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert _poll(store, "demo", [("m1", T0, 41.0), ("m4", T0, 42.0), ("m5", T0 - dt.timedelta(hours=1), 4.5)], "c1")
        meta_page = store._conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'meta'")
        assert _commit_pages(path) == [[meta_page.fetchone()[0]]]  # three readings' leaves and the seq leaf untouched
        assert _in_table(path)[("m1", int(T0.timestamp() * 1e6))] == 0.0  # not in readings yet
        script = (
            "import json, sys; from kpitui.store import Store; s = Store(sys.argv[1], readonly=True); "
            "f, top = s.load(); g, _ = s.load(since=int(sys.argv[2])); "
            "print(json.dumps([f.rows(), sorted(g['metric'].to_list()), top], default=str))"
        )
        seq_before = store._meta("seq") - 3
        out = subprocess.run(
            [sys.executable, "-c", script, str(path), str(seq_before)], capture_output=True, text=True, check=True
        )
        latest, since, top = json.loads(out.stdout)
        assert top == store._meta("seq")
        assert sorted(since) == ["m1", "m4", "m5"]  # the incremental viewer gets the poll's rows
        values = {(m, at[:19]): v for m, at, v, n in latest}
        assert values[("m1", "2026-03-01 12:00:00")] == 41.0 and values[("m4", "2026-03-01 12:00:00")] == 42.0
        assert values[("m5", "2026-03-01 11:00:00")] == 4.5 and values[("m0", "2026-03-01 12:00:00")] == 0.0


def test_replace_and_add_give_the_values_and_counts_of_the_plain_upsert(tmp_path):
    staged, plain = Store(tmp_path / "a.sqlite3"), Store(tmp_path / "b.sqlite3")
    base = [("a", T0, 1.0), ("b", T0, 2.0), ("c", T0, 0.0)]
    polls = [
        ("replace", [("a", T0, 1.0), ("b", T0, 5.0)]),  # a unchanged: not counted
        ("replace", [("b", T0, 5.0), ("d", T0, 3.0)]),  # b unchanged (staged), d new
        ("add", [("c", T0, 2.0), ("e", T0, 0.0)]),  # c stored + 2; e new with 0
        ("add", [("c", T0, 3.0), ("b", T0, 0.0)]),  # c staged + 3; adding 0 changes nothing
        ("replace", [("c", T0, 5.0)]),  # the same value as staged: unchanged
    ]
    for store in (staged, plain):
        store.write(readings_frame(base))
    counts = []
    for mode, rows in polls:
        counts.append(
            (
                _poll(staged, "s", rows, "x", mode),
                plain.write(readings_frame(rows), mode=mode),  # type: ignore[arg-type]
            )
        )
    assert [a for a, _ in counts] == [b for _, b in counts] == [1, 1, 2, 1, 0]
    assert staged._staged()  # still staged
    assert _values(staged.load()[0]) == _values(plain.load()[0])
    staged.close(), plain.close()


def test_an_incremental_viewer_gets_each_row_once_across_a_fold(tmp_path):
    path = tmp_path / "h.sqlite3"
    with Store(path) as store, Store(path, readonly=True) as viewer:
        frame, seen = viewer.load()
        limit = store._stage_limit()
        for i in range(limit + 3):  # past what fits on the page: the staged rows are folded
            _poll(store, "demo", [(f"m{i}", T0, float(i))], str(i))
            new, seen_now = viewer.load(since=seen)
            assert new["metric"].to_list() == [f"m{i}"], i
            frame, seen = viewer.merge(frame, new), seen_now
            assert len(store._staged()) <= limit
        assert store._staged() and len(_in_table(path)) > limit // 2  # folded once, staging again since
        again, _ = viewer.load(since=seen)
        assert again.height == 0
        assert _values(frame) == _values(viewer.load()[0])
        assert sorted(frame["value"].to_list()) == [float(i) for i in range(limit + 3)]


def test_every_other_write_folds_the_staged_rows_first(tmp_path):
    path = tmp_path / "h.sqlite3"
    with Store(path) as store:
        _poll(store, "demo", [("m", T0, 1.0), ("k", T0, 2.0)], "1")
        assert store._staged() and _in_table(path) == {}
        store.delete_metric("k")
        assert store._staged() == {}
        assert _in_table(path) == {("m", int(T0.timestamp() * 1e6)): 1.0}
        assert _values(store.load()[0]) == {("m", T0): (1.0, 1)}


def test_a_down_sampled_row_is_added_to_in_readings_keeping_its_count(tmp_path):
    path = tmp_path / "h.sqlite3"
    with Store(path) as store:
        store.write(readings_frame([("hits", T0, 10.0)]))
        store._conn.execute("UPDATE readings SET n = 5")  # as retention leaves a bucket of 5 readings
        assert _poll(store, "web", [("hits", T0, 2.0)], "1", mode="add") == 1
        assert store._staged() == {}
        assert _values(store.load()[0]) == {("hits", T0): (12.0, 5)}


def test_a_schema_5_file_migrates_to_staging(tmp_path):
    path = tmp_path / "old.sqlite3"
    raw = sqlite3.connect(path)
    for step in _MIGRATIONS[:5]:
        raw.executescript(step)
    raw.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    raw.execute("PRAGMA user_version = 5")
    raw.execute("PRAGMA journal_mode = WAL")
    raw.execute("INSERT INTO metrics (id, name) VALUES (1, 'hits')")
    raw.execute("INSERT INTO readings (metric_id, at, value, seq) VALUES (1, ?, 7, 1)", (int(T0.timestamp() * 1e6),))
    raw.execute("UPDATE meta SET value = 1 WHERE key = 'seq'")
    raw.execute("INSERT INTO meta (key, value, cursor, updated) VALUES ('source:web', 0, '{\"offset\": 9}', 5)")
    raw.commit()
    raw.close()
    with Store(path) as store:
        assert store.cursor("web") == '{"offset": 9}'
        assert _poll(store, "web", [("hits", T0, 1.0)], '{"offset": 12}', mode="add") == 1
        assert store._staged() and _values(store.load()[0]) == {("hits", T0): (8.0, 1)}
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert raw.execute("SELECT staged FROM meta WHERE key = 'staged:0'").fetchone() is None  # folded at close
        assert raw.execute("SELECT value FROM readings").fetchall() == [(8.0,)]


def test_closing_the_writer_folds_what_is_staged_so_plain_sql_sees_every_reading(tmp_path):
    """A history no writer holds open has every reading in ``readings``: a script, a backup or
    another tool reading the file with SQL (DuckDB, sqlite3) misses nothing once the writer closed."""
    path = tmp_path / "h.sqlite3"
    with Store(path) as store:
        store.write(readings_frame([("m1", T0 - dt.timedelta(hours=1), 1.0)]))
        _poll(store, "demo", [("m1", T0, 41.0), ("m2", T0, 7.0)], "c1")
        _poll(store, "demo", [("m2", T0, 3.0)], "c2", mode="add")
        assert store._staged()  # staged while the writer is open
        seq = store._meta("seq")
        expected = _values(store.load()[0])
    at = int(T0.timestamp() * 1e6)
    assert _in_table(path) == {("m1", at - 3_600_000_000): 1.0, ("m1", at): 41.0, ("m2", at): 10.0}
    with Store(path) as store:
        assert not store._staged() and store._meta("seq") == seq  # the fold kept each row's seq
        assert _values(store.load()[0]) == expected
        assert store.load(since=seq)[0].height == 0  # a viewer at seq reloads nothing


def test_a_read_only_opener_does_not_fold(tmp_path):
    path = tmp_path / "h.sqlite3"
    writer = Store(path)
    _poll(writer, "demo", [("m1", T0, 41.0)], "c1")
    Store(path, readonly=True).close()
    assert writer._staged()  # still staged: only a writer folds
    writer.close()
    assert not Store(path, readonly=True)._staged()
