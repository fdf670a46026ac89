"""The footer of kpitui's screens: Textual's, with its keys in the very first frame."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.reactive import Reactive
from textual.widgets import Footer


class KeysFooter(Footer):
    """Textual's footer, composed with the screen's keys at once.

    Textual's ``Footer`` composes empty and fills in only after the screen's
    first refresh, when the screen first publishes its bindings; the first
    complete frame then comes about 0.1 s after the first paint. A screen's
    bindings are known when it is composed, so this footer shows them from
    the start, then follows every change exactly as Textual's does.

    Textual's footer composes itself anew (every key a new widget, styled
    again) each time the screen publishes its bindings: focus moving between
    the panes, the app gaining focus, the screen's refreshes. This one does
    so only when what it shows would change (a key, its label, its enabled
    state, its tooltip): at start-up five recompositions came to nothing
    (about 0.07 s of CPU, beside the history's first load).
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        # Textual 8 keeps this flag private; were it gone, the keys would merely come one refresh later.
        ready = getattr(Footer, "_bindings_ready", None)
        if isinstance(ready, Reactive):
            self.set_reactive(ready, True)
        self._composed: object = None

    def _shown(self) -> object:
        """Everything :meth:`Footer.compose` reads: the screen's bindings it shows (``show``, and the command
        palette's), their state and how keys are written. Not the hidden ones: the panes' (cursor keys, enter)
        became active when the KPIs pane took the focus just after the footer was composed, and the footer was
        composed again, the same keys, after the first frame."""
        app = self.app
        bindings = tuple(
            (key, binding, enabled, tooltip, app.get_key_display(binding))
            for key, (_, binding, enabled, tooltip) in self.screen.active_bindings.items()
            if binding.show or key == app.COMMAND_PALETTE_BINDING
        )
        return (bindings, self.show_command_palette, self.combine_groups, app.ENABLE_COMMAND_PALETTE)

    def compose(self) -> ComposeResult:
        self._composed = self._shown() if self._bindings_ready else None
        yield from super().compose()

    async def recompose(self) -> None:
        if self.is_attached and self._composed is not None and self._shown() == self._composed:
            return  # the same keys as on screen
        await super().recompose()
