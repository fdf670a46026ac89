"""What every alert channel is handed: a notification's text made safe to show, whatever it quotes.

A notification quotes KPI and metric names, notes, values and a source's error message (a remote
server's words). Before any notifier sees it (webhook, e-mail, Apprise, a command, a plugin), each
one-line field (``title``, ``name``, ``subject``, the ``fields``' texts) becomes one line: control
characters, line and paragraph separators, carriage returns and line feeds are spaces, runs of spaces
one (no header of an e-mail or a chat message can be started by a name). In the text fields (``text``,
``markdown``, ``html``) line breaks stay, as ``\\n`` (a CR/LF or a lone CR becomes one), and tabs stay;
every other control character (an escape sequence for a terminal mail reader, a NUL), a bidi override
or isolate (text that reads in another order than it is written) and a lone surrogate (no encoding can
send it) becomes ``?``. Each channel then escapes its own markup as before (the webhook's ``&<>``).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from ..api import Notification

#: bidi embeddings, overrides, isolates and marks: U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}\ud800-\udfff]")
_BREAKS = re.compile("\r\n?|[\u2028\u2029\x85]")
_LINE_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}\u2028\u2029\ud800-\udfff]")


def one_line(text: str) -> str:
    """``text`` as one line: breaks and control characters are spaces, bidi controls and surrogates gone."""
    return " ".join(_LINE_UNSAFE.sub(" ", text).split())


def lines(text: str) -> str:
    """``text`` with its line breaks as ``\\n`` and every other unsafe character ``?``."""
    return _UNSAFE.sub("?", _BREAKS.sub("\n", text))


def _field(value: Any) -> Any:
    if isinstance(value, str):
        return one_line(value)
    if isinstance(value, dict):
        return {one_line(str(k)) if isinstance(k, str) else k: _field(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_field(v) for v in value]
    return value


def safe(notification: Notification) -> Notification:
    """The notification with every text field made safe (see the module's text); the ``key`` kept."""
    n = notification
    return dataclasses.replace(
        n,
        name=one_line(n.name),
        title=one_line(n.title),
        text=lines(n.text),
        subject=one_line(n.subject) if n.subject is not None else None,
        fields=_field(n.fields),
        markdown=lines(n.markdown) if n.markdown is not None else None,
        html=lines(n.html) if n.html is not None else None,
    )
