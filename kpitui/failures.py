"""Runtime failures of the history and the file system as one line that says what to do.

The CLI's one mapping from :class:`~kpitui.store.StoreError`, ``sqlite3.Error``
and ``OSError`` to a message: :func:`explain` keeps the original text (it names
the file) and adds the remedy for the kind of failure -- a full disk, a
read-only file or folder, a damaged file, a busy file, a folder that cannot be
opened. It imports nothing heavy: ``main`` calls it only after a failure.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator

# SQLite's primary result codes (extended codes carry them in the low byte).
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 3, 5, 6, 8
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 10, 11, 13, 14, 26

FULL = "full"
READONLY = "readonly"
DAMAGED = "damaged"
BUSY = "busy"
IO = "io"
CANTOPEN = "cantopen"

#: What to do, per kind of failure (the file is named by the original message).
REMEDY = {
    FULL: "the disk is full: free some space (or set [storage] path to a file on another disk) and try again",
    READONLY: (
        "the history cannot be written (a read-only file system, file or folder): make it writable, or set "
        "[storage] path to a writable place"
    ),
    DAMAGED: (
        "the history file is damaged: `kpitui history recover DAMAGED.recovered` copies every readable reading "
        "into a new file (then set [storage] path to it), or restore a backup made with `kpitui history backup`"
    ),
    BUSY: "another kpitui process holds the history; try again when it has finished",
    IO: "reading or writing the history failed: check that its disk is not full, is mounted and is writable",
    CANTOPEN: "cannot open the history there: check that its folder exists and is writable, or set [storage] path",
}

_SQLITE_KINDS = {
    _SQLITE_FULL: FULL,
    _SQLITE_READONLY: READONLY,
    _SQLITE_PERM: READONLY,
    _SQLITE_CORRUPT: DAMAGED,
    _SQLITE_NOTADB: DAMAGED,
    _SQLITE_BUSY: BUSY,
    _SQLITE_LOCKED: BUSY,
    _SQLITE_IOERR: IO,
    _SQLITE_CANTOPEN: CANTOPEN,
}
_ERRNO_KINDS = {
    errno.ENOSPC: FULL,
    errno.EDQUOT: FULL,
    errno.EFBIG: FULL,
    errno.EROFS: READONLY,
    errno.EACCES: READONLY,
    errno.EPERM: READONLY,
    errno.EIO: IO,
}
# Older SQLite builds (or wrapped errors) may carry no code: the texts SQLite uses for each.
_TEXTS = (
    ("database or disk is full", FULL),
    ("readonly database", READONLY),
    ("read-only", READONLY),
    ("malformed", DAMAGED),
    ("file is not a database", DAMAGED),
    ("database is locked", BUSY),
    ("disk i/o error", IO),
    ("unable to open database file", CANTOPEN),
)


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)


def kind(exc: BaseException) -> str | None:
    """Which kind of failure ``exc`` (or what it wraps) is, or ``None`` when it is none of them."""
    for link in _chain(exc):
        if isinstance(link, sqlite3.Error):
            code = getattr(link, "sqlite_errorcode", None)
            if code is not None and (code & 0xFF) in _SQLITE_KINDS:
                return _SQLITE_KINDS[code & 0xFF]
        elif isinstance(link, OSError) and link.errno in _ERRNO_KINDS:
            return _ERRNO_KINDS[link.errno]
    # The words SQLite or the OS used (not our own message, which may say "read-only" in another sense).
    text = " ".join(str(link) for link in _chain(exc) if isinstance(link, (sqlite3.Error, OSError))).lower()
    return next((k for needle, k in _TEXTS if needle in text), None)


def _why_not_written(history: object) -> str | None:
    """A vague I/O or open error explained by the history's file system: read-only, or out of space."""
    import os

    folder = os.path.dirname(os.path.abspath(str(history)))
    while folder and not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    try:
        fs = os.statvfs(folder)
    except OSError:
        return None
    if fs.f_flag & os.ST_RDONLY:
        return READONLY
    if fs.f_bavail * fs.f_frsize < 1 << 20:  # less than a MiB: a WAL frame of 64 KiB pages does not fit for long
        return FULL
    return None


def handles(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure :func:`explain` speaks for (the history or the file system)."""
    from .store import StoreError

    return isinstance(exc, (StoreError, sqlite3.Error, OSError))


def explain(exc: BaseException, history: object = None) -> str:
    """One line: what failed (the original message, which names the file) and what to do about it.

    ``history``: the history file the command opened, named in the remedy for a damaged file."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    found = kind(exc)
    if found in (IO, CANTOPEN) and history is not None:
        found = _why_not_written(history) or found
    if found is None:
        return message
    remedy = REMEDY[found]
    if found == DAMAGED:
        remedy = remedy.replace("DAMAGED", str(history) if history else "HISTORY")
    # A message that already says what to do (the store's own, e.g. for a damaged file) is kept as it is.
    if any(word in message for word in ("backup", "try again", "writable", "free some space")):
        return message
    return f"{message} — {remedy}"
