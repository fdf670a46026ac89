"""The command line behaves the way Python command-line tools are expected to (issue 16)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kpitui.config import BUNDLED_SAMPLE as SAMPLE


def kpitui_script() -> str:
    return str(Path(sys.executable).with_name("kpitui"))


def run(
    *args: str, env: dict[str, str] | None = None, script: list[str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*(script or [kpitui_script()]), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def sample(tmp_path) -> Path:
    text = SAMPLE.read_text().replace("history_days = 400", "history_days = 30")
    path = tmp_path / "sample.toml"
    path.write_text(f'[storage]\npath = "{tmp_path / "h.sqlite3"}"\n\n' + text)
    return path


def test_python_dash_m_kpitui_runs_the_command(sample):
    version = run("--version", script=[sys.executable, "-m", "kpitui"])
    assert version.returncode == 0 and version.stdout.strip().startswith("kpitui "), version.stderr
    check = run("check", "--config", str(sample), script=[sys.executable, "-m", "kpitui"])
    assert check.returncode == 0 and "OK" in check.stdout, check.stderr


def test_options_of_the_default_command_work_without_naming_it():
    from kpitui.cli import COMMANDS, _with_default_command, build_parser

    parser = build_parser()
    for argv in (["--no-collect"], ["--config", "x.toml", "--no-collect"], ["-c", "report", "--no-collect"]):
        args = parser.parse_args(_with_default_command(argv, COMMANDS))
        assert args.command == "tui" and args.no_collect is True, argv
    assert parser.parse_args(_with_default_command(["-c", "x.toml", "report"], COMMANDS)).command == "report"
    assert parser.parse_args(_with_default_command([], COMMANDS)).command is None
    assert _with_default_command(["--help"], COMMANDS) == ["--help"]  # the main help
    assert _with_default_command(["-vv", "--config", "x"], COMMANDS)[0] == "tui"
    assert _with_default_command(["--no-collect", "--help"], COMMANDS) == ["tui", "--no-collect", "--help"]


def test_no_collect_without_a_command_is_not_a_usage_error(tmp_path):
    # Through the real script; the TUI cannot start without a terminal here, so a config error stops it first.
    broken = tmp_path / "broken.toml"
    broken.write_text("[kpis.x]\nformula = 'nope'\n")
    result = run("--no-collect", "--config", str(broken))
    assert "unrecognized arguments" not in result.stderr
    assert result.returncode == 2 and "nope" in result.stderr


def test_a_misspelt_command_still_says_invalid_choice():
    result = run("reprot")
    assert result.returncode == 2 and "invalid choice: 'reprot'" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "env", [{"PYTHONIOENCODING": "ascii"}, {"PYTHONIOENCODING": "cp1252", "LANG": "C", "LC_ALL": "C"}]
)
def test_report_to_a_file_under_a_non_utf8_encoding_degrades_to_ascii(sample, tmp_path, env):
    assert run("collect", "--once", "--config", str(sample)).returncode == 0
    out = tmp_path / "report.txt"
    with out.open("wb") as handle:
        result = subprocess.run(
            [kpitui_script(), "report", "--no-collect", "--config", str(sample)],
            stdout=handle,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUTF8": "0", **env},
            timeout=120,
        )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"UnicodeEncodeError" not in result.stderr
    text = out.read_bytes().decode(env["PYTHONIOENCODING"])
    assert "Lead Generation" in text and "Metrics" in text
    if env["PYTHONIOENCODING"] == "ascii":
        assert text.isascii()
        assert "(* key metric;" in text  # the star became an asterisk, not a '?'


def test_the_glyph_fallback_keeps_meaning():
    from kpitui.console import ERRORS

    assert "▲ at risk — ≤ 5 ★ Café".encode("ascii", ERRORS) == b"! at risk - <= 5 * Cafe"
    assert "日".encode("ascii", ERRORS) == b"?"


def _subparsers(parser, path=("kpitui",)):
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subparsers(sub, (*path, name))


def test_every_subcommand_has_a_description_and_every_option_a_help():
    import argparse

    from kpitui.cli import build_parser

    seen = []
    for path, parser in _subparsers(build_parser()):
        seen.append(" ".join(path))
        assert parser.description and len(parser.description) > 10, f"{' '.join(path)} --help has no description"
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            name = "/".join(action.option_strings) or action.dest
            assert action.help and action.help != argparse.SUPPRESS, f"{' '.join(path)}: {name} has no help"
    assert {"kpitui report", "kpitui series", "kpitui plugins", "kpitui collect"} <= set(seen)


def test_report_help_through_the_script_describes_format():
    result = run("report", "--help")
    assert result.returncode == 0
    assert "Print KPI values" in result.stdout
    assert "json (docs/json.md)" in " ".join(result.stdout.split())


def test_every_glyph_kpitui_prints_has_an_ascii_stand_in():
    from kpitui.console import ASCII
    from kpitui.formatting import SPARK, STATUS_SYMBOL

    for glyph in [*STATUS_SYMBOL.values(), *SPARK]:
        assert glyph in ASCII, glyph
    # statuses stay distinguishable when degraded
    assert len({ASCII[g] for g in STATUS_SYMBOL.values()}) == len(STATUS_SYMBOL)
