"""A source plugin whose ``fetch`` loops for good in Python (a generator that never ends, a retry loop without
a bound) and ignores the cancellation event: past its timeout its thread is interrupted
(:class:`kpitui.plugins.PluginInterrupted` at its next instruction), not left running.

Before: each such fetch was left behind, still running: a core busy and its memory growing until the collector
died (measured: 6 GB of RSS after 24 s of ``kpitui collect`` with a fetch building an endless list), every
later poll "skipped: 2 earlier fetches ignored the timeout and still run", and SIGTERM did not end it.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from .conftest import KPITUI, REPO, kpitui_env

SPIN = """
import kpitui
from kpitui.api import FetchResult, MetricSource, readings_frame

class Spin(MetricSource):
    type_name = "spin"
    def fetch(self, cursor, now):
        def rows():
            while True:
                yield (self.metrics[0].id, now, 1.0)
        data = []
        for row in rows():  # deaf to kpitui.api.fetch_cancelled()
            data.append(row)
        return FetchResult(readings_frame(data))

@kpitui.hookimpl
def register_metric_sources():
    return [Spin]
"""


@pytest.mark.slow
def test_an_endless_fetch_is_interrupted_at_its_timeout_and_the_collector_goes_on(tmp_path, figures):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "spin.py").write_text(SPIN, encoding="utf-8")
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n[plugins]\ndirs = ["plugins"]\n'
        '[sources.s]\ntype = "spin"\ntimeout = 1\ninterval = 0.5\n[metrics.m]\nsource = "s"\n'
        '[sources.d]\ntype = "demo"\ninterval = 0.5\n[metrics.c]\nsource = "d"\n',
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [*KPITUI, "collect", "--config", str(config)],
        cwd=REPO,
        env=kpitui_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 90
    while sum("s: error:" in line for line in lines) < 4 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
    proc.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    rest, _ = proc.communicate(timeout=60)
    took = time.monotonic() - stopped
    lines += rest.splitlines(keepends=True)
    errors = [line for line in lines if " s: " in line]
    assert len(errors) >= 4, "".join(lines)
    assert all(line.rstrip().endswith("s: error: timed out after 1s") for line in errors), "".join(errors)
    assert any(" d: " in line and "readings" in line for line in lines), "".join(lines)  # the other source polls
    assert proc.returncode == 0, (proc.returncode, "".join(lines))
    assert "Traceback" not in "".join(lines)
    figures(timed_out_polls=len(errors), stop_seconds=round(took, 1))
