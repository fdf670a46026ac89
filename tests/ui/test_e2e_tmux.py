"""End to end: the real ``kpitui`` command in a real terminal (tmux), driven by keys, read from the screen.

Runs with 16 colours (``TEXTUAL_COLOR_SYSTEM=standard``), as over a plain SSH
session, and checks that no 256-colour or true-colour escape reaches the
terminal.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TMUX = shutil.which("tmux")

pytestmark = pytest.mark.skipif(TMUX is None, reason="needs tmux")


def kpitui_command() -> str:
    """The console script when it is installed (next to this Python, or on PATH), else the module."""
    beside = Path(sys.executable).with_name("kpitui")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    script = shutil.which("kpitui")
    if script:
        return script
    return f"env PYTHONPATH={REPO} {sys.executable} -m kpitui.cli"


class Terminal:
    """A tmux session on a private server (its own socket), so other tmux users are never touched."""

    def __init__(self, command: str, width: int, height: int, env: dict[str, str]):
        self.name = f"kpitui-test-{uuid.uuid4().hex[:8]}"
        self.tmux = [TMUX, "-L", self.name, "-f", os.devnull]
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        # keep the pane open after exit so the exit code can be read
        shell = f"env {exports} {command}; echo KPITUI-EXITED-$?; sleep 30"
        subprocess.run(
            [*self.tmux, "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height), shell], check=True
        )

    def screen(self, escapes: bool = False) -> str:
        args = [*self.tmux, "capture-pane", "-p", "-t", self.name] + (["-e"] if escapes else [])
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen}")
            time.sleep(0.1)

    def wait_gone(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text not in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never went away; the screen was:\n{screen}")
            time.sleep(0.1)

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


@pytest.fixture
def demo_config(tmp_path) -> Path:
    path = tmp_path / "kpitui.toml"
    path.write_text(
        f"""\
[storage]
path = "{(tmp_path / "h.sqlite3").as_posix()}"

[sources.demo]
type = "demo"
interval = 30
history_days = 40

[metrics.signups]
name = "Newsletter sign-ups"
source = "demo"
trigger = "A visitor viewed /newsletter/thank-you"
pattern = "count"
base = 18

[metrics.requests]
name = "Retainer requests"
source = "demo"
trigger = "A visitor POSTed the retainer form"
pattern = "count"
base = 3

[metrics.calls]
name = "Discovery calls"
source = "manual"
trigger = "A prospect booked a discovery call (entered by hand)"

[kpis.leads]
name = "Lead generation"
formula = "sum"
metrics = ["signups", "requests"]
window = "month_to_date"
target = 600

[objectives.leads]
title = "Increase lead generation"
kpis = ["leads"]
""",
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
def test_kpitui_in_a_real_terminal(demo_config, tmp_path):
    env = {
        "TEXTUAL_COLOR_SYSTEM": "standard",
        "TERM": "xterm-256color",
        "KPITUI_DATA_DIR": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    term = Terminal(f"{kpitui_command()} --config {demo_config}", 100, 30, env)
    try:
        screen = term.wait_for("Lead generation")
        assert "Objectives" in screen and "Increase lead generation" in screen
        screen = term.wait_for("● demo")  # the demo source was polled from the UI
        colours = term.screen(escapes=True)
        assert not re.search(r"\x1b\[[0-9;]*[34]8;[25];", colours), "only the 16 standard colours over SSH"
        term.keys("Tab")
        term.wait_for("Metrics")
        term.keys("BTab", "Enter")  # back to the KPIs, open the detail view
        screen = term.wait_for("grain")
        assert "by day" in term.wait_for("by day")
        assert "┤" in screen or "┤" in term.screen()
        term.keys("W")
        term.wait_for("by week")
        term.keys("Escape")
        term.wait_gone("grain")
        term.keys("a")  # the form offers the manual metric (the KPI's own are fed by the demo source)
        term.wait_for("Add a reading")
        term.keys("Escape")
        term.wait_gone("Add a reading")
        term.keys("?")
        screen = term.wait_for("─ Help ─")
        assert "window_week" in screen
        term.keys("Escape")
        term.wait_gone("window_week")
        term.keys("q")
        term.wait_for("KPITUI-EXITED-0")
    finally:
        term.close()


@pytest.mark.slow
@pytest.mark.parametrize("redirect", ["2>/dev/null", "2>{log}", ">/dev/null"])
def test_kpitui_with_stderr_or_stdout_redirected_draws_on_the_terminal_at_its_size(tmp_path, redirect):
    """Textual draws on stderr and measures stdout: with stderr sent to /dev/null the terminal stayed blank (the app
    waiting for keys unseen), sent to a log the log filled with the screen's escape sequences; with stdout sent
    away the dashboard was 80 columns wide in a terminal of 100. Now it is on the terminal, at its size."""
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n[metrics.calls]\nname = "Calls"\n'
        '[kpis.booked]\nname = "Discovery calls"\nformula = "sum"\nmetrics = ["calls"]\n',
        encoding="utf-8",
    )
    log = tmp_path / "err.log"
    env = {"TERM": "xterm-256color", "KPITUI_DATA_DIR": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path)}
    command = f"{kpitui_command()} --config {config} --no-collect {redirect.format(log=log)}"
    term = Terminal(command, 100, 30, env)
    try:
        screen = term.wait_for("Discovery calls")
        assert "KPIs" in screen
        assert max(len(line.rstrip()) for line in screen.splitlines()) == 100, screen  # the terminal's width
        term.keys("q")
        term.wait_for("KPITUI-EXITED-0")
    finally:
        term.close()
    if "log" in redirect:
        assert "\x1b" not in log.read_text(encoding="utf-8", errors="replace")  # no screen in the log


@pytest.mark.parametrize("redirect", ["</dev/null", "</dev/null 2>{log}", "</dev/null >/dev/null"])
def test_kpitui_with_stdin_redirected_reads_its_keys_from_the_terminal(tmp_path, redirect):
    """Textual reads keys from standard input: with it sent from /dev/null (a script, a service wrapper, `nohup`)
    the dashboard was drawn but never got a key (q did nothing, the keys typed were echoed over it), and its input
    thread spun on the end of /dev/null at a core's worth of CPU. Now the keys come from the terminal itself."""
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n[metrics.calls]\nname = "Calls"\n'
        '[kpis.booked]\nname = "Discovery calls"\nformula = "sum"\nmetrics = ["calls"]\n',
        encoding="utf-8",
    )
    log = tmp_path / "err.log"
    env = {"TERM": "xterm-256color", "KPITUI_DATA_DIR": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path)}
    command = f"{kpitui_command()} --config {config} --no-collect {redirect.format(log=log)}"
    term = Terminal(command, 100, 30, env)
    try:
        term.wait_for("Discovery calls")
        term.keys("q")
        term.wait_for("KPITUI-EXITED-0")
    finally:
        term.close()


def test_kpitui_with_no_terminal_at_all_says_so_in_one_line(tmp_path):
    config = tmp_path / "kpitui.toml"
    config.write_text(f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n[metrics.calls]\n')
    env = {k: v for k, v in os.environ.items() if k != "TEXTUAL_DRIVER"}
    done = subprocess.run(
        [*kpitui_command().split(), "--config", str(config)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2 and done.stderr == "", done.stderr
    assert done.stdout.count("\n") == 1 and "the dashboard needs a terminal" in done.stdout, done.stdout
    assert "kpitui report" in done.stdout
