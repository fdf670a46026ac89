"""Built-in notifiers: ``webhook``, ``command``, ``email`` and ``apprise``.

Registered through the ``register_notifiers`` hook, exactly like a
third-party plugin's. Each module imports its network or mail library only
when it sends, so loading kpitui stays fast.
"""

from __future__ import annotations

from kpitui import hookimpl
from kpitui.api import Notifier

from .apprise import AppriseNotifier
from .command import CommandNotifier
from .email import EmailNotifier
from .webhook import WebhookNotifier


@hookimpl
def register_notifiers() -> list[type[Notifier]]:
    return [WebhookNotifier, CommandNotifier, EmailNotifier, AppriseNotifier]
