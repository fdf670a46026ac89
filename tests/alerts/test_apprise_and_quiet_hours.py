"""The apprise notifier against a local receiver (Apprise's json:// service), and quiet hours in the delivery thread."""

from __future__ import annotations

import datetime as dt
import textwrap
import time

import pytest

from kpitui.alerts.deliver import Dispatcher
from kpitui.alerts.state import AlertStore
from kpitui.api import Notification
from kpitui.config import load_config

from .conftest import run


def test_apprise_delivers_through_one_url(tmp_path, receiver, monkeypatch):
    pytest.importorskip("apprise", reason="the apprise extra: pip install -e '.[test]' installs it")
    monkeypatch.setenv("APPRISE_URL", receiver.url.replace("http://", "json://") + "/apprise-secret-path")
    path = tmp_path / "kpitui.toml"
    path.write_text(
        textwrap.dedent(
            f'''
            [storage]
            path = "{tmp_path / "h.sqlite3"}"
            [notifiers.phone]
            type = "apprise"
            url = "${{APPRISE_URL}}"
            '''
        )
    )
    result = run("alerts", "test", "phone", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "phone: sent"
    (body,) = receiver.wait_for(lambda b: len(b) >= 1)
    assert body["title"] == "Test: phone" and "a test notification from kpitui" in body["message"]


def test_quiet_hours_hold_notifications_until_they_end(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("HOOK_URL", receiver.url + "/quiet")
    path = tmp_path / "kpitui.toml"
    path.write_text(
        textwrap.dedent(
            f'''
            [kpitui]
            timezone = "Europe/Berlin"
            [storage]
            path = "{tmp_path / "h.sqlite3"}"
            [notifiers.team]
            type = "webhook"
            url = "${{HOOK_URL}}"
            quiet_hours = "22:00-07:00"
            '''
        )
    )
    config = load_config(path)
    clock = {"now": dt.datetime(2026, 1, 5, 23, 30, tzinfo=dt.timezone.utc)}  # 00:30 in Berlin: quiet
    store = AlertStore(tmp_path / "h.sqlite3")
    n = Notification(
        key="a/1/firing/1", kind="firing", name="a", title="Firing: a", text="FIRING a: x", at=clock["now"]
    )
    store.enqueue(n, ("team",), clock["now"])
    dispatcher = Dispatcher(config, store, clock=lambda: clock["now"])
    dispatcher.start()
    try:
        time.sleep(1.0)
        assert receiver.arrivals == []
        (item,) = store.recent()
        assert item.next_attempt == dt.datetime(2026, 1, 6, 6, 0, tzinfo=dt.timezone.utc)  # 07:00 Berlin
        clock["now"] = dt.datetime(2026, 1, 6, 6, 0, 1, tzinfo=dt.timezone.utc)
        dispatcher.poke()
        (body,) = receiver.wait_for(lambda b: len(b) >= 1, timeout=10)
        assert body["key"] == "a/1/firing/1"
    finally:
        dispatcher.stop()
        store.close()
