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
import contextlib
import re
import unicodedata
from typing import Any, Iterator, TextIO

ERRORS = "kpitui.ascii"

#: What each glyph kpitui prints becomes on a stream that cannot encode it.
ASCII = {
    "●": "*",
    "▲": "!",
    "✖": "x",
    "○": "o",
    "·": ".",
    "◌": "~",
    "⊘": "/",
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


def open_closed_std_streams() -> list[str]:
    """Put ``/dev/null`` where file descriptor 0, 1 or 2 is closed, and give Python a stream on each.

    ``kpitui report >&-``, or a collector started by a supervisor without them: Python then has
    ``sys.stdout = None``, and ``report`` stopped with an ``AttributeError`` traceback. A descriptor left
    closed is also the next one a file opens (the history, its index cache), and a child process (a
    ``command`` notifier) inherits it as its stdout: its output would land in that file. Returns the names
    of the streams that were closed (``["stdout"]``), for the caller to say so.
    """
    import io
    import os
    import sys

    closed = []
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:  # the lowest free descriptor is this one when those below are open; dup2 to be sure
                os.dup2(null, fd)
                os.close(null)
            closed.append(name)
        if getattr(sys, name) is None:
            stream = io.TextIOWrapper(
                io.FileIO(fd, "r" if fd == 0 else "w", closefd=False),
                encoding="utf-8",
                errors="strict" if fd == 0 else "backslashreplace",
                line_buffering=fd != 0,
            )
            setattr(sys, name, stream)
            if getattr(sys, f"__{name}__") is None:  # what Textual's driver writes to
                setattr(sys, f"__{name}__", stream)
            if name not in closed:
                closed.append(name)
    return closed


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


#: Characters a terminal may act on instead of showing: C0 and C1 controls (ESC starts ANSI/OSC sequences, a
#: lone CR or BS overwrites what was printed, U+009B is CSI on some terminals), DEL, and the bidirectional
#: overrides that reorder a line. Line feeds, tabs and a CR before a line feed (CSV's line ends) stay.
_CONTROL = re.compile("\r(?!\n)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control character written out as ``\\u001b`` (also valid inside a JSON string)."""
    return _CONTROL.sub(_escape, text)


class LiteralStream:
    """A text stream that shows control characters instead of sending them to the terminal.

    A metric name, an annotation, a log line's agent or an error body can hold an escape sequence (colours, a
    window title, a hyperlink, a cleared screen): printed by ``report``, ``series``, ``matches`` or a log line it
    must read as what it is. Everything a command prints goes through here (see :func:`literal_output`).
    """

    def __init__(self, stream: TextIO):
        self.raw = stream  # for what draws on the terminal on purpose (the progress bars)
        self._stream = stream
        self._cr = False  # a CR at the end of the last write: a line end only if a LF comes next

    def write(self, text: str) -> int:
        if self._cr:
            self._cr = False
            text = "\r" + text
        if text.endswith("\r"):
            self._cr, text = True, text[:-1]
        self._stream.write(escape_controls(text))
        return len(text)

    def flush(self) -> None:
        if self._cr:
            self._cr = False
            self._stream.write(escape_controls("\r"))
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, buffer, ...
        return getattr(self._stream, name)


@contextlib.contextmanager
def literal_output() -> Iterator[None]:
    """Put :class:`LiteralStream` over ``sys.stdout`` and ``sys.stderr`` while a command runs."""
    import sys

    saved = sys.stdout, sys.stderr
    if sys.stdout is not None and not isinstance(sys.stdout, LiteralStream):
        sys.stdout = LiteralStream(sys.stdout)
    if sys.stderr is not None and not isinstance(sys.stderr, LiteralStream):
        sys.stderr = LiteralStream(sys.stderr)
    try:
        yield
    finally:
        for wrapped in (sys.stdout, sys.stderr):
            if isinstance(wrapped, LiteralStream):
                wrapped.flush()
        sys.stdout, sys.stderr = saved
