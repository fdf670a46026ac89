"""kpitui: objectives, key metrics and KPIs in the terminal.

The package top level is the headless core: it never imports Textual.
Everything that draws on a screen lives in :mod:`kpitui.ui`.
"""

__version__ = "0.1.0"

import pluggy as _pluggy

#: Decorate plugin hook implementations with ``@kpitui.hookimpl``.
hookimpl = _pluggy.HookimplMarker("kpitui")
