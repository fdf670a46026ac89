"""A plugin whose ``close()`` hangs cannot hold kpitui's exit: ``kpitui collect`` stops on SIGTERM, and ``collect
--once`` and ``report`` end, each within the close bound, saying which plugin did not close. Real CLI, real
plugin files."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import KPITUI, REPO, kpitui_env, run_kpitui

HANGS = """
import time

import kpitui
from kpitui.api import FetchResult, MetricSource, Notifier, readings_frame


class HangsOnClose(MetricSource):
    type_name = "hangs_on_close"

    def fetch(self, cursor, now):  # a new reading each poll: the collector prints a line for each
        return FetchResult(readings_frame([(self.metrics[0].id, now, 1.0)]))

    def close(self):
        time.sleep(600)


class NotifierHangsOnClose(Notifier):
    type_name = "notifier_hangs_on_close"

    def send(self, notification):
        pass

    def close(self):
        time.sleep(600)


@kpitui.hookimpl
def register_metric_sources():
    return [HangsOnClose]


@kpitui.hookimpl
def register_notifiers():
    return [NotifierHangsOnClose]
"""


def project(tmp_path: Path) -> Path:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "hangs.py").write_text(HANGS, encoding="utf-8")
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n[plugins]\ndirs = ["plugins"]\n'
        '[sources.stuck]\ntype = "hangs_on_close"\ninterval = 0.5\n'
        '[metrics.m]\nsource = "stuck"\naggregation = "sum"\n'
        '[notifiers.pager]\ntype = "notifier_hangs_on_close"\n'
        '[alerts.any]\nmetric = "m"\nwhen = "value > 0"\nnotify = ["pager"]\n',
        encoding="utf-8",
    )
    return config


@pytest.mark.slow
def test_a_plugin_whose_close_hangs_does_not_hold_the_exit(tmp_path):
    """Before the fix the collector called each source's and notifier's ``close()`` in its own thread with no
    bound: SIGTERM (systemctl stop, Ctrl+C) left ``kpitui collect`` running for as long as the plugin slept, and
    ``collect --once`` and ``report`` never ended."""
    config = project(tmp_path)
    check = run_kpitui("check", "--config", str(config))
    assert check.returncode == 0, check.stderr
    for args in (["collect", "--once"], ["report"]):
        started = time.monotonic()
        done = run_kpitui(*args, "--config", str(config), timeout=120)
        took = time.monotonic() - started
        assert took < 60, f"{args} took {took:.0f}s"
        assert "Traceback" not in done.stderr, done.stderr
        assert "source stuck (plugin hangs) did not close within 5 s" in done.stderr, done.stderr
        if args[0] == "collect":  # the alert fired and went out: its notifier was made, and closed at the end
            assert "notifier pager (plugin hangs) did not close within 5 s" in done.stderr, done.stderr
    out = tmp_path / "collect.out"
    with open(out, "w") as sink:
        proc = subprocess.Popen(
            [*KPITUI, "collect", "--every", "0.5", "--config", str(config)],
            cwd=REPO, env=kpitui_env(), stdout=sink, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and " stuck: " not in out.read_text():
                time.sleep(0.2)
            assert " stuck: " in out.read_text(), out.read_text()  # it polled: its source is open
            stopping = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            stop_seconds = time.monotonic() - stopping
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = out.read_text()
    assert proc.returncode == 0, text[-2000:]
    assert stop_seconds < 30, f"SIGTERM took {stop_seconds:.1f}s"
    assert "stuck" in text and "did not close" in text and "Traceback" not in text, text[-2000:]
