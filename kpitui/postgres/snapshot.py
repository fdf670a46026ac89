"""The columnar snapshot that makes a viewer's full load of a PostgreSQL history fast.

``snapshot_parts``: every reading summed over instances as of ``meta.snapshot_seq``, fetched as
``bytea`` in binary. A snapshot taken before rows were deleted or compacted
(``meta.snapshot_generation``) is ignored.

- **Parts** ``0 .. meta.snapshot_parts - 1`` (Arrow IPC, lz4; older zstd parts read too) split the
  readings by (metric_id, at) into consecutive ranges, each ending at its ``last_id, last_at``
  (the last part open-ended). Each holds every reading of its range through its own sequence
  number ``through``.
- **Delta parts** (numbered below 0): the rows written in ``lo < seq <= through`` (summed, sorted),
  a chain from the oldest part's ``through`` to ``meta.snapshot_seq``. One whose ``through`` every
  part has reached is stale; its slot is reused (a collector needs INSERT/UPDATE, no DELETE).

A load decodes the parts one at a time, each with the delta rows and the rows since above its
``through`` written over it (:func:`~kpitui.store_common.merged_parts`). Writers keep it fresh
without rewriting it: a write that leaves more than ``snapshot_rows`` sequence numbers since it
adds those rows as a delta part and brings the parts furthest behind up to date, about
:data:`CATCH_UP` times the delta's rows (at least one part, never all of them at once). Only with
no current snapshot (the first, or after a delete or compaction) is it written whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl

from ..store_common import ID_FRAME_SCHEMA, SNAPSHOT_PART_ROWS, StoreError, decode_snapshot, merge_grouped, merged_parts
from .connection import PostgresBase
from .schema import SCHEMA

#: rows of parts brought up to date per row of a new delta part (bounds the delta rows a load merges
#: to about 1/CATCH_UP of the history, and a refresh's work to CATCH_UP + 1 rows per row written)
CATCH_UP = 4
_PARTS = f"{SCHEMA}.snapshot_parts"
#: a snapshot part (number, data, the seq it holds rows through, rows, its last key) written or rewritten whole
_STORE_PART = (
    f"INSERT INTO {_PARTS} (part, data, through, lo, rows, last_id, last_at) "
    "VALUES (%s, %b, %s, 0, %s, %s, %s) ON CONFLICT (part) DO UPDATE SET data = excluded.data, "
    "through = excluded.through, lo = 0, rows = excluded.rows, last_id = excluded.last_id, "
    "last_at = excluded.last_at"
)
#: added to part numbers while parts are renumbered (more than there are ever parts)
_AWAY = 1_000_000_000


def merge_snapshot(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """``old`` with ``new``'s rows written over it, both sorted by (metric_id, at) with one row a
    key (a part and the rows for it, or two delta parts), sorted so.

    :func:`~kpitui.store_common.merge_grouped` merges metric by metric (cheap when ``new`` touches
    few metrics); when it touches many (a bulk write in no time order), the two are merged in one
    pass on one key ordered as (metric_id, at) (measured: 2.3x faster than one sort of both, 1M + 300k
    rows): 64-bit when the ids and the time span fit in it together, else 128-bit (about 1.6x slower)."""
    if new.height == 0 or new["metric_id"].n_unique() <= 64:
        return merge_grouped(old, new)
    new = new.select(pl.col(c).cast(t) for c, t in old.schema.items())
    if old.height == 0:
        return new
    low, high = _bounds(old["at"], new["at"])
    id_low, id_high = _bounds(old["metric_id"], new["metric_id"])
    shift = (high - low).bit_length()
    if id_low >= 0 and id_high.bit_length() + shift <= 62:
        key = pl.col("metric_id").cast(pl.Int64) * (1 << shift) + (pl.col("at").cast(pl.Int64) - low)
    else:
        key = pl.col("metric_id").cast(pl.Int128) * (1 << 64) + pl.col("at").cast(pl.Int128)
    key = key.set_sorted().alias("_key")
    both = old.with_columns(key, pl.lit(False).alias("_new")).merge_sorted(
        new.with_columns(key, pl.lit(True).alias("_new")), key="_key"
    )
    replaced = ~pl.col("_new") & (
        (pl.col("_key") == pl.col("_key").shift(-1)).fill_null(False)
        | (pl.col("_key") == pl.col("_key").shift(1)).fill_null(False)
    )
    return both.filter(~replaced).drop("_key", "_new")


def merge_chain(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Frames (each as :func:`merge_snapshot` takes them) merged in order, a later one's rows written
    over an earlier one's: pairwise in rounds, so that each row is merged about log2(len) times
    rather than once per later frame (a lone writer's delta part is its last dozen writes)."""
    if not frames:
        raise ValueError("no frames to merge")
    while len(frames) > 1:
        frames = [
            merge_snapshot(*frames[k : k + 2]) if k + 1 < len(frames) else frames[k] for k in range(0, len(frames), 2)
        ]
    return frames[0]


def _bounds(a: pl.Series, b: pl.Series) -> tuple[int, int]:
    """The least and the greatest value of two non-empty integer columns."""
    return min(int(a.min()), int(b.min())), max(int(a.max()), int(b.max()))  # type: ignore[arg-type]


def _encode(frame: pl.DataFrame) -> bytes:
    """One part or delta part: Arrow IPC, lz4 (decodes faster than zstd; both read back)."""
    return frame.write_ipc(None, compression="lz4").getvalue()


class Snapshot(PostgresBase):
    """Reading, writing and refreshing the snapshot (mixed into :class:`~kpitui.postgres.PostgresStore`)."""

    def _snapshot_current(self, meta: dict[str, int]) -> bool:
        return (
            self.instance_filter is None
            and bool(meta["snapshot_seq"])
            and meta["snapshot_generation"] == meta["generation"]
        )

    def _snapshot_blobs(self, con: Any, meta: dict[str, int]) -> tuple[list[bytes], list[int], pl.DataFrame] | None:
        """The parts' blobs, their ``through`` numbers and the delta rows (with ``seq``: their
        delta's ``through``) if the snapshot is current and readable, else ``None``."""
        from psycopg import errors

        if not self._snapshot_current(meta):
            return None
        try:
            with con.transaction():  # a savepoint: a role without SELECT on a newer table only costs speed
                with con.cursor(binary=True) as cur:
                    base = cur.execute(
                        f"SELECT data, through FROM {_PARTS} WHERE part >= 0 AND part < %s ORDER BY part",
                        (meta["snapshot_parts"],),
                    ).fetchall()
                    low = min((t for _, t in base), default=meta["snapshot_seq"])
                    deltas = cur.execute(
                        f"SELECT lo, through, data FROM {_PARTS} WHERE part < 0 AND through > %s AND through <= %s "
                        "ORDER BY through",
                        (low, meta["snapshot_seq"]),
                    ).fetchall()
        except errors.InsufficientPrivilege:
            return None
        if len(base) != meta["snapshot_parts"] or not _chained(deltas, low, meta["snapshot_seq"]):
            return None
        frames = []
        for _, through, data in deltas:
            frame = decode_snapshot([bytes(data)])
            if frame is None:
                return None
            frames.append(frame.with_columns(pl.lit(through, pl.Int64).alias("seq")))
        rows = pl.concat(frames) if frames else pl.DataFrame(schema={**ID_FRAME_SCHEMA, "seq": pl.Int64})
        return [bytes(data) for data, _ in base], [int(t) for _, t in base], rows

    def _snapshot_parts(self, con: Any, meta: dict[str, int]) -> tuple[Iterator[pl.DataFrame], int] | None:
        """Every reading as parts in (metric_id, at) order (the snapshot brought up to date with the
        rows since it, decoded as they are asked for) and how many rows since it were fetched, or
        ``None`` when there is no current snapshot."""
        found = self._snapshot_blobs(con, meta)
        if found is None:
            return None
        blobs, throughs, deltas = found
        since = self._fetch_since(con, meta["snapshot_seq"])
        newer = pl.concat(
            [deltas, since.with_columns(pl.lit(meta["snapshot_seq"] + 1, pl.Int64).alias("seq"))],
            how="vertical_relaxed",
        )
        return merged_parts(blobs, newer, throughs), since.height

    def _write_snapshot(self, frame: pl.DataFrame, seq: int, generation: int) -> None:
        """Store ``frame`` (every reading, summed over instances, as of ``seq``) as the whole snapshot.

        An optimisation only: skipped when a current snapshot is as new, another writer is storing
        one, or the role may not (errors are dropped)."""
        if self.instance_filter is not None:
            return
        if not frame[
            "metric_id"
        ].is_sorted():  # grouped by metric, as viewers index it (see store_common.merge_grouped)
            frame = frame.sort("metric_id", "at")
        parts = [frame.slice(o, SNAPSHOT_PART_ROWS) for o in range(0, frame.height, SNAPSHOT_PART_ROWS)]
        try:
            with self._guard("store the snapshot in") as con:
                with con.transaction():
                    locked = self._lock_snapshot(con)
                    if locked is None or locked["generation"] != generation:
                        return
                    if locked["snapshot_generation"] == generation and locked["snapshot_seq"] >= seq:
                        return
                    with con.cursor() as cur:
                        cur.executemany(
                            _STORE_PART,
                            [
                                (i, _encode(p), seq, p.height, int(p["metric_id"][-1]), int(p["at"][-1]))
                                for i, p in enumerate(parts)
                            ],
                        )
                    self._set_meta(con, seq, len(parts), frame.height, generation)
        except StoreError:
            pass  # busy, not allowed, or the connection dropped: the next trigger tries again

    def _lock_snapshot(self, con: Any) -> dict[str, int] | None:
        """The snapshot's meta rows, locked against other writers of it (``None``: busy, try later)."""
        from psycopg import errors

        con.execute("SET LOCAL lock_timeout = '250ms'")  # never wait long for an optimisation
        try:
            with con.transaction():
                con.execute(
                    f"SELECT value FROM {SCHEMA}.meta WHERE key IN ('generation', 'snapshot_seq') "
                    "ORDER BY key FOR UPDATE"
                )
        except errors.LockNotAvailable:
            return None
        return self._meta(
            con, "seq", "generation", "snapshot_seq", "snapshot_parts", "snapshot_generation", "snapshot_rows"
        )

    @staticmethod
    def _set_meta(con: Any, seq: int, parts: int, rows: int, generation: int) -> None:
        with con.cursor() as cur:
            cur.executemany(
                f"UPDATE {SCHEMA}.meta SET value = %s WHERE key = %s",
                [
                    (seq, "snapshot_seq"),
                    (parts, "snapshot_parts"),
                    (rows, "snapshot_rows"),
                    (generation, "snapshot_generation"),
                ],
            )

    def _add_delta(self, *, whole: bool = False) -> bool:
        """The rows since the snapshot added to it as a delta part, and the parts furthest behind
        brought up to date (``whole``: every one behind); ``False`` when there is no current snapshot
        to add to."""
        with self._guard("store the snapshot in") as con:
            with con.transaction():
                meta = self._lock_snapshot(con)
                if meta is None:
                    return True  # another writer is at it
                if not self._snapshot_current(meta):
                    return False
                low, top = meta["snapshot_seq"], meta["seq"]
                base = con.execute(
                    f"SELECT part, through, rows, last_id, last_at FROM {_PARTS} "
                    "WHERE part >= 0 AND part < %s ORDER BY part",
                    (meta["snapshot_parts"],),
                ).fetchall()
                if not base or len(base) != meta["snapshot_parts"]:
                    return False  # nothing to add to (an empty history's snapshot is cheap to write whole)
                oldest = min(b[1] for b in base)
                if top <= low and (not whole or oldest >= top):
                    return True
                budget = None
                if top > low:
                    rows = self._written_since(con, low, top)
                    self._written = [entry for entry in self._written if entry[0] >= top]
                    if rows is None:
                        rows = self._fetch_since(con, low, top).sort("metric_id", "at")
                    slots = con.execute(f"SELECT part, through FROM {_PARTS} WHERE part < 0").fetchall()
                    stale = [p for p, t in slots if t <= oldest]
                    slot = max(stale) if stale else min((p for p, _ in slots), default=0) - 1
                    con.execute(
                        f"INSERT INTO {_PARTS} (part, data, through, lo, rows) VALUES (%s, %b, %s, %s, %s) "
                        "ON CONFLICT (part) DO UPDATE SET data = excluded.data, through = excluded.through, "
                        "lo = excluded.lo, rows = excluded.rows",
                        (slot, _encode(rows), top, low, rows.height),
                    )
                    budget = None if whole else CATCH_UP * rows.height
                total, count = _catch_up(con, base, top, budget)
                self._set_meta(con, top, count, total, meta["generation"])
        return True

    def catch_up(self) -> bool:
        """Bring the snapshot wholly up to date when enough is outstanding (at least ``snapshot_rows``
        rows since it or in delta parts not yet folded in): the rows since added and every part
        behind brought up, or the snapshot written whole when there is no current one. What a
        collector does when it has nothing to read, so that a viewer's load after a busy spell reads
        the snapshot alone. Whether it did anything; errors are dropped (an optimisation only)."""
        if self.readonly or self.instance_filter is not None or self.snapshot_rows is None:
            return False
        try:
            with self._guard("read") as con:
                meta = self._meta(con, "seq", "generation", "snapshot_seq", "snapshot_parts", "snapshot_generation")
                current = self._snapshot_current(meta)
                outstanding = con.execute(
                    f"SELECT coalesce(sum(rows), 0) FROM {_PARTS} WHERE part < 0 AND through > "
                    f"(SELECT min(through) FROM {_PARTS} WHERE part >= 0 AND part < %s)",
                    (meta["snapshot_parts"],),
                ).fetchone()[0]
            if current and meta["seq"] - meta["snapshot_seq"] + int(outstanding) < self.snapshot_rows:
                return False
            if not current and meta["seq"] == 0:
                return False
            if not self._add_delta(whole=True):
                self._whole_snapshot()
        except StoreError:
            return False
        return True

    def _refresh_snapshot(self) -> None:
        try:
            if not self._add_delta():
                self._whole_snapshot()  # no current snapshot to add to
        except StoreError:
            pass

    def _whole_snapshot(self) -> None:
        frame, _, meta, _, _ = self._load_with_meta(0, None)
        self._write_snapshot(frame, meta["seq"], meta["generation"])

    def snapshot(self) -> None:
        """Write the columnar snapshot now, whole (for example after a bulk import)."""
        self._writable()
        self._whole_snapshot()


def _catch_up(con: Any, base: list[tuple[Any, ...]], top: int, budget: int | None) -> tuple[int, int]:
    """The parts furthest behind (at least one, about ``budget`` rows; ``None``: every one behind)
    brought up to ``top`` from the delta parts; returns the rows in all parts and how many parts
    there are now (a part grown past twice :data:`SNAPSHOT_PART_ROWS` is split, the parts after it
    renumbered)."""
    order = sorted(range(len(base)), key=lambda i: (base[i][1], i))
    chosen: list[int] = []
    rows = 0
    for i in order:
        if base[i][1] >= top or (chosen and budget is not None and rows >= budget):
            break
        chosen.append(i)
        rows += base[i][2]
    total, count = int(sum(b[2] for b in base)), len(base)
    if not chosen:
        return total, count
    delta = _delta_rows(con, min(base[i][1] for i in chosen), top)
    if delta is None:
        return total, count
    for i in sorted(chosen, reverse=True):  # a split renumbers only the parts after it, done already
        part, through, rows_before, _, _ = base[i]
        rows_in = delta.filter(pl.col("seq") > through)
        if i > 0:
            prev_id, prev_at = base[i - 1][3], base[i - 1][4]
            rows_in = rows_in.filter(
                (pl.col("metric_id") > prev_id) | ((pl.col("metric_id") == prev_id) & (pl.col("at") > prev_at))
            )
        if i < len(base) - 1:
            last_id, last_at = base[i][3], base[i][4]
            rows_in = rows_in.filter(
                (pl.col("metric_id") < last_id) | ((pl.col("metric_id") == last_id) & (pl.col("at") <= last_at))
            )
        if not rows_in.height:
            con.execute(f"UPDATE {_PARTS} SET through = %s WHERE part = %s", (top, part))
            continue
        with con.cursor(binary=True) as cur:
            (data,) = cur.execute(f"SELECT data FROM {_PARTS} WHERE part = %s", (part,)).fetchone()
        old = decode_snapshot([bytes(data)])
        if old is None:
            raise StoreError("a part of the snapshot cannot be decoded")
        merged = merge_snapshot(old, rows_in.drop("seq"))
        total += merged.height - rows_before
        pieces = _split(merged)
        if len(pieces) > 1:
            # room for the new pieces: the parts after this one (and stale ones) moved up, in two
            # steps so that no number is taken twice on the way
            con.execute(f"UPDATE {_PARTS} SET part = part + %s WHERE part > %s", (_AWAY, part))
            con.execute(f"UPDATE {_PARTS} SET part = part - %s WHERE part >= %s", (_AWAY - len(pieces) + 1, _AWAY))
            count += len(pieces) - 1
        with con.cursor() as cur:
            cur.executemany(
                _STORE_PART,
                [
                    (part + k, _encode(p), top, p.height, int(p["metric_id"][-1]), int(p["at"][-1]))
                    for k, p in enumerate(pieces)
                ],
            )
    return total, count


def _delta_rows(con: Any, oldest: int, top: int) -> pl.DataFrame | None:
    """The delta parts' rows above ``oldest`` (last write wins, with ``seq``: their part's ``through``),
    sorted by (metric_id, at); ``None`` when there are none."""
    with con.cursor(binary=True) as cur:
        found = cur.execute(
            f"SELECT through, data FROM {_PARTS} WHERE part < 0 AND through > %s AND through <= %s ORDER BY through",
            (oldest, top),
        ).fetchall()
    deltas = []
    for through, data in found:
        frame = decode_snapshot([bytes(data)])
        if frame is None:
            raise StoreError("a delta part of the snapshot cannot be decoded")
        deltas.append(frame.with_columns(pl.lit(through, pl.Int64).alias("seq")))
    if not deltas:
        return None
    return merge_chain(deltas)  # each written sorted, one row a key


def _split(frame: pl.DataFrame) -> list[pl.DataFrame]:
    """``frame`` (a part brought up to date) as it is stored: whole, or in equal pieces of about
    :data:`SNAPSHOT_PART_ROWS` once it holds more than twice that (so that a part first written small,
    the whole history when it was young, does not grow until every refresh rewrites all of it)."""
    if frame.height <= 2 * SNAPSHOT_PART_ROWS:
        return [frame]
    count = -(-frame.height // SNAPSHOT_PART_ROWS)
    size = -(-frame.height // count)
    return [frame.slice(o, size) for o in range(0, frame.height, size)]


def _chained(deltas: list[tuple[Any, ...]], low: int, top: int) -> bool:
    """Whether the delta parts (lo, through, ...) run without a gap from ``low`` to ``top``."""
    at = low
    for lo, through, *_ in deltas:
        if lo > at:
            return False
        at = through
    return at == top
