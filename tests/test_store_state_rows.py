"""Schema 5: each source's cursor and health live in ``meta`` beside the sequence counter, so a
collector's poll commits once and changes one page of that b-tree instead of three (issue 18 item 4).

A file of schema 4 (cursors and source_health tables of their own) migrates forward on open by a
writer, keeping every cursor and health record; a poll's readings, cursor and health commit in one
transaction (``write(polled_at=...)``), which the WAL shows as one commit of fewer pages.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from kpitui.api import readings_frame
from kpitui.store import _MIGRATIONS, APPLICATION_ID, SCHEMA_VERSION, Store, StoreError

T0 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc)


def _micros(at: dt.datetime) -> int:
    return (at - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)


def schema4_file(path: Path) -> None:
    """A history as kpitui wrote it at schema 4: two sources' cursors, one healthy, one failing."""
    raw = sqlite3.connect(path)
    for step in _MIGRATIONS[:4]:
        raw.executescript(step)
    raw.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    raw.execute("PRAGMA user_version = 4")
    raw.execute("INSERT INTO metrics (id, name) VALUES (1, 'hits')")
    raw.execute("INSERT INTO readings (metric_id, at, value, seq) VALUES (1, ?, 7, 1)", (_micros(T0),))
    raw.execute("UPDATE meta SET value = 1 WHERE key = 'seq'")
    raw.execute("INSERT INTO cursors (source, cursor, updated) VALUES ('web', '{\"offset\": 120}', 5)")
    raw.execute("INSERT INTO cursors (source, cursor, updated) VALUES ('crm', NULL, 6)")
    raw.execute("INSERT INTO source_health (source, last_success, failures) VALUES ('web', ?, 0)", (_micros(T0),))
    raw.execute(
        "INSERT INTO source_health (source, last_error, error, failures, next_attempt) VALUES ('sql', ?, "
        "'timed out', 3, ?)",
        (_micros(T0), _micros(T0 + dt.timedelta(minutes=4))),
    )
    raw.commit()
    raw.close()


def test_a_schema_4_file_migrates_with_its_cursors_and_health(tmp_path):
    path = tmp_path / "old.sqlite3"
    schema4_file(path)
    with pytest.raises(StoreError, match="schema version 4, this kpitui needs"):
        Store(path, readonly=True)  # a viewer cannot migrate
    with Store(path) as store:
        assert store.cursor("web") == '{"offset": 120}'
        assert store.cursor("crm") is None and store.cursor("sql") is None
        health = store.health()
        assert set(health) == {"web", "sql"}
        assert health["web"].last_success == T0 and health["web"].failures == 0 and health["web"].error is None
        assert health["sql"].error == "timed out" and health["sql"].failures == 3
        assert health["sql"].next_attempt == T0 + dt.timedelta(minutes=4)
        frame, seq = store.load()
        assert frame["value"].to_list() == [7.0] and seq == 1
        # the old tables are gone; the views read the rows in meta as the tables did
        con = store._conn
        kinds = dict(con.execute("SELECT name, type FROM sqlite_master WHERE name IN ('cursors', 'source_health')"))
        assert kinds == {"cursors": "view", "source_health": "view"}
        assert sorted(con.execute("SELECT source, cursor, updated FROM cursors")) == [
            ("crm", None, 6),
            ("web", '{"offset": 120}', 5),
        ]
        # and it goes on: a failure adds to the migrated count, a success clears it
        store.record_health("sql", ok=False, error="refused", at=T0)
        assert store.health()["sql"].failures == 4
        store.record_health("sql", ok=True, at=T0)
        assert store.health()["sql"].failures == 0 and store.health()["sql"].error is None
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def _wal_frames(path: Path, page: int) -> int:
    wal = Path(f"{path}-wal")
    return (wal.stat().st_size - 32) // (page + 24) if wal.exists() and wal.stat().st_size else 0


def test_a_poll_commits_readings_cursor_and_health_at_once_in_few_pages(tmp_path):
    path = tmp_path / "h.sqlite3"
    with Store(path, page_size=4096) as store:  # (pages of any size: the count is what this test holds)
        metrics = [f"m{i}" for i in range(12)]
        history = [(m, T0 - dt.timedelta(minutes=30 * k), float(k)) for m in metrics for k in range(1500)]
        store.write(readings_frame(history), source="demo", cursor="0", set_cursor=True, polled_at=T0)
        store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store._conn.execute("PRAGMA wal_autocheckpoint = 0")
        before = _wal_frames(path, 4096)
        polls = 40
        for i in range(1, polls + 1):
            at = T0 + dt.timedelta(seconds=30 * i)
            cursor = store.cursor("demo")
            batch = [(metrics[(3 * i) % 12], at, 1.0), (metrics[(3 * i + 5) % 12], at, 2.0)]
            store.write(
                readings_frame(batch), source="demo", cursor=str(i), set_cursor=True, expect_cursor=cursor, polled_at=at
            )
        per_poll = (_wal_frames(path, 4096) - before) / polls
        assert store.cursor("demo") == str(polls)
        health = store.health()["demo"]
        assert health.last_success == T0 + dt.timedelta(seconds=30 * polls) and health.failures == 0
    # two readings leaves, the seq index leaf and the one meta page holding the counter, the cursor and
    # the health (and now and then a split): it was 6-7 with cursor and health in tables of their own
    # and the health in a transaction of its own
    assert per_poll < 4.6, f"{per_poll:.2f} WAL frames per poll"


def test_polled_at_needs_a_source(tmp_path):
    with Store(tmp_path / "h.sqlite3") as store:
        with pytest.raises(ValueError, match="needs a source"):
            store.write(readings_frame([("m", T0, 1.0)]), polled_at=T0)
