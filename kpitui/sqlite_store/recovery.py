"""Recovering what can be read of a damaged history file into a new one (``kpitui history recover NEW``).

Readings are read metric by metric, stepping over damaged pages (found by probing where reads work
again); see :mod:`kpitui.maintenance` for how damage is noticed and writes are refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from ..maintenance import is_corruption
from .base import SqliteBase
from .schema import connect_readonly

__all__ = ["recover"]

# Where the rows read from the old file (any schema: cursors and source_health are tables before
# schema 5, views after) go in the new one (schema.py: a source's row in meta).
_SAVE_CURSOR = (
    "INSERT INTO meta (key, value, cursor, updated) VALUES ('source:' || ?, 0, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET cursor = excluded.cursor, updated = excluded.updated"
)
_SAVE_HEALTH = (
    "INSERT INTO meta (key, value, last_success, last_error, error, failures, next_attempt) "
    "VALUES ('source:' || ?, 0, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET last_success = excluded.last_success, "
    "last_error = excluded.last_error, error = excluded.error, failures = excluded.failures, "
    "next_attempt = excluded.next_attempt"
)
_SAVE_COMPACTED = "INSERT OR REPLACE INTO compacted (metric_id, before) VALUES (?, ?)"

_MAX_AT = 2**63 - 1


def _first_readable(con: sqlite3.Connection, metric_id: int, after: int) -> int | None:
    """The smallest ``at`` > ``after`` from which ``metric_id``'s rows can be read again, past a damaged page."""

    def readable(start: int) -> int | None | bool:
        try:
            row = con.execute(
                "SELECT at FROM readings WHERE metric_id = ? AND at >= ? ORDER BY at LIMIT 1", (metric_id, start)
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise
            return False
        return None if row is None else row[0]

    low, step = after, 1
    while True:  # grow the step until a start past the damage reads (or nothing is left)
        high = min(after + step, _MAX_AT)
        found = readable(high)
        if found is not False:
            break
        if high == _MAX_AT:
            return None
        low, step = high, step * 2
    while high - low > 1:  # the first start that reads, between the last that failed and the first that did
        middle = (low + high) // 2
        probe = readable(middle)
        if probe is False:
            low = middle
        else:
            high, found = middle, probe
    return found


def _salvage(con: sqlite3.Connection, metric_id: int, lost: list[int]) -> Iterator[tuple[int, float, int]]:
    """Every readable (at, value, n) row of ``metric_id``, oldest first, stepping over damaged pages."""
    start = -(2**63)
    while True:
        try:
            for at, value, n in con.execute(
                "SELECT at, value, n FROM readings WHERE metric_id = ? AND at >= ? ORDER BY at", (metric_id, start)
            ):
                start = at + 1
                yield at, value, n
            return
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise
            lost[0] += 1
            resume = _first_readable(con, metric_id, start)
            if resume is None:
                return
            start = resume


def recover(src: Path, dest: Path) -> tuple[int, int, int]:
    """Copy what can be read of the damaged history ``src`` into a new history ``dest``.

    Readings are read metric by metric, stepping over damaged pages; metric names,
    cursors, source health and each metric's compacted past are copied when they
    can be read. Returns (readings recovered, metrics, damaged ranges skipped).
    """
    if dest.exists() or dest.is_symlink():
        raise FileExistsError(f"{dest} already exists; recovery never overwrites a file")
    old, _ = connect_readonly(src)
    readings = skipped = 0
    try:
        names = old.execute("SELECT id, name FROM metrics").fetchall()
        with SqliteBase(dest, snapshot_rows=None) as store:
            con = store._conn  # a new, empty history of the current schema, only ours
            with store._transaction():
                con.executemany("INSERT INTO metrics (id, name) VALUES (?, ?)", names)
                seq, lost = 0, [0]
                for metric_id, _ in names:
                    rows = [
                        (metric_id, at, value, seq + k + 1, n)
                        for k, (at, value, n) in enumerate(_salvage(old, metric_id, lost))
                    ]
                    con.executemany("INSERT INTO readings (metric_id, at, value, seq, n) VALUES (?, ?, ?, ?, ?)", rows)
                    seq += len(rows)
                readings, skipped = seq, lost[0]
                con.execute("UPDATE meta SET value = ? WHERE key = 'seq'", (seq,))
                for table, columns, save in (
                    ("cursors", "source, cursor, updated", _SAVE_CURSOR),
                    ("source_health", "source, last_success, last_error, error, failures, next_attempt", _SAVE_HEALTH),
                    ("compacted", "metric_id, before", _SAVE_COMPACTED),
                ):
                    try:
                        rows = old.execute(f"SELECT {columns} FROM {table}").fetchall()
                    except sqlite3.DatabaseError:
                        continue  # unreadable or absent (an older schema): sources re-read, retention re-closes
                    con.executemany(save, rows)
    finally:
        old.close()
    return readings, len(names), skipped
