"""ruff and mypy hold the code to their rules (pyproject.toml's [tool.ruff], [tool.mypy]), and CI lints before it tests.

Both are in the test extra: a missing one fails here, it never skips.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    ruff = str(Path(sys.executable).with_name("ruff"))
    result = subprocess.run([ruff, "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]


def test_ruff_format_changes_nothing():
    # every Python file under the repository (kpitui, plugins, benchmarks, tests, examples) is as
    # `ruff format` writes it; what it leaves out for now is listed in [tool.ruff.format] exclude
    ruff = str(Path(sys.executable).with_name("ruff"))
    result = subprocess.run(
        [ruff, "format", "--check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]
    for folder in ("kpitui", "plugins", "benchmarks", "tests"):
        listed = subprocess.run(
            [ruff, "format", "--check", "--no-cache", folder], cwd=REPO, capture_output=True, text=True, timeout=120
        )
        assert listed.returncode == 0 and "already formatted" in listed.stdout, (folder, listed.stdout[-500:])


@pytest.mark.slow
def test_mypy_finds_nothing():
    # strict on the headless core ([tool.mypy] in pyproject.toml); in the test extra, so it never skips
    mypy = str(Path(sys.executable).with_name("mypy"))
    result = subprocess.run([mypy], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]


def test_ci_lints_before_it_runs_the_tests():
    lines = (REPO / ".ci" / "run").read_text().splitlines()
    commands = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]

    def first(word: str) -> int:
        return next(i for i, line in enumerate(commands) if word in line)

    tests = first("-m pytest")
    assert first("ruff check") < tests
    assert first("ruff format --check") < tests
    assert first("lint-imports") < tests
    assert first("mypy") < tests
