"""Whether the SQLite history at a path can be written, asked before anything opens it.

Only the standard library: ``kpitui tui`` asks this before its first frame, which must not
wait for SQLite's or polars' imports (:mod:`kpitui.sqlite_store.schema` brings both).
"""

from __future__ import annotations

import os
from pathlib import Path


def writable_folder(folder: Path) -> bool:
    """Whether files can be made in ``folder`` (not on a read-only file system, and writable to us)."""
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return False
    except OSError:
        pass
    return os.access(folder, os.W_OK | os.X_OK)


def unwritable(path: str | os.PathLike[str]) -> str | None:
    """Why a writer cannot use the history at ``path`` (read-only file system, folder or file), else ``None``.

    Viewers then open it with ``readonly=True`` (see :class:`~kpitui.store.Store`)."""
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
