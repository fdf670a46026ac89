"""Small helpers shared by the built-in notifiers."""

from __future__ import annotations

from kpitui.api import NotifierError, OptionError, Secret
from kpitui.options import redact


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
