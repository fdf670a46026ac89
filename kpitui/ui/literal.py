"""Text from the config, the history or a log shown as it is, never read as Textual markup or sent as control codes.

A name such as ``Leads [/x]`` or ``[@click=app.quit]go[/]`` is markup to Textual wherever a plain ``str``
is taken (a border title, a notification, an option, a Rich table cell): it would crash the screen
(``MarkupError``) or become a clickable action. An escape sequence (``\\x1b[2J``, an OSC title) would be
written to the terminal. :func:`literal` is the one way such text reaches a widget.
"""

from __future__ import annotations

from textual.content import Content

from ..console import escape_controls


def literal(text: object) -> Content:
    """``text`` as plain content: no markup, control characters written out (``\\u001b``)."""
    return Content(escape_controls(str(text)))
