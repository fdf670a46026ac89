"""Real receivers for alert delivery: an HTTP server and an SMTP server on 127.0.0.1, and `kpitui` as users run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

KPITUI = str(Path(sys.executable).with_name("kpitui"))


class Receiver:
    """A local webhook receiver: records each POSTed JSON body; ``status``/``delay`` shape its answers."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []  # answered 200
        self.arrivals: list[dict] = []  # every request, as it arrives
        self.headers: list[dict] = []
        self.status = 200
        self.delay = 0.0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.arrivals.append(json.loads(body))
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = receiver.status
                if status == 200:
                    with receiver.lock:
                        receiver.bodies.append(json.loads(body))
                        receiver.headers.append(dict(self.headers))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else f"no such hook {self.path}".encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, predicate, timeout: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if predicate(self.bodies):
                    return list(self.bodies)
            time.sleep(0.05)
        with self.lock:
            raise AssertionError(f"timed out; received {self.bodies}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


class Mailbox:
    """A real SMTP server (aiosmtpd) that keeps every message it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[bytes] = []
        mailbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                mailbox.messages.append(envelope.content)
                return "250 OK"

        import socket

        with socket.socket() as probe:  # a free port (aiosmtpd checks its own port by connecting, so not 0)
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def wait_for(self, count: int = 1, timeout: float = 30.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.messages) < count:
            time.sleep(0.05)
        assert len(self.messages) >= count, f"received {len(self.messages)} messages"
        return list(self.messages)

    def close(self) -> None:
        self.controller.stop()


@pytest.fixture
def mailbox():
    pytest.importorskip("aiosmtpd", reason="aiosmtpd is in the test extra: pip install -e '.[test]'")
    m = Mailbox()
    yield m
    m.close()


def run(
    *args: str, env: dict | None = None, timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [KPITUI, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}, cwd=cwd
    )


def start(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [KPITUI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        cwd=cwd,
    )
