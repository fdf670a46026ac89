"""``kpitui matches`` runs a plugin source's constructor, ``top_matches`` and ``close()`` under the plugins' time
limits: one that hangs or raises is one line naming the plugin, not a command that never ends or a traceback.
Real plugin files, run through the real ``kpitui`` script."""

from __future__ import annotations

import time

import pytest

from tests.test_plugin_guards import kpitui, plugin_config

PLUGIN = """
import time
import kpitui
from kpitui.api import MetricSource

def forever():
    while True:
        time.sleep(0.05)

class Events(MetricSource):
    type_name = "events"
    uses_condition = True
    def fetch(self, cursor, now):
        raise RuntimeError("not used")
    def top_matches(self, metric_id, start, end, limit):
        mode = self.spec.id
        if mode == "slow_top":
            forever()
        if mode == "bad_top":
            raise KeyError("oops")
        return {"lines": [("matching lines", 3)], "path": [("/a", 3)]}
    def close(self):
        if self.spec.id == "slow_close":
            time.sleep(600)

class SlowStart(Events):
    type_name = "slow_start"
    def __init__(self, spec, metrics, context):
        forever()

@kpitui.hookimpl
def register_metric_sources():
    return [Events, SlowStart]
"""


def tables() -> str:
    out = []
    for sid, kind in (("ok", "events"), ("slow_top", "events"), ("bad_top", "events"), ("slow_close", "events"),
                      ("slow_start", "slow_start")):  # fmt: skip
        out.append(f'[sources.{sid}]\ntype = "{kind}"\n[metrics.m_{sid}]\nname = "M {sid}"\nsource = "{sid}"\n'
                   f'trigger = "x"\ncondition = \'path == "/a"\'\n')  # fmt: skip
    return "".join(out)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("metric", "said"),
    [
        ("m_slow_start", "source slow_start (slow_start, plugin evplug) did not start: did not finish within 2s"),
        ("m_slow_top", "source slow_top (events, plugin evplug) could not list what its condition matched: did not"),
        ("m_bad_top", "source bad_top (events, plugin evplug) could not list what its condition matched: KeyError"),
    ],
)
def test_a_plugin_sources_hang_or_error_is_one_line(tmp_path, metric, said):
    path = plugin_config(tmp_path, {"evplug.py": PLUGIN}, tables())
    started = time.monotonic()
    result = kpitui("matches", metric, "--config", str(path), env={"KPITUI_PLUGIN_TIMEOUT": "2"}, timeout=60)
    assert time.monotonic() - started < 40
    assert result.returncode == 2, result.stderr
    assert said in result.stderr and "Traceback" not in result.stderr, result.stderr


@pytest.mark.slow
def test_a_plugin_sources_close_that_hangs_does_not_hold_the_command(tmp_path):
    path = plugin_config(tmp_path, {"evplug.py": PLUGIN}, tables())
    for metric in ("m_ok", "m_slow_close"):
        started = time.monotonic()
        result = kpitui("matches", metric, "--config", str(path), env={"KPITUI_PLUGIN_TIMEOUT": "2"}, timeout=60)
        assert time.monotonic() - started < 40
        assert result.returncode == 0, result.stderr
        assert "3 matching lines" in result.stdout and "/a" in result.stdout
    assert "did not close within 5 s" in result.stderr
