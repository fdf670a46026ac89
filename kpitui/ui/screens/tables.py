"""The Rich tables the help and alerts screens draw: a titled section in the theme's accent."""

from __future__ import annotations

from rich.table import Table

from ..palette import Palette


def section_table(colours: Palette, title: str, *, show_header: bool = False) -> Table:
    """An unboxed, full-width table titled ``title`` (left, bold, accent colour), columns padded one space."""
    return Table(
        title=title,
        title_justify="left",
        title_style=f"bold {colours.accent}",
        box=None,
        expand=True,
        padding=(0, 1),
        show_header=show_header,
    )
