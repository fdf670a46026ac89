"""The connection every part of the SQLite store shares: opening (and migrating), transactions,
errors turned into :class:`~kpitui.store_common.StoreError`, the ``meta`` counters, closing.

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
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from .. import maintenance
from ..store_common import StoreError
from . import delta, schema


class SqliteBase:
    """One SQLite history file and its connection (the parts of :class:`~kpitui.store.Store` build on it).

    Safe to share between threads (calls are serialised) and between
    processes (any number of viewers, several collectors).

    ``snapshot_rows``: a full ``load`` that fetched at least this many
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
        #: page size a new file is made with (``None``: 1 KiB, see ``schema.PAGE_SIZE``); an existing file keeps its own
        self.page_size = page_size or schema.PAGE_SIZE
        #: rows the last ``write`` dropped (null metric/time, null/NaN/inf value)
        self.last_dropped = 0
        #: rows the last ``mode="replace"`` ``write`` left out: their metric's past is compacted there
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
                if not schema.is_busy(exc) or time.monotonic() > deadline:
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

    # -- opening --------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        schema.refuse_non_sqlite(self.path)
        options: dict[str, Any] = {"timeout": self.busy_timeout, "isolation_level": None, "check_same_thread": False}
        if self.readonly:
            if not self.path.is_file():
                raise StoreError(f"no history file at {self.path}")
            con, self.immutable = schema.connect_readonly(self.path, **options)
            return con
        why = schema.unwritable(self.path)
        if why is not None:
            cause = OSError(errno.EROFS if "file system" in why else errno.EACCES, why)  # kpitui.failures: READONLY
            raise StoreError(
                f"history file {self.path} cannot be written ({why}): make it writable, or set [storage] path "
                "to a writable place; it can still be viewed (kpitui report, series and the TUI show it read-only)"
            ) from cause
        schema.create_private(self.path)
        writable: sqlite3.Connection = sqlite3.connect(self.path, **options)
        return writable

    def _open(self) -> None:
        con = self._con = self._connect()
        con.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        # The first statement that reads the header: "file is not a database" surfaces here.
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if con.execute("PRAGMA application_id").fetchone()[0] not in (0, schema.APPLICATION_ID):
            raise StoreError(f"{self.path} is an SQLite database of another application, not a kpitui history")
        schema.check_version(self.path, version)
        if version == 0:
            schema.refuse_foreign(con, self.path)  # before switching someone else's file to WAL
            if not self.readonly:  # a new history: a cache left by one deleted from this path goes too
                from ..index_cache import discard

                discard(self.path)
        if not self.readonly:
            # Only a new, empty file takes this (before its first write); existing files keep theirs.
            con.execute(f"PRAGMA page_size = {int(self.page_size)}")
            mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"cannot switch history file {self.path} to WAL mode (got {mode!r})")
        con.execute("PRAGMA synchronous = NORMAL")
        con.execute("PRAGMA cache_size = -65536")  # up to 64 MiB of page cache, allocated as needed
        con.execute("PRAGMA journal_size_limit = 67108864")  # give the disk back after a big import
        if version < schema.SCHEMA_VERSION:
            if self.readonly:
                raise StoreError(
                    f"history file {self.path} has schema version {version}, this kpitui needs "
                    f"{schema.SCHEMA_VERSION}: open it once without read-only to upgrade it"
                )
            with self._transaction():
                schema.migrate(con, self.path)
        if not self.readonly:
            # A writer's look for damage on open: a note left by a reader that met a damaged page (a stat).
            self.damaged = maintenance.marked_damaged(self.path)

    # -- plumbing -------------------------------------------------------------

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._con is None:
            raise StoreError(f"history file {self.path} is closed")
        return self._con

    @contextmanager
    def _transaction(self, kind: str = "IMMEDIATE", *, fold: bool = True) -> Iterator[sqlite3.Connection]:
        """A transaction; a write (``IMMEDIATE``) first folds a collector's staged readings into
        ``readings`` (:mod:`~kpitui.sqlite_store.staging`) unless ``fold`` is false, so that
        every write but a staged poll's sees one table."""
        con = self._conn
        con.execute(f"BEGIN {kind}")
        try:
            if fold and kind == "IMMEDIATE":
                self._fold_staged()
            yield con
            con.execute("COMMIT")
            if kind == "IMMEDIATE":
                self._settle_read_mark()
        except BaseException:
            if con.in_transaction:
                try:
                    con.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise

    def _settle_read_mark(self) -> None:
        """Begin and end a read of the snapshot just committed, so that the ``-shm`` wal-index's read mark
        moves to it now. The first read after a commit writes that mark (the wal-index header page); done
        seconds later (a collector's next cursor read) it dirties the page again after the kernel may
        have written it back, one more 4 KiB page written to disk, while now the commit has just dirtied
        it (issue 18 item 4, benchmarks/NOTES.md)."""
        try:
            self._conn.execute("SELECT 1 FROM meta LIMIT 1").fetchall()
        except sqlite3.Error:
            pass  # only an optimisation: the next read moves the mark

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

    @contextmanager
    def _short_busy_timeout(self) -> Iterator[sqlite3.Connection]:
        """Wait at most 250 ms for the write lock: for optimisations not worth waiting behind a long write for."""
        con = self._conn
        con.execute("PRAGMA busy_timeout = 250")
        try:
            yield con
        finally:
            con.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")

    def _writable(self) -> None:
        if self.readonly:
            raise StoreError(f"history file {self.path} is open read-only")
        if self.damaged is not None:
            raise StoreError(maintenance.damaged_message(self.path, self.damaged))

    def _fold_staged(self) -> None:
        """Move staged readings into ``readings`` (:class:`~kpitui.sqlite_store.staging.Staging`)."""

    def _meta(self, key: str) -> int:
        return int(self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])

    def _set_meta(self, key: str, value: int) -> None:
        self._conn.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))

    def _forget_snapshot(self) -> None:
        """Rows were deleted (or compacted): drop the columnar copy and move the generation on (viewers reload)."""
        self._conn.execute("DELETE FROM snapshot_parts")
        delta.forget(self._conn)
        self._set_meta("snapshot_seq", 0)
        self._set_meta("generation", self._meta("generation") + 1)

    # -- closing --------------------------------------------------------------

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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}{', readonly=True' if self.readonly else ''})"
