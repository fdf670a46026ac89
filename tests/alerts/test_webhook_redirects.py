"""A webhook that answers with a redirect: the alert is not counted as delivered, and the configured headers never
reach the other address. Real HTTP servers on 127.0.0.1, the real dispatcher and outbox."""

from __future__ import annotations

import datetime as dt
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kpitui.alerts.deliver import Dispatcher
from kpitui.alerts.state import AlertStore
from kpitui.api import Notification
from kpitui.config import load_config


class Redirecting:
    """Answers every POST with ``status`` and ``Location: target``; counts the requests."""

    def __init__(self, status: int, target: str):
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests += 1
                self.send_response(status)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Anything(BaseHTTPRequestHandler):
    """The redirect's target: records every request, whatever its method."""

    seen: list[tuple[str, dict[str, str]]] = []

    def _any(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        Anything.seen.append((self.command, dict(self.headers)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = do_HEAD = _any  # noqa: N815

    def log_message(self, *args):
        pass


@pytest.mark.slow
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failed_delivery_and_the_credentials_stay(tmp_path, monkeypatch, status):
    """Before the fix urllib followed a 301, 302 or 303 with a GET without the body, sent the configured
    ``Authorization`` header to the other address, and the 200 that GET got recorded the alert as delivered: the
    alert was lost and the credential leaked."""
    Anything.seen = []
    target = ThreadingHTTPServer(("127.0.0.1", 0), Anything)
    target.daemon_threads = True
    threading.Thread(target=target.serve_forever, daemon=True).start()
    elsewhere = f"http://127.0.0.1:{target.server_address[1]}/collect"
    hook = Redirecting(status, elsewhere)
    monkeypatch.setenv("HOOK_URL", hook.url)
    monkeypatch.setenv("HOOK_AUTH", "Bearer s3cret-hook-token")
    path = tmp_path / "kpitui.toml"
    path.write_text(
        textwrap.dedent(
            f'''
            [storage]
            path = "{(tmp_path / "h.sqlite3").as_posix()}"
            [notifiers.team]
            type = "webhook"
            url = "${{HOOK_URL}}"
            headers = {{ Authorization = "${{HOOK_AUTH}}" }}
            '''
        )
    )
    now = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.timezone.utc)
    store = AlertStore(tmp_path / "h.sqlite3")
    store.enqueue(
        Notification(key="a/1/firing/1", kind="firing", name="a", title="Firing: sign-ups", text="x", at=now),
        ("team",),
        now,
    )
    dispatcher = Dispatcher(load_config(path), store, clock=lambda: now)
    dispatcher.start()
    try:
        deadline = time.monotonic() + 30
        while not (items := store.recent()) or items[0].last_error is None and items[0].delivered is None:
            assert time.monotonic() < deadline, "no delivery attempt"
            time.sleep(0.05)
    finally:
        dispatcher.stop()
        hook.close()
        target.shutdown()
        target.server_close()
    (item,) = store.recent()
    store.close()
    assert item.delivered is None, "a redirect is not a delivery"
    assert f"HTTP {status}" in item.last_error and "redirect" in item.last_error, item.last_error
    assert f"127.0.0.1:{target.server_address[1]}" in item.last_error, "says where it points"
    assert "s3cret" not in item.last_error
    assert hook.requests == 1 and Anything.seen == [], "nothing followed the redirect"
