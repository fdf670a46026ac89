"""Building the parser (``kpitui --help``, the start of every command) imports no heavy module:
a command imports what it needs when it runs (kpitui/commands/__init__.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

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


# -- the dashboard's command line, read without building every subcommand's parser (kpitui.cli._parse_tui) --------

_TOKENS = [
    "tui", "serve", "report", "check", "collect", "-c", "--config", "--config=x.toml", "x.toml", "-v", "-vv", "-q",
    "-vq", "-h", "--help", "-vh", "--version", "--no-collect", "--no", "--read-only", "--read", "--", "-", "--bogus",
    "--conf", "--ver", "tui2", "",
]  # fmt: skip


def _full(argv: list[str]) -> tuple[str, object]:
    """What the full parser makes of ``argv``: ("args", namespace as a dict), or ("exit", code) after printing."""
    import contextlib
    import io

    from kpitui import cli

    parser, found = cli._build()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            return "args", vars(parser.parse_args(cli._with_default_command(list(argv), found)))
        except SystemExit as exc:
            return "exit", exc.code


def _check(argv: list[str]) -> bool:
    from kpitui import cli

    fast = cli._parse_tui(list(argv))
    kind, full = _full(argv)
    if fast is not None:  # read without the full parser: exactly what it reads, and the dashboard
        assert kind == "args" and vars(fast) == full, argv
        assert isinstance(full, dict) and full.get("command") in (None, "tui")
        return True
    # left to the full parser: it prints (help, version, a mistake) or runs another command
    assert kind == "exit" or (isinstance(full, dict) and full.get("command") not in (None, "tui")), (argv, full)
    return False


def test_the_dashboards_command_line_is_read_as_the_full_parser_reads_it():
    read = [
        [],
        ["tui"],
        ["--no-collect"],
        ["-c", "x.toml"],
        ["--config=x.toml", "tui", "--read-only"],
        ["tui", "-c", "report", "--no-collect", "-vv"],
        ["-q", "--no"],
        ["--read"],
    ]
    for argv in read:
        assert _check(argv), argv
    left = [
        ["-h"],
        ["--help"],
        ["-vh"],
        ["--version"],
        ["report"],
        ["serve", "--port", "0"],
        ["tui", "report"],
        ["--bogus"],
        ["tui", "--conf"],
        ["--ver"],
        ["-c"],
        ["tui2"],
        ["--", "tui"],
    ]
    for argv in left:
        assert not _check(argv), argv


@pytest.mark.slow
def test_any_command_line_the_fast_reading_takes_is_read_the_same():
    import random

    rng = random.Random(18)
    taken = 0
    for _ in range(400):
        taken += _check([rng.choice(_TOKENS) for _ in range(rng.randint(0, 5))])
    assert taken > 20  # the fast reading is not just refusing everything


def test_the_dashboards_command_line_builds_no_other_subcommand():
    modules = _imported_after("from kpitui import cli\nassert cli._parse_tui(['--no-collect']) is not None")
    others = ("kpitui.commands.report", "kpitui.commands.history", "kpitui.commands.plugins")
    assert [m for m in others if m in modules] == []
