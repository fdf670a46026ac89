"""Notifiers (the ``register_notifiers`` hook): :class:`Notifier`, the :class:`Notification` it sends, how it fails."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..options import NoOptions
from .sources import SourceContext


class NotifierError(Exception):
    """A delivery failed in a way the user can act on; the message is shown as is (secrets masked)."""


@dataclass(frozen=True)
class Notification:
    """One message for a notifier: an alert that fired or resolved, a digest, or a test.

    ``key`` is the idempotency key: kpitui delivers at least once, and a
    notification sent again (after a crash between sending and recording the
    delivery) carries the same key, so a receiver can drop the duplicate.
    ``kind``: ``firing``, ``resolved``, ``changed`` (a status change rule),
    ``repeat`` (still firing), ``digest`` or ``test``. ``text`` is one plain
    paragraph; a digest also carries ``markdown`` and ``html`` renderings.
    """

    key: str
    kind: str
    name: str  # the alert's or digest's id
    title: str
    text: str
    at: dt.datetime
    subject: str | None = None  # the KPI, metric or source the alert is about
    fields: dict[str, Any] = field(default_factory=dict)
    markdown: str | None = None
    html: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON payload (``schema`` 1) that the webhook and command notifiers send."""
        return {
            "schema": 1,
            "key": self.key,
            "kind": self.kind,
            "alert": self.name,
            "title": self.title,
            "text": self.text,
            "at": self.at.isoformat(),
            "subject": self.subject,
            "fields": self.fields,
        }


class Notifier:
    """A way of telling people about alerts and digests: a chat webhook, a program, e-mail.

    Subclasses set the class attributes and implement :meth:`send`. One
    instance serves one ``[notifiers.ID]`` table (``self.options`` holds its
    validated ``Options``). ``send`` runs in kpitui's delivery thread with
    ``timeout`` seconds (``timeout = ...`` in the table, default
    ``default_timeout``); raising retries it later with back-off, isolated
    from other notifiers and from collecting.
    """

    type_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions
    default_timeout: ClassVar[float] = 15.0

    def __init__(self, notifier_id: str, options: Any, context: SourceContext, timeout: float | None = None):
        self.id = notifier_id
        self.options: Any = options
        self.context = context
        self.timeout = timeout if timeout is not None else self.default_timeout

    @classmethod
    def check(cls, options: Any, context: SourceContext) -> None:
        """Cross-check the options when the config loads; raise :class:`OptionError` to reject them."""

    @classmethod
    def example(cls) -> dict[str, Any]:
        """Example ``[notifiers.ID]`` keys (besides ``type``) for ``kpitui init``."""
        return {}

    def send(self, notification: Notification) -> None:
        """Deliver one notification; raise (ideally :class:`NotifierError`) when it did not arrive."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""
