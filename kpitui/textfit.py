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
from dataclasses import dataclass
from typing import Sequence

ELLIPSIS = "…"


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
    return text if len(text) <= width else (text[: max(0, width - 1)] + ELLIPSIS if width > 0 else "")


def fit_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    fits: Sequence[Fit],
    width: int | None = None,
    indent: str = "  ",
    gap: int = 2,
) -> tuple[list[str], list[str]]:
    """The table's lines (header first) within ``width`` (None: no limit), and the headers left out."""
    natural = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    shown = list(range(len(headers)))
    widths = dict(enumerate(natural))

    def used() -> int:
        return len(indent) + sum(widths[i] for i in shown) + gap * (len(shown) - 1)

    if width is not None:
        for i in shown:
            if fits[i].soft and used() > width:
                widths[i] = max(min(widths[i], fits[i].soft), widths[i] - (used() - width), len(headers[i]))
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
            shrinkable = [i for i in shown if fits[i].shrink and widths[i] > max(fits[i].shrink, len(headers[i]))]
            if not shrinkable:
                break
            widest = max(shrinkable, key=lambda i: widths[i] - max(fits[i].shrink, len(headers[i])))
            floor = max(fits[widest].shrink, len(headers[widest]))
            widths[widest] = max(floor, widths[widest] - (used() - width))

    def line(cells: Sequence[str]) -> str:
        parts = []
        for i in shown:
            cell = shorten(cells[i], widths[i])
            parts.append(cell.rjust(widths[i]) if fits[i].right else cell.ljust(widths[i]))
        text = (indent + (" " * gap).join(parts)).rstrip()
        return text if width is None else shorten(text, width)

    left_out = [headers[i] for i in range(len(headers)) if i not in shown]
    return [line(headers), *(line(r) for r in rows)], left_out


def wrap(text: str, width: int | None, indent: str = "") -> list[str]:
    """``text`` as lines of at most ``width`` (None: one line)."""
    if width is None or len(text) <= width:
        return [text]
    return textwrap.wrap(text, width, subsequent_indent=indent, break_on_hyphens=False) or [""]
