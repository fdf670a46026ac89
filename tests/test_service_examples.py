"""The systemd units and the cron line of the README run kpitui collect as written (issue 16)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNITS = REPO / "examples" / "systemd"
SCRIPT = str(Path(sys.executable).with_name("kpitui"))


def unit(name: str, tmp_path: Path, config: Path | None = None) -> Path:
    """The example unit with ExecStart pointing at this kpitui (and at a test config)."""
    text = (UNITS / name).read_text()
    text = re.sub(r"^ExecStart=\S+", f"ExecStart={SCRIPT}", text, flags=re.M)
    if config is not None:
        text = text.replace("/etc/kpitui/kpitui.toml", str(config))
    path = tmp_path / name.replace(".user", "")
    path.write_text(text)
    return path


@pytest.mark.parametrize("name, user", [("kpitui-collect.service", False), ("kpitui-collect.user.service", True)])
def test_the_units_pass_systemd_analyze_verify(tmp_path, name, user):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed")
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    path = unit(name, tmp_path)
    result = subprocess.run(
        [analyze, *(["--user"] if user else []), "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
    )
    assert result.returncode == 0, result.stderr
    assert path.name not in result.stderr, result.stderr  # no warning about a line of the unit (unknown key, bad value)


def exec_start(name: str) -> list[str]:
    line = re.search(r"^ExecStart=(.+)$", (UNITS / name).read_text(), re.M).group(1)
    return [SCRIPT, *line.split()[1:]]


def sample(tmp_path: Path) -> Path:
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{tmp_path / "h.sqlite3"}"\n[sources.demo]\ntype = "demo"\nhistory_days = '
        '2\n[metrics.visits]\nsource = "demo"\n'
    )
    return config


def test_the_system_units_command_collects_and_stops_cleanly_on_sigterm(tmp_path):
    config = sample(tmp_path)
    argv = [arg.replace("/etc/kpitui/kpitui.toml", str(config)) for arg in exec_start("kpitui-collect.service")]
    assert argv[1] == "collect" and "--once" not in argv
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "KPITUI_DATA_DIR": str(tmp_path)},
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "h.sqlite3").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)  # what systemctl stop sends
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err  # exit 0: Restart=on-failure does not restart a stopped service
    assert "demo: " in out and "readings" in out


def test_the_readmes_cron_line_collects_once_and_is_quiet(tmp_path):
    readme = (REPO / "README.md").read_text()
    line = re.search(r"```cron\n(.+?)\n```", readme, re.S).group(1).strip()
    fields = line.split()
    assert len(fields[:5]) == 5 and all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5]), line  # a valid schedule
    config = sample(tmp_path)
    argv = [SCRIPT, *[arg.replace("/etc/kpitui/kpitui.toml", str(config)) for arg in fields[6:]]]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""  # cron mails nothing unless something failed
