"""A backlog is taken in by one `kpitui collect --once`, chunk by chunk, each chunk committed with its cursor.

A source says "more is pending" (``FetchResult.more_pending``); the collector
polls it again at once until it is caught up. The built-in ``access_log``
reads 64 MiB per poll; here a plugin subclass reads 64 KiB, so a few-MiB log
is a backlog of dozens of chunks. Counts equal `grep -c`; a collector killed
mid-backlog loses and double-counts nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from test_access_log_rotation_cli import grep_count, master_lines, total
from test_cli import kpitui_script, run

from kpitui.store import Store

PLUGIN = """
from kpitui import hookimpl
from kpitui.builtin.access_log import AccessLogSource


class SmallChunks(AccessLogSource):
    type_name = "small_chunk_log"
    max_poll_bytes = 64 * 1024


@hookimpl
def register_metric_sources():
    return [SmallChunks]
"""


def setup(tmp_path: Path, lines: int) -> tuple[Path, Path]:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "small_chunks.py").write_text(PLUGIN)
    log = tmp_path / "access.log"
    log.write_text("".join(master_lines(lines, seed=31)))
    cfg = tmp_path / "kpitui.toml"
    cfg.write_text(
        f"""
[plugins]
dirs = ["plugins"]

[storage]
path = "{tmp_path / "h.sqlite3"}"

[sources.web]
type = "small_chunk_log"
path = "access.log"

[metrics.signups]
source = "web"
condition = 'path == "/newsletter/thank-you"'
"""
    )
    return cfg, log


def offset(tmp_path: Path) -> int:
    with Store(tmp_path / "h.sqlite3", readonly=True) as store:
        cursor = store.cursor("web")
    return 0 if cursor is None else json.loads(cursor)["file"]["offset"]


@pytest.mark.slow
def test_one_collect_once_takes_in_the_whole_backlog(tmp_path: Path) -> None:
    cfg, log = setup(tmp_path, 30_000)  # about 3 MiB: some 45 chunks of 64 KiB
    result = run("collect", "--once", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert offset(tmp_path) == log.stat().st_size
    assert total(cfg) == grep_count(log) > 100
    assert "chunks" in result.stdout  # the line says it took several polls
    again = run("collect", "--once", "--config", str(cfg))
    assert again.returncode == 0 and total(cfg) == grep_count(log)


@pytest.mark.slow
def test_collect_every_catches_up_at_once_not_at_the_interval(tmp_path: Path) -> None:
    cfg, log = setup(tmp_path, 30_000)
    process = subprocess.Popen([kpitui_script(), "collect", "--every", "1h", "--config", str(cfg)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if offset(tmp_path) == log.stat().st_size:
                    break
            except Exception:  # noqa: BLE001 - the history is still being created
                pass
            time.sleep(0.2)
        assert offset(tmp_path) == log.stat().st_size
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert total(cfg) == grep_count(log)


@pytest.mark.slow
def test_a_collector_killed_mid_backlog_loses_and_double_counts_nothing(tmp_path: Path) -> None:
    cfg, log = setup(tmp_path, 45_000)  # 8.9 days of lines, about 4.5 MiB
    size = log.stat().st_size
    process = subprocess.Popen([kpitui_script(), "collect", "--once", "--config", str(cfg)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if 0 < offset(tmp_path) < size // 2:
                break
        except Exception:  # noqa: BLE001
            pass
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert offset(tmp_path) < size  # killed mid-backlog
    result = run("collect", "--once", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert offset(tmp_path) == size
    assert total(cfg) == grep_count(log)


def test_the_tuis_runtime_polls_a_backlog_again_at_once(tmp_path: Path) -> None:
    """The TUI re-arms a source's poll after ``seconds_until_due``: 0 while a backlog is pending, the interval after."""
    import datetime as dt

    from kpitui.config import load_config
    from kpitui.ui.runtime import Runtime

    cfg, log = setup(tmp_path, 3000)  # about 300 KiB: 5 chunks
    runtime = Runtime.open(load_config(cfg), collect=True, clock=lambda: dt.datetime.now(dt.timezone.utc))
    try:
        polls = 0
        while True:
            result = runtime.poll("web")
            polls += 1
            assert result.error is None
            if not result.more_pending:
                break
            assert runtime.seconds_until_due("web") <= 0.01
        assert polls >= 4
        assert runtime.seconds_until_due("web") > 30  # caught up: its own interval
    finally:
        runtime.close()
    assert offset(tmp_path) == log.stat().st_size
    assert total(cfg) == grep_count(log)


@pytest.mark.slow
def test_report_takes_in_a_backlog_before_it_reports(tmp_path: Path) -> None:
    cfg, log = setup(tmp_path, 30_000)
    result = run("report", "--format", "json", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert offset(tmp_path) == log.stat().st_size
    assert total(cfg) == grep_count(log)
