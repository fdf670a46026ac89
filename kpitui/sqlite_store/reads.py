"""Loads from the SQLite history: everything (through the snapshot cache) or what was written
since a sequence number, keyed by metric id or by name."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

import polars as pl

from .. import heap
from ..store_common import (
    ID_FRAME_SCHEMA,
    ROWS_SCHEMA,
    merge_grouped,
    merged_parts,
    named_frame,
    named_rows,
    replace_rows,
)
from . import delta
from .snapshot import SnapshotCache

#: rows of a full scan of ``readings`` turned into Python objects at a time (bounds a full load's memory)
_SCAN_ROWS = 100_000


def _names(con: sqlite3.Connection) -> dict[int, str]:
    """Each metric's id and name, in one row: SQLite's JSON array of them, one step of the statement.

    Fetched row by row, 1,000 metrics were 1,000 steps, each letting the GIL go: a 10M start's preload
    waited for it back after each while the UI's imports ran beside it (30-50 ms for ~1 ms of CPU).
    Without SQLite's JSON functions (or a name it cannot give as text), row by row as before."""
    try:
        (text,) = con.execute("SELECT json_group_array(json_array(id, name)) FROM metrics").fetchone()
        pairs = json.loads(text)
        if all(type(i) is int and type(name) is str for i, name in pairs):
            return dict(pairs)
    except (sqlite3.Error, ValueError, TypeError):
        pass
    return dict(con.execute("SELECT id, name FROM metrics").fetchall())


class Reads(SnapshotCache):
    """Loading readings (a part of :class:`~kpitui.store.Store`)."""

    _named = staticmethod(named_frame)
    #: metric id -> name, as last read by an incremental load (replaced, never changed in place)
    _names_seen: dict[int, str] = {}
    #: the store's generation when :attr:`_names_seen` was read: a deleted metric's id can be given again
    _names_generation = -1

    def load(self, since: int = 0, *, metrics: Iterable[str] | None = None) -> tuple[pl.DataFrame, int]:
        """Readings written (or rewritten) after sequence number ``since``, and the highest one seen.

        The frame has exactly :data:`~kpitui.store_common.LOADED_SCHEMA` (``metric, at, value``
        and ``n``, how many raw readings the row stands for: 1 unless
        :mod:`kpitui.retention` down-sampled it), in no particular order. Pass the returned number
        as ``since`` next time and combine the frames with :meth:`merge`. When nothing is new the
        frame is empty and ``since`` comes back. After rows were deleted (:meth:`generation`
        changed) an incremental reader should load from 0.
        """
        return self._load(since, None if metrics is None else set(metrics), self.snapshot_rows)

    def load_rows(self, since: int = 0) -> tuple[pl.DataFrame, int]:
        """:meth:`load` of every metric with ``at`` in µs since the epoch (``Int64``,
        :data:`~kpitui.store_common.ROWS_SCHEMA`): the rows :meth:`kpitui.pipeline.View.write` takes,
        for :meth:`kpitui.history.History.refresh` (no datetime column made, then turned back to µs)."""
        if since > 0 and not self._parts_since(since):
            columns, names, top, staged = self._read_since(since)
            if staged is None:  # the rows straight from SQLite's columns, each id named in Python
                metric, at, value, n = columns
                named = [names.get(i) for i in metric]
                if None not in named:
                    return pl.DataFrame({"metric": named, "at": at, "value": value, "n": n}, schema=ROWS_SCHEMA), top
                staged = pl.DataFrame(dict(zip(ID_FRAME_SCHEMA, columns)), schema=ID_FRAME_SCHEMA)
            return named_rows(staged, names), top  # an unknown id: replace_strict's error, as load's
        frame, names, seq = self._load_ids(since, None, self.snapshot_rows)
        return named_rows(frame, names), seq

    def load_ids(self) -> tuple[pl.DataFrame, dict[int, str], int]:
        """Every reading keyed by metric id (``metric_id, at`` in µs, ``value, n``), sorted by
        (metric_id, at), with each id's metric and the highest sequence number: :meth:`load` from 0
        without turning ids into a string per row (for :class:`~kpitui.history.History`)."""
        return self._load_ids(0, None, self.snapshot_rows)

    def load_id_parts(self) -> tuple[Iterator[pl.DataFrame], dict[int, str], int] | None:
        """:meth:`load_ids` as parts to index one at a time (the snapshot's, decoded as they are
        asked for, the rows written since merged into them), so that the whole frame is never
        held; ``None`` when :meth:`load_ids` should load instead (no snapshot, or enough rows since
        it that this load refreshes it). Only the compressed parts are read under the lock."""
        with self._guard("read") as con:
            with self._transaction("DEFERRED"):  # one consistent view for every query below
                snapshot_seq = self._meta("snapshot_seq")
                if not snapshot_seq:
                    return None
                top = max(con.execute("SELECT max(seq) FROM readings").fetchone()[0] or 0, self._staged_top())
                names = _names(con)
                newer = self._fetch_since(snapshot_seq)
                if self.snapshot_rows is not None and newer.height >= self.snapshot_rows and not self.readonly:
                    return None
                blobs = [bytes(data) for (data,) in con.execute("SELECT data FROM snapshot_parts ORDER BY part")]
            con.execute("PRAGMA shrink_memory")  # see _load_ids
        heap.trim()  # SQLite's buffer of each blob, freed: see kpitui.heap
        return merged_parts(blobs, newer), names, top

    def _load(self, since: int, wanted: set[str] | None, snapshot_rows: int | None) -> tuple[pl.DataFrame, int]:
        if since > 0 and wanted is None and not self._parts_since(since):
            frame, names, seq = self._load_since(since)
        else:
            frame, names, seq = self._load_ids(since, wanted, snapshot_rows)
        return named_frame(frame, names), seq

    def _parts_since(self, since: int) -> bool:
        """Whether the writer's columnar delta parts hold rows written after ``since`` (then a load
        reads them, :func:`~kpitui.sqlite_store.delta.fetch_since`, rather than every row from the table)."""
        with self._guard("read") as con:
            return delta.delta_seq(con) > since

    def _load_since(self, since: int) -> tuple[pl.DataFrame, dict[int, str], int]:
        """An incremental load (``since`` > 0, every metric): :meth:`_read_since` as an id frame."""
        columns, names, top, staged = self._read_since(since)
        if staged is None:
            staged = pl.DataFrame(dict(zip(ID_FRAME_SCHEMA, columns)), schema=ID_FRAME_SCHEMA)
        return staged, names, top

    def _read_since(self, since: int) -> tuple[list[tuple[Any, ...]], dict[int, str], int, pl.DataFrame | None]:
        """An incremental load (``since`` > 0, every metric): the rows and their highest sequence
        number in one statement (no ``max(seq)`` of its own), with the staged readings over them in
        the same read transaction, the metric names from what this store remembers, asked again
        for an id it has not seen or after rows were deleted (:meth:`delete_metric` moves the
        generation on, and the next new metric may then take the deleted one's id).

        Returns the rows' columns (``metric_id, at, value, n``, as Python tuples), the names, the
        highest sequence number and, when readings are staged, the id frame with them over the rows
        (``None``: none staged, the columns are every row)."""
        with self._guard("read") as con:
            with self._transaction("DEFERRED"):  # the rows and the staged ones, together
                rows = con.execute(
                    "SELECT metric_id, at, value, n, seq FROM readings WHERE seq > ?", (since,)
                ).fetchall()
                # by column (Python's transpose, then one column each): a frame by row, then dropping
                # seq, took 2-3x the CPU (0.42 -> 0.16 ms for 1,000 rows, best of 200)
                columns: list[tuple[Any, ...]] = list(zip(*rows)) if rows else [()] * 5
                top: int = max(since, max(columns[4], default=since))
                staged = None
                if self._staged():
                    frame = pl.DataFrame(dict(zip(ID_FRAME_SCHEMA, columns)), schema=ID_FRAME_SCHEMA)
                    staged = self._with_staged(frame, since)
                    top = max(top, self._staged_top())
                generation = self._meta("generation")
            names = self._names_seen
            ids = set(columns[0]) if staged is None else set(staged["metric_id"].to_list())
            if ids and (generation != self._names_generation or not ids <= names.keys()):
                names = self._names_seen = _names(con)
                self._names_generation = generation
        return columns[:4], names, top, staged

    def _load_ids(
        self, since: int, wanted: set[str] | None, snapshot_rows: int | None
    ) -> tuple[pl.DataFrame, dict[int, str], int]:
        with self._guard("read") as con:
            with self._transaction("DEFERRED"):  # one consistent view for every query below
                top = max(con.execute("SELECT max(seq) FROM readings").fetchone()[0] or 0, self._staged_top())
                names = _names(con)
                ids = sorted(names if wanted is None else (i for i, n in names.items() if n in wanted))
                generation = self._meta("generation")
                snapshot_seq = self._meta("snapshot_seq")
                snapshot = self._read_snapshot() if since <= 0 and snapshot_seq else None
                if since > 0:
                    frame = self._fetch_since(since)
                    fetched = frame.height
                elif snapshot is not None:
                    newer = self._fetch_since(snapshot_seq)
                    fetched = newer.height
                    frame = merge_grouped(snapshot, newer)
                else:
                    frame = self._fetch_metrics(ids, every=wanted is None)
                    fetched = frame.height
            if since <= 0:
                # A full load fills the connection's page cache (up to 64 MiB) with pages read once
                # (the snapshot's): give it back, or it stays resident beside the index for good.
                con.execute("PRAGMA shrink_memory")
        if wanted is not None:
            frame = frame.filter(pl.col("metric_id").is_in(ids))
        elif since <= 0 and snapshot_rows is not None and fetched >= snapshot_rows and not self.readonly:
            self._write_snapshot(frame, top, generation)
        return frame, names, max(since, top)

    def _fetch_since(self, since: int) -> pl.DataFrame:
        # from the writer's columnar parts where it can, the staged readings over them
        return self._with_staged(delta.fetch_since(self._conn, since), since)

    def _fetch_metrics(self, ids: list[int], *, every: bool = False) -> pl.DataFrame:
        return self._with_staged(self._fetch_table(ids, every=every), 0, ids, grouped=True)

    def _fetch_table(self, ids: list[int], *, every: bool = False) -> pl.DataFrame:
        """The rows of ``ids`` from ``readings``, sorted by (metric_id, at); ``every``: ``ids`` is every metric."""
        con = self._conn
        parts = []
        if every:
            # The table in its own (seq) order, a chunk at a time, sorted here: through the (metric_id, at)
            # index each row would be a lookup of its own in the table (~3x the CPU for 10M rows).
            query = con.execute("SELECT metric_id, at, value FROM readings")
            schema = {"metric_id": pl.Int64, "at": pl.Int64, "value": pl.Float64}
            while rows := query.fetchmany(_SCAN_ROWS):
                parts.append(pl.DataFrame(rows, schema=schema, orient="row"))
            if parts:
                parts = [pl.concat(parts).sort("metric_id", "at")]
        else:
            # One (metric_id, at) index range per metric and two columns per row.
            for metric_id in ids:
                rows = con.execute("SELECT at, value FROM readings WHERE metric_id = ?", (metric_id,)).fetchall()
                if rows:
                    part = pl.DataFrame(rows, schema={"at": pl.Int64, "value": pl.Float64}, orient="row")
                    parts.append(part.select(pl.lit(metric_id, pl.Int64).alias("metric_id"), "at", "value"))
        if not parts:
            return pl.DataFrame(schema=ID_FRAME_SCHEMA)
        # n only where it is not 1 (down-sampled rows), through the partial index readings_compacted
        compacted = pl.DataFrame(
            con.execute("SELECT metric_id, at, n FROM readings WHERE n <> 1").fetchall(),
            schema={"metric_id": pl.Int64, "at": pl.Int64, "n": pl.Int64},
            orient="row",
        )
        frame = pl.concat(parts)
        if compacted.height == 0:
            return frame.with_columns(pl.lit(1, pl.Int64).alias("n"))
        return frame.join(compacted, on=["metric_id", "at"], how="left", maintain_order="left").with_columns(
            pl.col("n").fill_null(1)
        )

    def snapshot(self) -> None:
        """Refresh the columnar snapshot now (for example after a bulk import)."""
        self._writable()
        self._load(0, None, 0)

    @staticmethod
    def merge(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
        """``old`` brought up to date with an incremental load ``new``.

        Rows of ``new`` replace rows of ``old`` with the same (metric, at).
        """
        return replace_rows(old, new, "metric")

    def metric_names(self) -> list[str]:
        """Every metric name with stored readings, sorted."""
        with self._guard("read") as con:
            return [r[0] for r in con.execute("SELECT name FROM metrics ORDER BY name")]

    def generation(self) -> int:
        """A number that changes whenever readings are deleted (incremental readers then reload from 0)."""
        with self._guard("read"):
            return self._meta("generation")
