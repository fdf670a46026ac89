"""The footer of kpitui's screens: Textual's, with its keys in the very first frame."""

from __future__ import annotations

from textual.reactive import Reactive
from textual.widgets import Footer


class KeysFooter(Footer):
    """Textual's footer, composed with the screen's keys at once.

    Textual's ``Footer`` composes empty and fills in only after the screen's
    first refresh, when the screen first publishes its bindings; the first
    complete frame then comes about 0.1 s after the first paint. A screen's
    bindings are known when it is composed, so this footer shows them from
    the start, then follows every change exactly as Textual's does.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        # Textual 8 keeps this flag private; were it gone, the keys would merely come one refresh later.
        ready = getattr(Footer, "_bindings_ready", None)
        if isinstance(ready, Reactive):
            self.set_reactive(ready, True)
