"""Manual readings by a stable id: record, list, correct and delete what people typed.

:class:`ManualReadings` is a part of :class:`~kpitui.store.Store` (a mixin, kept
here so the store's own module stays about storage). Its table, schema 4::

    manual_readings(id INTEGER PRIMARY KEY AUTOINCREMENT, metric_id, at, recorded, UNIQUE (metric_id, at))

One row per reading typed by a person (``kpitui record``, the TUI's
add-reading form), pointing at its row in ``readings``. The id is shown by
``kpitui readings list`` and in the form; ``AUTOINCREMENT`` means an id is
never handed out again, even after the newest reading was deleted. The value
lives in ``readings`` only (the entry holds no copy), so what is listed is what
every report uses. A reading that retention later down-sampled into its
bucket is no longer a reading of its own: it is not listed and cannot be
changed alone.

Readings of a metric whose source is the manual one are all manual; those
written before schema 4 (or by another writer) are given ids by
:meth:`ManualReadings.adopt_manual`, oldest first.

Deleting a reading, or moving it to another time, deletes a row: the store's
generation moves on, so a running viewer reloads and stops showing it.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from .epoch import from_micros, micros


@dataclass(frozen=True)
class ManualReading:
    """One reading a person typed: its stable ``id``, metric, time (UTC), value and when it was typed."""

    id: int
    metric: str
    at: dt.datetime
    value: float
    recorded: dt.datetime | None = None  # None: recorded before kpitui kept this (adopted)


class UnknownReading(LookupError):
    """No manual reading has this id (never had, deleted, or down-sampled by retention)."""


class ReadingTaken(ValueError):
    """Another reading of the metric already stands at the time a reading was to be moved to."""


_SELECT = (
    "SELECT e.id, m.name, e.at, r.value, e.recorded FROM manual_readings e "
    "JOIN metrics m ON m.id = e.metric_id "
    "JOIN readings r ON r.metric_id = e.metric_id AND r.at = e.at AND r.n = 1"
)


def _row(row: tuple[Any, ...]) -> ManualReading:
    ident, metric, at, value, recorded = row
    return ManualReading(id=ident, metric=metric, at=from_micros(at), value=value, recorded=from_micros(recorded))


def unknown_reading(ident: int, *, down_sampled: bool) -> UnknownReading:
    """Why manual reading ``ident`` cannot be found: down-sampled by retention, or never there."""
    if down_sampled:
        return UnknownReading(
            f"manual reading {ident} was down-sampled into its bucket by retention ([storage] raw_retention_days) "
            "and can no longer be changed alone"
        )
    return UnknownReading(f"there is no manual reading {ident} (`kpitui readings list` shows their ids)")


def compacted_at(metric: str) -> ReadingTaken:
    """A correction refused because ``metric``'s readings at that time are compacted by retention."""
    return ReadingTaken(
        f"{metric}'s readings at that time are compacted by retention ([storage] raw_retention_days); "
        "nothing was changed"
    )


class ManualReadings:
    """Store methods for manual readings (mixed into :class:`~kpitui.store.Store`)."""

    if TYPE_CHECKING:  # what the Store it is mixed into provides (kpitui.sqlite_store)
        readonly: bool
        last_compacted: int

        def _guard(self, action: str) -> AbstractContextManager[sqlite3.Connection]: ...
        def _transaction(self, kind: str = "IMMEDIATE") -> AbstractContextManager[sqlite3.Connection]: ...
        def _writable(self) -> None: ...
        def _forget_snapshot(self) -> None: ...
        def _upsert(self, rows: pl.DataFrame, mode: str) -> int: ...
        @staticmethod
        def _prepare(readings: pl.DataFrame, mode: str) -> Any: ...

    def record_manual(self, metric: str, at: dt.datetime, value: float) -> tuple[ManualReading | None, float | None]:
        """Store a typed reading (replacing any value at that exact time) and give it an id.

        Returns the reading (``None`` when ``at`` is in the metric's compacted
        past, see :attr:`last_compacted`) and the value it replaced, if any.
        """
        from .api import readings_frame

        rows, _ = self._prepare(readings_frame([(metric, at, value)]), "replace")
        self.last_compacted = 0
        with self._guard("write to") as con:
            self._writable()
            with self._transaction():
                stamp = int(rows["at"][0])
                before = con.execute(
                    "SELECT r.value FROM readings r JOIN metrics m ON m.id = r.metric_id WHERE m.name = ? AND r.at = ?",
                    (metric, stamp),
                ).fetchone()
                self._upsert(rows, "replace")
                if self.last_compacted:
                    return None, None
                metric_id = con.execute("SELECT id FROM metrics WHERE name = ?", (metric,)).fetchone()[0]
                now = micros(dt.datetime.now(dt.timezone.utc))
                # an update, not an upsert: a conflicting INSERT would still use up an AUTOINCREMENT id
                if not con.execute(
                    "UPDATE manual_readings SET recorded = ? WHERE metric_id = ? AND at = ?", (now, metric_id, stamp)
                ).rowcount:
                    con.execute(
                        "INSERT INTO manual_readings (metric_id, at, recorded) VALUES (?, ?, ?)",
                        (metric_id, stamp, now),
                    )
                found = con.execute(_SELECT + " WHERE m.name = ? AND e.at = ?", (metric, stamp)).fetchone()
        return _row(found), (None if before is None else before[0])

    def adopt_manual(self, metrics: Iterable[str]) -> int:
        """Give ids to the raw readings of ``metrics`` (those fed by hand) that have none yet; how many."""
        names = sorted(set(metrics))
        if not names or self.readonly:
            return 0
        with self._guard("write to") as con:
            with self._transaction():
                return con.execute(
                    "INSERT OR IGNORE INTO manual_readings (metric_id, at, recorded) "
                    "SELECT r.metric_id, r.at, NULL FROM readings r JOIN metrics m ON m.id = r.metric_id "
                    "WHERE m.name IN (SELECT value FROM json_each(?)) AND r.n = 1 "
                    "AND r.at >= coalesce((SELECT c.before FROM compacted c WHERE c.metric_id = r.metric_id), "
                    "-9223372036854775808) "
                    "AND NOT EXISTS (SELECT 1 FROM manual_readings e WHERE e.metric_id = r.metric_id AND e.at = r.at) "
                    "ORDER BY r.at, m.name",
                    (json.dumps(names),),
                ).rowcount

    def manual_readings(self, metrics: Iterable[str] | None = None, *, limit: int | None = None) -> list[ManualReading]:
        """Manual readings (of ``metrics``, or all), newest time first; at most ``limit``."""
        where, params = "", list[Any]()
        if metrics is not None:
            where = " WHERE m.name IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(sorted(set(metrics))))
        tail = " ORDER BY e.at DESC, e.id DESC" + (" LIMIT ?" if limit is not None else "")
        if limit is not None:
            params.append(int(limit))
        with self._guard("read") as con:
            return [_row(r) for r in con.execute(_SELECT + where + tail, params)]

    def manual_reading(self, ident: int) -> ManualReading:
        """The manual reading with this id; :class:`UnknownReading` when there is none."""
        with self._guard("read") as con:
            return self._manual(con, ident)

    def _manual(self, con: sqlite3.Connection, ident: int) -> ManualReading:
        found = con.execute(_SELECT + " WHERE e.id = ?", (int(ident),)).fetchone()
        if found is not None:
            return _row(found)
        gone = con.execute("SELECT 1 FROM manual_readings WHERE id = ?", (int(ident),)).fetchone()
        raise unknown_reading(ident, down_sampled=bool(gone))

    def correct_manual(
        self, ident: int, *, value: float | None = None, at: dt.datetime | None = None
    ) -> tuple[ManualReading, ManualReading]:
        """Give manual reading ``ident`` a new value and/or time; returns it before and after.

        Moving it to a time where the metric already has a reading raises
        :class:`ReadingTaken` (delete that one first); moving it into the
        metric's compacted past is refused like any write there.
        """
        self.last_compacted = 0
        with self._guard("write to") as con:
            self._writable()
            with self._transaction():
                old = self._manual(con, ident)
                new_value = old.value if value is None else float(value)
                new_at = old.at if at is None else at
                stamp, old_stamp = micros(new_at), micros(old.at)
                frame = pl.DataFrame(
                    {"metric": [old.metric], "at": [stamp], "value": [new_value]},
                    schema={"metric": pl.String, "at": pl.Int64, "value": pl.Float64},
                )
                if stamp != old_stamp:
                    taken = con.execute(
                        "SELECT e.id FROM readings r JOIN metrics m ON m.id = r.metric_id "
                        "LEFT JOIN manual_readings e ON e.metric_id = r.metric_id AND e.at = r.at "
                        "WHERE m.name = ? AND r.at = ?",
                        (old.metric, stamp),
                    ).fetchone()
                    if taken is not None:
                        which = f"manual reading {taken[0]}" if taken[0] is not None else "a reading from its source"
                        raise ReadingTaken(
                            f"{old.metric} already has {which} at that time; delete it first or pick another time"
                        )
                    self._upsert(frame, "replace")
                    if self.last_compacted:
                        raise compacted_at(old.metric)
                    metric_id = con.execute("SELECT id FROM metrics WHERE name = ?", (old.metric,)).fetchone()[0]
                    con.execute("DELETE FROM readings WHERE metric_id = ? AND at = ?", (metric_id, old_stamp))
                    con.execute("UPDATE manual_readings SET at = ? WHERE id = ?", (stamp, old.id))
                    self._forget_snapshot()
                elif new_value != old.value:
                    self._upsert(frame, "replace")
                    if self.last_compacted:
                        raise compacted_at(old.metric)
                new = self._manual(con, ident)
        return old, new

    def delete_manual(self, idents: Iterable[int]) -> list[ManualReading]:
        """Delete these manual readings (all or none); returns them as they were."""
        with self._guard("delete from") as con:
            self._writable()
            with self._transaction():
                gone = [self._manual(con, ident) for ident in dict.fromkeys(int(i) for i in idents)]
                for reading in gone:
                    con.execute(
                        "DELETE FROM readings WHERE at = ? AND metric_id = (SELECT metric_id FROM "
                        "manual_readings WHERE id = ?)",
                        (micros(reading.at), reading.id),
                    )
                    con.execute("DELETE FROM manual_readings WHERE id = ?", (reading.id,))
                if gone:
                    self._forget_snapshot()
        return gone
