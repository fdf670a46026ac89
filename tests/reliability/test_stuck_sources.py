"""Sources cannot eat memory or hang a poll (issue 19, item 5).

- ``command = "yes 12345"`` reached 4.3 GiB of RSS: output is now cut at a
  limit and the process group killed; ``kpitui collect``'s peak RSS (from
  ``wait4``) stays within a bound of the same command run with ``echo``.
- An HTTP server trickling a byte every 0.2 s (in its headers, or in its
  body) kept the fetch alive forever and every later poll was skipped: the
  timeout is now a deadline on the whole exchange, the socket is shut down
  when it passes (the server sees its connection closed), and the next poll
  runs normally.
- An endless body kept growing memory after the poll was reported as timed
  out: it is refused at the response limit, the connection closed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kpitui.builtin._webclient import MAX_RESPONSE_BYTES
from kpitui.builtin.command import MAX_OUTPUT_BYTES
from kpitui.collector import Collector
from kpitui.config import load_config
from kpitui.store import Store

from .conftest import KPITUI, REPO, kpitui_env

MIB = 2**20


class Misbehaving(BaseHTTPRequestHandler):
    """``mode``: ``trickle_body``, ``trickle_headers``, ``endless`` or ``ok``; records when a write failed."""

    protocol_version = "HTTP/1.1"
    mode = "ok"
    closed: list[float] = []  # monotonic times at which the client had closed the connection

    def do_GET(self):  # noqa: N802
        try:
            if self.mode == "trickle_headers":
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                while True:
                    self.wfile.write(b"X")
                    self.wfile.flush()
                    time.sleep(0.2)
            if self.mode == "ok":
                data = json.dumps({"v": 7}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if self.mode == "trickle_body":
                self.send_header("Content-Length", "100000")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b'{"v": 1, "pad": "')
            chunk = b"x" * 65536
            while True:
                if self.mode == "trickle_body":
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.2)
                else:
                    self.wfile.write(chunk)
        except OSError:
            type(self).closed.append(time.monotonic())

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    handler = type("Handler", (Misbehaving,), {"closed": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield handler, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def http_config(tmp_path: Path, url: str, timeout: float) -> Path:
    path = tmp_path / "kpitui.toml"
    path.write_text(
        f"""
[storage]
path = "{(tmp_path / "history.sqlite3").as_posix()}"

[sources.api]
type = "http"
url = "{url}/stats"
timeout = {timeout}
retries = 0

[metrics.v]
source = "api"
path = "v"
""",
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["trickle_body", "trickle_headers"])
def test_a_trickling_server_times_out_its_socket_is_closed_and_the_next_poll_runs(tmp_path, server, mode, figures):
    handler, url = server
    handler.mode = mode
    timeout = 1.5
    config = load_config(http_config(tmp_path, url, timeout))
    store = Store(config.storage.path)
    collector = Collector(config, store)
    try:
        started = time.monotonic()
        result = collector.poll("api")
        took = time.monotonic() - started
        assert result.error and f"within {timeout:g}s (the source's timeout)" in result.error, result.error
        assert took < timeout + 1.0, took  # the deadline holds, body and headers included
        for _ in range(40):  # the server finds its connection closed at its next write (0.2 s)
            if handler.closed:
                break
            time.sleep(0.05)
        assert handler.closed and handler.closed[0] - started < timeout + 1.0, handler.closed
        assert not collector.states["api"].left_behind
        handler.mode = "ok"
        again = collector.poll("api")  # not "previous fetch still running"
        assert again.error is None and again.written == 1, again
    finally:
        collector.close()
        store.close()
    figures(
        mode=mode,
        timeout_s=timeout,
        poll_s=round(took, 2),
        socket_closed_after_s=round(handler.closed[0] - started, 2),
        recovered=True,
    )


#: runs a command and writes its peak RSS (KiB) to a file: a small parent, so the fork's copy of
#: pytest's own memory (which ru_maxrss would count) does not hide what the command itself used
MEASURE = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""


def run_measured(args: list[str], env: dict[str, str]) -> tuple[int, str, int]:
    """Run ``kpitui ARGS``; return its exit code, output and peak RSS in MiB."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, rss.name, *KPITUI, *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=120,
        )
        peak_kib = int(rss.read() or 0)
    return done.returncode, done.stdout.decode("utf-8", "replace"), peak_kib // 1024


def command_config(tmp_path: Path, command: str, timeout: float = 3) -> Path:
    path = tmp_path / f"{command.split()[0]}.toml"
    path.write_text(
        f"""
[storage]
path = "{(tmp_path / "history.sqlite3").as_posix()}"

[sources.script]
type = "command"
timeout = {timeout}

[metrics.n]
source = "script"
command = "{command}"
""",
        encoding="utf-8",
    )
    return path


def test_yes_is_cut_at_the_output_limit_and_memory_stays_bounded(tmp_path, figures):
    env = kpitui_env()
    code, out, baseline = run_measured(
        ["collect", "--once", "--config", str(command_config(tmp_path, "echo 12345"))], env
    )
    assert code == 0, out
    started = time.monotonic()
    code, out, peak = run_measured(["collect", "--once", "--config", str(command_config(tmp_path, "yes 12345"))], env)
    took = time.monotonic() - started
    assert code == 1 and f"printed more than {MAX_OUTPUT_BYTES // MIB} MiB" in out, out
    assert "Traceback" not in out
    # the output limit plus the decoded copy, far from the GiBs an unbounded read reached
    assert peak - baseline < 4 * MAX_OUTPUT_BYTES // MIB + 50, (baseline, peak)
    figures(
        command="yes 12345",
        baseline_rss_mib=baseline,
        peak_rss_mib=peak,
        output_limit_mib=MAX_OUTPUT_BYTES // MIB,
        seconds=round(took, 1),
    )


def test_a_command_past_its_timeout_is_killed_with_its_children(tmp_path, figures):
    marker = tmp_path / "child.pid"
    config = command_config(tmp_path, f"sh -c 'echo $$ > {marker}; exec sleep 60' & sleep 60", timeout=1)
    env = kpitui_env()
    started = time.monotonic()
    code, out, _ = run_measured(["collect", "--once", "--config", str(config)], env)
    assert code == 1 and "timed out after 1s" in out and "process group was killed" in out, out
    assert time.monotonic() - started < 10
    child = int(marker.read_text())
    for _ in range(20):
        if not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the command's child {child} outlived the timeout")
    figures(children_killed=1)


def test_an_endless_body_is_refused_at_the_limit_with_bounded_memory(tmp_path, server, figures):
    handler, url = server
    handler.mode = "endless"
    env = kpitui_env()
    baseline_config = command_config(tmp_path, "echo 12345")
    _, _, baseline = run_measured(["collect", "--once", "--config", str(baseline_config)], env)
    started = time.monotonic()
    code, out, peak = run_measured(["collect", "--once", "--config", str(http_config(tmp_path, url, 30))], env)
    took = time.monotonic() - started
    assert code == 1 and f"larger than {MAX_RESPONSE_BYTES // MIB} MiB" in out, out
    for _ in range(40):
        if handler.closed:
            break
        time.sleep(0.05)
    assert handler.closed, "the server was still sending after the poll ended"
    assert peak - baseline < 3 * MAX_RESPONSE_BYTES // MIB + 50, (baseline, peak)
    figures(
        body="endless",
        baseline_rss_mib=baseline,
        peak_rss_mib=peak,
        response_limit_mib=MAX_RESPONSE_BYTES // MIB,
        seconds=round(took, 1),
    )


def sql_config(tmp_path: Path, url: str, queries: dict[str, tuple[str, float]]) -> Path:
    """One source per metric (``{metric: (query, timeout)}``), so each gets its own timeout."""
    path = tmp_path / "sql.toml"
    text = f'[storage]\npath = "{(tmp_path / "history.sqlite3").as_posix()}"\n'
    for metric, (query, timeout) in queries.items():
        text += f'\n[sources.{metric}]\ntype = "sql"\nurl = "{url}"\ntimeout = {timeout}\n'
        text += f'\n[metrics.{metric}]\nsource = "{metric}"\nquery = {json.dumps(query)}\n'
    path.write_text(text, encoding="utf-8")
    return path


ENDLESS_SQLITE = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n"
MANY_ROWS_SQLITE = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) SELECT i, i FROM n"
)


@pytest.mark.slow
def test_sqlite_rows_and_values_are_capped_and_an_endless_query_is_interrupted(tmp_path, figures):
    import sqlite3

    db = tmp_path / "shop.db"
    sqlite3.connect(db).close()
    config = sql_config(
        tmp_path,
        f"sqlite:///{db}",
        {
            "huge_text": ("SELECT '2024-01-01', length(x) FROM (SELECT hex(zeroblob(2000000)) AS x)", 5),
            "many": (MANY_ROWS_SQLITE, 20),
            "endless": (ENDLESS_SQLITE + " WHERE i < 0", 2),  # never returns a row, never ends
        },
    )
    started = time.monotonic()
    code, out, peak = run_measured(["collect", "--once", "--config", str(config)], kpitui_env())
    took = time.monotonic() - started
    assert code == 1 and "metric many: the query returned more than 1,000,000 rows" in out, out
    assert "metric endless: query failed: timed out after 2s" in out, out
    assert "metric huge_text: query failed: string or blob too big" in out, out
    assert took < 25, took
    figures(sqlite_rows_cap=1_000_000, peak_rss_mib=peak, seconds=round(took, 1))


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_rows_are_capped_and_a_timed_out_query_is_cancelled_on_the_server(tmp_path, figures):
    import psycopg

    url = os.environ.get("KPITUI_TEST_PG_URL")
    if not url:
        pytest.skip("KPITUI_TEST_PG_URL is not set")
    marker = f"kpitui_stuck_{os.getpid()}"
    config = sql_config(
        tmp_path,
        "${KPITUI_TEST_PG_URL}",
        {
            "many": ("SELECT now() - i * interval '1 second', i FROM generate_series(1, 3000000) AS i", 20),
            "slow": (f"SELECT 1 FROM pg_sleep(60) /* {marker} */", 3),
        },
    )
    started = time.monotonic()
    code, out, peak = run_measured(["collect", "--once", "--config", str(config)], kpitui_env())
    took = time.monotonic() - started
    assert code == 1 and "metric many: the query returned more than 1,000,000 rows" in out, out
    assert "metric slow: query timed out after 3s" in out, out
    assert took < 25, took
    with psycopg.connect(url, autocommit=True) as conn:
        running = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()", [f"%{marker}%"]
        ).fetchone()[0]
    assert running == 0, "the timed-out query still runs on the server"
    figures(postgres_rows_cap=1_000_000, peak_rss_mib=peak, seconds=round(took, 1))
