"""The columnar snapshot cache of the SQLite history.

``snapshot_parts(part, data)`` holds a compressed columnar copy (Arrow IPC,
zstd: :func:`~kpitui.store_common.snapshot_blobs`) of every reading as of
``meta.snapshot_seq``. Python's ``sqlite3`` costs about 0.6 s per million rows
to fetch, so a full load reads this copy (about 0.1 s per ten million rows)
plus the rows with ``seq > snapshot_seq`` and merges them. A full load that
had to fetch many rows from the table refreshes the copy; it is dropped
whenever rows are deleted (``_forget_snapshot``). Readings stay the source of
truth.
"""

from __future__ import annotations

import sqlite3

import polars as pl

from ..store_common import decode_snapshot, snapshot_blobs
from .base import SqliteBase


class SnapshotCache(SqliteBase):
    """Reading and writing the columnar snapshot (a part of :class:`~kpitui.store.Store`)."""

    def _read_snapshot(self) -> pl.DataFrame | None:
        """The columnar snapshot, or ``None`` if it cannot be decoded (the table is read instead)."""
        blobs = self._conn.execute("SELECT data FROM snapshot_parts ORDER BY part")
        try:
            return decode_snapshot(data for (data,) in blobs)
        finally:
            blobs.close()

    def _write_snapshot(self, frame: pl.DataFrame, seq: int, generation: int) -> None:
        """Store ``frame`` (every reading as of ``seq``) as the columnar snapshot; skip when busy."""
        parts = snapshot_blobs(frame)
        with self._lock:
            try:
                # A viewer must not wait behind a long collector write for an optimisation.
                with self._short_busy_timeout() as con, self._transaction():
                    if self._meta("generation") != generation or self._meta("snapshot_seq") >= seq:
                        return  # rows were deleted since, or someone stored a newer snapshot
                    con.execute("DELETE FROM snapshot_parts")
                    con.executemany("INSERT INTO snapshot_parts (part, data) VALUES (?, ?)", enumerate(parts))
                    self._set_meta("snapshot_seq", seq)
            except sqlite3.Error:
                pass  # busy or out of space: the next full load tries again
