"""The first frame needs only the dashboard: the runtime (engine, store, history), the other
screens and the palette's provider load after it, when they are first used; so does polars
(checking the config, the built-in plugins' option checks and the expression compiler's
walk, need none of it: kpitui.lazy)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

DEFERRED = (
    "kpitui.engine",
    "kpitui.store",
    "kpitui.history",
    "kpitui.collector",
    "kpitui.ui.runtime",
    "kpitui.ui.commands",
    "kpitui.ui.screens.detail",
    "kpitui.ui.screens.add_reading",
    "kpitui.ui.screens.help",
    "kpitui.ui.widgets.chart",
    "http.client",  # the http and prometheus sources' client: at their first fetch
    "polars",  # at the first query, in the worker that opens the history (about 0.13 s)
    "kpitui.pipeline",
    # built-in plugins the sample names no type of: imported when a type is first asked for (kpitui.plugins.TypeTable)
    "kpitui.builtin.analytics",
    "kpitui.builtin.file",
    "kpitui.builtin.sql",
    "kpitui.builtin.http",
    "kpitui.builtin.command",
    "kpitui.builtin.prometheus",
    "kpitui.builtin.notifiers",
    "kpitui.builtin.annotation_csv",
)


def test_the_dashboard_imports_nothing_it_does_not_show():
    code = (
        "import sys\n"
        "from kpitui.config import load_config\n"
        "load_config('sample_config.toml')\n"
        "import kpitui.ui.app\n"
        f"print(','.join(m for m in {DEFERRED!r} if m in sys.modules))\n"
    )
    env = {**os.environ, "KPITUI_LOAD_PLUGINS": ""}  # the built-ins only (a third-party plugin may import polars)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"imported before the first frame: {result.stdout.strip()}"


@pytest.mark.slow
def test_the_tui_command_imports_nothing_the_first_frame_does_not_show(tmp_path):
    # the whole way `kpitui` goes (kpitui.cli.cmd_tui: the config, the history's read-only check, the UI), up to
    # the first frame (Textual's Ready); the app runs headless and quits there instead of opening the store
    code = (
        "import sys\n"
        "import kpitui.ui.app as ui\n"
        "class FirstFrame(ui.KpiApp):\n"
        "    def on_ready(self, event):\n"
        "        event.prevent_default()  # not KpiApp.on_ready: it opens the store\n"
        f"        print('imported:', ','.join(m for m in {DEFERRED!r} if m in sys.modules))\n"
        "        self.exit(0)\n"
        "    def run(self, **kwargs):\n"
        "        return super().run(headless=True)\n"
        "ui.KpiApp = FirstFrame\n"
        "from kpitui.cli import main\n"
        "sys.exit(main(['tui', '--no-collect', '--config', 'sample_config.toml']))\n"
    )
    env = {**os.environ, "KPITUI_LOAD_PLUGINS": "", "KPITUI_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    shown = [line for line in result.stdout.splitlines() if line.startswith("imported:")]
    assert shown == ["imported: "], f"before the first frame: {result.stdout.strip()} {result.stderr.strip()}"


def test_the_first_values_import_no_collector_until_the_sources_start(tmp_path):
    # the runtime opened as the app opens it (its sources later) and evaluated once: the collector's modules (the
    # sources' polling) load when the sources are built, after the first values are painted; the sample copied into
    # tmp_path: its demo source writes its log beside the config, not in the checkout
    sample = tmp_path / "kpitui.toml"
    sample.write_text((REPO / "sample_config.toml").read_text(encoding="utf-8"), encoding="utf-8")
    code = (
        "import sys, datetime as dt\n"
        "from kpitui.config import load_config\n"
        "from kpitui.ui.runtime import Runtime\n"
        f"config = load_config({str(sample)!r})\n"
        "runtime = Runtime.open(config, collect=True, clock=lambda: dt.datetime.now(dt.timezone.utc),"
        " sources_later=True)\n"
        "assert runtime.evaluate(window=None, offset=0, force=True) is not None\n"
        "print('imported:', 'kpitui.collector' in sys.modules)\n"
        "assert runtime.start_collector(wait=0) is runtime.collector is not None\n"
        "print('imported:', 'kpitui.collector' in sys.modules)\n"
        "runtime.close()\n"
    )
    env = {**os.environ, "KPITUI_LOAD_PLUGINS": "", "KPITUI_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    shown = [line for line in result.stdout.splitlines() if line.startswith("imported:")]
    assert shown == ["imported: False", "imported: True"], result.stdout + result.stderr


def test_the_tui_command_keeps_code_and_pauses_the_collector_before_the_config_is_imported(tmp_path):
    # kpitui.config's import makes the config's and the model's dataclasses (~80): the kept code (kpitui.kept_code)
    # must be in place to run their methods' texts, and the collector paused (kpitui.ui.gc_pause), before it; until
    # 2026-12-04 `main` imported it first (for its ConfigError) and both came after (benchmarks/NOTES.md, start17)
    code = (
        "import gc, sys\n"
        "from kpitui import kept_code\n"
        "seen = []\n"
        "class Watch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'kpitui.config' and not seen:\n"
        "            seen.append((kept_code.installed(), gc.isenabled()))\n"
        "        return None\n"
        "sys.meta_path.insert(0, Watch())\n"
        "from kpitui.cli import main\n"
        "assert 'kpitui.config' not in sys.modules, 'imported with the command line'\n"
        "code = main(['tui', '--no-collect', '--config', 'sample_config.toml'])\n"
        "print('seen:', seen)\n"
        "sys.exit(code)\n"
    )
    env = {**os.environ, "KPITUI_LOAD_PLUGINS": "", "KPITUI_DATA_DIR": str(tmp_path)}
    # no terminal here: the app is not run (kpitui.ui.drawn_on: one line, exit 2); the config was loaded before
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "seen: [(True, False)]" in result.stdout, result.stdout + result.stderr
