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
:func:`kpitui.sqlite_store.recovery.recover` (``kpitui history recover NEW``) copies every readable reading
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
from typing import Callable

__all__ = ["CHECK_EVERY", "backup", "damaged_message", "is_corruption", "mark_damaged", "marked_damaged", "unmark"]

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


def backup(con: sqlite3.Connection, dest: Path, progress: Callable[[int, int, str], None] | None = None) -> str:
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
