"""Shell completion generated from the parser (issue 16): subcommands, options, ids from the config, windows.

Completions are asked the way the generated scripts ask: the real ``kpitui``
script run with argcomplete's environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = str(Path(sys.executable).with_name("kpitui"))


def complete(line: str, tmp_path: Path, cwd: Path | None = None) -> list[str]:
    out = tmp_path / "completions.out"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_IFS": "\n",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
    }
    result = subprocess.run([SCRIPT], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, pass_fds=())
    assert result.returncode == 0, result.stderr
    return [c.strip() for c in out.read_text().split("\n") if c.strip()]


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "kpitui.toml"
    path.write_text(
        "[metrics.newsletter_signups]\n[metrics.ad_views]\n"
        "[kpis.lead_generation]\nformula = 'sum'\nmetrics = ['newsletter_signups']\n"
        "[kpis.conversion]\nformula = 'ratio'\nnumerator = 'newsletter_signups'\ndenominator = 'ad_views'\n"
    )
    return path


def test_subcommands_and_options_complete(tmp_path):
    assert {"report", "record"} <= set(complete("kpitui re", tmp_path))
    assert complete("kpitui report --fo", tmp_path) == ["--format"]
    assert set(complete("kpitui report --format ", tmp_path)) >= {"table", "json", "csv"}


def test_metric_and_kpi_ids_come_from_the_config(tmp_path, config):
    assert set(complete(f"kpitui series --config {config} ", tmp_path)) >= {
        "newsletter_signups",
        "ad_views",
        "lead_generation",
        "conversion",
    }
    assert complete(f"kpitui series -c {config} lead", tmp_path) == ["lead_generation"]
    assert set(complete(f"kpitui record --config {config} ", tmp_path)) >= {"newsletter_signups", "ad_views"}
    assert "lead_generation" not in complete(f"kpitui record --config {config} ", tmp_path)  # record takes metrics only
    # without --config: ./kpitui.toml, as every command finds it
    assert complete("kpitui series con", tmp_path, cwd=config.parent) == ["conversion"]


def test_window_names_complete(tmp_path):
    assert complete("kpitui report --window month", tmp_path) == ["month_to_date"]
    assert set(complete("kpitui report --window trailing_", tmp_path)) >= {"trailing_7d", "trailing_30d"}


def test_the_window_list_is_kpituis():
    from kpitui.completion import WINDOWS
    from kpitui.periods import WINDOW_NAMES

    assert WINDOWS == WINDOW_NAMES


def test_a_broken_config_completes_nothing_and_never_fails(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[metrics\n")
    offered = complete(f"kpitui series -c {broken} ", tmp_path)
    assert offered and all(c.startswith("-") for c in offered)  # the options still, no ids


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_a_script_for_each_shell(shell):
    result = subprocess.run([SCRIPT, "completion", shell], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "kpitui" in result.stdout
    binary = shutil.which(shell)
    if binary:  # the script is valid for that shell
        check = subprocess.run([binary, "-n"], input=result.stdout, capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stderr


def test_bash_registers_the_completion():
    if not shutil.which("bash"):
        pytest.skip("no bash")
    script = subprocess.run([SCRIPT, "completion", "bash"], capture_output=True, text=True, timeout=60).stdout
    shown = subprocess.run(["bash", "-c", script + "\ncomplete -p kpitui"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "kpitui" in shown.stdout


def test_normal_start_up_never_imports_argcomplete(config):
    code = (
        f"import sys; from kpitui.cli import main; main(['check', '--config', {str(config)!r}]); "
        "print('argcomplete' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "False", result.stdout + result.stderr
