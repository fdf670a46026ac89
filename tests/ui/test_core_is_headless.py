"""The core never imports Textual: everything that draws lives in kpitui.ui."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import kpitui

REPO = Path(__file__).resolve().parents[2]


def core_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(kpitui.__path__, "kpitui."):
        if info.name.startswith("kpitui.ui"):
            continue
        names.append(info.name)
    return names


def test_core_modules_do_not_import_textual():
    modules = core_modules()
    assert "kpitui.engine" in modules and "kpitui.store" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"the core imported {result.stdout.strip()}"


def test_ui_sources_keep_css_in_tcss_files():
    ui = REPO / "kpitui" / "ui"
    assert (ui / "app.tcss").is_file()
    offenders = [
        p.name
        for p in ui.rglob("*.py")
        if "CSS = " in p.read_text(encoding="utf-8") and "DEFAULT_CSS" not in p.read_text(encoding="utf-8")
    ]
    assert offenders == []
