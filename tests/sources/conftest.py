"""Fixtures for the built-in source tests: real servers, a local JSON server, a source builder.

``pg_url`` and ``prom_url`` come from ``.ci/services.sh start`` (its env file
sets ``KPITUI_TEST_PG_URL`` and ``KPITUI_TEST_PROM_URL``). Without them the
tests skip locally, but fail when ``CI`` is set, so CI can never pass by
silently skipping the real-server tests.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kpitui.api import MetricSource, SourceContext
from kpitui.model import Metric, SourceSpec, Trigger
from kpitui.options import parse


def _server(variable: str, what: str) -> str:
    url = os.environ.get(variable)
    if url:
        return url
    message = (
        f"{variable} is not set: run `bash .ci/services.sh start` and load its env file to test against a real {what}"
    )
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so the real-server tests must run, not skip)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A real PostgreSQL server's URL (password included)."""
    return _server("KPITUI_TEST_PG_URL", "PostgreSQL server")


@pytest.fixture(scope="session")
def prom_url() -> str:
    """A real Prometheus server scraping itself."""
    return _server("KPITUI_TEST_PROM_URL", "Prometheus server")


def build_source(
    cls: type[MetricSource],
    source: dict[str, Any],
    metrics: dict[str, dict[str, Any]],
    *,
    config_dir: Path,
    timeout: float = 5.0,
    timezone: str = "UTC",
) -> MetricSource:
    """Parse the tables the way the config loader does, run ``check`` and make the source.

    Each metric table may hold ``trigger`` and ``condition`` besides the type's own keys.
    """
    options = parse(cls.Options, source, where="sources.x")
    built = []
    for metric_id, table in metrics.items():
        table = dict(table)
        text, condition = table.pop("trigger", None), table.pop("condition", None)
        trigger = Trigger(text or condition or "", condition) if (text or condition) else None
        metric_options = parse(cls.MetricOptions, table, where=f"metrics.{metric_id}")
        built.append(Metric(id=metric_id, name=metric_id, source="x", trigger=trigger, options=metric_options))
    context = SourceContext(config_dir=config_dir, timezone=timezone)
    cls.check(options, built, context)
    spec = SourceSpec(id="x", type=cls.type_name, interval=60.0, timeout=timeout, options=options)
    return cls(spec, built, context)


@pytest.fixture
def make_source(tmp_path) -> Callable[..., MetricSource]:
    def make(cls: type[MetricSource], source: dict[str, Any], metrics: dict[str, dict[str, Any]], **kwargs: Any):
        kwargs.setdefault("config_dir", tmp_path)
        return build_source(cls, source, metrics, **kwargs)

    return make


# -- a local JSON server -------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes
    delay: float = 0.0
    content_type: str = "application/json"


@dataclass
class JsonServer:
    """``ThreadingHTTPServer`` on 127.0.0.1 (port 0). Each path answers its replies in turn,
    repeating the last; every request is recorded as (path, headers)."""

    url: str = ""
    routes: dict[str, list[Reply]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def route(self, path: str, *replies: Reply | Any) -> str:
        self.routes[path] = [r if isinstance(r, Reply) else Reply(body=r) for r in replies]
        return self.url + path

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p.split("?")[0] == path)


@pytest.fixture
def json_server() -> Iterator[JsonServer]:
    state = JsonServer()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            with lock:
                state.requests.append((self.path, dict(self.headers)))
                replies = state.routes.get(self.path.split("?")[0]) or [Reply(404, {"error": "no such route"})]
                reply = replies.pop(0) if len(replies) > 1 else replies[0]
            if reply.delay:
                time.sleep(reply.delay)
            body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="json-server", daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nothing listens on (connection refused)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
