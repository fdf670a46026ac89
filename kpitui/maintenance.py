"""Keeping a history file healthy: noticing damage, refusing to write to it, backups.

**Damage.** SQLite notices a damaged page only when a statement touches it,
so a writer that touches a few pages keeps writing to a file every reader
fails on. Three things close that gap:

- a failing read that SQLite reports as corruption marks the file damaged
  (a small note beside it, ``<history>.damaged``, naming the error and the
  file's inode), and the store refuses every later write;
- a writer opening a file with such a note refuses to write, until the file
  is replaced (another inode, e.g. a recovered copy moved into place) or
  ``kpitui history check`` finds it whole again;
- a long-running writer (``kpitui collect``) runs ``PRAGMA quick_check`` after
  its polls once per :data:`CHECK_EVERY` (the time of the last clean check is
  kept in the file), so a damaged page anywhere is found within a day even if
  nothing reads it. Not on open: it reads every page, 6 s warm and 11 s cold
  for a 10M-reading history (490 MB, 2 cores); ``integrity_check`` 143 s.
  Opening costs one ``stat`` of the note.

Every refusal is one line that says how to recover (:func:`damaged_message`):
:func:`recover` (``kpitui history recover NEW``) copies every readable reading
into a new file, stepping over damaged pages (found by probing where reads
work again), or a backup is restored. (The ``sqlite3`` shell's ``.recover``
does the same generically; some builds ship it broken.)

**Backups.** :func:`backup` copies a consistent snapshot with SQLite's online
backup API while collectors keep writing (WAL readers do not block writers),
into a new file created ``0600``, then checks the copy.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from pathlib import Path

__all__ = ["CHECK_EVERY", "backup", "damaged_message", "is_corruption", "mark_damaged", "marked_damaged", "recover", "unmark"]

#: ``kpitui collect`` re-runs ``PRAGMA quick_check`` when the last clean one is older than this.
CHECK_EVERY = dt.timedelta(days=1)

_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26
_SUFFIX = ".damaged"


def is_corruption(exc: BaseException) -> bool:
    """``exc`` is SQLite saying the file is damaged (not busy, full or read-only)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc).lower()
    return "malformed" in text or "corrupt" in text


def damaged_message(path: Path, detail: str) -> str:
    """One line: the file is damaged, nothing is written to it, and how to recover."""
    return (
        f"history file {path} is damaged ({detail}); kpitui will not write to it. Recover: restore it from a "
        f"backup (`kpitui history backup` makes them), or `kpitui history recover {path}.recovered` copies every "
        f"readable reading into a new file: stop kpitui and move that to {path}"
    )


def _note(path: Path) -> Path:
    return path.with_name(path.name + _SUFFIX)


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def mark_damaged(path: Path, detail: str) -> None:
    """Leave the note that makes writers refuse ``path`` (best effort: a read-only folder keeps none)."""
    try:
        fd = os.open(_note(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"{_inode(path)}\n{detail}\n")
    except OSError:
        pass


def marked_damaged(path: Path) -> str | None:
    """The error a reader met in ``path``, if a note says it is damaged and it is still the same file."""
    try:
        inode, _, detail = _note(path).read_text(encoding="utf-8").partition("\n")
    except (OSError, UnicodeDecodeError):
        return None
    if inode.strip() != str(_inode(path)):
        unmark(path)  # the file was replaced (a recovered copy): the note was about the old one
        return None
    return detail.strip() or "damaged"


def unmark(path: Path) -> None:
    try:
        _note(path).unlink()
    except OSError:
        pass


#: pages copied per step when the backup reports its progress (16 MiB with 4 KiB pages)
BACKUP_STEP_PAGES = 4096


def backup(con: sqlite3.Connection, dest: Path, progress=None) -> str:
    """Copy the open history ``con`` to the new file ``dest`` (0600); return the copy's ``quick_check``.

    ``progress(done, total, label)`` (bytes): the copy then goes in steps of
    :data:`BACKUP_STEP_PAGES` pages (a write by another process in between makes
    SQLite start the copy again); without it, in one step.
    """
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never overwrites
    os.close(fd)
    target = sqlite3.connect(dest)
    try:
        if progress is None:
            con.backup(target)
        else:
            page = con.execute("PRAGMA page_size").fetchone()[0]
            label = f"copying to {dest.name}"

            def step(status: int, remaining: int, total: int) -> None:
                progress((total - remaining) * page, total * page, label)

            con.backup(target, pages=BACKUP_STEP_PAGES, progress=step)
        target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
        return "\n".join(str(r[0]) for r in target.execute("PRAGMA quick_check"))
    except BaseException:
        target.close()
        dest.unlink(missing_ok=True)
        raise
    finally:
        target.close()


_MAX_AT = 2**63 - 1


def _first_readable(con: sqlite3.Connection, metric_id: int, after: int) -> int | None:
    """The smallest ``at`` > ``after`` from which ``metric_id``'s rows can be read again, past a damaged page."""

    def readable(start: int) -> int | None | bool:
        try:
            row = con.execute(
                "SELECT at FROM readings WHERE metric_id = ? AND at >= ? ORDER BY at LIMIT 1", (metric_id, start)
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise
            return False
        return None if row is None else row[0]

    low, step = after, 1
    while True:  # grow the step until a start past the damage reads (or nothing is left)
        high = min(after + step, _MAX_AT)
        found = readable(high)
        if found is not False:
            break
        if high == _MAX_AT:
            return None
        low, step = high, step * 2
    while high - low > 1:  # the first start that reads, between the last that failed and the first that did
        middle = (low + high) // 2
        probe = readable(middle)
        if probe is False:
            low = middle
        else:
            high, found = middle, probe
    return found  # type: ignore[return-value]


def _salvage(con: sqlite3.Connection, metric_id: int, lost: list[int]):
    """Every readable (at, value, n) row of ``metric_id``, oldest first, stepping over damaged pages."""
    start = -(2**63)
    while True:
        try:
            for at, value, n in con.execute(
                "SELECT at, value, n FROM readings WHERE metric_id = ? AND at >= ? ORDER BY at", (metric_id, start)
            ):
                start = at + 1
                yield at, value, n
            return
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise
            lost[0] += 1
            resume = _first_readable(con, metric_id, start)
            if resume is None:
                return
            start = resume


def recover(src: Path, dest: Path) -> tuple[int, int, int]:
    """Copy what can be read of the damaged history ``src`` into a new history ``dest``.

    Readings are read metric by metric, stepping over damaged pages; metric names,
    cursors, source health and each metric's compacted past are copied when they
    can be read. Returns (readings recovered, metrics, damaged ranges skipped).
    """
    from .store import Store

    if dest.exists() or dest.is_symlink():
        raise FileExistsError(f"{dest} already exists; recovery never overwrites a file")
    from .store import connect_readonly

    old, _ = connect_readonly(src)
    readings = skipped = 0
    try:
        names = old.execute("SELECT id, name FROM metrics").fetchall()
        with Store(dest, snapshot_rows=None) as store:
            con = store._conn  # a new, empty history of the current schema, only ours
            with store._transaction():
                con.executemany("INSERT INTO metrics (id, name) VALUES (?, ?)", names)
                seq, lost = 0, [0]
                for metric_id, _ in names:
                    rows = [(metric_id, at, value, seq + k + 1, n) for k, (at, value, n) in enumerate(_salvage(old, metric_id, lost))]
                    con.executemany("INSERT INTO readings (metric_id, at, value, seq, n) VALUES (?, ?, ?, ?, ?)", rows)
                    seq += len(rows)
                readings, skipped = seq, lost[0]
                con.execute("UPDATE meta SET value = ? WHERE key = 'seq'", (seq,))
                for table, columns in (
                    ("cursors", "source, cursor, updated"),
                    ("source_health", "source, last_success, last_error, error, failures, next_attempt"),
                    ("compacted", "metric_id, before"),
                ):
                    try:
                        rows = old.execute(f"SELECT {columns} FROM {table}").fetchall()
                    except sqlite3.DatabaseError:
                        continue  # unreadable or absent (an older schema): sources re-read, retention re-closes
                    marks = ", ".join("?" * len(columns.split(",")))
                    con.executemany(f"INSERT OR REPLACE INTO {table} ({columns}) VALUES ({marks})", rows)
    finally:
        old.close()
    return readings, len(names), skipped
