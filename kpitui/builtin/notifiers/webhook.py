"""The ``webhook`` notifier: a JSON POST that Slack-compatible and generic receivers accept.

The body is the notification's payload (``schema``, ``key``, ``kind``,
``alert``, ``title``, ``text``, ``at``, ``subject``, ``fields``), whose
``text`` is what Slack, Mattermost, Rocket.Chat and Discord-compatible
(``/slack`` suffix) incoming webhooks show. Those receivers read ``&``,
``<`` and ``>`` as markup (``<!channel>`` notifies a whole channel,
``<https://...|here>`` is a link), so ``text`` carries them as ``&amp;``,
``&lt;`` and ``&gt;``: a KPI name, a value or a source's error message
cannot mention people or hide a link. ``title``, ``subject`` and ``fields``
are sent as they are. The idempotency key is also sent as the
``Idempotency-Key`` header. ``url`` and ``headers`` are secrets
(``${SLACK_WEBHOOK_URL}``); any 2xx status is success. A redirect (3xx) is
a failed delivery naming where it points, never followed: the alert and the
headers go to ``url`` only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from kpitui.api import Notification, Notifier, NotifierError, OptionError, Secret

from ._common import clip, reveal, reveal_url

_CHAT_MARKUP = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def chat_text(text: str) -> str:
    """``text`` with the three characters Slack-compatible receivers read as markup escaped."""
    return text.translate(_CHAT_MARKUP)


def _opener() -> Any:
    """An opener that answers a redirect, never follows it: urllib would follow a 301/302/303 with a GET that has no
    body (a 200 to it recorded the alert as delivered, and it was lost) and send the configured headers
    (``Authorization``) to whatever address the answer names."""
    import urllib.request

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return urllib.request.build_opener(NoRedirects)


def redirected(url: str, headers: Any) -> str:
    """What a redirect's error says: the origin it points to (never its path or query, which may hold a secret)."""
    location = (headers.get("Location") or "").strip() if headers is not None else ""
    if not location:
        return "the webhook redirects; set url to the address it should post to"
    target = urlsplit(urljoin(url, location))
    try:
        port = f":{target.port}" if target.port else ""
    except ValueError:  # a port that is not a number
        port = ""
    where = f"{target.scheme}://{target.hostname or ''}{port}"
    return f"the webhook redirects to {where}; kpitui posts an alert to url only: set url to the final address"


@dataclass(frozen=True)
class WebhookOptions:
    url: Secret = field(metadata={"help": 'where to POST, e.g. "${SLACK_WEBHOOK_URL}" (a secret)'})
    headers: dict[str, Secret] = field(default_factory=dict, metadata={"help": "extra request headers (secrets)"})

    def validate(self) -> None:
        if not self.url.references:
            scheme = urlsplit(self.url.template).scheme
            if scheme not in ("http", "https"):
                raise OptionError(
                    f"url must start with http:// or https://, not {scheme + '://' if scheme else 'no scheme'}", "url"
                )


class WebhookNotifier(Notifier):
    type_name = "webhook"
    description = "POST the alert as JSON (Slack-compatible 'text' plus generic fields)"
    Options = WebhookOptions
    default_timeout = 10.0

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"url": "${SLACK_WEBHOOK_URL}"}

    def send(self, notification: Notification) -> None:
        import urllib.error
        import urllib.request

        url = reveal_url(self.options.url)
        if urlsplit(url).scheme not in ("http", "https"):
            raise NotifierError("url must start with http:// or https://")
        payload = notification.as_dict()
        payload["text"] = chat_text(notification.text)
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "kpitui", "Idempotency-Key": notification.key}
        headers.update({name: reveal(value) for name, value in self.options.headers.items()})
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with _opener().open(request, timeout=self.timeout) as response:
                response.read(65536)
        except urllib.error.HTTPError as exc:
            if 300 <= exc.code < 400:
                raise NotifierError(clip(f"HTTP {exc.code} {exc.reason}: {redirected(url, exc.headers)}")) from None
            detail = exc.read(500).decode("utf-8", "replace") if exc.fp else ""
            raise NotifierError(
                clip(f"HTTP {exc.code} {exc.reason}" + (f": {detail}" if detail.strip() else ""))
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise NotifierError(clip(f"cannot reach the webhook: {reason}")) from None
