"""What every history backend shares: the SQLite :class:`~kpitui.store.Store` and the PostgreSQL
:class:`~kpitui.postgres_store.PostgresStore` (both :class:`~kpitui.history_store.HistoryStore`).

Nothing here talks to a database; each backend keeps its own SQL. Shared are the rules that must
not differ between them:

- **errors**: :class:`StoreError`, :class:`CursorConflict` (and :func:`check_write`,
  :func:`cursor_conflict` for the arguments and message of a conditional write);
- **frames**: :func:`prepare_readings` (what a write keeps and drops), :func:`named_frame`
  (ids to names, :data:`LOADED_SCHEMA`), :func:`merge_grouped` (a snapshot brought up to date,
  in (metric, at) order) and :func:`replace_rows` (an incremental load merged into a frame);
- **the columnar snapshot's format**: :func:`snapshot_blobs` / :func:`decode_snapshot`
  (Arrow IPC, zstd, :data:`SNAPSHOT_PART_ROWS` rows a part);
- **compaction**: the ``plan`` callback type :data:`CompactionPlan` (made by
  :mod:`kpitui.retention`, which decides which metrics keep raw readings and how buckets are
  down-sampled), :func:`run_plan`, :func:`covered_rows`, the closed compacted past
  (:func:`outside_compacted`), the split into transactions (:func:`batches`) and the tally
  (:class:`CompactionTally` -> :class:`CompactionResult`);
- **source health**: what a poll records (:func:`health_update`) and how stored rows read back
  (:func:`health_record`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from . import heap
from .api import READINGS_SCHEMA, normalise_readings
from .epoch import from_micros, micros
from .model import SourceHealth

__all__ = [
    "ID_FRAME_SCHEMA",
    "LOADED_SCHEMA",
    "MODES",
    "PLAN_INPUT_SCHEMA",
    "ROWS_SCHEMA",
    "SNAPSHOT_PART_ROWS",
    "UNSET",
    "CompactionPlan",
    "CompactionResult",
    "CompactionTally",
    "CursorConflict",
    "HealthUpdate",
    "StoreError",
    "batches",
    "check_write",
    "covered_rows",
    "cursor_conflict",
    "decode_snapshot",
    "health_record",
    "health_update",
    "merge_grouped",
    "named_frame",
    "named_rows",
    "outside_compacted",
    "plan_input",
    "prepare_readings",
    "replace_rows",
    "run_plan",
    "snapshot_blobs",
]

#: the default of ``write(expect_cursor=...)``: no condition (``None`` means "no cursor stored yet")
UNSET: Any = object()
MODES = ("replace", "add")
#: What ``load`` returns: :data:`~kpitui.api.READINGS_SCHEMA` plus ``n``, the number of raw readings each
#: row stands for (1 unless retention down-sampled it).
LOADED_SCHEMA: dict[str, pl.DataType] = {**READINGS_SCHEMA, "n": pl.Int64()}
#: Rows by metric id as loaded; 32-bit ids and counts: a 10M-row load holds 80 MB less than with 64-bit ones.
ID_FRAME_SCHEMA = {"metric_id": pl.UInt32, "at": pl.Int64, "value": pl.Float64, "n": pl.UInt32}
#: rows in one part of the columnar snapshot
SNAPSHOT_PART_ROWS = 1_000_000


class StoreError(Exception):
    """The history cannot be used; the message says which history and why, for the user."""


class CompactionNotAllowed(StoreError):
    """The role may not compact this history (a least-privilege collector): the message says who may."""


class CursorConflict(StoreError):
    """``write(expect_cursor=...)`` found another cursor stored: another collector moved the source on."""


# -- writes ------------------------------------------------------------------------------------


def check_write(mode: str, source: str | None, set_cursor: bool, expect_cursor: object) -> None:
    """The arguments of ``write`` that no backend accepts (ValueError: a programming error)."""
    if mode not in MODES:
        raise ValueError(f"mode must be 'replace' or 'add', not {mode!r}")
    if (set_cursor or expect_cursor is not UNSET) and source is None:
        raise ValueError("a cursor needs a source")


def cursor_conflict(source: str | None, expected: str | None, stored: str | None) -> CursorConflict:
    return CursorConflict(
        f"source {source!r}: its cursor moved from {expected!r} to {stored!r} since it was "
        "read (is another collector running?); nothing was written"
    )


def prepare_readings(readings: pl.DataFrame, mode: str) -> tuple[pl.DataFrame, int]:
    """Valid, de-duplicated rows (metric, at as epoch µs, value) and how many were dropped.

    Rows with a null metric or time or a null/NaN/infinite value are dropped. ``replace``: of
    duplicate (metric, at) rows the last wins; ``add``: they are summed.
    """
    try:
        frame = normalise_readings(readings)
    except pl.exceptions.ColumnNotFoundError as exc:
        raise ValueError(f"readings need the columns metric, at and value: {exc}") from exc
    valid = frame.filter(pl.col("metric").is_not_null(), pl.col("at").is_not_null(), pl.col("value").is_finite())
    if mode == "add":
        rows = valid.group_by("metric", "at").agg(pl.col("value").sum())
    else:
        rows = valid.unique(subset=["metric", "at"], keep="last")
    return rows.with_columns(pl.col("at").cast(pl.Int64)), frame.height - valid.height


def outside_compacted(keyed: pl.DataFrame, horizons: dict[int, int]) -> tuple[pl.DataFrame, int]:
    """``keyed`` (metric_id, at µs, ...) without the rows in their metric's compacted past
    (``horizons``: metric id -> the instant before which it is compacted), and how many were left out."""
    if not horizons:
        return keyed, 0
    before = pl.col("metric_id").replace_strict(
        list(horizons), list(horizons.values()), default=-(2**63), return_dtype=pl.Int64
    )
    kept = keyed.filter(pl.col("at") >= before)
    return kept, keyed.height - kept.height


# -- loads -------------------------------------------------------------------------------------


#: up to how many rows :func:`named_frame` names in Python (an incremental load's thousand)
_NAMED_IN_PYTHON = 10_000


def named_frame(frame: pl.DataFrame, names: dict[int, str]) -> pl.DataFrame:
    """An id frame (:data:`ID_FRAME_SCHEMA`) as :data:`LOADED_SCHEMA`, each id turned into its metric's name."""
    if frame.height == 0:
        return pl.DataFrame(schema=LOADED_SCHEMA)
    return _named(frame, names, pl.Datetime("us", "UTC"))


#: the rows :func:`named_rows` makes: :data:`LOADED_SCHEMA` with ``at`` in µs since the epoch (what
#: :meth:`kpitui.pipeline.View.write` takes, as :data:`kpitui.pipeline.frames.ROWS_SCHEMA`)
ROWS_SCHEMA: dict[str, pl.DataType] = {"metric": pl.String(), "at": pl.Int64(), "value": pl.Float64(), "n": pl.Int64()}


def named_rows(frame: pl.DataFrame, names: dict[int, str]) -> pl.DataFrame:
    """An id frame (:data:`ID_FRAME_SCHEMA`) as :data:`ROWS_SCHEMA`: :func:`named_frame` with ``at`` kept
    in µs, in one ``select`` (an incremental load's rows go to the index as µs: no datetime and back)."""
    if frame.height == 0:
        return pl.DataFrame(schema=ROWS_SCHEMA)
    return _named(frame, names, pl.Int64())


def _named(frame: pl.DataFrame, names: dict[int, str], at: pl.DataType) -> pl.DataFrame:
    """``frame``'s ids as names, ``at`` cast to ``at``, in one ``select``."""
    looked_up = None
    if frame.height <= _NAMED_IN_PYTHON:
        # an incremental load's few rows: each id looked up in Python (polars' mapping frame of every
        # metric's name costs more than the rows do); an unknown id is left to replace_strict's error
        looked_up = [names.get(i) for i in frame["metric_id"].to_list()]
    if looked_up is not None and None not in looked_up:
        metric: pl.Expr | pl.Series = pl.Series(looked_up, dtype=pl.String)
    else:
        metric = pl.col("metric_id").replace_strict(list(names), list(names.values()), return_dtype=pl.String)
    return frame.select(
        metric.alias("metric"),
        pl.col("at").cast(at),
        pl.col("value").cast(pl.Float64),
        pl.col("n").cast(pl.Int64),
    )


def _aligned(frame: pl.DataFrame, other: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with ``n`` = 1 added when ``other`` has an ``n`` column and ``frame`` has not."""
    if "n" in other.columns and "n" not in frame.columns:
        return frame.with_columns(pl.lit(1, pl.Int64).alias("n"))
    return frame


def replace_rows(old: pl.DataFrame, new: pl.DataFrame, key: str) -> pl.DataFrame:
    """``old`` without the rows whose (``key``, at) is in ``new``, plus ``new``.

    Increments are small next to the history, so only the old rows at one of
    ``new``'s times are compared key by key (measured: ~0.15 s for 10,000 new
    rows against 10 million, against ~0.5-2 s for a plain anti-join).
    """
    old, new = _aligned(old, new), _aligned(new, old)
    if new.height == 0:
        return old
    if old.height == 0:
        return new.select(old.columns)
    touched = pl.col("at").is_in(new["at"].unique().implode())
    replaced = new.select(pl.struct(key, "at")).to_series().implode()
    candidates = old.filter(touched)
    return pl.concat(
        [old.filter(~touched), candidates.filter(~pl.struct(key, "at").is_in(replaced)), new.select(old.columns)]
    )


def merge_grouped(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """``old`` (the snapshot) with ``new``'s rows written over it, sorted by (metric_id, at).

    A viewer indexes a frame in that order without sorting it (see
    :meth:`kpitui.pipeline.Readings.build`), and the snapshot written from it
    keeps the order. Only the segments of the metrics ``new`` touches are
    merged (linear in those segments, no sort of ``old``); the others are
    passed through as slices. ``old`` not grouped by id (a snapshot from
    before) is sorted once; a segment out of time order is sorted when
    merged into, and the index sorts what is left (it checks).
    """
    if not old["metric_id"].is_sorted():
        old = old.sort("metric_id", "at")
    if new.height == 0:
        return old
    new = (
        new.select(pl.col(c).cast(t) for c, t in old.schema.items())
        .unique(subset=["metric_id", "at"], keep="last", maintain_order=True)
        .sort("metric_id", "at")
    )
    ids = old["metric_id"]
    touched = new["metric_id"].unique(maintain_order=True)
    lows = ids.search_sorted(touched, side="left").to_list()
    highs = ids.search_sorted(touched, side="right").to_list()
    starts = new["metric_id"].search_sorted(touched, side="left").to_list() + [new.height]
    parts, pos = [], 0
    for k, (lo, hi) in enumerate(zip(lows, highs)):
        parts.append(old.slice(pos, lo - pos))
        rows = new.slice(starts[k], starts[k + 1] - starts[k])
        segment = old.slice(lo, hi - lo)
        if segment.height:
            if not segment["at"].is_sorted():
                segment = segment.sort("at")
            kept = segment.filter(~pl.col("at").is_in(rows["at"].implode()))
            rows = kept.with_columns(pl.col("at").set_sorted()).merge_sorted(
                rows.with_columns(pl.col("at").set_sorted()), key="at"
            )
        parts.append(rows)
        pos = hi
    parts.append(old.slice(pos))
    return pl.concat([p for p in parts if p.height], rechunk=False) if any(p.height for p in parts) else old.clear()


def merged_parts(blobs: list[bytes], new: pl.DataFrame, throughs: list[int] | None = None) -> Iterator[pl.DataFrame]:
    """The snapshot's parts decoded one at a time (``blobs`` is emptied as they are), each with the
    rows of ``new`` that fall in it (by metric id and time) written over it: together, every
    reading sorted by (metric_id, at) when the snapshot is, without the whole frame ever held.
    A blob that cannot be decoded raises (polars' error).

    ``throughs`` (one per blob, emptied with them): the sequence number each part already holds
    every row through; ``new`` then has a ``seq`` column and only its rows above a part's number
    are written over that part (a part brought up to date on its own, as PostgreSQL's are)."""
    columns = [pl.col(c).cast(t) for c, t in ID_FRAME_SCHEMA.items()]
    new = (
        new.select(*columns, *([pl.col("seq").cast(pl.Int64)] if throughs is not None else []))
        .unique(subset=["metric_id", "at"], keep="last", maintain_order=True)
        .sort("metric_id", "at")
    )
    while blobs:
        through = throughs.pop(0) if throughs else None
        part = pl.read_ipc(blobs.pop(0)).select(columns)
        heap.trim()  # the blob just freed: glibc keeps it resident under the index being built otherwise
        if part.height == 0:
            continue
        if blobs and new.height:  # the rows up to this part's last (id, at) are its; the rest come later
            last_id, last_at = part["metric_id"][-1], part["at"][-1]
            mine = int(
                new.select(
                    (
                        (pl.col("metric_id") < last_id) | ((pl.col("metric_id") == last_id) & (pl.col("at") <= last_at))
                    ).sum()
                ).item()
            )
        else:
            mine = new.height
        rows = new.head(mine)
        if through is not None:
            rows = rows.filter(pl.col("seq") > through)
        yield merge_grouped(part, rows) if rows.height else part
        new = new.slice(mine)
    if new.height:
        yield new.select(ID_FRAME_SCHEMA)


def snapshot_blobs(frame: pl.DataFrame, compression: Literal["zstd", "lz4"] = "zstd") -> list[bytes]:
    """``frame`` (an id frame, every reading) as the columnar snapshot's parts: Arrow IPC, zstd
    (or lz4: larger, faster to decode; either reads back)."""
    return [
        frame.slice(offset, SNAPSHOT_PART_ROWS).write_ipc(None, compression=compression).getvalue()
        for offset in range(0, frame.height, SNAPSHOT_PART_ROWS)
    ]


def decode_snapshot(blobs: Iterable[bytes]) -> pl.DataFrame | None:
    """The snapshot's parts as one id frame, or ``None`` if one cannot be decoded (the table is read instead).

    One part at a time: its compressed blob and 64-bit columns go before the next is read."""
    try:
        parts = [
            pl.read_ipc(bytes(data)).select(pl.col(c).cast(t) for c, t in ID_FRAME_SCHEMA.items()) for data in blobs
        ]
    except Exception:  # noqa: BLE001 - a damaged or foreign blob only costs speed
        return None
    return pl.concat(parts, rechunk=False) if parts else pl.DataFrame(schema=ID_FRAME_SCHEMA)


# -- compaction ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompactionResult:
    """What ``compact`` did (or, with ``dry_run``, would do).

    ``replaced``: raw rows removed; ``written``: rows that stand for them
    (one per bucket); per metric in ``by_metric`` as ``(replaced, written)``.
    """

    replaced: int = 0
    written: int = 0
    buckets: int = 0
    transactions: int = 0
    dry_run: bool = False
    by_metric: dict[str, tuple[int, int]] = field(default_factory=dict)


#: ``plan(metric, rows)``: rows (``at`` epoch µs, ``value``, ``n``) of one metric, oldest first ->
#: the rows that replace them: (``at``, ``value``, ``n``, ``first``, ``last``) where ``first`` and
#: ``last`` bound (epoch µs, inclusive) the input rows each output row replaces. ``None``: leave
#: the metric alone.
CompactionPlan = Callable[[str, pl.DataFrame], "pl.DataFrame | None"]

#: the columns of the rows a backend hands to a plan
PLAN_INPUT_SCHEMA = {"at": pl.Int64, "value": pl.Float64, "n": pl.Int64}


def plan_input(rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    """Rows (at, value, n) fetched from a backend as the frame a plan reads."""
    return pl.DataFrame(rows, schema=PLAN_INPUT_SCHEMA, orient="row")


def run_plan(plan: CompactionPlan, name: str, rows: pl.DataFrame) -> pl.DataFrame | None:
    """``plan``'s rows for ``name``, or ``None`` when there is nothing to replace."""
    out = plan(name, rows) if rows.height else None
    return None if out is None or out.height == 0 else out


def covered_rows(rows: pl.DataFrame, out: pl.DataFrame) -> int:
    """How many of ``rows`` (sorted by ``at``) fall in one of ``out``'s disjoint [first, last] ranges."""
    ats = rows["at"]
    ends = ats.search_sorted(out["last"], side="right")
    starts = ats.search_sorted(out["first"], side="left")
    return int((ends - starts).sum())


def batches(items: list[Any], size: Callable[[Any], int], limit: int) -> list[list[Any]]:
    """``items`` in order, cut into runs of at most ``limit`` total ``size`` (an item larger stands alone)."""
    runs: list[list[Any]] = [[]]
    total = 0
    for item in items:
        if runs[-1] and total + size(item) > limit:
            runs.append([])
            total = 0
        runs[-1].append(item)
        total += size(item)
    return runs if runs[-1] else []


@dataclass
class CompactionTally:
    """What a compaction replaced and wrote so far, per metric and in all."""

    by_metric: dict[str, tuple[int, int]] = field(default_factory=dict)
    replaced: int = 0
    written: int = 0
    transactions: int = 0

    def add(self, name: str, gone: int, written: int) -> None:
        done = self.by_metric.get(name, (0, 0))
        self.by_metric[name] = (done[0] + gone, done[1] + written)
        self.replaced += gone
        self.written += written

    def result(self, dry_run: bool) -> CompactionResult:
        return CompactionResult(self.replaced, self.written, self.written, self.transactions, dry_run, self.by_metric)


# -- source health -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthUpdate:
    """One poll of a source as a backend stores it: ``ok`` clears the error and the failure count,
    a failure (``error``) adds one to it; times in epoch µs."""

    ok: bool
    at: int
    error: str | None
    next_attempt: int | None


def health_update(
    ok: bool, error: str | None = None, at: dt.datetime | None = None, next_attempt: dt.datetime | None = None
) -> HealthUpdate:
    """``record_health``'s arguments as stored: now when ``at`` is not given, ``"failed"`` for a failure without
    text."""
    when = micros(at or dt.datetime.now(dt.timezone.utc))
    following = None if next_attempt is None else micros(next_attempt)
    return HealthUpdate(ok, when, None if ok else (error or "failed"), following)


def health_record(
    source: str, success: int | None, failed: int | None, error: str | None, failures: int, following: int | None
) -> SourceHealth:
    """A stored health row (times in epoch µs) as the :class:`~kpitui.model.SourceHealth` viewers show."""
    return SourceHealth(
        source=source,
        last_success=from_micros(success),
        last_error=from_micros(failed),
        error=error,
        failures=failures,
        next_attempt=from_micros(following),
    )
