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


def test_ci_also_runs_the_slow_set_the_readme_command_skips():
    lines = (REPO / ".ci" / "run").read_text().splitlines()
    _, test = opening_commands()
    slow = [line for line in lines if "pytest" in line and "-m slow" in line and "--run-slow" in line]
    assert slow, "no line of .ci/run runs the tests marked slow"
    assert lines.index(slow[-1]) > lines.index(test), "the slow set runs after the README's command"
