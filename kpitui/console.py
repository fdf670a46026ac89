"""The command line's streams: glyphs that degrade to ASCII where the stream cannot encode them.

``kpitui report > file.txt`` under a non-UTF-8 locale (``PYTHONIOENCODING=ascii``,
a Windows code page) must not stop with ``UnicodeEncodeError``. Instead of
every printer asking whether it may use ``▲``, stdout and stderr get an
encoding error handler: a character the stream cannot encode becomes its
ASCII stand-in (``▲`` -> ``!``, ``—`` -> ``-``), a letter with an accent loses
the accent, and anything else becomes ``?``.
"""

from __future__ import annotations

import codecs
import unicodedata
from typing import TextIO

ERRORS = "kpitui.ascii"

#: What each glyph kpitui prints becomes on a stream that cannot encode it.
ASCII = {
    "●": "*",
    "▲": "!",
    "✖": "x",
    "○": "o",
    "·": ".",
    "◌": "~",
    "★": "*",
    "⚠": "!",
    "✓": "y",
    "✗": "n",
    "—": "-",
    "–": "-",
    "…": "...",
    "→": "->",
    "←": "<-",
    "≤": "<=",
    "≥": ">=",
    "±": "+-",
    "µ": "u",
    "×": "x",
    "÷": "/",
    "Σ": "sum",
    "▁": "_",
    "▂": ".",
    "▃": ":",
    "▄": "-",
    "▅": "=",
    "▆": "+",
    "▇": "*",
    "█": "#",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "\u00a0": " ",
}


def _fallback(char: str) -> str:
    if char in ASCII:
        return ASCII[char]
    plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
    return plain or "?"


def _handler(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    text = exc.object[exc.start : exc.end]
    return "".join(_fallback(ch) for ch in text), exc.end


codecs.register_error(ERRORS, _handler)


def can_encode(stream: TextIO, text: str = "▲—★▁") -> bool:
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def degrade_glyphs(*streams: TextIO) -> None:
    """Give each stream that cannot encode kpitui's glyphs the ASCII fallback handler."""
    for stream in streams:
        if stream is None or can_encode(stream):
            continue
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors=ERRORS)
            except (ValueError, OSError):  # a detached or closed stream: leave it
                pass


def output_width(explicit: int | None = None, stream: TextIO | None = None) -> int | None:
    """The width a table should fit: ``--width`` (0: no limit), else ``COLUMNS``, else the terminal's.

    None (no limit) when the output is not a terminal and nothing says otherwise:
    a report written to a file or a pipe keeps every column.
    """
    import os
    import shutil
    import sys

    if explicit is not None:
        return explicit or None
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    stream = stream or sys.stdout
    try:
        if stream.isatty():
            return shutil.get_terminal_size().columns
    except (AttributeError, ValueError, OSError):
        pass
    return None
