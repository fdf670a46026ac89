"""Schema 7: readings stored in write order (``seq`` is the rowid) with a unique ``(metric_id, at)``
index, so a bulk write appends its rows and inserts only the small index entries at random places
(benchmarks/NOTES.md, "durable writes").

A file of schema 6 (``readings`` ``WITHOUT ROWID`` keyed by ``(metric_id, at)``) migrates on open by
a writer in one transaction, keeping every row with its seq and ``n``; a migration killed mid-way
leaves the file as it was, and the next open migrates it. Writes keep their semantics on a migrated
file: duplicates in a frame (the last wins), unchanged rewrites (no new seq), ``add`` mode, the
incremental load by seq.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

from kpitui.store import _MIGRATIONS, APPLICATION_ID, SCHEMA_VERSION, Store

T0 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc)
T0_US = (T0 - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)
HOUR_US = 3_600_000_000


def schema6_file(path: Path, rows: int) -> list[tuple[int, int, float, int, int]]:
    """A history as kpitui wrote it at schema 6, ``rows`` readings of three metrics written in an
    order unlike their key order (seq numbers shuffled over the keys), some down-sampled
    (``n`` > 1), one metric compacted, a source's cursor; returns the rows (metric_id, at, value, seq, n)."""
    raw = sqlite3.connect(path)
    for step in _MIGRATIONS[:6]:
        raw.executescript(step)
    raw.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    raw.execute("PRAGMA user_version = 6")
    raw.execute("PRAGMA journal_mode = WAL")
    raw.executemany("INSERT INTO metrics (id, name) VALUES (?, ?)", [(1, "hits"), (2, "sales"), (3, "errors")])
    table = []
    for k in range(rows):
        metric_id = 1 + k % 3
        at = T0_US - (k // 3) * HOUR_US
        seq = 1 + (k * 7919) % rows  # a permutation of 1..rows (7919 is prime and rows is not its multiple)
        n = 12 if metric_id == 3 and k % 5 == 0 else 1
        table.append((metric_id, at, round(k * 0.25, 2), seq, n))
    raw.executemany("INSERT INTO readings (metric_id, at, value, seq, n) VALUES (?, ?, ?, ?, ?)", table)
    raw.execute("UPDATE meta SET value = ? WHERE key = 'seq'", (rows,))
    raw.execute("INSERT INTO compacted (metric_id, before) VALUES (3, ?)", (T0_US - (rows // 3) * HOUR_US,))
    raw.execute("INSERT INTO meta (key, value, cursor, updated) VALUES ('source:web', 0, '{\"offset\": 9}', 5)")
    raw.commit()
    raw.close()
    return sorted(table)


def _table(path: Path) -> list[tuple[int, int, float, int, int]]:
    with sqlite3.connect(path) as raw:
        rows = raw.execute("SELECT metric_id, at, value, seq, n FROM readings ORDER BY metric_id, at").fetchall()
    raw.close()
    return rows


def _layout(path: Path) -> tuple[int, str, list[str]]:
    with sqlite3.connect(path) as raw:
        version = raw.execute("PRAGMA user_version").fetchone()[0]
        sql = raw.execute("SELECT sql FROM sqlite_master WHERE name = 'readings'").fetchone()[0]
        indexes = sorted(r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'readings'"))
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
    return version, sql, indexes


def test_a_new_file_stores_readings_in_seq_order(tmp_path):
    path = tmp_path / "new.sqlite3"
    with Store(path) as store:
        store.write(
            pl.DataFrame(
                {"metric": ["b", "a", "b"], "at": [T0, T0, T0 - dt.timedelta(hours=1)], "value": [1.0, 2.0, 3.0]}
            )
        )
    version, sql, indexes = _layout(path)
    assert version == SCHEMA_VERSION == 7
    assert "WITHOUT ROWID" not in sql.upper() and "seq INTEGER PRIMARY KEY" in sql
    assert indexes == ["readings", "readings_compacted", "readings_key"]
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT count(*) FROM readings WHERE rowid <> seq").fetchone()[0] == 0
        # the unique index is what the upserts' ON CONFLICT (metric_id, at) rests on
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            raw.execute("INSERT INTO readings (metric_id, at, value, seq) SELECT metric_id, at, 0, 99 FROM readings")
    raw.close()


def test_a_schema_6_file_migrates_keeping_every_row(tmp_path):
    path = tmp_path / "old.sqlite3"
    rows = schema6_file(path, 3_000)
    assert "WITHOUT ROWID" in _layout(path)[1].upper()
    with Store(path) as store:
        assert store.cursor("web") == '{"offset": 9}'
        assert store.compacted_before("errors") is not None
        frame, top = store.load()
        assert top == 3_000 and frame.height == 3_000
        assert frame.filter(pl.col("n") != 1).height == sum(1 for r in rows if r[4] != 1)
        since, _ = store.load(since=2_990)  # the rows with the ten highest seq numbers
        assert since.height == 10
    version, sql, indexes = _layout(path)
    assert version == SCHEMA_VERSION and "WITHOUT ROWID" not in sql.upper()
    assert indexes == ["readings", "readings_compacted", "readings_key"]
    assert _table(path) == rows  # every row, its value, seq and n as they were


@pytest.mark.parametrize("kind", ["new", "migrated"])
def test_writes_keep_their_semantics(tmp_path, kind):
    """The same writes on a new file and on a migrated one: duplicates in a frame (the last wins),
    an unchanged rewrite (it keeps its seq, not counted), a changed one (a new seq, seen by an
    incremental load), ``add`` mode (summed, adding 0 changes nothing)."""
    path = tmp_path / f"{kind}.sqlite3"
    if kind == "migrated":
        schema6_file(path, 30)
    first = 30 if kind == "migrated" else 0

    def frame(rows):
        return pl.DataFrame(
            rows, schema={"metric": pl.String, "at": pl.Datetime("us", "UTC"), "value": pl.Float64}, orient="row"
        )

    t1, t2 = T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=2)
    with Store(path) as store:
        assert store.write(frame([("hits", t1, 1.0), ("hits", t1, 5.0), ("new", t2, 2.0)])) == 2
        loaded, top = store.load(since=first)
        assert top == first + 2
        assert sorted(loaded.select("metric", "value").rows()) == [("hits", 5.0), ("new", 2.0)]
        assert store.write(frame([("hits", t1, 5.0)])) == 0  # unchanged: keeps its seq
        assert store.load(since=top)[0].height == 0
        assert store.write(frame([("hits", t1, 6.0), ("new", t2, 2.0)])) == 1
        changed, top2 = store.load(since=top)
        assert top2 > top and changed.select("metric", "value").rows() == [("hits", 6.0)]
        assert store.write(frame([("new", t2, 1.5), ("new", t2, 0.5)]), mode="add") == 1
        assert store.write(frame([("new", t2, 0.0)]), mode="add") == 0
        whole, top3 = store.load()
        assert top3 > top2
        values = {(m, at): v for m, at, v in whole.filter(pl.col("at") > T0).select("metric", "at", "value").rows()}
        assert values == {("hits", t1): 6.0, ("new", t2): 4.0}
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT count(*) FROM readings WHERE rowid <> seq").fetchone()[0] == 0
        assert raw.execute("SELECT max(seq) FROM readings").fetchone()[0] == top3
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()


_KILL_MID_MIGRATION = textwrap.dedent(
    """
    import os, signal, sys
    from kpitui.sqlite_store import schema

    def migrate(con, path):  # schema.migrate's steps, killed right after schema 7 dropped the old table
        con.execute("PRAGMA cache_size = 8")  # a tiny page cache: uncommitted pages spill into the WAL
        version = con.execute("PRAGMA user_version").fetchone()[0]
        for step in range(version, schema.SCHEMA_VERSION):
            for statement in schema.MIGRATIONS[step].split(";"):
                if statement.strip():
                    con.execute(statement)
                    if "DROP TABLE readings" in statement:
                        os.kill(os.getpid(), signal.SIGKILL)

    schema.migrate = migrate
    from kpitui.store import Store
    Store(sys.argv[1])
    """
)


def test_a_migration_killed_mid_way_loses_nothing(tmp_path):
    path = tmp_path / "old.sqlite3"
    rows = schema6_file(path, 20_000)
    done = subprocess.run([sys.executable, "-c", _KILL_MID_MIGRATION, str(path)], capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    assert os.path.getsize(f"{path}-wal") > 0  # the killed transaction's pages reached the WAL, uncommitted
    version, sql, _ = _layout(path)
    assert version == 6 and "WITHOUT ROWID" in sql.upper()  # as it was
    assert _table(path) == rows
    with Store(path) as store:  # the next open migrates it
        assert store.load()[0].height == 20_000
    assert _layout(path)[0] == SCHEMA_VERSION
    assert _table(path) == rows


def test_the_migration_says_what_it_does(tmp_path):
    """Rewriting a big history takes seconds: the open that does it logs one line with the count (shown by
    every command; ``collect`` prints it), and a new file or an empty one says nothing."""
    import logging

    path = tmp_path / "old.sqlite3"
    schema6_file(path, 1_200)
    seen: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("kpitui.store")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        Store(path).close()
        Store(path).close()  # migrated already: nothing to say
        Store(tmp_path / "new.sqlite3").close()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert seen == [
        f"history file {path}: upgrading to schema 7, readings stored in write order: rewriting 1,200 readings "
        "once (a few seconds per million; other kpitui processes wait for it)"
    ]
