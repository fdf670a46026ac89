"""The layer contracts in pyproject.toml cover every core module, and hold.

import-linter checks the contracts (``lint-imports`` in .ci/run); this test keeps
its list of core modules complete, so a new module is held by the contract from
the commit that adds it, and runs the linter itself.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import kpitui

REPO = Path(__file__).resolve().parents[1]
#: not core: the UI itself, the entry point that starts it, and the test helpers that drive the CLI
OUTSIDE_THE_CORE = {"ui", "cli", "__main__", "testing"}


def _contracts() -> list[dict]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_every_core_module_is_held_by_the_headless_contract():
    modules = {info.name for info in pkgutil.iter_modules(kpitui.__path__)} - OUTSIDE_THE_CORE
    headless = next(c for c in _contracts() if "textual" in c["forbidden_modules"])
    listed = {name.removeprefix("kpitui.") for name in headless["source_modules"]}
    assert modules - listed == set(), "add these modules to the headless contract in pyproject.toml"
    assert listed - modules == set(), "these modules no longer exist: remove them from the contract"


def test_the_contracts_hold():
    # import-linter is in the test extra: a missing linter fails here, it never skips
    linter = str(Path(sys.executable).with_name("lint-imports"))
    result = subprocess.run([linter], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
