"""``kpitui install`` / ``uninstall`` put a plugin into kpitui's own environment (issue 16).

A real pip, on a wheel built here (no network), into this test environment;
uninstalled again at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

DIST, MODULE = "kpitui-installcheck", "kpitui_installcheck"

PLUGIN = """
import kpitui
from kpitui.api import FormulaType, Input


class Doubled(FormulaType):
    type_name = "installcheck_doubled"
    description = "Twice a metric (installed by kpitui install)."


@kpitui.hookimpl
def register_formula_types():
    return [Doubled]
"""


def build_wheel(folder: Path) -> Path:
    wheel = folder / f"{MODULE}-0.3.0-py3-none-any.whl"
    info = f"{MODULE}-0.3.0.dist-info"
    files = {
        f"{MODULE}.py": PLUGIN,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 0.3.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": f"[kpitui]\ninstallcheck = {MODULE}\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return wheel


def kpitui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).with_name("kpitui")), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )


@pytest.mark.slow
def test_install_then_uninstall_a_plugin(tmp_path):
    wheel = build_wheel(tmp_path)
    try:
        installed = kpitui("install", str(wheel))
        assert installed.returncode == 0, installed.stdout + installed.stderr
        listing = kpitui("plugins")
        assert f"{DIST} 0.3.0 (entry point installcheck) — ok" in listing.stdout
        assert "installcheck_doubled" in listing.stdout
    finally:
        removed = kpitui("uninstall", DIST)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert DIST not in kpitui("plugins").stdout


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["install"], 2, "name at least one package"),
        (["install", "kpitui"], 2, "kpitui itself is not a plugin"),
        (["uninstall", "kpitui"], 2, "remove kpitui itself"),
        (["uninstall", "kpitui-not-installed-anywhere"], 0, ""),  # pip only warns: nothing to do
    ],
)
def test_install_mistakes(args, code, message):
    result = kpitui(*args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr


def test_a_failed_pip_install_exits_1(tmp_path):
    result = kpitui("install", str(tmp_path / "missing-0.1-py3-none-any.whl"))
    assert result.returncode == 1
