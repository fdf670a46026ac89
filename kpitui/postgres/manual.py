"""Manual readings by a stable id in a PostgreSQL history: the same methods as :mod:`kpitui.manual_readings` (SQLite).

``manual_readings(id, metric_id, instance_id, at, recorded)`` (schema 5), one row per
reading a person typed, pointing at its row in ``readings`` (that instance's). Ids
come from an identity column, so one is never handed out again. Recording takes
the writer's seq lock like every write; a correction writes the reading's own
instance's row (whoever corrects it); deleting or moving a reading deletes a row,
which needs the DELETE privilege (the owner; the README's collector role has none)
and moves the generation, so viewers reload.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from ..epoch import micros
from ..manual_readings import ManualReading, ReadingTaken, _row, compacted_at, unknown_reading
from ..store_common import prepare_readings
from .connection import PostgresBase
from .schema import SCHEMA

_SELECT = (
    f"SELECT e.id, m.name, e.at, r.value, e.recorded FROM {SCHEMA}.manual_readings e "
    f"JOIN {SCHEMA}.metrics m ON m.id = e.metric_id "
    f"JOIN {SCHEMA}.readings r ON r.metric_id = e.metric_id AND r.at = e.at AND r.instance_id = e.instance_id "
    "AND r.n = 1"
)

_COMPACTED = (
    f"SELECT c.before FROM {SCHEMA}.compacted c JOIN {SCHEMA}.metrics m ON m.id = c.metric_id WHERE m.name = %s"
)


class ManualReadings(PostgresBase):
    """Store methods for manual readings (mixed into :class:`~kpitui.postgres.PostgresStore`)."""

    def record_manual(self, metric: str, at: dt.datetime, value: float) -> tuple[ManualReading | None, float | None]:
        """Store a typed reading under this instance (replacing any value it has at that time) and give it an id.

        Returns the reading (``None`` when ``at`` is in the metric's compacted past) and the value it replaced."""
        from ..api import readings_frame

        rows, _ = prepare_readings(readings_frame([(metric, at, value)]), "replace")
        self.last_compacted = 0
        with self._guard("write to") as con:
            self._writable()
            with con.transaction():
                first = self._take_seq(con, rows.height)
                stamp = int(rows["at"][0])
                instance_id = self._my_instance(con)
                before = con.execute(
                    f"SELECT r.value FROM {SCHEMA}.readings r JOIN {SCHEMA}.metrics m ON m.id = r.metric_id "
                    "WHERE m.name = %s AND r.at = %s AND r.instance_id = %s",
                    (metric, stamp, instance_id),
                ).fetchone()
                self._upsert(con, rows, "replace", first)
                if self.last_compacted:
                    return None, None
                metric_id = con.execute(f"SELECT id FROM {SCHEMA}.metrics WHERE name = %s", (metric,)).fetchone()[0]
                now = micros(dt.datetime.now(dt.timezone.utc))
                key = (metric_id, stamp, instance_id)
                # an update first: a conflicting INSERT would still use up an id
                if not con.execute(
                    f"UPDATE {SCHEMA}.manual_readings SET recorded = %s WHERE metric_id = %s AND at = %s AND "
                    "instance_id = %s",
                    (now, *key),
                ).rowcount:
                    con.execute(
                        f"INSERT INTO {SCHEMA}.manual_readings (metric_id, at, instance_id, recorded) VALUES "
                        "(%s, %s, %s, %s)",
                        (*key, now),
                    )
                found = con.execute(
                    _SELECT + " WHERE e.metric_id = %s AND e.at = %s AND e.instance_id = %s", key
                ).fetchone()
        return _row(found), (None if before is None else before[0])

    def adopt_manual(self, metrics: Iterable[str]) -> int:
        """Give ids to the raw readings of ``metrics`` (fed by hand) that have none yet, oldest first; how many.

        Nothing for a viewer, or a role that may not add manual readings (listing still works)."""
        names = sorted(set(metrics))
        if not names or self.readonly:
            return 0
        with self._guard("write to") as con:
            allowed = con.execute(f"SELECT has_table_privilege('{SCHEMA}.manual_readings', 'INSERT')").fetchone()[0]
            if not allowed:
                return 0
            with con.transaction():
                self._take_seq(con, 0)  # one adopter at a time
                return int(
                    con.execute(
                        f"INSERT INTO {SCHEMA}.manual_readings (metric_id, at, instance_id, recorded) "
                        f"SELECT r.metric_id, r.at, r.instance_id, NULL FROM {SCHEMA}.readings r "
                        f"JOIN {SCHEMA}.metrics m ON m.id = r.metric_id "
                        f"LEFT JOIN {SCHEMA}.compacted c ON c.metric_id = r.metric_id "
                        "WHERE m.name = ANY(%s) AND r.n = 1 AND r.at >= coalesce(c.before, -9223372036854775808) "
                        f"AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.manual_readings e "
                        "WHERE e.metric_id = r.metric_id AND e.at = r.at AND e.instance_id = r.instance_id) "
                        "ORDER BY r.at, m.name, r.instance_id",
                        (names,),
                    ).rowcount
                )

    def manual_readings(self, metrics: Iterable[str] | None = None, *, limit: int | None = None) -> list[ManualReading]:
        """Manual readings (of ``metrics``, or all), newest time first; at most ``limit``."""
        where, params = "", []  # type: tuple[str, list[Any]]
        if metrics is not None:
            where = " WHERE m.name = ANY(%s)"
            params.append(sorted(set(metrics)))
        tail = " ORDER BY e.at DESC, e.id DESC" + (" LIMIT %s" if limit is not None else "")
        if limit is not None:
            params.append(int(limit))
        return self._read("read", lambda con: [_row(r) for r in con.execute(_SELECT + where + tail, params).fetchall()])

    def manual_reading(self, ident: int) -> ManualReading:
        """The manual reading with this id; :class:`~kpitui.manual_readings.UnknownReading` when there is none."""
        return self._read("read", lambda con: self._manual(con, ident)[0])

    def _manual(self, con: Any, ident: int) -> tuple[ManualReading, int]:
        """The reading and the instance whose row it is."""
        found = con.execute(
            _SELECT.replace("SELECT e.id,", "SELECT e.instance_id, e.id,") + " WHERE e.id = %s", (int(ident),)
        ).fetchone()
        if found is not None:
            return _row(found[1:]), found[0]
        gone = con.execute(f"SELECT 1 FROM {SCHEMA}.manual_readings WHERE id = %s", (int(ident),)).fetchone()
        raise unknown_reading(ident, down_sampled=gone is not None)

    def correct_manual(
        self, ident: int, *, value: float | None = None, at: dt.datetime | None = None
    ) -> tuple[ManualReading, ManualReading]:
        """Give manual reading ``ident`` a new value and/or time (in its own instance's row); returns it before and
        after.

        Moving it onto a time its instance already has a reading of the metric at raises
        :class:`~kpitui.manual_readings.ReadingTaken`, as does any change in the metric's compacted past."""
        self.last_compacted = 0
        with self._guard("write to") as con:
            self._writable()
            with con.transaction():
                seq = self._take_seq(con, 1)
                old, instance_id = self._manual(con, ident)
                new_value = old.value if value is None else float(value)
                stamp, old_stamp = micros(old.at if at is None else at), micros(old.at)
                horizon = con.execute(_COMPACTED, (old.metric,)).fetchone()
                if horizon is not None and stamp < horizon[0] and (stamp != old_stamp or new_value != old.value):
                    self.last_compacted = 1
                    raise compacted_at(old.metric)
                metric_id = con.execute(f"SELECT id FROM {SCHEMA}.metrics WHERE name = %s", (old.metric,)).fetchone()[0]
                if stamp != old_stamp:
                    taken = con.execute(
                        f"SELECT e.id FROM {SCHEMA}.readings r LEFT JOIN {SCHEMA}.manual_readings e "
                        "ON e.metric_id = r.metric_id AND e.at = r.at AND e.instance_id = r.instance_id "
                        "WHERE r.metric_id = %s AND r.at = %s AND r.instance_id = %s",
                        (metric_id, stamp, instance_id),
                    ).fetchone()
                    if taken is not None:
                        which = f"manual reading {taken[0]}" if taken[0] is not None else "a reading from its source"
                        raise ReadingTaken(
                            f"{old.metric} already has {which} at that time; delete it first or pick another time"
                        )
                    con.execute(
                        f"INSERT INTO {SCHEMA}.readings (metric_id, instance_id, at, value, seq) "
                        "VALUES (%s, %s, %s, %s, %s)",
                        (metric_id, instance_id, stamp, new_value, seq),
                    )
                    con.execute(
                        f"DELETE FROM {SCHEMA}.readings WHERE metric_id = %s AND at = %s AND instance_id = %s",
                        (metric_id, old_stamp, instance_id),
                    )
                    con.execute(f"UPDATE {SCHEMA}.manual_readings SET at = %s WHERE id = %s", (stamp, old.id))
                    self._bump_generation(con)
                elif new_value != old.value:
                    con.execute(
                        f"UPDATE {SCHEMA}.readings SET value = %s, seq = %s WHERE metric_id = %s AND at = %s "
                        "AND instance_id = %s",
                        (new_value, seq, metric_id, stamp, instance_id),
                    )
                new, _ = self._manual(con, ident)
        return old, new

    def delete_manual(self, idents: Iterable[int]) -> list[ManualReading]:
        """Delete these manual readings (all or none); returns them as they were."""
        with self._guard("delete from") as con:
            self._writable()
            with con.transaction():
                self._take_seq(con, 0)
                gone = [self._manual(con, ident) for ident in dict.fromkeys(int(i) for i in idents)]
                for reading, instance_id in gone:
                    con.execute(
                        f"DELETE FROM {SCHEMA}.readings WHERE at = %s AND instance_id = %s "
                        f"AND metric_id = (SELECT metric_id FROM {SCHEMA}.manual_readings WHERE id = %s)",
                        (micros(reading.at), instance_id, reading.id),
                    )
                    con.execute(f"DELETE FROM {SCHEMA}.manual_readings WHERE id = %s", (reading.id,))
                if gone:
                    self._bump_generation(con)
        return [reading for reading, _ in gone]
