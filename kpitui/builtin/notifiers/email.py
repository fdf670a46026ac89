"""The ``email`` notifier: SMTP with STARTTLS or SSL, from the standard library.

``security``: ``starttls`` (default, port 587), ``ssl`` (port 465) or
``none`` (a local relay, port 25). ``username`` and ``password`` are
secrets; without them no login is attempted. A digest is sent as HTML with
a plain-text alternative; alerts as plain text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from email.message import EmailMessage

from kpitui.api import Notification, Notifier, NotifierError, OptionError, Secret

from ._common import clip, reveal

DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}


@dataclass(frozen=True)
class EmailOptions:
    host: str = field(metadata={"help": "SMTP server"})
    to: list[str] = field(metadata={"help": "recipients"})
    sender: str = field(default="kpitui@localhost", metadata={"help": "the From address"})
    port: int | None = field(default=None, metadata={"help": "default: 587 (starttls), 465 (ssl), 25 (none)"})
    security: Literal["starttls", "ssl", "none"] = field(
        default="starttls", metadata={"help": "how the connection is protected"}
    )
    username: Secret | None = field(default=None, metadata={"help": "login (a secret)"})
    password: Secret | None = field(default=None, metadata={"help": 'password (a secret, e.g. "${SMTP_PASSWORD}")'})
    subject_prefix: str = field(default="[kpitui] ", metadata={"help": "put before every subject"})

    def validate(self) -> None:
        if not self.to:
            raise OptionError("to must list at least one address", "to")
        for i, address in enumerate([*self.to, self.sender]):
            if "@" not in address or any(c in address for c in "\r\n"):
                raise OptionError(f"{address!r} is not an e-mail address", "to" if i < len(self.to) else "sender")
        if (self.username is None) != (self.password is None):
            raise OptionError("set both username and password, or neither", "username")
        if self.port is not None and not 0 < self.port < 65536:
            raise OptionError("port must be between 1 and 65535", "port")


class EmailNotifier(Notifier):
    type_name = "email"
    description = "send e-mail over SMTP (STARTTLS or SSL; HTML digests)"
    Options = EmailOptions
    default_timeout = 30.0

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {
            "host": "smtp.example.com",
            "to": ["team@example.com"],
            "username": "${SMTP_USER}",
            "password": "${SMTP_PASSWORD}",
        }

    def message(self, notification: Notification) -> EmailMessage:
        from email.message import EmailMessage
        from email.utils import formatdate, make_msgid

        o = self.options
        msg = EmailMessage()
        msg["Subject"] = o.subject_prefix + " ".join(notification.title.split())
        msg["From"] = o.sender
        msg["To"] = ", ".join(o.to)
        msg["Date"] = formatdate(notification.at.timestamp(), localtime=False)
        msg["Message-ID"] = make_msgid(idstring=notification.key.replace(":", ".")[:60], domain="kpitui")
        msg["X-Kpitui-Key"] = notification.key
        msg.set_content(notification.markdown or notification.text)
        if notification.html:
            msg.add_alternative(notification.html, subtype="html")
        return msg

    def send(self, notification: Notification) -> None:
        import smtplib
        import ssl

        o = self.options
        port = o.port or DEFAULT_PORTS[o.security]
        msg = self.message(notification)
        try:
            client: smtplib.SMTP
            if o.security == "ssl":
                client = smtplib.SMTP_SSL(o.host, port, timeout=self.timeout, context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(o.host, port, timeout=self.timeout)
            with client:
                if o.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if o.username is not None and o.password is not None:
                    client.login(reveal(o.username), reveal(o.password))
                client.send_message(msg)
        except smtplib.SMTPException as exc:
            raise NotifierError(clip(f"SMTP {o.host}:{port}: {exc}")) from None
        except OSError as exc:
            raise NotifierError(clip(f"cannot reach SMTP server {o.host}:{port}: {exc.strerror or exc}")) from None
