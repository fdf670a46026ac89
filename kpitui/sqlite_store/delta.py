"""Columnar delta parts: the rows written since the snapshot, as Arrow, kept by the writer.

A viewer's first load reads the columnar snapshot and then the rows written
since it (``seq > snapshot_seq``). Those come through Python's ``sqlite3`` row
by row (~2-4 µs a row: 0.3-0.6 s for the 150,000 rows a collector writes
between two snapshots), and a store fed by a collector nearly always has
them. So the writer keeps them columnar as well: once :data:`PART_ROWS` rows
were written since the last part (and the snapshot), a write reads them back
in its own transaction and stores them as one more part,
``delta_parts(through, after, generation, data)``: every row with
``after < seq <= through`` as it was at ``through`` (``metric_id, at, value,
n, seq``; Arrow IPC, lz4). ``meta.delta_seq`` is the highest ``through``.

:func:`fetch_since` (every load's rows since a sequence number) reads the
parts that chain from there to ``delta_seq`` plus the rows after it from the
table, and keeps each (metric, at)'s latest row (a row rewritten later is in
a later part or in the table). Parts are used only when they chain without a
gap and were made in the store's current generation: rows deleted or
compacted (which moves the generation on, see
:meth:`~kpitui.sqlite_store.base.SqliteBase._forget_snapshot`) drop them, and
a kpitui that does not know them and deletes rows leaves them unused. Parts
the snapshot covers are dropped when it is written again. The table stays
the source of truth; the parts only save time.

The writer stops keeping parts once :data:`MAX_ROWS` rows were written since
the snapshot (the next full load writes a new snapshot anyway): a bulk import
reads back at most that many rows.
"""

from __future__ import annotations

import io
import sqlite3

import polars as pl

from ..store_common import ID_FRAME_SCHEMA

#: rows written since the last part (or the snapshot) that make a new part
PART_ROWS = 10_000
#: rows written since the snapshot above which no more parts are made
MAX_ROWS = 200_000
_SCHEMA = {**ID_FRAME_SCHEMA, "seq": pl.Int64}
_TABLE = (
    "CREATE TABLE IF NOT EXISTS delta_parts "
    "(through INTEGER PRIMARY KEY, after INTEGER NOT NULL, generation INTEGER NOT NULL, data BLOB NOT NULL)"
)


def _meta(con: sqlite3.Connection, key: str) -> int:
    row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return 0 if row is None else int(row[0])


def delta_seq(con: sqlite3.Connection) -> int:
    """The highest sequence number the parts hold (0: none)."""
    return _meta(con, "delta_seq")


def keep(con: sqlite3.Connection, top: int) -> None:
    """In a write's transaction, after its rows (``top``: the sequence counter now): store the rows
    written since the last part as a new part when there are enough of them."""
    snapshot_seq = _meta(con, "snapshot_seq")
    if not snapshot_seq or top - snapshot_seq > MAX_ROWS:
        return
    generation = _meta(con, "generation")
    after = max(snapshot_seq, _meta(con, "delta_seq"))
    if top - after < PART_ROWS:
        return
    rows = con.execute("SELECT metric_id, at, value, n, seq FROM readings WHERE seq > ?", (after,)).fetchall()
    if not rows:
        return
    frame = pl.DataFrame(rows, schema=_SCHEMA, orient="row")
    data = frame.write_ipc(None, compression="lz4").getvalue()
    con.execute(_TABLE)
    con.execute(
        "INSERT OR REPLACE INTO delta_parts (through, after, generation, data) VALUES (?, ?, ?, ?)",
        (top, after, generation, data),
    )
    con.execute(
        "INSERT INTO meta (key, value) VALUES ('delta_seq', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (top,),
    )


def fetch_since(con: sqlite3.Connection, since: int) -> pl.DataFrame:
    """Every row written (or rewritten) after ``since``, its latest version (:data:`ID_FRAME_SCHEMA`, in
    no particular order): from the parts when they cover the way there, else from the table.

    The parts and the table's rows after them are one query (decoded, put together, sorted by ``seq``
    in one collect), not a decode per part: a viewer's first load beside the UI's start waited for the
    GIL after each of the 15 parts' two collects (150,000 rows since the snapshot)."""
    delta_seq = _meta(con, "delta_seq")
    parts = _parts(con, since, delta_seq) if delta_seq > since else None
    if parts is not None:
        rows = con.execute("SELECT metric_id, at, value, n, seq FROM readings WHERE seq > ?", (delta_seq,)).fetchall()
        table = pl.DataFrame(rows, schema=_SCHEMA, orient="row").lazy()
        try:
            query = pl.concat([*parts, table]).filter(pl.col("seq") > since).sort("seq")
            written = query.collect(engine="in-memory")  # a few hundred thousand rows: no streaming set-up
        except Exception:  # noqa: BLE001 - a damaged part, or one of another schema: the table, as below
            written = None
        if written is not None:
            # each row's latest version, its columns: one collect (the filter and the select eagerly were two, each
            # waiting for the GIL again beside the UI's start)
            return written.lazy().filter(_latest(written)).select(list(ID_FRAME_SCHEMA)).collect(engine="in-memory")
    rows = con.execute("SELECT metric_id, at, value, n FROM readings WHERE seq > ?", (since,)).fetchall()
    return pl.DataFrame(rows, schema=ID_FRAME_SCHEMA, orient="row")


def _latest(frame: pl.DataFrame) -> pl.Expr:
    """Whether a row of ``frame`` (in ``seq`` order) is the last of its (metric_id, at): distinct on one
    64-bit integer made of the two (the id above the time since the earliest row, which leaves 2**53
    µs, 285 years, below 1,024 metrics; 101 days below a million): half the CPU of the same on a
    struct of the two and less than half its memory (150,000 rows: 14-16 against 27-33 ms, 16
    against 38 MB); that struct where they do not fit (2-3x unique(keep="last"))."""
    if frame.height:
        lo, hi, low_id, top = frame.select(
            lo=pl.col("at").min(),
            hi=pl.col("at").max(),
            low_id=pl.col("metric_id").min(),
            top=pl.col("metric_id").max(),
        ).row(0)
        earliest, shift = int(lo), 63 - max(1, int(top).bit_length())
        if low_id >= 0 and int(hi) - earliest < 1 << shift:
            key: pl.Expr = pl.col("metric_id").cast(pl.Int64) * (1 << shift) + (pl.col("at") - earliest)
            return key.is_last_distinct()
    return pl.struct("metric_id", "at").is_last_distinct()


def _parts(con: sqlite3.Connection, since: int, delta_seq: int) -> list[pl.LazyFrame] | None:
    """The parts from the one holding ``since + 1`` to ``delta_seq``, to decode; ``None`` when they do
    not chain that far (a gap, another generation). A part that cannot be decoded, or whose columns are
    not the parts' own (names, order and types: polars concatenates only frames of one schema, and the
    table's rows come in the parts' schema), fails :func:`fetch_since`'s query: the rows come from the table."""
    generation = _meta(con, "generation")
    try:
        found = con.execute(
            "SELECT through, after, generation, data FROM delta_parts WHERE through > ? ORDER BY through", (since,)
        ).fetchall()
    except sqlite3.OperationalError:  # no such table
        return None
    if not found or found[0][1] > since or found[-1][0] != delta_seq:
        return None
    previous = found[0][1]
    frames = []
    for through, after, made_in, data in found:
        if after != previous or made_in != generation:
            return None
        previous = through
        try:
            frames.append(pl.scan_ipc(io.BytesIO(data)))
        except Exception:  # noqa: BLE001 - a damaged part only costs time
            return None
    return frames


def forget(con: sqlite3.Connection) -> None:
    """Rows were deleted or compacted: drop every part."""
    if _meta(con, "delta_seq"):
        con.execute("DELETE FROM delta_parts")
        con.execute("UPDATE meta SET value = 0 WHERE key = 'delta_seq'")


def covered(con: sqlite3.Connection, seq: int) -> None:
    """A snapshot as of ``seq`` was written: drop the parts it holds."""
    if _meta(con, "delta_seq"):
        con.execute("DELETE FROM delta_parts WHERE through <= ?", (seq,))
