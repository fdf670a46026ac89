"""Reliability and security tests: crash safety, concurrency, plugin faults, bad input, secrets, growth.

Every test states the figures it proves (runs, kills, readings checked,
inputs tried) through the ``figures`` fixture: they are printed at the end of
the pytest run ("reliability figures") and appended as JSON lines to the
file named by ``KPITUI_FIGURES``, if set. The long soaks, and every test here that
takes seconds (most: they start real processes), are marked ``slow``: skipped by
the default suite, run by ``--run-slow`` (``-m slow`` for those alone) and by CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
#: the installed console script (as users run it), else the module
KPITUI: list[str] = [shutil.which("kpitui")] if shutil.which("kpitui") else [sys.executable, "-m", "kpitui.cli"]  # type: ignore[list-item]
_FIGURES: list[tuple[str, dict[str, Any]]] = []


@pytest.fixture
def figures(request):
    """``figures(kills=10, readings=1234, ...)``: record what this test proved."""

    def record(**values: Any) -> None:
        _FIGURES.append((request.node.nodeid, values))
        print(f"FIGURES {request.node.nodeid}: {values}")
        target = os.environ.get("KPITUI_FIGURES")
        if target:
            with open(target, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"test": request.node.nodeid, **values}, default=str) + "\n")

    return record


def pytest_terminal_summary(terminalreporter):
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for nodeid, values in _FIGURES:
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        terminalreporter.write_line(f"{nodeid.split('::', 1)[-1]}: {shown}")


def kpitui_env(**extra: str) -> dict[str, str]:
    """The environment for a ``kpitui`` subprocess: this test's isolated dirs (set by the root conftest)."""
    env = dict(os.environ)
    env.update(extra)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run_kpitui(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """``kpitui ARGS`` in a real subprocess (the installed console script's entry point)."""
    return subprocess.run(
        [*KPITUI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or kpitui_env(),
        cwd=cwd or REPO,
    )
