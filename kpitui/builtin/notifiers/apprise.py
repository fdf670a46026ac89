"""The ``apprise`` notifier: one URL reaching the 100+ services Apprise supports.

Needs the optional extra: ``pip install 'kpitui[apprise]'``. ``url`` is a
secret (``"${APPRISE_URL}"``, e.g. ``tgram://token/chat``); ``urls`` lists
several.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kpitui.api import Notification, Notifier, NotifierError, OptionError, Secret

from ._common import reveal_url

MISSING = "the apprise notifier needs the Apprise library: pip install 'kpitui[apprise]'"


@dataclass(frozen=True)
class AppriseOptions:
    url: Secret | None = field(default=None, metadata={"help": 'an Apprise URL (a secret), e.g. "${APPRISE_URL}"'})
    urls: list[Secret] = field(default_factory=list, metadata={"help": "or several"})

    def validate(self) -> None:
        if self.url is None and not self.urls:
            raise OptionError('set url (an Apprise URL such as "${APPRISE_URL}") or urls', "url")


def _apprise() -> Any:
    try:
        import apprise
    except ImportError:
        raise NotifierError(MISSING) from None
    return apprise


class AppriseNotifier(Notifier):
    type_name = "apprise"
    description = "any of the 100+ services Apprise reaches (needs kpitui[apprise])"
    Options = AppriseOptions

    @classmethod
    def check(cls, options: Any, context: Any) -> None:
        import importlib.util

        if importlib.util.find_spec("apprise") is None:
            raise OptionError(MISSING)

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"url": "${APPRISE_URL}"}

    def send(self, notification: Notification) -> None:
        apprise = _apprise()
        app = apprise.Apprise()
        for secret in ([self.options.url] if self.options.url else []) + list(self.options.urls):
            if not app.add(reveal_url(secret)):
                raise NotifierError("Apprise does not recognise one of the URLs")
        body = notification.markdown or notification.text
        if not app.notify(title=notification.title, body=body):
            raise NotifierError("Apprise could not deliver to every URL (see its log)")
