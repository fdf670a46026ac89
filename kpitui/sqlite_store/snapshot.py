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
from . import delta
from .staging import Staging


class SnapshotCache(Staging):
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
                    delta.covered(con, seq)
            except sqlite3.Error:
                pass  # busy or out of space: the next full load tries again

    # -- the viewer's index cache (kpitui.index_cache) ----------------------------------------------

    def index_stamp(self) -> tuple[int, int | None, int]:
        """What a viewer's index cache beside this file must match: the generation, the token of the
        cache last claimed for this file (``None``: none) and the highest sequence number, read together."""
        with self._guard("read") as con:
            with self._transaction("DEFERRED"):
                generation = self._meta("generation")
                row = con.execute("SELECT value FROM meta WHERE key = 'index_cache'").fetchone()
                top = max(con.execute("SELECT max(seq) FROM readings").fetchone()[0] or 0, self._staged_top())
        return generation, None if row is None else int(row[0]), top

    def rows_since(self, seq: int) -> int:
        """How many rows were written (or rewritten) after sequence number ``seq``."""
        with self._guard("read") as con:
            with self._transaction("DEFERRED"):
                table = int(con.execute("SELECT count(*) FROM readings WHERE seq > ?", (seq,)).fetchone()[0])
                staged = [s for _, s in self._staged().values() if s > seq]
        return table + len(staged)  # a staged row over a table row counted twice: an estimate either way

    def claim_index(self, token: int, generation: int) -> bool:
        """Name ``token`` the index cache of this file, if rows were not deleted since ``generation``;
        ``False`` when it cannot be (read-only, busy: not worth waiting behind a long write for)."""
        if self.readonly or self.damaged is not None:
            return False
        with self._lock:
            try:
                with self._short_busy_timeout() as con, self._transaction():
                    if self._meta("generation") != generation:
                        return False
                    con.execute(
                        "INSERT INTO meta (key, value) VALUES ('index_cache', ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (token,),
                    )
            except sqlite3.Error:
                return False
        return True
