"""The demo source's ``access_log`` set to a device or a FIFO is that source's clear error, never a command that
eats all memory or blocks for good.

Before the fix the demo read its log's "last 8 KiB" with ``seek(size - 8192)`` and an unbounded ``read()``:
``/dev/zero``, ``/dev/full`` and ``/dev/urandom`` report size 0 and never end, so ``kpitui report`` (and the TUI,
``collect``, ``annotations``: the demo's annotation source reads the same log) grew past 5.8 GB of RSS within
20 s; a FIFO blocked the ``open()`` forever. Through the real ``kpitui`` script, in a process limited to 2 GiB of
address space (a run of the fixed code needs far less), so the old code fails the test instead of the machine.
"""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path

import pytest

from .conftest import KPITUI, REPO, kpitui_env

LIMIT = 2 << 30


def write_config(tmp_path: Path, log: str) -> Path:
    path = tmp_path / "kpitui.toml"
    path.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n\n'
        f'[sources.demo]\ntype = "demo"\nhistory_days = 3\naccess_log = "{log}"\n\n'
        '[annotation_sources.site]\ntype = "demo"\n'
        f'access_log = "{log}"\n\n'
        '[metrics.signups]\nsource = "demo"\npattern = "count"\nbase = 20\n\n'
        '[metrics.calls]\nsource = "manual"\n\n'
        '[kpis.monthly_signups]\nformula = "sum"\nmetrics = ["signups"]\nwindow = "trailing_7d"\n',
        encoding="utf-8",
    )
    return path


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def run(*args: str) -> tuple[int, str, str]:
    import subprocess

    done = subprocess.run(
        [*KPITUI, *args], capture_output=True, text=True, timeout=90, env=kpitui_env(), cwd=REPO, preexec_fn=_limited
    )
    return done.returncode, done.stdout, done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["/dev/zero", "/dev/full", "fifo"])
def test_a_demo_log_that_is_not_a_file_is_the_sources_error(tmp_path, kind):
    if kind == "fifo":
        log = tmp_path / "site.log"
        os.mkfifo(log)
        where = log.as_posix()
    else:
        where = kind
    config = write_config(tmp_path, where)
    said = f"the demo access log {where} is a FIFO, socket or device, not a file"

    code, out, err = run("report", "--format", "json", "--config", str(config))
    assert code == 0 and "Traceback" not in err and "MemoryError" not in err, err
    assert said in err, err
    assert [kpi["id"] for kpi in json.loads(out)["kpis"]] == ["monthly_signups"]

    code, out, err = run("collect", "--once", "--config", str(config))
    assert code == 1 and "Traceback" not in err and f"demo: error: failed to start: {said}" in err, err

    code, out, err = run("annotations", "list", "--config", str(config))
    assert "Traceback" not in err and f"annotation source site: SourceError: {said}" in err, (code, err)


def test_a_demo_log_that_is_a_folder_says_so(tmp_path):
    config = write_config(tmp_path, tmp_path.as_posix())
    code, _, err = run("collect", "--once", "--config", str(config))
    assert code == 1 and f"the demo access log {tmp_path.as_posix()} is a folder, not a file" in err, err
