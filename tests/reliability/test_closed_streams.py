"""A command started with its standard output, error or input closed (``kpitui report >&-``, a collector a
supervisor starts without them) runs, says so in one line, and leaves no descriptor 0-2 free for a file.

Before: ``kpitui report >&-`` stopped with an ``AttributeError`` traceback (Python's ``sys.stdout`` is None),
while ``kpitui record`` printed nothing and went on; a closed descriptor was the next one a file opened.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import KPITUI, REPO, kpitui_env


def run_closed(tmp_path: Path, *args: str, close: tuple[int, ...]) -> subprocess.CompletedProcess[str]:
    """``kpitui ARGS`` with the descriptors in ``close`` closed in the child (stderr read from a file)."""
    err = tmp_path / "stderr.txt"
    with open(err, "w", encoding="utf-8") as handle:

        def closing() -> None:
            for fd in close:
                os.close(fd)

        done = subprocess.run(
            [*KPITUI, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=handle,
            env=kpitui_env(),
            cwd=REPO,
            timeout=60,
            preexec_fn=closing,
        )
    return subprocess.CompletedProcess(done.args, done.returncode, "", err.read_text(encoding="utf-8"))


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n[metrics.a]\nunit = "count"\n'
        '[kpis.k]\nformula = "sum"\nmetrics = ["a"]\n',
        encoding="utf-8",
    )
    return config


@pytest.mark.slow
def test_report_with_stdout_closed_says_so_in_one_line_and_exits_0(tmp_path, figures):
    config = write_config(tmp_path)
    commands = [
        ["record", "a", "4"],
        ["report", "--no-collect"],
        ["report", "--no-collect", "--format", "json"],
        ["series", "a"],
        ["annotations", "list"],
    ]
    for command in commands:
        done = run_closed(tmp_path, *command, "--config", str(config), close=(1,))
        assert done.returncode == 0, (command, done.stderr)
        assert done.stderr.splitlines() == [
            "kpitui: standard output is closed: what this command prints goes nowhere"
        ], (command, done.stderr)
    # the reading recorded blind is there
    listed = subprocess.run(
        [*KPITUI, "readings", "list", "--config", str(config)], capture_output=True, text=True, env=kpitui_env()
    )
    assert listed.returncode == 0 and " a " in listed.stdout and "4" in listed.stdout, listed.stdout
    for close in ((1, 2), (0, 1, 2), (2,)):
        done = run_closed(tmp_path, "report", "--no-collect", "--config", str(config), close=close)
        assert done.returncode == 0, (close, done.stderr)
        assert "Traceback" not in done.stderr
    figures(commands=len(commands) + 3)


def test_no_closed_descriptor_is_left_for_a_file_to_take(tmp_path):
    """With 0-2 closed, the first file opened would be descriptor 0 (and a child's stdin or stdout)."""
    probe = (
        "import os, sys\n"
        "from kpitui.console import open_closed_std_streams\n"
        "closed = open_closed_std_streams()\n"
        "handle = open(sys.argv[1], 'w')\n"
        "os.write(2, f'{handle.fileno()} {closed} {os.readlink(\"/proc/self/fd/1\")}'.encode())\n"
        "print('to the void')\n"
    )
    err = tmp_path / "err.txt"
    with open(err, "w") as handle:
        keep = handle.fileno()

        def closing() -> None:
            os.dup2(keep, 2)
            os.close(0)
            os.close(1)

        done = subprocess.run(
            [sys.executable, "-c", probe, str(tmp_path / "file.txt")],
            stderr=handle,
            preexec_fn=closing,
            timeout=60,
        )
    assert done.returncode == 0, err.read_text()
    number, *rest = err.read_text().split(" ")
    assert int(number) > 2, err.read_text()
    assert rest == ["['stdin',", "'stdout']", os.devnull], err.read_text()
    assert (tmp_path / "file.txt").read_text() == ""
