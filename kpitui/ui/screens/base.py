"""What the screens drawn from the app's snapshot have in common: they watch the app's
state (the app never reaches into them) and see ``self.app`` typed as :class:`KpiApp`."""

from __future__ import annotations

from typing import Any, Callable

from textual.app import App
from textual.geometry import Size
from textual.screen import Screen

from ..state import KpiNode


class SnapshotScreen(KpiNode, Screen):
    """A screen drawn from the app's snapshot and view settings."""

    #: composed and mounted: safe to query children
    ready: bool = False

    def watch_app(self, **callbacks: Callable[..., Any]) -> None:
        """Call ``callbacks[name]`` whenever the app's reactive ``name`` changes (``theme``: once the theme's
        colours apply); the watches end with the screen."""
        for name, callback in callbacks.items():
            if name == "theme":
                self.app.theme_changed_signal.subscribe(self, lambda _theme, callback=callback: callback())
            else:
                self.watch(self.app, name, lambda *_values, callback=callback: callback(), init=False)

    def refresh_view(self) -> None:
        """Redraw from the app's current snapshot."""
        raise NotImplementedError


def breakpoint_classes(app: App[Any], size: Size) -> dict[str, bool]:
    """The app's breakpoint classes (``HORIZONTAL_BREAKPOINTS``, ``VERTICAL_BREAKPOINTS``) for a screen of ``size``:
    each on or off, as Textual sets them on a screen when it is resized."""
    classes: dict[str, bool] = {}
    for dimension, breakpoints in ((size.width, app.HORIZONTAL_BREAKPOINTS), (size.height, app.VERTICAL_BREAKPOINTS)):
        found = [name for at, name in sorted(breakpoints or [], reverse=True) if dimension >= at][:1]
        classes.update({name: name in found for _, name in breakpoints or []})
    return classes
