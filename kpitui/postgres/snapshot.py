"""The columnar snapshot that makes a viewer's full load of a PostgreSQL history fast.

``snapshot_parts(part, data)``: every reading summed over instances as of ``meta.snapshot_seq``,
in parts (:func:`~kpitui.store_common.snapshot_blobs`), fetched as ``bytea`` in binary. A
snapshot taken before rows were deleted or compacted (``meta.snapshot_generation``) is ignored;
only parts below ``meta.snapshot_parts`` are current, so a collector replaces parts with
INSERT/UPDATE and needs no DELETE. Writers keep it fresh: a write that leaves more than
``max(snapshot_rows, rows in the snapshot / 8)`` sequence numbers since it refreshes it, as
does a writer's full load that had to fetch ``snapshot_rows`` rows from the table.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from ..store_common import StoreError, decode_snapshot, merge_grouped, snapshot_blobs
from .connection import PostgresBase
from .schema import SCHEMA


def merge_snapshot(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """``old`` (the snapshot) with ``new``'s rows written over it, sorted by (metric_id, at).

    :func:`~kpitui.store_common.merge_grouped` merges metric by metric (cheap when ``new`` touches
    few metrics); when it touches many (a bulk write in no time order), one sort of both is cheaper."""
    if new.height == 0 or new["metric_id"].n_unique() <= 64:
        return merge_grouped(old, new)
    new = new.select(pl.col(c).cast(t) for c, t in old.schema.items())
    both = pl.concat(
        [old.with_columns(pl.lit(0, pl.Int8).alias("src")), new.with_columns(pl.lit(1, pl.Int8).alias("src"))]
    ).sort("metric_id", "at", "src")
    same_as_next = (pl.col("metric_id") == pl.col("metric_id").shift(-1)) & (pl.col("at") == pl.col("at").shift(-1))
    return both.filter(~same_as_next.fill_null(False)).drop("src")


class Snapshot(PostgresBase):
    """Reading, writing and refreshing the snapshot (mixed into :class:`~kpitui.postgres.PostgresStore`)."""

    def _read_snapshot(self, con: Any, meta: dict[str, int]) -> pl.DataFrame | None:
        """The columnar snapshot if it is current and readable, else ``None`` (the table is read instead)."""
        from psycopg import errors

        if (
            self.instance_filter is not None
            or not meta["snapshot_seq"]
            or meta["snapshot_generation"] != meta["generation"]
        ):
            return None
        try:
            with con.transaction():  # a savepoint: a role without SELECT on a newer table only costs speed
                with con.cursor(binary=True) as cur:
                    blobs = cur.execute(
                        f"SELECT data FROM {SCHEMA}.snapshot_parts WHERE part < %s ORDER BY part",
                        (meta["snapshot_parts"],),
                    ).fetchall()
        except errors.InsufficientPrivilege:
            return None
        if len(blobs) != meta["snapshot_parts"]:
            return None
        return decode_snapshot(data for (data,) in blobs)

    def _write_snapshot(self, frame: pl.DataFrame, seq: int, generation: int) -> None:
        """Store ``frame`` (every reading, summed over instances, as of ``seq``) as the snapshot.

        An optimisation only: skipped when rows were deleted since, a newer snapshot is
        stored, another writer is storing one, or the role may not (errors are dropped)."""
        if self.instance_filter is not None:
            return
        if not frame[
            "metric_id"
        ].is_sorted():  # grouped by metric, as viewers index it (see store_common.merge_grouped)
            frame = frame.sort("metric_id", "at")
        parts = snapshot_blobs(frame)
        try:
            with self._guard("store the snapshot in") as con:
                with con.transaction():
                    con.execute("SET LOCAL lock_timeout = '250ms'")  # never wait long for an optimisation
                    locked = dict(
                        con.execute(
                            f"SELECT key, value FROM {SCHEMA}.meta WHERE key IN ('generation', 'snapshot_seq') "
                            "FOR UPDATE"
                        ).fetchall()
                    )
                    if locked.get("generation") != generation or locked.get("snapshot_seq", 0) >= seq:
                        return
                    with con.cursor() as cur:
                        cur.executemany(
                            f"INSERT INTO {SCHEMA}.snapshot_parts (part, data) VALUES (%s, %b) "
                            "ON CONFLICT (part) DO UPDATE SET data = excluded.data",
                            list(enumerate(parts)),
                        )
                        cur.executemany(
                            f"UPDATE {SCHEMA}.meta SET value = %s WHERE key = %s",
                            [
                                (seq, "snapshot_seq"),
                                (len(parts), "snapshot_parts"),
                                (frame.height, "snapshot_rows"),
                                (generation, "snapshot_generation"),
                            ],
                        )
        except StoreError:
            pass  # busy, not allowed, or the connection dropped: the next trigger tries again

    def _refresh_snapshot(self) -> None:
        try:
            self._load(0, None, 0)
        except StoreError:
            pass

    def snapshot(self) -> None:
        """Refresh the columnar snapshot now (for example after a bulk import)."""
        self._writable()
        self._load(0, None, 0)
