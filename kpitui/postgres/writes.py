"""Writing readings and cursors to the PostgreSQL history: one transaction per write, writers
serialised by the ``seq`` lock, ``COPY`` straight into ``readings`` where no stored key can collide."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

import polars as pl

from ..epoch import from_micros, micros
from ..store_common import UNSET, check_write, cursor_conflict, outside_compacted, prepare_readings
from .connection import PostgresBase
from .schema import SCHEMA

#: the most rows of its own writes a store keeps for the snapshot's next delta part
_WRITTEN_ROWS = 4_000_000

_ON_CONFLICT = {
    # unchanged rows keep their seq (viewers do not reload them), as in SQLite
    "replace": (
        " ON CONFLICT (metric_id, at, instance_id) DO UPDATE SET value = excluded.value, seq = excluded.seq, n = 1"
        " WHERE r.value IS DISTINCT FROM excluded.value OR r.n <> 1"
    ),
    "add": (
        " ON CONFLICT (metric_id, at, instance_id) DO UPDATE SET value = r.value + excluded.value, seq = excluded.seq"
        " WHERE excluded.value <> 0"
    ),
}


def _copy_text(rows: pl.DataFrame) -> str:
    """``rows`` (numbers only, none null or infinite: :func:`~kpitui.store_common.prepare_readings`) in
    ``COPY``'s text format: tab-separated lines, nothing to quote or escape. The server splits these
    lines more cheaply than CSV's (measured: ~6% less backend CPU for the ``COPY`` into ``readings``)."""
    return rows.write_csv(include_header=False, separator="\t", float_precision=None)


def _array(numbers: pl.Series) -> str:
    """Integers as a PostgreSQL array literal (one text parameter, cast by the query)."""
    return "{" + ",".join(map(str, numbers.to_list())) + "}"


class Writes(PostgresBase):
    """Readings, cursors and the sequence counter (mixed into :class:`~kpitui.postgres.PostgresStore`)."""

    def _ids(self, con: Any, table: str, names: list[str]) -> dict[str, int]:
        # the names as one JSON text: psycopg dumps a list parameter element by element in Python
        # (measured with the probes' lists below: ~9 -> ~3 ms of a 100k-row write's client CPU)
        listed = json.dumps(names)
        con.execute(
            f"INSERT INTO {SCHEMA}.{table} (name) SELECT json_array_elements_text(%s::json) "
            "ON CONFLICT (name) DO NOTHING",
            (listed,),
        )
        return dict(
            con.execute(
                f"SELECT name, id FROM {SCHEMA}.{table} WHERE name IN (SELECT json_array_elements_text(%s::json))",
                (listed,),
            ).fetchall()
        )

    def _my_instance(self, con: Any) -> int:
        if self._instance_id is None:
            self._instance_id = self._ids(con, "instances", [self.instance])[self.instance]
        return self._instance_id

    def _take_seq(self, con: Any, count: int) -> int:
        """Advance the sequence by ``count`` (locking it until commit); returns the first number taken."""
        top = con.execute(
            f"UPDATE {SCHEMA}.meta SET value = value + %s WHERE key = 'seq' RETURNING value", (count,)
        ).fetchone()[0]
        return int(top) - count + 1

    def _meta(self, con: Any, *keys: str) -> dict[str, int]:
        found = dict(con.execute(f"SELECT key, value FROM {SCHEMA}.meta WHERE key = ANY(%s)", (list(keys),)).fetchall())
        return {key: int(found.get(key, 0)) for key in keys}

    def _cursor(self, con: Any, source: str) -> str | None:
        row = con.execute(
            f"SELECT cursor FROM {SCHEMA}.cursors WHERE instance = %s AND source = %s", (self.instance, source)
        ).fetchone()
        return None if row is None else row[0]

    def cursor(self, source: str) -> str | None:
        """``source``'s last committed cursor for this instance, or ``None``."""
        return self._read("read a cursor from", lambda con: self._cursor(con, source))

    def write(
        self,
        readings: pl.DataFrame,
        *,
        mode: Literal["replace", "add"] = "replace",
        source: str | None = None,
        cursor: str | None = None,
        set_cursor: bool = False,
        expect_cursor: str | None = UNSET,
    ) -> int:
        """As :meth:`kpitui.store.Store.write`, under this store's instance."""
        check_write(mode, source, set_cursor, expect_cursor)
        rows, dropped = prepare_readings(readings, mode)
        self.last_dropped = dropped
        self.last_compacted = 0
        with self._guard("write to") as con:
            self._writable()
            self._stored = None
            try:
                with con.transaction():
                    first = self._take_seq(con, rows.height)  # serialises writers from here to commit
                    if expect_cursor is not UNSET:
                        stored = self._cursor(con, source)  # type: ignore[arg-type]
                        if stored != expect_cursor:
                            raise cursor_conflict(source, expect_cursor, stored)
                    written = self._upsert(con, rows, mode, first) if rows.height else 0
                    if set_cursor:
                        con.execute(
                            f"INSERT INTO {SCHEMA}.cursors (instance, source, cursor, updated) "
                            "VALUES (%s, %s, %s, %s) ON CONFLICT (instance, source) DO UPDATE SET "
                            "cursor = excluded.cursor, updated = excluded.updated",
                            (self.instance, source, cursor, micros(dt.datetime.now(dt.timezone.utc))),
                        )
                    meta = self._meta(con, "snapshot_seq", "snapshot_rows") if written else None
            except BaseException:
                self._written = []  # committed or not, we cannot tell: the next refresh reads the table
                raise
            self._note_written(first - 1, first + rows.height - 1)
        if meta is not None and self.snapshot_rows is not None:
            since = first + rows.height - 1 - meta["snapshot_seq"]
            if since >= max(self.snapshot_rows, meta["snapshot_rows"] // 8):
                self._refresh_snapshot()
        return written

    def _note_written(self, lo: int, top: int) -> None:
        """Remember what the write of sequence numbers ``lo < seq <= top`` stored (``self._stored``, or
        ``None``: not known without reading it back), for the next delta part of the snapshot."""
        if top <= lo or self.snapshot_rows is None:
            return
        self._written.append((lo, top, self._stored))
        while sum(f.height for _, _, f in self._written if f is not None) > _WRITTEN_ROWS:
            self._written.pop(0)  # the chain no longer reaches the snapshot: that refresh reads the table

    def _written_since(self, con: Any, low: int, top: int) -> pl.DataFrame | None:
        """The rows at every key written in ``low < seq <= top`` (as :meth:`_fetch_since` reads them,
        sorted by (metric_id, at)) from what this store wrote, when that is exact: this store took
        every one of those sequence numbers, knows what each write stored, and it is the only instance
        that ever wrote (so a key's sum over instances is its own row). ``None`` otherwise."""
        chain = [entry for entry in self._written if entry[0] >= low]
        at = low
        for lo, hi, frame in chain:
            if lo != at or frame is None:
                return None
            at = hi
        if not chain or at != top:
            return None
        if con.execute(f"SELECT count(*) FROM {SCHEMA}.instances").fetchone()[0] > 1:
            return None
        from .snapshot import merge_chain

        # each sorted by (metric_id, at), one row a key (see _upsert)
        return merge_chain([frame for _, _, frame in chain if frame is not None])

    def _upsert(self, con: Any, rows: pl.DataFrame, mode: str, first: int) -> int:
        """Store ``rows`` under this instance; how many were inserted or changed.

        Writers are serialised (the seq lock), so what is stored cannot change under us. Each metric
        of the batch is classed by two index probes at its first time here: *fresh* (no row of this
        instance at or after it), *colliding* (that very key is stored) or *maybe* (stored rows in its
        range, not at its first key). Fresh rows are ``COPY``-ed straight into ``readings`` (no staging,
        no conflict check: ~2.5x cheaper than ``INSERT ... ON CONFLICT``); maybe rows too, inside a
        savepoint, falling back to the upsert when a key turns out stored; colliding rows (a collector
        adding to its current bucket, a source re-read) are upserted from a staging table."""
        from psycopg import errors

        ids = self._ids(con, "metrics", rows["metric"].unique().to_list())
        keyed = rows.select(
            pl.col("metric").replace_strict(ids, return_dtype=pl.Int64).alias("metric_id"), "at", "value"
        ).sort("metric_id", "at")
        if mode == "replace":
            keyed = self._outside_compacted(con, keyed)
        if keyed.height == 0:
            return 0
        keyed = keyed.with_columns(pl.int_range(first, first + keyed.height, dtype=pl.Int64).alias("seq"))
        instance_id = self._my_instance(con)
        lows = keyed.group_by("metric_id", maintain_order=True).agg(pl.col("at").first())
        # one ordered index probe per metric (a subquery with LIMIT, so it is never planned as a join over the table)
        stored = {
            m: hit
            for m, hit in con.execute(
                f"SELECT b.m, (SELECT r.at = b.low FROM {SCHEMA}.readings r WHERE r.metric_id = b.m AND r.at >= b.low "
                "AND r.instance_id = %(i)s ORDER BY r.at LIMIT 1) FROM unnest(%(m)s::integer[], "
                "%(low)s::bigint[]) AS b(m, low)",
                {"m": _array(lows["metric_id"]), "low": _array(lows["at"]), "i": instance_id},
            ).fetchall()
            if hit is not None
        }
        fresh = keyed.filter(~pl.col("metric_id").is_in(list(stored)))
        maybe = keyed.filter(pl.col("metric_id").is_in([m for m, hit in stored.items() if not hit]))
        colliding = keyed.filter(pl.col("metric_id").is_in([m for m, hit in stored.items() if hit]))
        written = self._copy_in(con, fresh, instance_id)
        if maybe.height:
            try:
                with con.transaction():  # a savepoint
                    written += self._copy_in(con, maybe, instance_id)
            except errors.UniqueViolation:
                colliding = pl.concat([colliding, maybe]).sort("metric_id", "at")
        if colliding.height:
            written += self._stage_and_upsert(con, colliding, mode, instance_id)
        if mode == "replace" or colliding.height == 0:
            # what each key holds now: the value written, one reading (an added-to row is not known)
            self._stored = keyed.select(
                pl.col("metric_id").cast(pl.UInt32), "at", "value", pl.lit(1, pl.UInt32).alias("n")
            )
        return written

    @staticmethod
    def _copy_in(con: Any, rows: pl.DataFrame, instance_id: int) -> int:
        """``COPY`` rows none of whose keys are stored straight into ``readings``."""
        if rows.height == 0:
            return 0
        with con.cursor() as cur:
            with cur.copy(f"COPY {SCHEMA}.readings (metric_id, at, value, seq, instance_id) FROM STDIN") as copy:
                copy.write(_copy_text(rows.select("metric_id", "at", "value", "seq", pl.lit(instance_id))))
        return rows.height

    @staticmethod
    def _stage_and_upsert(con: Any, rows: pl.DataFrame, mode: str, instance_id: int) -> int:
        con.execute(
            "CREATE TEMP TABLE IF NOT EXISTS kpitui_incoming "
            "(metric_id integer, at bigint, value double precision, seq bigint) ON COMMIT DELETE ROWS"
        )
        with con.cursor() as cur:
            with cur.copy("COPY kpitui_incoming (metric_id, at, value, seq) FROM STDIN") as copy:
                copy.write(_copy_text(rows.select("metric_id", "at", "value", "seq")))
            cur.execute(
                f"INSERT INTO {SCHEMA}.readings AS r (metric_id, instance_id, at, value, seq) "
                f"SELECT metric_id, {int(instance_id)}, at, value, seq FROM kpitui_incoming" + _ON_CONFLICT[mode]
            )
            return max(int(cur.rowcount), 0)

    def _outside_compacted(self, con: Any, keyed: pl.DataFrame) -> pl.DataFrame:
        horizons = dict(con.execute(f"SELECT metric_id, before FROM {SCHEMA}.compacted").fetchall())
        kept, self.last_compacted = outside_compacted(keyed, horizons)
        return kept

    def compacted_before(self, metric: str) -> dt.datetime | None:
        with self._guard("read") as con:
            row = con.execute(
                f"SELECT c.before FROM {SCHEMA}.compacted c JOIN {SCHEMA}.metrics m ON m.id = c.metric_id "
                "WHERE m.name = %s",
                (metric,),
            ).fetchone()
        return None if row is None else from_micros(row[0])
