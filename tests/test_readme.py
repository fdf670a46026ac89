"""The README opens with the two commands a new user runs; CI runs the second one verbatim."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def opening_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", text)[:2]


def test_readme_opens_with_run_and_test_commands():
    run, test = opening_commands()
    assert "pip install ." in run and run.endswith("kpitui")
    assert "[test]" in test and "pytest" in test


def test_ci_runs_the_readme_test_command():
    _, test = opening_commands()
    assert test in (REPO / ".ci" / "run").read_text().splitlines()
