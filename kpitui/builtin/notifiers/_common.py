"""Small helpers shared by the built-in notifiers."""

from __future__ import annotations

from kpitui.api import NotifierError, OptionError, Secret
from kpitui.secrets import redact, remember


def reveal(secret: Secret) -> str:
    """The secret's value now; a missing ``${ENV}`` variable is a :class:`NotifierError`."""
    try:
        return secret.reveal()
    except OptionError as exc:
        raise NotifierError(str(exc)) from None


def clip(text: str, limit: int = 300) -> str:
    """One line, secrets masked, at most ``limit`` characters."""
    text = " ".join(redact(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def reveal_url(secret: Secret) -> str:
    """A secret URL's value; its path, query and password are masked too, wherever they turn up alone.

    A chat webhook's secret is its path (``/services/T000/B000/XXXX``): a receiver
    that echoes the path in an error must not put it on screen.
    """
    from urllib.parse import unquote, urlsplit

    value = reveal(secret)
    if secret.references:
        parts = urlsplit(value)
        for part in (parts.path, parts.query, parts.password or "", unquote(parts.path)):
            if len(part.strip("/")) >= 6:
                remember(part)
                remember(part.strip("/"))
    return value
