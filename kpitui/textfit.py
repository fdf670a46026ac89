"""Plain-text tables and paragraphs that fit a width (``kpitui report`` in an 80-column terminal).

Like the TUI's panes, a table that is too wide first shortens its long names to a
comfortable width (``Fit.soft``), then drops its optional
columns, the least important first (``Fit.drop``: the higher, the sooner),
then shortens the columns that may be shortened (names, statuses, triggers)
with ``…``, down to their ``shrink`` width. What is still too wide is cut at
the width, so no line is ever longer than asked.
"""

from __future__ import annotations

import textwrap
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

from .console import escape_controls

ELLIPSIS = "…"


@lru_cache(maxsize=4096)
def _char_cells(ch: str) -> int:
    """The columns one character takes on a terminal: 2 for East Asian wide and full-width ones (漢, 😀), 0 for
    combining marks and format characters (a zero-width joiner or space), else 1."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def cells(text: str) -> int:
    """The columns ``text`` takes on a terminal (``len`` counts 漢字 as 2, a terminal as 4)."""
    return len(text) if text.isascii() else sum(_char_cells(ch) for ch in text)


@dataclass(frozen=True)
class Fit:
    """How one column gives way: ``drop`` 0 never (else higher drops sooner); ``shrink`` 0 never shortened.

    ``soft``: a long column (a name) is first shortened to this width, before any column is dropped.
    """

    drop: int = 0
    shrink: int = 0
    right: bool = False
    soft: int = 0


def shorten(text: str, width: int) -> str:
    """``text`` in at most ``width`` terminal columns, ending in ``…`` when cut."""
    if cells(text) <= width:
        return text
    if width <= 0:
        return ""
    kept, used = [], 0
    for ch in text:
        used += _char_cells(ch)
        if used > width - 1:
            break
        kept.append(ch)
    return "".join(kept) + ELLIPSIS


def pad(text: str, width: int, right: bool = False) -> str:
    """``text`` padded with spaces to ``width`` terminal columns (:func:`cells`), on the left when ``right``."""
    space = " " * max(0, width - cells(text))
    return space + text if right else text + space


def fit_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    fits: Sequence[Fit],
    width: int | None = None,
    indent: str = "  ",
    gap: int = 2,
) -> tuple[list[str], list[str]]:
    """The table's lines (header first) within ``width`` (None: no limit), and the headers left out.

    Widths are terminal columns (:func:`cells`: 漢字 and 😀 take two each), and a control character is measured
    as it will be shown (``\\u001b``, :func:`kpitui.console.escape_controls`): either counted by ``len`` put a
    row's later columns out of line with the header's.
    """
    headers = [escape_controls(h) for h in headers]
    rows = [[escape_controls(c) for c in r] for r in rows]
    natural = [max([cells(h), *(cells(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    shown = list(range(len(headers)))
    widths = dict(enumerate(natural))

    def used() -> int:
        return len(indent) + sum(widths[i] for i in shown) + gap * (len(shown) - 1)

    if width is not None:
        for i in shown:
            if fits[i].soft and used() > width:
                widths[i] = max(min(widths[i], fits[i].soft), widths[i] - (used() - width), cells(headers[i]))
        while used() > width:
            droppable = [i for i in shown if fits[i].drop]
            if not droppable:
                break
            shown.remove(max(droppable, key=lambda i: (fits[i].drop, i)))
        for i in sorted(set(range(len(headers))) - set(shown), key=lambda i: fits[i].drop):
            shown.append(i)  # a column dropped before a wider one may fit again once that one is gone
            shown.sort()
            if used() > width:
                shown.remove(i)
        while used() > width:
            shrinkable = [i for i in shown if fits[i].shrink and widths[i] > max(fits[i].shrink, cells(headers[i]))]
            if not shrinkable:
                break
            widest = max(shrinkable, key=lambda i: widths[i] - max(fits[i].shrink, cells(headers[i])))
            floor = max(fits[widest].shrink, cells(headers[widest]))
            widths[widest] = max(floor, widths[widest] - (used() - width))

    def line(cells: Sequence[str]) -> str:
        parts = []
        for i in shown:
            cell = shorten(cells[i], widths[i])
            parts.append(pad(cell, widths[i], fits[i].right))
        text = (indent + (" " * gap).join(parts)).rstrip()
        return text if width is None else shorten(text, width)

    left_out = [headers[i] for i in range(len(headers)) if i not in shown]
    return [line(headers), *(line(r) for r in rows)], left_out


def wrap(text: str, width: int | None, indent: str = "") -> list[str]:
    """``text`` as lines of at most ``width`` (None: one line)."""
    if width is None or len(text) <= width:
        return [text]
    return textwrap.wrap(text, width, subsequent_indent=indent, break_on_hyphens=False) or [""]
