"""Logging for the command line: the standard :mod:`logging` module, set up once by ``kpitui``.

Loggers are named after modules (``kpitui.collector``, ``kpitui.plugins`` …)
under ``kpitui``. On the terminal each line is stamped with the config's clock
(``13:30:05 EST source: 3 readings in 0.02s``). Only ``collect``, whose output
is its log, writes information to stdout (warnings and errors to stderr);
every other command keeps stdout for its results and logs to stderr. ``--quiet`` keeps only
warnings and errors; ``--verbose`` adds debug lines (each poll, even an empty
one). ``[logging] file`` adds a rotating log file for a collector left
running (``kpitui collect``), with full dates and levels.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = "kpitui"
log = logging.getLogger(ROOT)


@dataclass(frozen=True)
class LogFile:
    """``[logging]``: where a collector's log goes, and how it rotates."""

    file: Path
    max_bytes: int = 10 * 1024 * 1024
    backups: int = 5


class _ClockFormatter(logging.Formatter):
    """``HH:MM:SS ZONE message`` (terminal) or ``YYYY-MM-DD HH:MM:SS ZONE LEVEL message`` (file), on the config's
    clock."""

    def __init__(self, timezone: str = "UTC", full: bool = False):
        super().__init__()
        self.timezone = timezone
        self.full = full

    def format(self, record: logging.LogRecord) -> str:
        from .console import escape_controls
        from .formatting import format_time

        at = dt.datetime.fromtimestamp(record.created, dt.timezone.utc)
        stamp = format_time(at, self.timezone, seconds=True, date=self.full)
        message = escape_controls(record.getMessage())  # an error body or a name may hold an escape sequence
        if record.exc_info and self.full:
            message += "\n" + self.formatException(record.exc_info)
        level = f" {record.levelname}" if self.full else ""
        return f"{stamp}{level} {message}"


class _Below(logging.Filter):
    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < self.level


def level_of(verbose: int = 0, quiet: int = 0) -> int:
    """INFO by default; each ``-v`` one step more detail, each ``-q`` one step less."""
    return min(max(logging.INFO + 10 * (quiet - verbose), logging.DEBUG), logging.CRITICAL)


def setup(level: int = logging.INFO, timezone: str = "UTC", info_to_stdout: bool = False) -> None:
    """Terminal handlers for the ``kpitui`` loggers (again: replaced, so a config's time zone can follow).

    ``info_to_stdout``: for a command whose output *is* its log (``collect``); any
    other command keeps stdout for its results (JSON, CSV) and logs to stderr.
    """
    for handler in [h for h in log.handlers if getattr(h, "_kpitui_terminal", False)]:
        log.removeHandler(handler)
    err = logging.StreamHandler(sys.stderr)
    handlers = [err]
    if info_to_stdout:
        out = logging.StreamHandler(sys.stdout)
        out.addFilter(_Below(logging.WARNING))
        err.setLevel(logging.WARNING)
        handlers.append(out)
    for handler in handlers:
        handler.setFormatter(_ClockFormatter(timezone))
        handler._kpitui_terminal = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False


def add_file(settings: LogFile, timezone: str = "UTC") -> None:
    """Also write to ``settings.file``, rotated at ``max_bytes`` with ``backups`` old files kept."""
    import logging.handlers

    settings.file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        settings.file, maxBytes=settings.max_bytes, backupCount=settings.backups, encoding="utf-8"
    )
    handler.setFormatter(_ClockFormatter(timezone, full=True))
    log.addHandler(handler)


def close() -> None:
    for handler in list(log.handlers):
        handler.flush()
        if isinstance(handler, logging.FileHandler):
            handler.close()
            log.removeHandler(handler)
