"""Credentials never follow a redirect to another origin; https never downgrades to http (issue 19, item 3).

urllib copies every header onto the redirected request, so a ``302`` to
another host received the bearer token. Here origin A (one port on
127.0.0.1) redirects with each redirect status to origin B (another port:
another origin) and B records every header it is sent; an https server
(a self-signed certificate trusted through ``SSL_CERT_FILE``) redirects to
plain http. Everything runs through ``kpitui collect`` and ``kpitui report``.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from .conftest import kpitui_env, run_kpitui

TOKEN = "tok_redirect_7e3c9a1f_SECRET"
KEY = "key_redirect_4b2d8f60_SECRET"
CODES = (301, 302, 303, 307, 308)


class Recorder:
    def __init__(self):
        self.requests: list[dict[str, str]] = []


def make_handler(recorder: Recorder, routes: dict[str, tuple[int, str]], needs_auth: bool):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            recorder.requests.append({"path": self.path, **{k: v for k, v in self.headers.items()}})
            status, target = routes.get(self.path, (0, ""))
            if status:
                self.send_response(status)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            authorised = self.headers.get("Authorization") == f"Bearer {TOKEN}"
            status, body = (200, {"v": 1}) if authorised or not needs_auth else (401, {"error": "who are you"})
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def servers(tmp_path):
    """Origins A (http, needs the token), B (http, records), C (https, needs the token)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    recorders = {name: Recorder() for name in "ABC"}
    started = []
    b = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(recorders["B"], {}, needs_auth=False))
    b_url = f"http://127.0.0.1:{b.server_address[1]}"
    a_routes = {f"/away{code}": (code, f"{b_url}/data") for code in CODES}
    a_routes["/same"] = (302, "/data")
    a = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(recorders["A"], a_routes, needs_auth=True))
    c = ThreadingHTTPServer(
        ("127.0.0.1", 0),
        make_handler(recorders["C"], {"/down": (302, f"{b_url}/data"), "/same": (302, "/data")}, needs_auth=True),
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    c.socket = context.wrap_socket(c.socket, server_side=True)
    for server in (a, b, c):
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
    yield {
        "A": f"http://127.0.0.1:{a.server_address[1]}",
        "C": f"https://127.0.0.1:{c.server_address[1]}",
        "cert": str(cert),
        "seen": recorders,
    }
    for server in started:
        server.shutdown()
        server.server_close()


def write_config(tmp_path: Path, urls: dict[str, str]) -> Path:
    text = f'[storage]\npath = "{(tmp_path / "history.sqlite3").as_posix()}"\n'
    metrics = {f"away{code}": f"{urls['A']}/away{code}" for code in CODES}
    metrics |= {"same": f"{urls['A']}/same", "https_same": f"{urls['C']}/same", "downgrade": f"{urls['C']}/down"}
    for metric, url in metrics.items():
        text += f"""
[sources.{metric}]
type = "http"
url = "{url}"
headers = {{ Authorization = "Bearer ${{KPITUI_REDIRECT_TOKEN}}", "X-Api-Key" = "${{KPITUI_REDIRECT_KEY}}", \
Cookie = "session=${{KPITUI_REDIRECT_TOKEN}}" }}
retries = 0

[metrics.{metric}]
source = "{metric}"
path = "v"

[kpis.k_{metric}]
formula = "sum"
metrics = ["{metric}"]
window = "trailing_7d"
"""
    path = tmp_path / "kpitui.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.slow
def test_credentials_stay_with_their_origin_and_https_never_downgrades(tmp_path, servers, figures):
    config = write_config(tmp_path, servers)
    env = kpitui_env(KPITUI_REDIRECT_TOKEN=TOKEN, KPITUI_REDIRECT_KEY=KEY, SSL_CERT_FILE=servers["cert"])
    rounds = 2
    for _ in range(rounds):
        done = run_kpitui("collect", "--once", "--config", str(config), env=env)
        assert done.returncode in (0, 1), done.stderr
        assert "Traceback" not in done.stderr
    report = json.loads(
        run_kpitui("report", "--no-collect", "--format", "json", "--config", str(config), env=env).stdout
    )
    metrics = {m["id"]: m for m in report["metrics"]}
    # same-origin redirects keep the credentials (A and C answer only with the token)
    assert metrics["same"]["error"] is None and metrics["https_same"]["error"] is None, metrics
    # cross-origin redirects of every kind arrive without them, and still read the data
    for code in CODES:
        assert metrics[f"away{code}"]["error"] is None, metrics[f"away{code}"]
    redirected = list(servers["seen"]["B"].requests)
    assert len(redirected) == len(CODES) * rounds, redirected
    carried = [
        r for r in redirected if {"Authorization", "X-Api-Key", "Cookie"} & set(r) or TOKEN in str(r) or KEY in str(r)
    ]
    assert not carried, f"{len(carried)} of {len(redirected)} redirected requests carried credentials: {carried}"
    # https -> http is refused: nothing reached B from C, and the error says why (without the secrets)
    error = metrics["downgrade"]["error"]
    assert error and "refused a redirect" in error and "leave https" in error, error
    assert TOKEN not in error and KEY not in error
    figures(
        redirects=len(redirected),
        carried_credentials=len(carried),
        redirect_codes=len(CODES),
        downgrades_refused=rounds,
    )
