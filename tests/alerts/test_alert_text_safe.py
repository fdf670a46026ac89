"""Every alert channel gets safe text: a name, note or source error with CR/LF, escape sequences, bidi overrides or
a lone surrogate can neither add an e-mail header nor reach a reader's terminal, through e-mail, Apprise or the
webhook alike (real SMTP and HTTP receivers; the webhook already escaped its chat markup)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import textwrap

import pytest

from kpitui.alerts.deliver import send_once
from kpitui.alerts.safe_text import lines, one_line
from kpitui.api import Notification
from kpitui.config import load_config

HOSTILE_TITLE = "Revenue\r\nBcc: victim@example.com\r\n\r\nfake body \x1b[31mred\x1b[0m \u202egnp.exe \ud800 end"
HOSTILE_TEXT = (
    "line one\rline two\r\nSubject: injected\n\x1b]0;title\x07 \x00 \u2066iso\u2069 café 👨\u200d👩\u200d👧\ttab"
)


def hostile() -> Notification:
    return Notification(
        key="k:1", kind="firing", name="rev\nenue", title=HOSTILE_TITLE, text=HOSTILE_TEXT,
        at=dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.timezone.utc), subject="rev\r\nX-Evil: 1",
        fields={"note": "a\r\nb\x1b[2J", "value": 3.5},
    )  # fmt: skip


def test_the_cleaning_by_hand():
    assert one_line("a\r\nb\x1b[31m\u202ec\t d\u2028e\ud800") == "a b [31m c d e"
    assert lines("a\r\nb\rc\nd\x1b[0m\u202e\x00\te\x85f") == "a\nb\nc\nd?[0m??\te\nf"
    assert lines("café 👨\u200d👩\u200d👧") == "café 👨\u200d👩\u200d👧"  # joiners in emoji are not controls


def config(tmp_path, tables: str):
    path = tmp_path / "kpitui.toml"
    path.write_text(f'[storage]\npath = "{tmp_path / "h.sqlite3"}"\n' + textwrap.dedent(tables))
    return load_config(path)


def test_email_has_no_injected_header_and_no_control_characters(tmp_path, mailbox):
    cfg = config(tmp_path, f"""
        [notifiers.mail]
        type = "email"
        host = "127.0.0.1"
        port = {mailbox.port}
        security = "none"
        to = ["team@example.com"]
        """)  # fmt: skip
    assert send_once(cfg, "mail", hostile()) is None
    (raw,) = mailbox.wait_for(1)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Bcc"] is None and msg["Subject"] is not None
    assert msg["Subject"].strip() == "[kpitui] Revenue Bcc: victim@example.com fake body [31mred [0m gnp.exe end"
    body = msg.get_content().replace("\r\n", "\n")  # the wire's line ends
    assert "\x1b" not in body and "\x00" not in body and "\u202e" not in body and "\u2066" not in body
    assert "line one\nline two\nSubject: injected\n" in body and "café" in body and "\ttab" in body
    assert b"\x1b" not in raw


def test_apprise_gets_one_line_title_and_clean_body(tmp_path, receiver, monkeypatch):
    pytest.importorskip("apprise", reason="the apprise extra: pip install -e '.[test]' installs it")
    monkeypatch.setenv("APPRISE_URL", receiver.url.replace("http://", "json://") + "/apprise-secret-path")
    cfg = config(tmp_path, """
        [notifiers.phone]
        type = "apprise"
        url = "${APPRISE_URL}"
        """)  # fmt: skip
    assert send_once(cfg, "phone", hostile()) is None
    (body,) = receiver.wait_for(lambda b: len(b) >= 1)
    assert "\n" not in body["title"] and "\r" not in body["title"] and "\x1b" not in body["title"]
    assert "\u202e" not in body["title"] and body["title"].startswith("Revenue Bcc: victim@example.com fake body")
    assert "\x1b" not in body["message"] and "\x00" not in body["message"] and "\r" not in body["message"]


def test_webhook_payload_is_clean_too(tmp_path, receiver):
    cfg = config(tmp_path, f"""
        [notifiers.hook]
        type = "webhook"
        url = "{receiver.url}/hook"
        """)  # fmt: skip
    assert send_once(cfg, "hook", hostile()) is None
    (body,) = receiver.wait_for(lambda b: len(b) >= 1)
    assert body["title"].startswith("Revenue Bcc: victim@example.com fake body") and "\r" not in body["title"]
    assert body["subject"] == "rev X-Evil: 1" and body["alert"] == "rev enue"
    assert body["fields"] == {"note": "a b [2J", "value": 3.5}
    assert "\x1b" not in body["text"] and "\x07" not in body["text"]
