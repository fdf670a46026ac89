"""kpitui: objectives, key metrics and KPIs in the terminal.

The package top level is the headless core: it never imports Textual.
Everything that draws on a screen lives in :mod:`kpitui.ui`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    import pluggy

    #: Decorate plugin hook implementations with ``@kpitui.hookimpl``.
    hookimpl: pluggy.HookimplMarker


def __getattr__(name: str) -> object:
    # ``hookimpl`` is made on first use, so that a command that loads no plugin (``kpitui --help``) never imports pluggy
    if name == "hookimpl":
        import pluggy

        marker = pluggy.HookimplMarker("kpitui")
        globals()["hookimpl"] = marker
        return marker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
