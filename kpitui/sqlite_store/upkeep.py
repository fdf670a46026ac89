"""Keeping the SQLite history whole: the periodic quick check, the full integrity check and online
backups (the file-level rules are in :mod:`kpitui.maintenance`)."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from .. import maintenance
from ..epoch import micros
from ..store_common import StoreError
from . import schema
from .base import SqliteBase


class Upkeep(SqliteBase):
    """Checks and backups (a part of :class:`~kpitui.store.Store`)."""

    def check_if_due(self, now: dt.datetime | None = None) -> str | None:
        """``PRAGMA quick_check`` when the last clean one is older than :data:`~kpitui.maintenance.CHECK_EVERY`.

        Long-running writers call it (``kpitui collect`` after its polls, hourly); it reads
        every page (seconds for millions of readings), so opening never does. Returns why
        the file is damaged (then writes are refused and a note is left), else ``None``.
        """
        with self._lock:
            con = self._conn
            stamp = micros(now or dt.datetime.now(dt.timezone.utc))
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
                    with self._short_busy_timeout():  # not worth waiting behind a long write for
                        con.execute(
                            "INSERT INTO meta (key, value) VALUES ('checked', ?) "
                            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                            (stamp,),
                        )
                except sqlite3.OperationalError as exc:
                    if not schema.is_busy(exc):
                        raise StoreError(f"cannot record the check in history file {self.path}: {exc}") from exc
            return None

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

    def backup(
        self, dest: str | os.PathLike[str], progress: Callable[[float, float | None, str], None] | None = None
    ) -> str:
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
