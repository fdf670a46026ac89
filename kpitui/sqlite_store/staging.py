"""A collector's small polls staged in the ``meta`` page, folded into ``readings`` now and then.

Why (issue 18 item 4): at a collector's real intervals the kernel writes a dirty page back about
30 s after it went dirty, so what a poll costs a disk is the number of distinct 4 KiB pages it
dirties, not its bytes. A demo poll of the sample that upserts its 2-3 readings changes 5 pages
of the file (a leaf of ``readings`` per metric, the ``readings_seq`` leaf, the ``meta`` page): 5
WAL frames, 2-3 WAL file pages, the ``-shm`` wal-index header and 3-4 of its 4 hash pages (a
frame's hash slot is at a place set by its page number), ~7 pages. Staged, the same poll changes
the ``meta`` page only (its rows hold the seq counter, cursors and health already): 1 frame, ~3.3
pages. Readings written by a poll of a few rows (:data:`STAGE_ROWS`) are therefore kept, already
resolved (``replace``: the new value; ``add``: the stored value plus the new one), as packed rows
``staged:<k>`` of ``meta`` (column ``staged``, schema 6) with the seq number each took, in the
same transaction as the source's cursor and health. When the staged rows would outgrow what
fits beside the other ``meta`` rows in one page (:meth:`Staging._stage_limit`), every staged row
is folded into ``readings`` with its own seq number (one bigger commit about once an hour for the
sample), and every other write transaction folds them first (``_transaction``), so compaction,
manual readings, deletes and bulk writes see one table.

Readers merge the staged rows over ``readings`` (:meth:`Staging._staged_frame`): a staged row is
newer than the ``readings`` row with its (metric, at), and carries its seq number, so an
incremental reader sees it right after the poll commits, and once (after the fold the row keeps
that seq). Closing the store folds what is staged, so a history no writer holds open keeps every
reading in ``readings``. A kill at any moment leaves either the poll (readings, cursor and health) staged or not
at all, and a fold done or not at all: nothing lost, nothing counted twice.
"""

from __future__ import annotations

import sqlite3
import struct

import polars as pl

from ..store_common import ID_FRAME_SCHEMA, merge_grouped
from .base import SqliteBase

#: a poll of at most this many rows is staged; a bigger write goes to ``readings`` (folding first)
STAGE_ROWS = 16
#: one staged reading: metric id, at (µs), value, seq
_ROW = struct.Struct("<qqdq")
#: staged readings a ``meta`` row holds (its payload stays on its page: a 1 KiB page keeps ~230 bytes of a row)
_PER_ROW = 5
_KEY = "staged:"
_UPSERT = (
    "INSERT INTO readings (metric_id, at, value, seq) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (metric_id, at) DO UPDATE SET value = excluded.value, seq = excluded.seq, n = 1 "
    "WHERE readings.value IS NOT excluded.value OR readings.n <> 1 OR readings.seq <> excluded.seq"
)

Staged = dict[tuple[int, int], tuple[float, int]]


class Staging(SqliteBase):
    """Staged poll readings in ``meta`` (a part of :class:`~kpitui.store.Store`; see the module docstring)."""

    def _staging(self) -> bool:
        """Whether the file has the ``staged`` column (schema 6; a read-only opener of an older file has not)."""
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0]) >= 6

    def close(self) -> None:
        """Close the file, folding any staged readings into ``readings`` first: a history no writer
        holds open keeps every reading in that one table (what SQL run on the file by hand, a
        backup script or another tool reads). Only a collector still running holds a few staged."""
        with self._lock:
            if self._con is not None and not self.readonly and self.damaged is None:
                try:
                    if self._staged():
                        with self._transaction():  # a write transaction folds them first
                            pass
                except sqlite3.Error:
                    pass  # busy or failing: they stay staged, readers merge them, the next writer folds them
            super().close()

    def _staged(self) -> Staged:
        """The staged readings: (metric id, at) -> (value, seq)."""
        if not self._staging():
            return {}
        staged: Staged = {}
        for (blob,) in self._conn.execute(
            "SELECT staged FROM meta WHERE key GLOB 'staged:*' AND staged IS NOT NULL ORDER BY key"
        ):
            for metric_id, at, value, seq in _ROW.iter_unpack(blob):
                staged[(metric_id, at)] = (value, seq)
        return staged

    def _save_staged(self, staged: Staged) -> None:
        """Replace the staged rows with ``staged`` (inside a write transaction)."""
        con = self._conn
        packed = [_ROW.pack(m, a, v, s) for (m, a), (v, s) in sorted(staged.items(), key=lambda kv: kv[1][1])]
        chunks = [b"".join(packed[i : i + _PER_ROW]) for i in range(0, len(packed), _PER_ROW)]
        old = [key for (key,) in con.execute("SELECT key FROM meta WHERE key GLOB 'staged:*'")]
        for k, chunk in enumerate(chunks):
            con.execute(
                "INSERT INTO meta (key, value, staged) VALUES (?, 0, ?) "
                "ON CONFLICT (key) DO UPDATE SET staged = excluded.staged WHERE meta.staged IS NOT excluded.staged",
                (f"{_KEY}{k}", chunk),
            )
        gone = [key for key in old if key not in {f"{_KEY}{k}" for k in range(len(chunks))}]
        con.executemany("DELETE FROM meta WHERE key = ?", ((key,) for key in gone))

    def _stage_limit(self) -> int:
        """How many readings may be staged: what fits beside the other ``meta`` rows on one page (their
        keys, cursors and errors, and ~48 bytes a row for the numbers and the cell; 36 a staged reading)."""
        con = self._conn
        page = int(con.execute("PRAGMA page_size").fetchone()[0])
        others = con.execute(
            "SELECT coalesce(sum(length(key) + coalesce(length(cursor), 0) + coalesce(length(error), 0) + 48), 0) "
            "FROM meta WHERE key NOT GLOB 'staged:*'"
        ).fetchone()[0]
        return max(0, min(64, (page - 64 - int(others)) // 36))

    def _fold_staged(self) -> None:
        """Move every staged reading into ``readings`` with its own seq number (inside a write transaction)."""
        if not self._staging():
            return
        staged = self._staged()
        if staged:
            self._conn.executemany(_UPSERT, ((m, a, v, s) for (m, a), (v, s) in staged.items()))
            self._save_staged({})

    def _stage(self, keyed: pl.DataFrame, mode: str) -> int | None:
        """Stage ``keyed`` (metric_id, at, value: a poll's rows), resolved against what is stored;
        returns how many rows changed, or ``None`` when they cannot be staged (they are then
        written to ``readings`` by the caller, after a fold)."""
        con = self._conn
        staged = self._staged()
        rows = list(zip(keyed["metric_id"].to_list(), keyed["at"].to_list(), keyed["value"].to_list()))
        current: dict[tuple[int, int], float] = {}
        for metric_id, at, _ in rows:
            key = (metric_id, at)
            if key in staged:
                current[key] = staged[key][0]
                continue
            found = con.execute(
                "SELECT value, n FROM readings WHERE metric_id = ? AND at = ?", (metric_id, at)
            ).fetchone()
            if found is not None:
                if found[1] != 1:
                    return None  # a down-sampled row: the plain upsert keeps its n
                current[key] = found[0]
        seq = self._meta("seq")
        written = 0
        for metric_id, at, value in rows:
            key = (metric_id, at)
            old = current.get(key)
            if mode == "add" and old is not None:
                if value == 0:
                    continue
                value = old + value
            elif old is not None and old == value:
                continue  # unchanged: it keeps its seq, viewers do not reload it
            seq += 1
            staged[key] = (value, seq)
            written += 1
        if len(staged) > self._stage_limit():
            return None
        if written:
            self._save_staged(staged)
            self._set_meta("seq", seq)
        return written

    def _staged_frame(
        self, since: int = 0, ids: list[int] | None = None, staged: Staged | None = None
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The staged readings with seq above ``since`` (of ``ids`` only, when given) as an id frame,
        and the keys of every staged reading (``metric_id, at``): rows of ``readings`` to leave out.
        ``staged``: :meth:`_staged`, when already read."""
        staged = self._staged() if staged is None else staged
        keys = pl.DataFrame(
            list(staged), schema={"metric_id": ID_FRAME_SCHEMA["metric_id"], "at": pl.Int64}, orient="row"
        )
        wanted = None if ids is None else set(ids)
        rows = [(m, a, v, 1) for (m, a), (v, s) in staged.items() if s > since and (wanted is None or m in wanted)]
        return pl.DataFrame(rows, schema=ID_FRAME_SCHEMA, orient="row"), keys

    def _with_staged(
        self, frame: pl.DataFrame, since: int = 0, ids: list[int] | None = None, *, grouped: bool = False
    ) -> pl.DataFrame:
        """``frame`` (an id frame read from ``readings``: the rows with seq above ``since``) with the
        staged readings over it; ``grouped``: ``frame`` is every row, sorted by (metric_id, at), and
        stays so (:func:`~kpitui.store_common.merge_grouped`, no pass over the whole frame)."""
        staged = self._staged()
        if not staged:  # none staged (or no staging in this file): no frames to build
            return frame
        newer, keys = self._staged_frame(since, ids, staged)
        if grouped:
            return merge_grouped(frame, newer)
        kept = frame.join(keys.cast({"metric_id": frame.schema["metric_id"]}), on=["metric_id", "at"], how="anti")
        return pl.concat([kept, newer.select(kept.columns).cast(kept.schema)]) if newer.height else kept

    def _staged_top(self) -> int:
        """The highest seq number among the staged readings (0: none)."""
        return max((s for _, s in self._staged().values()), default=0)
