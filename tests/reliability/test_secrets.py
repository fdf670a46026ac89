"""Secrets: values from ``${ENV}`` references never show, in any output kpitui produces or file it writes.

Sources that leak on purpose: an HTTP API that echoes the ``Authorization``
header in 401/403/500 error bodies and in a non-JSON page (some echoes long
enough that the message is cut in the middle of the token), PostgreSQL URLs
with a password (refused connection, a bad option that echoes its value), a
SQLite path made of a secret, commands that print their secret environment
to stderr or stdout, and a plugin source whose exception carries the token.
The sinks searched: ``kpitui collect`` stdout/stderr, ``kpitui report``
(table, JSON, CSV), ``kpitui check``, ``kpitui plugins`` (table, JSON), the
TUI's screens (Textual pilot, dashboard and each metric's detail), and every
byte of the history file and its WAL. A leak is any 10-character run of a
secret, so a token cut in half is caught too.
"""

from __future__ import annotations

import html
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from .conftest import kpitui_env, run_kpitui

TOKEN = "tok_3f9a6c1e_SECRET_c0ffee42"
PASSWORD = "pw_9d8e7f6a_SECRET_beef1234"
SECRETS = {"KPITUI_TEST_TOKEN": TOKEN, "KPITUI_TEST_PW": PASSWORD}


def leaks(text: str) -> list[str]:
    """Every 10-character run of a secret found in ``text``."""
    found = []
    for secret in SECRETS.values():
        for i in range(len(secret) - 9):
            if secret[i : i + 10] in text:
                found.append(secret[i : i + 10])
                break
    return found


class Echo(BaseHTTPRequestHandler):
    """Error pages that repeat the Authorization header back, as careless APIs do."""

    def do_GET(self):  # noqa: N802
        auth = self.headers.get("Authorization", "")
        routes = {
            "/ok": (200, "application/json", json.dumps({"data": {"visitors": 42}}))
            if auth == f"Bearer {TOKEN}"
            else (401, "application/json", "{}"),
            "/echo401": (401, "application/json", json.dumps({"error": f"invalid credentials: {auth}"})),
            "/echo403_long": (403, "text/plain", "x" * 170 + f" header was {auth}"),
            "/echo500": (500, "text/plain", f"upstream failed for {auth}"),
            "/not_json": (200, "text/html", "<html>" + "y" * 100 + f" {auth}</html>"),
        }
        status, kind, body = routes.get(self.path, (404, "text/plain", "no"))
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def echo_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


PLUGIN = """
from dataclasses import dataclass
import kpitui
from kpitui.api import MetricSource, Secret


@dataclass(frozen=True)
class Options:
    token: Secret


class Leaky(MetricSource):
    type_name = "leaky"
    description = "Puts its token in its exceptions."
    Options = Options

    def fetch(self, cursor, now):
        value = self.options.token.reveal()
        raise PermissionError(f"denied for {value!r} ({value.encode()!r})")


@kpitui.hookimpl
def register_metric_sources():
    return [Leaky]
"""


def write_project(tmp_path: Path, base: str) -> Path:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "leaky.py").write_text(PLUGIN, encoding="utf-8")
    clipped = "printf 'x%.0s' $(seq 1 110); echo \"$TOKEN\""
    text = f"""
[storage]
path = "{(tmp_path / "history.sqlite3").as_posix()}"

[plugins]
dirs = ["plugins"]

[sources.api]
type = "http"
url = "{base}/ok"
headers = {{ Authorization = "Bearer ${{KPITUI_TEST_TOKEN}}" }}
retries = 1
backoff = 0.01
timeout = 5

[sources.api_ok]
type = "http"
url = "{base}/ok"
headers = {{ Authorization = "Bearer ${{KPITUI_TEST_TOKEN}}" }}

[sources.warehouse]
type = "sql"
url = "postgresql://kpitui:${{KPITUI_TEST_PW}}@127.0.0.1:1/shop"
timeout = 3

[sources.warehouse_opts]
type = "sql"
url = "postgresql://kpitui:${{KPITUI_TEST_PW}}@127.0.0.1:1/shop?sslmode=${{KPITUI_TEST_PW}}"
timeout = 3

[sources.local_db]
type = "sql"
url = "sqlite:///${{KPITUI_TEST_PW}}.db"

[sources.scripts]
type = "command"
env = {{ TOKEN = "${{KPITUI_TEST_TOKEN}}" }}
timeout = 5

[sources.plugin]
type = "leaky"
token = "${{KPITUI_TEST_TOKEN}}"
"""
    metrics = {
        "visitors": ("api_ok", 'path = "data.visitors"'),
        "echo401": ("api", f'path = "x"\nurl = "{base}/echo401"'),
        "echo403": ("api", f'path = "x"\nurl = "{base}/echo403_long"'),
        "echo500": ("api", f'path = "x"\nurl = "{base}/echo500"'),
        "not_json": ("api", f'path = "x"\nurl = "{base}/not_json"'),
        "orders": ("warehouse", 'query = "SELECT 1"'),
        "orders_opts": ("warehouse_opts", 'query = "SELECT 1"'),
        "local": ("local_db", 'query = "SELECT 1"'),
        "stderr": ("scripts", "command = " + json.dumps('echo "auth failed for $TOKEN" >&2; exit 3')),
        "stdout": ("scripts", "command = " + json.dumps('echo "token=$TOKEN"')),
        "clipped": ("scripts", "command = " + json.dumps(clipped)),
        "from_plugin": ("plugin", ""),
    }
    for metric, (source, extra) in metrics.items():
        text += f'\n[metrics.{metric}]\nsource = "{source}"\n{extra}\n'
        text += f'\n[kpis.k_{metric}]\nformula = "sum"\nmetrics = ["{metric}"]\nwindow = "trailing_7d"\n'
    config = tmp_path / "kpitui.toml"
    config.write_text(text, encoding="utf-8")
    return config


@pytest.mark.slow
def test_secrets_never_reach_reports_logs_errors_plugins_or_the_store(tmp_path, echo_server, figures):
    config = write_project(tmp_path, echo_server)
    env = kpitui_env(**SECRETS)
    outputs: dict[str, str] = {}
    for name, args in {
        "check": ["check"],
        "collect": ["collect", "--once"],
        "report_table": ["report"],  # also polls the sources that are due
        "report_json": ["report", "--no-collect", "--format", "json"],
        "report_csv": ["report", "--no-collect", "--format", "csv"],
        "plugins": ["plugins"],
        "plugins_json": ["plugins", "--format", "json"],
    }.items():
        done = run_kpitui(*args, "--config", str(config), env=env, timeout=60)
        assert done.returncode in (0, 1), (name, done.returncode, done.stderr)
        outputs[name] = done.stdout + done.stderr
    errors = {
        m["id"]: m["error"]
        for m in json.loads(
            run_kpitui("report", "--no-collect", "--format", "json", "--config", str(config), env=env).stdout
        )["metrics"]
    }
    # every leaky source failed, said why, and kept the secret out of it
    assert "HTTP 401" in errors["echo401"] and "***" in errors["echo401"], errors["echo401"]
    assert "HTTP 403" in errors["echo403"] and "HTTP 500" in errors["echo500"] and "not JSON" in errors["not_json"]
    assert "PostgreSQL" in errors["orders"] and "sslmode" in errors["orders_opts"]
    assert "does not exist" in errors["local"] and "exited with code 3" in errors["stderr"]
    assert "PermissionError: denied for '***'" in errors["from_plugin"], errors["from_plugin"]
    assert (
        errors["visitors"] is None and '"value": 42.0' in outputs["report_json"]
    )  # the secret was sent where it belongs
    store_bytes = {p.name: p.read_bytes().decode("latin-1") for p in tmp_path.glob("history.sqlite3*")}
    found = {name: leaks(text) for name, text in {**outputs, **errors, **store_bytes}.items() if text and leaks(text)}
    assert not found, f"secrets leaked: {found}"
    figures(
        leaky_sources=6,
        leaky_metrics=sum(1 for v in errors.values() if v),
        sinks=len(outputs) + 1 + len(store_bytes),
        store_files_scanned=len(store_bytes),
        bytes_scanned=sum(len(t) for t in store_bytes.values()) + sum(len(t) for t in outputs.values()),
    )


def screen_text(app) -> str:
    """The current screen as plain text (the SVG screenshot's text runs, entities decoded)."""
    svg = app.export_screenshot()
    runs = re.findall(r"<text[^>]*>(.*?)</text>", svg, flags=re.S)
    return html.unescape("".join(runs)).replace("\xa0", " ")


async def tui_screens(tmp_path: Path, base: str, details: bool) -> list[str]:
    from kpitui.config import load_config
    from kpitui.ui.app import KpiApp
    from kpitui.ui.screens.dashboard import DashboardScreen

    config = load_config(write_project(tmp_path, base))
    leaky = {m for m in config.metrics if m != "visitors"}
    app = KpiApp(config, collect=True, watch_config=False)
    screens = []
    async with app.run_test(size=(200, 60)) as pilot:
        for _ in range(150):  # until every leaky metric shows its source's error (at most 15 s)
            await pilot.pause(0.1)
            snapshot = app.snapshot
            if snapshot and all(snapshot.metrics[m].health and snapshot.metrics[m].health.error for m in leaky):
                break
        await pilot.pause(0.3)
        # the KPIs pane has the focus: each KPI (its metric and the source's error below it), the KPI's
        # detail, and its metric's detail
        for _ in range(len(config.kpis)):
            await pilot.pause(0.1)
            screens.append(screen_text(app))
            for keys in (["enter"], ["tab", "enter"]) if details else ():
                await pilot.press(*keys)
                await pilot.pause(0.2)
                screens.append(screen_text(app))
                await pilot.press("escape")
                await pilot.pause(0.05)
            await pilot.press(*(["shift+tab", "j"] if details else ["j"]))
        assert isinstance(app.screen, DashboardScreen)
    return screens


async def check_tui(tmp_path, base, monkeypatch, figures, details: bool) -> None:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    screens = await tui_screens(tmp_path, base, details)
    text = "\n".join(screens)
    assert "HTTP 401" in text and "***" in text, f"the errors were not on screen:\n{screens[0]}"
    assert not leaks(text), f"the TUI showed a secret: {leaks(text)}"
    figures(screens_scanned=len(screens), characters_scanned=len(text))


@pytest.mark.slow
async def test_secrets_never_reach_the_tui(tmp_path, echo_server, monkeypatch, figures):
    """Every KPI of the dashboard in turn, with its metric and its source's error (Textual pilot)."""
    await check_tui(tmp_path, echo_server, monkeypatch, figures, details=False)


@pytest.mark.slow
async def test_secrets_never_reach_the_tui_detail_screens(tmp_path, echo_server, monkeypatch, figures):
    """Also each KPI's and each metric's detail screen."""
    await check_tui(tmp_path, echo_server, monkeypatch, figures, details=True)
