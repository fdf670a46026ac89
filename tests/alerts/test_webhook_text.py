"""The webhook's ``text`` cannot carry chat markup: ``<!channel>`` or a hidden link from a name or an error message."""

from __future__ import annotations

import datetime as dt
import textwrap

from kpitui.alerts.deliver import Dispatcher
from kpitui.alerts.state import AlertStore
from kpitui.api import Notification
from kpitui.builtin.notifiers.webhook import chat_text
from kpitui.config import load_config


def test_markup_in_the_text_arrives_escaped_and_the_fields_as_they_are(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("HOOK_URL", receiver.url + "/hook")
    path = tmp_path / "kpitui.toml"
    path.write_text(
        textwrap.dedent(
            f'''
            [storage]
            path = "{tmp_path / "h.sqlite3"}"
            [notifiers.team]
            type = "webhook"
            url = "${{HOOK_URL}}"
            '''
        )
    )
    now = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.timezone.utc)
    name = "Sign-ups <!channel> & <https://evil.example|refunds>"
    text = f"FIRING {name}: 3 < 5 (source said: <html>&nbsp;</html>)"
    store = AlertStore(tmp_path / "h.sqlite3")
    store.enqueue(
        Notification(
            key="a/1/firing/1",
            kind="firing",
            name="a",
            title=f"Firing: {name}",
            text=text,
            at=now,
            subject=name,
            fields={"kpi": name},
        ),
        ("team",),
        now,
    )
    dispatcher = Dispatcher(load_config(path), store, clock=lambda: now)
    dispatcher.start()
    try:
        (body,) = receiver.wait_for(lambda b: len(b) >= 1, timeout=15)
    finally:
        dispatcher.stop()
        store.close()
    assert body["text"] == (
        "FIRING Sign-ups &lt;!channel&gt; &amp; &lt;https://evil.example|refunds&gt;: 3 &lt; 5 "
        "(source said: &lt;html&gt;&amp;nbsp;&lt;/html&gt;)"
    )
    assert "<" not in body["text"] and ">" not in body["text"]
    assert body["title"] == f"Firing: {name}" and body["subject"] == name and body["fields"] == {"kpi": name}


def test_chat_text_leaves_plain_text_alone():
    assert (
        chat_text("Lead Generation 120 (+20% vs last week) ≥ 100 ✓")
        == "Lead Generation 120 (+20% vs last week) ≥ 100 ✓"
    )
    assert chat_text("&amp;") == "&amp;amp;"  # a literal "&amp;" shows as typed
