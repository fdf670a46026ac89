"""Persistent reading history: one SQLite file in WAL mode, shared by collectors and viewers.

Layout (schema version :data:`SCHEMA_VERSION`, kept in ``PRAGMA user_version``
and migrated forward on open by a writer):

``metrics(id, name)``
    one row per metric name; readings refer to the integer id.
``readings(metric_id, at, value, seq, n)``, ``WITHOUT ROWID``, primary key ``(metric_id, at)``
    ``at`` is the reading time as integer **microseconds since the Unix epoch,
    UTC** -- exactly polars' ``Datetime("us", "UTC")`` physical value, so no
    precision is lost and no conversion beyond a cast is needed either way.
    ``seq`` is a global, strictly increasing write sequence number (index
    ``readings_seq``): every row a write inserts or changes gets a new one,
    so a reader loads incrementally with ``seq > last seen``.
    ``n`` (schema 2) is how many raw readings the row stands for: 1 for a
    reading as written, more for a row :mod:`kpitui.retention` made by
    down-sampling a bucket of old readings (its ``value`` is then the
    bucket aggregated by the metric's own rule: sum, mean, last, min, max;
    a ``count`` metric keeps the sum of the values, its count is ``n``).
    The partial index ``readings_compacted`` holds only rows with ``n <> 1``,
    so loads fetch two columns per row and ``n`` only where it is not 1.
``meta(key, value)``
    ``seq``: the sequence counter, taken and advanced inside the writer's
    ``BEGIN IMMEDIATE`` transaction (writers are serialised, so a transaction
    that commits later always holds higher numbers; a counter rather than
    ``max(seq)`` so that deleting the newest rows never hands out a number a
    reader has already seen). ``generation``: bumped whenever rows are deleted (or compacted).
    ``snapshot_seq``: see below.
``compacted(metric_id, before)`` (schema 3)
    per metric, the instant before which :meth:`Store.compact` has down-sampled
    its readings. That past is closed to ``mode="replace"`` writes: a
    snapshot-like source re-sending old raw rows would otherwise put them
    beside the bucket's compacted row (at its first reading's time, not at
    theirs) and the next compaction would add them to it again. Such rows
    are left out and counted in :attr:`Store.last_compacted`; ``mode="add"``
    rows (new events) still join their bucket.
``manual_readings(id, metric_id, at, recorded)`` (schema 4)
    the readings people typed, by a stable id: see :mod:`kpitui.manual_readings`.
``cursors(source, cursor)``
    each source's position, written in the same transaction as its readings.
``source_health(...)``
    what collectors last saw of each source, shared between processes.
``snapshot_parts(part, data)``
    a compressed columnar copy (Arrow IPC, zstd) of every reading as of
    ``meta.snapshot_seq``. Python's ``sqlite3`` costs about 0.6 s per million
    rows to fetch, so a full load reads this copy (about 0.1 s per ten million
    rows) plus the rows with ``seq > snapshot_seq`` and merges them. A full
    load that had to fetch many rows from the table refreshes the copy; it is
    dropped whenever rows are deleted. Readings stay the source of truth.

Concurrency: WAL lets viewers read a consistent snapshot while a collector
writes; writers take ``BEGIN IMMEDIATE`` under ``busy_timeout``, so two
collectors queue instead of failing with "database is locked".

Durability: ``synchronous=NORMAL``. In WAL mode a commit is in the WAL (in the
OS's page cache) before ``COMMIT`` returns, so a killed process (``SIGKILL``,
crash) loses nothing committed; only a power cut or OS crash can roll back the
last transactions -- and because each source's cursor commits in the same
transaction as its readings, they roll back together and the source re-reads
them, so nothing is double-counted. ``FULL`` would add an fsync per poll for
no gain in that model.

Pages: new files use 4 KiB pages (``_PAGE_SIZE``; ``page_size=`` for a file
built by a bulk import); files made before keep theirs (SQLite cannot change
it in WAL mode without a rebuild) and work the same.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import polars as pl

from . import maintenance
from .api import READINGS_SCHEMA, normalise_readings
from .epoch import from_micros as _from_us
from .epoch import micros as _to_us
from .manual_readings import ManualReadings
from .model import SourceHealth

__all__ = ["LOADED_SCHEMA", "SCHEMA_VERSION", "CompactionResult", "CursorConflict", "Store", "StoreError", "connect_readonly", "unwritable"]

#: ``PRAGMA application_id`` of a kpitui history file ("kpit").
APPLICATION_ID = 0x6B706974

_MIGRATIONS: tuple[str, ...] = (
    # 1: initial layout
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO meta (key, value) VALUES ('seq', 0), ('generation', 0), ('snapshot_seq', 0);
    CREATE TABLE metrics (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
    CREATE TABLE readings (
        metric_id INTEGER NOT NULL,
        at INTEGER NOT NULL,
        value REAL NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (metric_id, at)
    ) WITHOUT ROWID;
    CREATE INDEX readings_seq ON readings (seq);
    CREATE TABLE cursors (source TEXT PRIMARY KEY, cursor TEXT, updated INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE source_health (
        source TEXT PRIMARY KEY,
        last_success INTEGER,
        last_error INTEGER,
        error TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        next_attempt INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE snapshot_parts (part INTEGER PRIMARY KEY, data BLOB NOT NULL);
    """,
    # 2: how many raw readings a row stands for (retention down-sampling); older snapshots lack it
    """
    ALTER TABLE readings ADD COLUMN n INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX readings_compacted ON readings (metric_id, at, n) WHERE n <> 1;
    DELETE FROM snapshot_parts;
    UPDATE meta SET value = 0 WHERE key = 'snapshot_seq';
    """,
    # 3: each metric's compacted past (closed to replace-mode writes); files compacted before get
    # their last compacted row's time plus 25 h (longer than any hour or local day bucket)
    """
    CREATE TABLE compacted (metric_id INTEGER PRIMARY KEY, before INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO compacted (metric_id, before)
        SELECT metric_id, max(at) + 90000000000 FROM readings WHERE n <> 1 GROUP BY metric_id;
    """,
    # 4: manual readings by a stable id (kpitui/manual_readings.py): list, correct, delete
    """
    CREATE TABLE manual_readings (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        metric_id INTEGER NOT NULL,
        at INTEGER NOT NULL,
        recorded INTEGER,
        UNIQUE (metric_id, at)
    );
    """,
)

#: The schema version this code writes; files with a higher ``user_version`` are refused.
SCHEMA_VERSION = len(_MIGRATIONS)

_OUR_TABLES = frozenset({"meta", "metrics", "readings", "cursors", "source_health", "snapshot_parts", "compacted", "manual_readings"})

_ON_CONFLICT = {
    # Unchanged rows are skipped: they keep their seq, so viewers do not reload them.
    "replace": (
        " ON CONFLICT (metric_id, at) DO UPDATE SET value = excluded.value, seq = excluded.seq, n = 1"
        " WHERE readings.value IS NOT excluded.value OR readings.n <> 1"
    ),
    "add": (
        " ON CONFLICT (metric_id, at) DO UPDATE SET value = readings.value + excluded.value, seq = excluded.seq"
        " WHERE excluded.value <> 0"
    ),
}
#: Rows per upsert statement: a statement of many rows costs less than half as much per row as a
#: statement per row (measured 1.0 against 2.4 µs). 800 variables: under SQLite's old limit of 999.
_ROWS_PER_STATEMENT = 200
#: Rows turned into Python objects at a time (a multiple of the above), to bound a big write's memory.
_CHUNK_ROWS = 100_000


def _upsert_sql(mode: str, rows: int) -> str:
    values = ", ".join(["(?, ?, ?, ?)"] * rows)
    return f"INSERT INTO readings (metric_id, at, value, seq) VALUES {values}{_ON_CONFLICT[mode]}"


#: mode -> (the statement for one row, the statement for _ROWS_PER_STATEMENT rows)
_UPSERT = {mode: (_upsert_sql(mode, 1), _upsert_sql(mode, _ROWS_PER_STATEMENT)) for mode in _ON_CONFLICT}

#: Page size of new files (SQLite's default). A transaction writes every page it touches to the WAL
#: and the checkpoint copies it again, so a collector's small poll costs a few pages: 4 KiB pages
#: keep a 2-readings-per-30 s collector at tens of MB a day, where 64 KiB pages wrote ~1 GB a day
#: (benchmarks/RESULTS.md, "collector disk writes"). A file built by one bulk import of readings
#: spread over its whole history (each transaction touches nearly every page) imports faster with
#: large pages: pass ``page_size`` for such a file (benchmarks/run.py does for its 10M store).
_PAGE_SIZE = 4096
_SNAPSHOT_PART_ROWS = 1_000_000
#: Rows by metric id as loaded; 32-bit ids and counts: a 10M-row load holds 80 MB less than with 64-bit ones.
_ID_FRAME_SCHEMA = {"metric_id": pl.UInt32, "at": pl.Int64, "value": pl.Float64, "n": pl.UInt32}
#: What :meth:`Store.load` returns: :data:`~kpitui.api.READINGS_SCHEMA` plus ``n``, the number of
#: raw readings each row stands for (1 unless retention down-sampled it).
LOADED_SCHEMA: dict[str, pl.DataType] = {**READINGS_SCHEMA, "n": pl.Int64()}
_UNSET: Any = object()


class StoreError(Exception):
    """The history file cannot be used; the message says which file and why, for the user."""


class CursorConflict(StoreError):
    """``write(expect_cursor=...)`` found another cursor stored: another collector moved the source on."""


def _writable_folder(folder: Path) -> bool:
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return False
    except OSError:
        pass
    return os.access(folder, os.W_OK | os.X_OK)


def connect_readonly(path: str | os.PathLike[str], **kwargs: Any) -> tuple[sqlite3.Connection, bool]:
    """A read-only connection to the history at ``path`` (``kwargs`` go to ``sqlite3.connect``), and
    whether it had to be opened as immutable.

    A WAL reader needs the ``-shm`` file; in a folder nobody can write to (a read-only file
    system or mount) it can only use one a writer left there. Without one the file is read as
    immutable: no locks, no ``-shm`` (a leftover ``-wal`` is then not read; nobody can write
    there anyway). Every read-only opener of a history file (annotations, alert state, ...)
    should come through here.
    """
    uri = f"{Path(path).expanduser().resolve().as_uri()}?mode=ro"
    con = sqlite3.connect(uri, uri=True, **kwargs)
    if _writable_folder(Path(path).expanduser().parent):
        return con, False
    try:
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return con, False
    except sqlite3.OperationalError:
        con.close()
    return sqlite3.connect(uri + "&immutable=1", uri=True, **kwargs), True


def unwritable(path: str | os.PathLike[str]) -> str | None:
    """Why a writer cannot use the history at ``path`` (read-only file system, folder or file), else ``None``.

    Viewers then open it with ``readonly=True`` (see :class:`Store`)."""
    path = Path(path).expanduser()
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "it is on a read-only file system"
    except OSError:
        return None  # let opening say what is wrong
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"its folder {folder} is read-only"
    if path.exists() and not os.access(path, os.W_OK):
        return "the file is read-only"
    return None


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _replace_rows(old: pl.DataFrame, new: pl.DataFrame, key: str) -> pl.DataFrame:
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


def _merge_grouped(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
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
    new = new.select(pl.col(c).cast(t) for c, t in old.schema.items()).unique(subset=["metric_id", "at"], keep="last", maintain_order=True).sort("metric_id", "at")
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
            rows = kept.with_columns(pl.col("at").set_sorted()).merge_sorted(rows.with_columns(pl.col("at").set_sorted()), key="at")
        parts.append(rows)
        pos = hi
    parts.append(old.slice(pos))
    return pl.concat([p for p in parts if p.height], rechunk=False) if any(p.height for p in parts) else old.clear()


def _aligned(frame: pl.DataFrame, other: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with ``n`` = 1 added when ``other`` has an ``n`` column and ``frame`` has not."""
    if "n" in other.columns and "n" not in frame.columns:
        return frame.with_columns(pl.lit(1, pl.Int64).alias("n"))
    return frame


@dataclass(frozen=True)
class CompactionResult:
    """What :meth:`Store.compact` did (or, with ``dry_run``, would do).

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


def _covered_rows(rows: pl.DataFrame, out: pl.DataFrame) -> int:
    """How many of ``rows`` (sorted by ``at``) fall in one of ``out``'s disjoint [first, last] ranges."""
    ats = rows["at"]
    ends = ats.search_sorted(out["last"], side="right")
    starts = ats.search_sorted(out["first"], side="left")
    return int((ends - starts).sum())


class Store(ManualReadings):
    """The reading history in one SQLite file.

    Safe to share between threads (calls are serialised) and between
    processes (any number of viewers, several collectors).

    ``snapshot_rows``: a full :meth:`load` that fetched at least this many
    rows from the readings table refreshes the columnar snapshot
    (``None``: never write one; an existing one is still used).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        readonly: bool = False,
        busy_timeout: float = 30.0,
        snapshot_rows: int | None = 200_000,
        page_size: int | None = None,
    ):
        self.path = Path(path).expanduser()
        self.readonly = readonly
        self.busy_timeout = busy_timeout
        self.snapshot_rows = snapshot_rows
        #: page size a new file is made with (``None``: 4 KiB, see ``_PAGE_SIZE``); an existing file keeps its own
        self.page_size = page_size or _PAGE_SIZE
        #: rows the last :meth:`write` dropped (null metric/time, null/NaN/inf value)
        self.last_dropped = 0
        #: rows the last ``mode="replace"`` :meth:`write` left out: their metric's past is compacted there
        self.last_compacted = 0
        #: why the file is known to be damaged (writes are then refused), else ``None``: see :mod:`kpitui.maintenance`
        self.damaged: str | None = None
        #: opened read-only as immutable: its folder cannot be written (a read-only file system)
        self.immutable = False
        self._lock = threading.RLock()
        self._con: sqlite3.Connection | None = None
        deadline = time.monotonic() + busy_timeout
        while True:
            try:
                self._open()
                return
            except sqlite3.OperationalError as exc:
                self._close_quietly()
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise StoreError(f"cannot open history file {self.path}: {exc}") from exc
                time.sleep(0.05)
            except sqlite3.DatabaseError as exc:
                self._close_quietly()
                raise StoreError(
                    f"cannot open history file {self.path}: {exc} (is it a kpitui history database?)"
                ) from exc
            except BaseException:
                self._close_quietly()
                raise

    @property
    def where(self) -> str:
        """The history in messages: its file (see :class:`~kpitui.history_store.HistoryStore`)."""
        return str(self.path)

    # -- opening and schema -------------------------------------------------

    def _open(self) -> None:
        if self.readonly:
            if not self.path.is_file():
                raise StoreError(f"no history file at {self.path}")
            con, self.immutable = connect_readonly(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
        else:
            why = unwritable(self.path)
            if why is not None:
                cause = OSError(errno.EROFS if "file system" in why else errno.EACCES, why)  # kpitui.failures: READONLY
                raise StoreError(
                    f"history file {self.path} cannot be written ({why}): make it writable, or set [storage] path "
                    "to a writable place; it can still be viewed (kpitui report, series and the TUI show it read-only)"
                ) from cause
            self._create_private()
            con = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
        self._con = con
        con.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        # The first statement that reads the header: "file is not a database" surfaces here.
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if con.execute("PRAGMA application_id").fetchone()[0] not in (0, APPLICATION_ID):
            raise StoreError(f"{self.path} is an SQLite database of another application, not a kpitui history")
        self._check_version(version)
        if version == 0:
            self._refuse_foreign()  # before switching someone else's file to WAL
        if not self.readonly:
            # Only a new, empty file takes this (before its first write); existing files keep theirs.
            con.execute(f"PRAGMA page_size = {int(self.page_size)}")
            mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"cannot switch history file {self.path} to WAL mode (got {mode!r})")
        con.execute("PRAGMA synchronous = NORMAL")
        con.execute("PRAGMA cache_size = -65536")  # up to 64 MiB of page cache, allocated as needed
        con.execute("PRAGMA journal_size_limit = 67108864")  # give the disk back after a big import
        if version < SCHEMA_VERSION:
            if self.readonly:
                raise StoreError(
                    f"history file {self.path} has schema version {version}, this kpitui needs "
                    f"{SCHEMA_VERSION}: open it once without read-only to upgrade it"
                )
            self._migrate()
        if not self.readonly:
            self._check_health()

    def _check_health(self) -> None:
        """A writer's look for damage on open: a note left by a reader that met a damaged page (a stat)."""
        self.damaged = maintenance.marked_damaged(self.path)

    def check_if_due(self, now: dt.datetime | None = None) -> str | None:
        """``PRAGMA quick_check`` when the last clean one is older than :data:`~kpitui.maintenance.CHECK_EVERY`.

        Long-running writers call it (``kpitui collect`` after its polls, hourly); it reads
        every page (seconds for millions of readings), so opening never does. Returns why
        the file is damaged (then writes are refused and a note is left), else ``None``.
        """
        with self._lock:
            con = self._conn
            stamp = _to_us(now or dt.datetime.now(dt.timezone.utc))
            try:
                row = con.execute("SELECT value FROM meta WHERE key = 'checked'").fetchone()
                if row is not None and stamp - row[0] < maintenance.CHECK_EVERY // dt.timedelta(microseconds=1):
                    return self.damaged
                found = [str(r[0]) for r in con.execute("PRAGMA quick_check(3)")]
            except sqlite3.DatabaseError as exc:
                if not maintenance.is_corruption(exc):
                    raise StoreError(f"cannot check history file {self.path}: {exc}") from exc
                found = [str(exc)]
            if found != ["ok"]:
                self.damaged = "; ".join(found)
                maintenance.mark_damaged(self.path, self.damaged)
                return self.damaged
            if not self.readonly:
                try:
                    con.execute("PRAGMA busy_timeout = 250")  # not worth waiting behind a long write for
                    con.execute(
                        "INSERT INTO meta (key, value) VALUES ('checked', ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (stamp,),
                    )
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc):
                        raise StoreError(f"cannot record the check in history file {self.path}: {exc}") from exc
                finally:
                    con.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            return None

    def _create_private(self) -> None:
        """Create the history's missing folders (0700) and the file itself (0600), before SQLite opens it.

        SQLite gives the ``-wal`` and ``-shm`` files the permissions of the database file, so
        all three are private to the user. Existing folders and files are left as they are.
        """
        missing = [p for p in (self.path.parent, *self.path.parent.parents) if not p.exists()]
        try:
            for folder in reversed(missing):
                try:
                    folder.mkdir(mode=0o700)
                except FileExistsError:
                    pass
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
        except FileExistsError:
            pass
        except OSError as exc:
            raise StoreError(f"cannot create history file {self.path}: {exc}") from exc

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"history file {self.path} has schema version {version}, newer than this kpitui "
                f"understands ({SCHEMA_VERSION}): upgrade kpitui, or point it at another file"
            )

    def _refuse_foreign(self) -> None:
        """An unversioned file must be empty (or a half-created history), not another program's database."""
        tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        foreign = sorted(t for t in tables - _OUR_TABLES if not t.startswith("sqlite_"))
        if foreign:
            raise StoreError(
                f"{self.path} is an SQLite database with other tables ({', '.join(foreign[:3])}), not a kpitui history"
            )

    def _migrate(self) -> None:
        con = self._conn
        with self._transaction():
            version = con.execute("PRAGMA user_version").fetchone()[0]  # another process may have migrated
            self._check_version(version)
            if version == 0:
                self._refuse_foreign()
                con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            for step in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[step].split(";"):
                    if statement.strip():
                        con.execute(statement)
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- plumbing -------------------------------------------------------------

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._con is None:
            raise StoreError(f"history file {self.path} is closed")
        return self._con

    @contextmanager
    def _transaction(self, kind: str = "IMMEDIATE") -> Iterator[sqlite3.Connection]:
        con = self._conn
        con.execute(f"BEGIN {kind}")
        try:
            yield con
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                try:
                    con.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise

    @contextmanager
    def _guard(self, action: str) -> Iterator[sqlite3.Connection]:
        """Serialise threads and turn SQLite errors into :class:`StoreError` naming the file."""
        with self._lock:
            try:
                yield self._conn
            except StoreError:
                raise
            except sqlite3.Error as exc:
                if maintenance.is_corruption(exc):
                    self.damaged = str(exc)
                    maintenance.mark_damaged(self.path, self.damaged)
                    raise StoreError(maintenance.damaged_message(self.path, self.damaged)) from exc
                raise StoreError(f"cannot {action} history file {self.path}: {exc}") from exc

    def _writable(self) -> None:
        if self.readonly:
            raise StoreError(f"history file {self.path} is open read-only")
        if self.damaged is not None:
            raise StoreError(maintenance.damaged_message(self.path, self.damaged))

    def _meta(self, key: str) -> int:
        return self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]

    def _set_meta(self, key: str, value: int) -> None:
        self._conn.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))

    # -- writing --------------------------------------------------------------

    @staticmethod
    def _prepare(readings: pl.DataFrame, mode: str) -> tuple[pl.DataFrame, int]:
        """Valid, de-duplicated rows (metric, at as epoch µs, value) and how many were dropped."""
        try:
            frame = normalise_readings(readings)
        except pl.exceptions.ColumnNotFoundError as exc:
            raise ValueError(f"readings need the columns metric, at and value: {exc}") from exc
        valid = frame.filter(
            pl.col("metric").is_not_null(), pl.col("at").is_not_null(), pl.col("value").is_finite()
        )
        if mode == "add":
            rows = valid.group_by("metric", "at").agg(pl.col("value").sum())
        else:
            rows = valid.unique(subset=["metric", "at"], keep="last")
        return rows.with_columns(pl.col("at").cast(pl.Int64)), frame.height - valid.height

    def write(
        self,
        readings: pl.DataFrame,
        *,
        mode: Literal["replace", "add"] = "replace",
        source: str | None = None,
        cursor: str | None = None,
        set_cursor: bool = False,
        expect_cursor: str | None = _UNSET,
    ) -> int:
        """Store ``readings`` (and ``source``'s new ``cursor``) in one transaction.

        ``mode="replace"``: the value of each (metric, at) becomes the new one
        (duplicates in the frame: the last wins). ``mode="add"``: it is added
        to the stored value (duplicates in the frame are summed first).
        Rows with a null metric or time or a null/NaN/infinite value are
        dropped and counted in :attr:`last_dropped`.

        ``expect_cursor``: when given, the write happens only if ``source``'s
        stored cursor is still this value (``None``: no cursor yet); otherwise
        :class:`CursorConflict` is raised and nothing is written, so two
        collectors of one source never count the same events twice.

        Returns how many rows were inserted or changed; rewriting a value
        that is already stored (or adding 0 to one) changes nothing and
        does not count.
        """
        if mode not in _UPSERT:
            raise ValueError(f"mode must be 'replace' or 'add', not {mode!r}")
        if (set_cursor or expect_cursor is not _UNSET) and source is None:
            raise ValueError("a cursor needs a source")
        rows, dropped = self._prepare(readings, mode)
        self.last_dropped = dropped
        self.last_compacted = 0
        with self._guard("write to") as con:
            self._writable()
            with self._transaction():
                if expect_cursor is not _UNSET:
                    stored = self._cursor(source)  # type: ignore[arg-type]
                    if stored != expect_cursor:
                        raise CursorConflict(
                            f"source {source!r}: its cursor moved from {expect_cursor!r} to {stored!r} since it was "
                            "read (is another collector running?); nothing was written"
                        )
                written = self._upsert(rows, mode) if rows.height else 0
                if set_cursor:
                    con.execute(
                        "INSERT INTO cursors (source, cursor, updated) VALUES (?, ?, ?) "
                        "ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, updated = excluded.updated",
                        (source, cursor, _to_us(dt.datetime.now(dt.timezone.utc))),
                    )
        return written

    def _upsert(self, rows: pl.DataFrame, mode: str) -> int:
        con = self._conn
        ids = self._metric_ids(rows["metric"].unique().to_list())
        keyed = (
            rows.with_columns(pl.col("metric").replace_strict(ids, return_dtype=pl.Int64).alias("metric_id"))
            .sort("metric_id", "at")  # primary-key order: each page of the b-tree is touched once
        )
        if mode == "replace":
            keyed = self._outside_compacted(keyed)
        first = self._meta("seq") + 1
        n = keyed.height
        one, many = _UPSERT[mode]
        width = 4 * _ROWS_PER_STATEMENT
        written = 0
        for offset in range(0, n, _CHUNK_ROWS):
            chunk = keyed.slice(offset, _CHUNK_ROWS)
            start = first + offset
            flat = list(
                chain.from_iterable(
                    zip(
                        chunk["metric_id"].to_list(),
                        chunk["at"].to_list(),
                        chunk["value"].to_list(),
                        range(start, start + chunk.height),
                    )
                )
            )
            full = len(flat) - len(flat) % width
            if full:
                written += con.executemany(many, (flat[i : i + width] for i in range(0, full, width))).rowcount
            if full < len(flat):
                written += con.executemany(one, (flat[i : i + 4] for i in range(full, len(flat), 4))).rowcount
        self._set_meta("seq", first + n - 1)
        return written

    def _outside_compacted(self, keyed: pl.DataFrame) -> pl.DataFrame:
        """``keyed`` without the rows in their metric's compacted past (counted in :attr:`last_compacted`)."""
        horizons = dict(self._conn.execute("SELECT metric_id, before FROM compacted").fetchall())
        if not horizons:
            return keyed
        before = pl.col("metric_id").replace_strict(
            list(horizons), list(horizons.values()), default=-(2**63), return_dtype=pl.Int64
        )
        kept = keyed.filter(pl.col("at") >= before)
        self.last_compacted = keyed.height - kept.height
        return kept

    def compacted_before(self, metric: str) -> dt.datetime | None:
        """The instant before which ``metric``'s readings are compacted (closed to replace-mode writes), or ``None``."""
        with self._guard("read"):
            row = self._conn.execute(
                "SELECT c.before FROM compacted c JOIN metrics m ON m.id = c.metric_id WHERE m.name = ?", (metric,)
            ).fetchone()
        return None if row is None else _from_us(row[0])

    def _metric_ids(self, names: list[str]) -> dict[str, int]:
        con = self._conn
        con.executemany("INSERT OR IGNORE INTO metrics (name) VALUES (?)", ((n,) for n in names))
        found = con.execute(
            "SELECT name, id FROM metrics WHERE name IN (SELECT value FROM json_each(?))", (json.dumps(names),)
        )
        return dict(found.fetchall())

    def _cursor(self, source: str) -> str | None:
        row = self._conn.execute("SELECT cursor FROM cursors WHERE source = ?", (source,)).fetchone()
        return None if row is None else row[0]

    def cursor(self, source: str) -> str | None:
        """``source``'s last committed cursor, or ``None``."""
        with self._guard("read a cursor from"):
            return self._cursor(source)

    # -- reading --------------------------------------------------------------

    def load(self, since: int = 0, *, metrics: Iterable[str] | None = None) -> tuple[pl.DataFrame, int]:
        """Readings written (or rewritten) after sequence number ``since``, and the highest one seen.

        The frame has exactly :data:`LOADED_SCHEMA` (``metric, at, value``
        and ``n``, how many raw readings the row stands for: 1 unless
        :mod:`kpitui.retention` down-sampled it), in no particular order. Pass the returned number as ``since`` next time and
        combine the frames with :meth:`merge`. When nothing is new the frame
        is empty and ``since`` comes back. After rows were deleted
        (:meth:`generation` changed) an incremental reader should load from 0.
        """
        return self._load(since, None if metrics is None else set(metrics), self.snapshot_rows)

    def load_ids(self) -> tuple[pl.DataFrame, dict[int, str], int]:
        """Every reading keyed by metric id (``metric_id, at`` in µs, ``value, n``), sorted by
        (metric_id, at), with each id's metric and the highest sequence number: :meth:`load` from 0
        without turning ids into a string per row (for :class:`~kpitui.history.History`)."""
        return self._load_ids(0, None, self.snapshot_rows)

    def _load(self, since: int, wanted: set[str] | None, snapshot_rows: int | None) -> tuple[pl.DataFrame, int]:
        frame, names, seq = self._load_ids(since, wanted, snapshot_rows)
        return self._named(frame, names), seq

    def _load_ids(self, since: int, wanted: set[str] | None, snapshot_rows: int | None) -> tuple[pl.DataFrame, dict[int, str], int]:
        with self._guard("read") as con:
            with self._transaction("DEFERRED"):  # one consistent view for every query below
                top = con.execute("SELECT max(seq) FROM readings").fetchone()[0] or 0
                names = dict(con.execute("SELECT id, name FROM metrics").fetchall())
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
                    frame = _merge_grouped(snapshot, newer)
                else:
                    frame = self._fetch_metrics(ids)
                    fetched = frame.height
        if wanted is not None:
            frame = frame.filter(pl.col("metric_id").is_in(ids))
        elif (
            since <= 0
            and snapshot_rows is not None
            and fetched >= snapshot_rows
            and not self.readonly
        ):
            self._write_snapshot(frame, top, generation)
        return frame, names, max(since, top)

    def _fetch_since(self, since: int) -> pl.DataFrame:
        rows = self._conn.execute("SELECT metric_id, at, value, n FROM readings WHERE seq > ?", (since,)).fetchall()
        return pl.DataFrame(rows, schema=_ID_FRAME_SCHEMA, orient="row")

    def _fetch_metrics(self, ids: list[int]) -> pl.DataFrame:
        # One primary-key range per metric and two columns per row: the cheapest way through sqlite3.
        con = self._conn
        parts = []
        for metric_id in ids:
            rows = con.execute("SELECT at, value FROM readings WHERE metric_id = ?", (metric_id,)).fetchall()
            if rows:
                part = pl.DataFrame(rows, schema={"at": pl.Int64, "value": pl.Float64}, orient="row")
                parts.append(part.select(pl.lit(metric_id, pl.Int64).alias("metric_id"), "at", "value"))
        if not parts:
            return pl.DataFrame(schema=_ID_FRAME_SCHEMA)
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

    def _read_snapshot(self) -> pl.DataFrame | None:
        """The columnar snapshot, or ``None`` if it cannot be decoded (the table is read instead)."""
        # one part at a time: its compressed blob and 64-bit columns go before the next is read
        blobs = self._conn.execute("SELECT data FROM snapshot_parts ORDER BY part")
        try:
            parts = [pl.read_ipc(data).select(pl.col(c).cast(t) for c, t in _ID_FRAME_SCHEMA.items()) for (data,) in blobs]
        except Exception:  # noqa: BLE001 - a damaged or foreign blob only costs speed
            return None
        finally:
            blobs.close()
        return pl.concat(parts, rechunk=False) if parts else pl.DataFrame(schema=_ID_FRAME_SCHEMA)

    @staticmethod
    def _named(frame: pl.DataFrame, names: dict[int, str]) -> pl.DataFrame:
        if frame.height == 0:
            return pl.DataFrame(schema=LOADED_SCHEMA)
        return frame.select(
            pl.col("metric_id")
            .replace_strict(list(names), list(names.values()), return_dtype=pl.String)
            .alias("metric"),
            pl.col("at").cast(pl.Datetime("us", "UTC")),
            pl.col("value").cast(pl.Float64),
            pl.col("n").cast(pl.Int64),
        )

    def _write_snapshot(self, frame: pl.DataFrame, seq: int, generation: int) -> None:
        """Store ``frame`` (every reading as of ``seq``) as the columnar snapshot; skip when busy."""
        parts = [
            frame.slice(offset, _SNAPSHOT_PART_ROWS).write_ipc(None, compression="zstd").getvalue()
            for offset in range(0, frame.height, _SNAPSHOT_PART_ROWS)
        ]
        with self._lock:
            con = self._conn
            try:
                # A viewer must not wait behind a long collector write for an optimisation.
                con.execute("PRAGMA busy_timeout = 250")
                with self._transaction():
                    if self._meta("generation") != generation or self._meta("snapshot_seq") >= seq:
                        return  # rows were deleted since, or someone stored a newer snapshot
                    con.execute("DELETE FROM snapshot_parts")
                    con.executemany("INSERT INTO snapshot_parts (part, data) VALUES (?, ?)", enumerate(parts))
                    self._set_meta("snapshot_seq", seq)
            except sqlite3.Error:
                pass  # busy or out of space: the next full load tries again
            finally:
                con.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")

    def snapshot(self) -> None:
        """Refresh the columnar snapshot now (for example after a bulk import)."""
        self._writable()
        self._load(0, None, 0)

    @staticmethod
    def merge(old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
        """``old`` brought up to date with an incremental load ``new``.

        Rows of ``new`` replace rows of ``old`` with the same (metric, at).
        """
        return _replace_rows(old, new, "metric")

    def metric_names(self) -> list[str]:
        """Every metric name with stored readings, sorted."""
        with self._guard("read") as con:
            return [r[0] for r in con.execute("SELECT name FROM metrics ORDER BY name")]

    def generation(self) -> int:
        """A number that changes whenever readings are deleted (incremental readers then reload from 0)."""
        with self._guard("read"):
            return self._meta("generation")

    def delete_metric(self, metric: str) -> int:
        """Delete every reading of ``metric``; returns how many there were."""
        with self._guard("delete from") as con:
            self._writable()
            with self._transaction():
                row = con.execute("SELECT id FROM metrics WHERE name = ?", (metric,)).fetchone()
                if row is None:
                    return 0
                deleted = con.execute("DELETE FROM readings WHERE metric_id = ?", (row[0],)).rowcount
                con.execute("DELETE FROM metrics WHERE id = ?", (row[0],))
                con.execute("DELETE FROM compacted WHERE metric_id = ?", (row[0],))
                con.execute("DELETE FROM snapshot_parts")
                self._set_meta("snapshot_seq", 0)
                self._set_meta("generation", self._meta("generation") + 1)
                return deleted

    # -- retention ------------------------------------------------------------------

    def compact(
        self,
        before: dt.datetime,
        plan: CompactionPlan,
        *,
        metrics: Iterable[str] | None = None,
        dry_run: bool = False,
        max_rows_per_transaction: int = 500_000,
    ) -> CompactionResult:
        """Replace groups of readings older than ``before`` by the rows ``plan`` makes of them.

        :mod:`kpitui.retention` supplies ``plan`` (one row per time bucket,
        aggregated by the metric's rule). Each metric's rows before ``before``
        are read without blocking anyone to find what would change; then, in
        one ``BEGIN IMMEDIATE`` transaction, the affected range is read again
        (a collector may have added to it meanwhile), planned again, and the
        replaced rows are deleted and their replacements inserted with new
        sequence numbers. The generation moves on (incremental viewers reload)
        and the columnar snapshot is dropped -- only when something changed,
        so compacting again is a no-op. A backlog of more than
        ``max_rows_per_transaction`` rows is split into several transactions,
        whole metrics each; every one leaves a consistent history.
        """
        if not dry_run:
            self._writable()
        cutoff = _to_us(before)
        with self._guard("read") as con:
            names = dict(con.execute("SELECT id, name FROM metrics").fetchall())
        wanted = None if metrics is None else set(metrics)
        pending: list[tuple[int, str, int, int]] = []  # (metric id, name, range start, rows in range)
        by_metric: dict[str, tuple[int, int]] = {}
        replaced = written = buckets = 0
        for metric_id, name in sorted(names.items()):
            if wanted is not None and name not in wanted:
                continue
            with self._guard("read"):
                rows = self._rows_before(metric_id, None, cutoff)
            out = plan(name, rows) if rows.height else None
            if out is None or out.height == 0:
                continue
            start = int(out["at"].min())  # type: ignore[arg-type]  # the earliest bucket's start
            covered = int(rows.filter(pl.col("at") >= start).height)
            pending.append((metric_id, name, start, covered))
            if dry_run:
                gone = _covered_rows(rows, out)
                by_metric[name] = (gone, out.height)
                replaced, written, buckets = replaced + gone, written + out.height, buckets + out.height
        if dry_run or not pending:
            return CompactionResult(replaced, written, buckets, 0, dry_run, by_metric)
        batches: list[list[tuple[int, str, int, int]]] = [[]]
        size = 0
        for item in pending:
            if batches[-1] and size + item[3] > max_rows_per_transaction:
                batches.append([])
                size = 0
            batches[-1].append(item)
            size += item[3]
        transactions = 0
        for batch in batches:
            with self._guard("compact") as con:
                with self._transaction():
                    changed = False
                    for metric_id, name, start, _ in batch:
                        rows = self._rows_before(metric_id, start, cutoff)
                        out = plan(name, rows) if rows.height else None
                        if out is None or out.height == 0:
                            continue
                        gone = 0
                        for first, last in out.select("first", "last").iter_rows():
                            gone += con.execute(
                                "DELETE FROM readings WHERE metric_id = ? AND at >= ? AND at <= ?", (metric_id, first, last)
                            ).rowcount
                        first_seq = self._meta("seq") + 1
                        con.executemany(
                            "INSERT INTO readings (metric_id, at, value, seq, n) VALUES (?, ?, ?, ?, ?)",
                            zip(
                                [metric_id] * out.height,
                                out["at"].to_list(),
                                out["value"].to_list(),
                                range(first_seq, first_seq + out.height),
                                out["n"].to_list(),
                            ),
                        )
                        self._set_meta("seq", first_seq + out.height - 1)
                        con.execute(
                            "INSERT INTO compacted (metric_id, before) VALUES (?, ?) "
                            "ON CONFLICT (metric_id) DO UPDATE SET before = max(before, excluded.before)",
                            (metric_id, cutoff),
                        )
                        done = by_metric.get(name, (0, 0))
                        by_metric[name] = (done[0] + gone, done[1] + out.height)
                        replaced, written, buckets = replaced + gone, written + out.height, buckets + out.height
                        changed = True
                    if changed:
                        con.execute("DELETE FROM snapshot_parts")
                        self._set_meta("snapshot_seq", 0)
                        self._set_meta("generation", self._meta("generation") + 1)
                        transactions += 1
        return CompactionResult(replaced, written, buckets, transactions, False, by_metric)

    def _rows_before(self, metric_id: int, start: int | None, cutoff: int) -> pl.DataFrame:
        """One metric's rows with ``start <= at < cutoff``, oldest first: (at, value, n)."""
        rows = self._conn.execute(
            "SELECT at, value, n FROM readings WHERE metric_id = ? AND at >= ? AND at < ? ORDER BY at",
            (metric_id, -(2**63) if start is None else start, cutoff),
        ).fetchall()
        return pl.DataFrame(rows, schema={"at": pl.Int64, "value": pl.Float64, "n": pl.Int64}, orient="row")

    # -- source health ------------------------------------------------------------

    def record_health(
        self,
        source: str,
        *,
        ok: bool,
        error: str | None = None,
        at: dt.datetime | None = None,
        next_attempt: dt.datetime | None = None,
    ) -> None:
        """Record one poll of ``source``: success clears the error and failure count, failure adds one."""
        when = _to_us(at or dt.datetime.now(dt.timezone.utc))
        following = None if next_attempt is None else _to_us(next_attempt)
        with self._guard("record source health in") as con:
            self._writable()
            with self._transaction():
                if ok:
                    con.execute(
                        "INSERT INTO source_health (source, last_success, failures, next_attempt) VALUES (?, ?, 0, ?) "
                        "ON CONFLICT (source) DO UPDATE SET last_success = excluded.last_success, error = NULL, "
                        "failures = 0, next_attempt = excluded.next_attempt",
                        (source, when, following),
                    )
                else:
                    con.execute(
                        "INSERT INTO source_health (source, last_error, error, failures, next_attempt) "
                        "VALUES (?, ?, ?, 1, ?) "
                        "ON CONFLICT (source) DO UPDATE SET last_error = excluded.last_error, error = excluded.error, "
                        "failures = source_health.failures + 1, next_attempt = excluded.next_attempt",
                        (source, when, error or "failed", following),
                    )

    def health(self) -> dict[str, SourceHealth]:
        """What collectors last recorded about each source."""
        with self._guard("read source health from") as con:
            rows = con.execute(
                "SELECT source, last_success, last_error, error, failures, next_attempt FROM source_health"
            ).fetchall()
        return {
            source: SourceHealth(
                source=source,
                last_success=_from_us(success),
                last_error=_from_us(failed),
                error=error,
                failures=failures,
                next_attempt=_from_us(following),
            )
            for source, success, failed, error, failures, following in rows
        }

    # -- maintenance --------------------------------------------------------------

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``"ok"`` or the problems found, one per line.

        ``"ok"`` also lifts a damage note (:mod:`kpitui.maintenance`): the file is whole again.
        """
        with self._lock:
            try:
                found = "\n".join(str(r[0]) for r in self._conn.execute("PRAGMA integrity_check"))
            except sqlite3.DatabaseError as exc:
                if not maintenance.is_corruption(exc):
                    raise StoreError(f"cannot check history file {self.path}: {exc}") from exc
                found = str(exc)
        if found == "ok":
            maintenance.unmark(self.path)
            self.damaged = None
        else:
            self.damaged = found.splitlines()[0]
            maintenance.mark_damaged(self.path, self.damaged)
        return found

    def backup(self, dest: str | os.PathLike[str], progress: Callable[[float, float | None, str], None] | None = None) -> str:
        """Copy a consistent snapshot of the history to the new file ``dest`` (0600) while others
        keep writing (SQLite's online backup API); returns the copy's ``quick_check`` (``"ok"``).
        ``progress(done, total, label)``: bytes copied so far (:mod:`kpitui.progress`)."""
        target = Path(dest).expanduser()
        if target.exists() or target.is_symlink():
            raise StoreError(f"{target} already exists; a backup never overwrites a file")
        with self._lock:
            try:
                return maintenance.backup(self._conn, target, progress)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot back up history file {self.path} to {target}: {exc}") from exc
            except OSError as exc:
                raise StoreError(f"cannot write the backup {target}: {exc.strerror or exc}") from exc

    def _close_quietly(self) -> None:
        if self._con is not None:
            try:
                self._con.close()
            except sqlite3.Error:
                pass
            self._con = None

    def close(self) -> None:
        with self._lock:
            self._close_quietly()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}{', readonly=True' if self.readonly else ''})"
