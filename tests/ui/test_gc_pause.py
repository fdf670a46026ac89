"""The cyclic garbage collector is paused while `kpitui` starts and resumed after the first values
(kpitui.ui.gc_pause): never left off, and left alone when it was off to begin with."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

from ui_helpers import make_app, wait_for

from kpitui.ui import gc_pause

REPO = Path(__file__).resolve().parents[2]

# `kpitui tui` through kpitui.cli, headless: the collector's state at the first frame, when the first
# values are painted, when it resumes, and after the command returns
WATCH = """
import gc, sys, time
import kpitui.ui.app as ui
from kpitui.ui import gc_pause
gc_pause.RESUME_AFTER = 3600.0  # not the backstop: the first values resume it
seen = []
ticks = []

class Watched(ui.KpiApp):
    def on_mount(self):
        shown = self.lifecycle.first_values_shown
        def painted():
            seen.append(("values", gc.isenabled(), self.snapshot is not None))
            shown()
            self.set_interval(0.02, self._resumed)
        self.lifecycle.first_values_shown = painted
    def on_ready(self):
        seen.append(("frame", gc.isenabled()))
    def _resumed(self):
        ticks.append(1)
        if gc.isenabled() or not gc_pause.paused():
            seen.append(("resumed", gc.isenabled()))
            self.exit(0)
        elif len(ticks) > 3000:  # a minute of app time after the values
            seen.append(("resumed", "never"))
            self.exit(0)
    def run(self, **kwargs):
        return super().run(headless=True)

ui.KpiApp = Watched
if "off" in sys.argv:
    gc.disable()
from kpitui.cli import main
code = main(["tui", "--no-collect", "--config", "sample_config.toml"])
seen.append(("returned", gc.isenabled()))
print(seen)
sys.exit(code)
"""


def _run(tmp_path: Path, *args: str) -> list:
    env = {**os.environ, "KPITUI_LOAD_PLUGINS": "", "KPITUI_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", WATCH, *args], capture_output=True, text=True, cwd=REPO, timeout=180, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return eval(result.stdout.strip().splitlines()[-1])  # noqa: S307 - our own print of a list of tuples


def test_the_tui_starts_with_the_collector_paused_and_resumes_it_after_the_first_values(tmp_path):
    assert _run(tmp_path) == [
        ("frame", False),
        ("values", False, True),
        ("resumed", True),
        ("returned", True),
    ]


def test_a_collector_that_was_off_stays_off(tmp_path):
    assert _run(tmp_path, "off") == [
        ("frame", False),
        ("values", False, True),
        ("resumed", False),
        ("returned", False),
    ]


def test_pause_and_resume():
    assert gc.isenabled()
    try:
        gc_pause.pause()
        assert not gc.isenabled() and gc_pause.paused()
        gc_pause.pause()  # twice: still one pause
        gc_pause.resume()
        assert gc.isenabled() and not gc_pause.paused()
        gc.disable()  # off by someone else's choice: neither call turns it on
        gc_pause.pause()
        gc_pause.resume()
        assert not gc.isenabled()
    finally:
        gc_pause.resume()
        gc.enable()


async def test_a_history_that_cannot_open_resumes_the_collector_at_once(config):
    def broken(cfg):
        raise OSError("disk on fire")

    app = make_app(config, store_factory=broken)
    gc_pause.pause()
    try:
        async with app.run_test() as pilot:
            await wait_for(pilot, lambda: "store" in app.problems)
            assert gc.isenabled() and not gc_pause.paused()
    finally:
        gc_pause.resume()
        gc.enable()
