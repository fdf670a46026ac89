"""What the screens drawn from the app's snapshot have in common, so the app can redraw
them without importing each (the detail view loads when it is first opened)."""

from __future__ import annotations

from textual.screen import Screen


class SnapshotScreen(Screen):
    """A screen drawn from the app's snapshot and view settings."""

    #: composed and mounted: safe to query children
    ready: bool = False

    def refresh_view(self) -> None:
        """Redraw from the app's current snapshot."""
        raise NotImplementedError

    def refresh_status(self) -> None:
        """Redraw only the status line (a source's progress moved on); screens without one ignore it."""
