"""Loading readings from the PostgreSQL history: summed over instances (or one instance), in full
(the columnar snapshot plus the rows since it) or incrementally by sequence number."""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import polars as pl

from ..store_common import ID_FRAME_SCHEMA, named_frame, named_rows, replace_rows
from .connection import PostgresBase
from .schema import SCHEMA


def prefetched(parts: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """``parts`` made one ahead in a thread: the next part is decoded and merged (polars, without
    the GIL) while the caller indexes this one. Its errors are raised where the part would be; a
    caller that stops early stops the thread."""
    ready: queue.Queue[tuple[pl.DataFrame | None, BaseException | None]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: tuple[pl.DataFrame | None, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def make() -> None:
        try:
            for part in parts:
                if not offer((part, None)):
                    return
            offer((None, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            offer((None, exc))

    worker = threading.Thread(target=make, name="kpitui-load-parts", daemon=True)
    worker.start()
    try:
        while True:
            part, error = ready.get()
            if error is not None:
                raise error
            if part is None:
                return
            yield part
    finally:
        stop.set()


class Reads(PostgresBase):
    """Loads, metric and instance names, the generation (mixed into :class:`~kpitui.postgres.PostgresStore`)."""

    def _instance_clause(self, con: Any, alias: str = "") -> str:
        if self.instance_filter is None:
            return ""
        row = con.execute(f"SELECT id FROM {SCHEMA}.instances WHERE name = %s", (self.instance_filter,)).fetchone()
        return f" AND {alias}instance_id = {int(row[0]) if row else -1}"

    def instances(self) -> list[str]:
        """The names of every instance that has written readings, sorted."""
        with self._guard("read") as con:
            return [r[0] for r in con.execute(f"SELECT name FROM {SCHEMA}.instances ORDER BY name")]

    def load(self, since: int = 0, *, metrics: Iterable[str] | None = None) -> tuple[pl.DataFrame, int]:
        """As :meth:`kpitui.store.Store.load`: rows are summed over instances (or one instance, when filtered)."""
        frame, names, seq = self._load(since, None if metrics is None else set(metrics), self.snapshot_rows)
        return named_frame(frame, names), seq

    def load_rows(self, since: int = 0) -> tuple[pl.DataFrame, int]:
        """As :meth:`kpitui.store.Store.load_rows`: :meth:`load` of every metric with ``at`` in µs."""
        frame, names, seq = self._load(since, None, self.snapshot_rows)
        return named_rows(frame, names), seq

    def load_ids(self) -> tuple[pl.DataFrame, dict[int, str], int]:
        """Every reading keyed by metric id, sorted by (metric_id, at) when the snapshot is current
        (as :meth:`kpitui.store.Store.load_ids`)."""
        return self._load(0, None, self.snapshot_rows)

    def load_id_parts(self) -> tuple[Iterator[pl.DataFrame], dict[int, str], int] | None:
        """:meth:`load_ids` as parts to index one at a time (the snapshot's, decoded as they are asked
        for, with the rows since written over them); ``None`` when :meth:`load_ids` should load instead
        (no current snapshot, or a writer with enough rows since it that this load refreshes it)."""

        def read(con: Any) -> tuple[dict[str, int], dict[int, str], tuple[Iterator[pl.DataFrame], int] | None]:
            with con.transaction():
                con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                meta = self._meta(con, "seq", "generation", "snapshot_seq", "snapshot_parts", "snapshot_generation")
                names = dict(con.execute(f"SELECT id, name FROM {SCHEMA}.metrics").fetchall())
                return meta, names, self._snapshot_parts(con, meta)

        meta, names, found = self._read("read", read)
        if found is None:
            return None
        parts, fetched = found
        if self.snapshot_rows is not None and fetched >= self.snapshot_rows and not self.readonly:
            return None
        return prefetched(parts), names, meta["seq"]

    def _load(
        self, since: int, wanted: set[str] | None, snapshot_rows: int | None
    ) -> tuple[pl.DataFrame, dict[int, str], int]:
        """The rows by metric id, the metric names by id, and the highest sequence number seen; a
        writer's full load that fetched ``snapshot_rows`` rows from the table refreshes the snapshot."""
        frame, names, meta, fetched, from_snapshot = self._load_with_meta(since, wanted)
        if (
            wanted is None
            and since <= 0
            and snapshot_rows is not None
            and fetched >= snapshot_rows
            and not self.readonly
        ):
            if from_snapshot:
                self._refresh_snapshot()  # the rows since added as a delta part
            else:
                self._write_snapshot(frame, meta["seq"], meta["generation"])
        return frame, names, max(since, meta["seq"])

    def _load_with_meta(
        self, since: int, wanted: set[str] | None
    ) -> tuple[pl.DataFrame, dict[int, str], dict[str, int], int, bool]:
        """The rows by metric id, the names by id, the meta values read with them, how many rows came
        from the table since the snapshot, and whether the snapshot was used."""

        def read(con: Any) -> tuple[dict[str, int], dict[int, str], pl.DataFrame, int, bool]:
            with con.transaction():
                con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                meta = self._meta(con, "seq", "generation", "snapshot_seq", "snapshot_parts", "snapshot_generation")
                names = dict(con.execute(f"SELECT id, name FROM {SCHEMA}.metrics").fetchall())
                if since >= meta["seq"]:
                    return meta, names, pl.DataFrame(schema=ID_FRAME_SCHEMA), 0, False
                if since > 0:
                    frame = self._fetch_since(con, since)
                    return meta, names, frame, frame.height, False
                found = self._snapshot_parts(con, meta)
                if found is None:
                    frame = self._fetch_all(con)
                    return meta, names, frame, frame.height, False
                parts, fetched = found
                merged = list(parts)
                frame = pl.concat(merged, rechunk=False) if merged else pl.DataFrame(schema=ID_FRAME_SCHEMA)
                return meta, names, frame, fetched, True

        meta, names, frame, fetched, from_snapshot = self._read("read", read)
        if wanted is not None:
            ids = [i for i, n in names.items() if n in wanted]
            frame = frame.filter(pl.col("metric_id").is_in(ids))
        return frame, names, meta, fetched, from_snapshot

    def _fetch_all(self, con: Any) -> pl.DataFrame:
        where = self._instance_clause(con)
        several = (
            self.instance_filter is None and con.execute(f"SELECT count(*) FROM {SCHEMA}.instances").fetchone()[0] > 1
        )
        if not several:
            return self._fetch_frame(con, f"SELECT metric_id, at, value, n FROM {SCHEMA}.readings WHERE true{where}")
        raw = self._fetch_frame(con, f"SELECT metric_id, at, value, n FROM {SCHEMA}.readings")
        summed = raw.group_by("metric_id", "at").agg(pl.col("value").sum(), pl.col("n").sum())
        return summed.select(pl.col(c).cast(t) for c, t in ID_FRAME_SCHEMA.items())

    def _fetch_since(self, con: Any, since: int, upto: int | None = None) -> pl.DataFrame:
        """The rows (summed over instances) at every key written after ``since`` (and up to ``upto``)."""
        where = self._instance_clause(con, "r.")
        changed = f"seq > {int(since)}" + ("" if upto is None else f" AND seq <= {int(upto)}")
        if where or con.execute(f"SELECT count(*) FROM {SCHEMA}.instances").fetchone()[0] <= 1:
            # one instance: one row per (metric, time), nothing to sum
            return self._fetch_frame(
                con, f"SELECT metric_id, at, value, n FROM {SCHEMA}.readings r WHERE {changed}{where}"
            )
        # every instance's row at each (metric, time) one of them changed, summed
        return self._fetch_frame(
            con,
            f"SELECT r.metric_id, r.at, sum(r.value), sum(r.n)::bigint FROM {SCHEMA}.readings r "
            f"JOIN (SELECT DISTINCT metric_id, at FROM {SCHEMA}.readings WHERE {changed}{where.replace('r.', '')}) k "
            f"USING (metric_id, at) WHERE true{where} GROUP BY r.metric_id, r.at",
        )

    def _fetch_frame(self, con: Any, query: str) -> pl.DataFrame:
        """The rows of ``query`` (metric_id, at, value, n) as a frame.

        Each column comes as one ``bytea`` of big-endian values (``string_agg`` of ``int8send``...),
        which polars decodes in one call: no Python object and no ``COPY`` message per row (a
        ``COPY ... TO STDOUT`` costs psycopg about 2 s per million rows here, this 2-3x less). A
        result too big for one value (1 GB: over ~130M rows) is read by ``COPY`` instead."""
        from psycopg import errors

        columns = ("metric_id", "at", "value", "n")
        senders = ("int4send(q.metric_id::integer)", "int8send(q.at)", "float8send(q.value)", "int8send(q.n::bigint)")
        aggregate = ", ".join(f"string_agg({send}, '')" for send in senders)
        try:
            with con.transaction():  # a savepoint: a failed aggregate leaves the load's snapshot usable
                with con.cursor(binary=True) as cur:
                    count, *blobs = cur.execute(
                        f"SELECT count(*), {aggregate} FROM ({query}) AS q({', '.join(columns)})"
                    ).fetchone()
        except (errors.ProgramLimitExceeded, errors.OutOfMemory):
            return self._copy_csv(con, query)
        if not count:
            return pl.DataFrame(schema=ID_FRAME_SCHEMA)
        wire = {"metric_id": pl.Int32, "at": pl.Int64, "value": pl.Float64, "n": pl.Int64}
        return pl.DataFrame(
            [
                pl.Series([bytes(blob)], dtype=pl.Binary)
                .bin.reinterpret(dtype=pl.Array(wire[name], count), endianness="big")
                .arr.explode()
                .cast(ID_FRAME_SCHEMA[name])
                .alias(name)
                for name, blob in zip(columns, blobs)
            ]
        )

    def _copy_csv(self, con: Any, query: str) -> pl.DataFrame:
        buffer = io.BytesIO()
        with con.cursor() as cur:
            with cur.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)") as copy:
                for block in copy:
                    buffer.write(block)
        if buffer.tell() == 0:
            return pl.DataFrame(schema=ID_FRAME_SCHEMA)
        buffer.seek(0)
        return pl.read_csv(buffer, has_header=False, new_columns=list(ID_FRAME_SCHEMA), schema=ID_FRAME_SCHEMA)

    def metric_names(self) -> list[str]:
        with self._guard("read") as con:
            return [r[0] for r in con.execute(f"SELECT name FROM {SCHEMA}.metrics ORDER BY name")]

    @staticmethod
    def merge(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
        """``old`` brought up to date with an incremental load ``new`` (rows of ``new`` replace those at the same metric
        and time)."""
        return replace_rows(old, new, "metric")

    def generation(self) -> int:
        """The cheap poll viewers make each refresh (one indexed row): rows were deleted or compacted when it moves."""
        return self._read(
            "read",
            lambda con: int(con.execute(f"SELECT value FROM {SCHEMA}.meta WHERE key = 'generation'").fetchone()[0]),
        )
