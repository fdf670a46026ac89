"""Building the parser (``kpitui --help``, the start of every command) imports no heavy module:
a command imports what it needs when it runs (kpitui/commands/__init__.py)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = [
    "kpitui.config",
    "kpitui.store",
    "kpitui.engine",
    "kpitui.plugins",
    "kpitui.alerts.commands",
    "kpitui.serve_command",
    "kpitui.ui",
    "polars",
    "textual",
    "pluggy",
]


def _imported_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nimport json; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_building_the_parser_imports_no_heavy_module():
    modules = _imported_after("from kpitui.cli import build_parser; build_parser().format_help()")
    assert [m for m in HEAVY if m in modules] == []


def test_help_through_the_command_imports_no_heavy_module():
    code = "from kpitui.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    modules = _imported_after(code)
    assert [m for m in HEAVY if m in modules] == []


def test_hookimpl_is_still_kpitui_hookimpl():
    # made on first use (kpitui/__init__.py), the one marker plugins decorate with
    import kpitui
    from kpitui import hookimpl

    assert kpitui.hookimpl is hookimpl and hookimpl.project_name == "kpitui"
