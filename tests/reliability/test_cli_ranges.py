"""Times and ids typed on the command line outside what kpitui can count, and TOML nested past Python's recursion
limit, are one line and exit 2.

Before the fix ``report --at 9999-12-31`` and ``--at 0001-01-01`` ended in a ``PeriodError`` traceback,
``series ID --at 9999-12-31T00:00`` in ``OverflowError: date value out of range``, and ``readings edit
999999999999999999999 5`` in ``OverflowError: Python int too large to convert to SQLite INTEGER``.
"""

from __future__ import annotations

import contextlib
import io

import pytest

from kpitui import cli


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "kpitui.toml"
    path.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n[metrics.a]\nunit = "count"\n'
        '[kpis.k]\nformula = "sum"\nmetrics = ["a"]\n',
        encoding="utf-8",
    )
    return path


def run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
    return code, err.getvalue()


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "--no-collect", "--at", "9999-12-31"],
        ["report", "--no-collect", "--at", "0001-01-01"],
        ["report", "--no-collect", "--explain", "--at", "0001-01-02"],
        ["series", "k", "--at", "9999-12-31T00:00"],
        ["record", "a", "5", "--at", "9999-12-31"],
        ["annotate", "x", "--at", "0001-01-01T00:00+05:00"],
        ["matches", "a", "--at", "9999-12-31"],
    ],
)
def test_a_time_out_of_range_is_one_line(config, argv):
    code, err = run(*argv, "--config", str(config))
    assert code == 2 and "Traceback" not in err, err
    assert err.splitlines()[-1].startswith("kpitui: ") and "out of range" in err, err


@pytest.mark.parametrize("argv", [["readings", "edit", "9" * 21, "5"], ["annotations", "delete", "9" * 21]])
def test_an_id_too_large_for_sqlite_is_a_usage_error(config, argv):
    code, err = run(*argv, "--config", str(config))
    assert code == 2 and "Traceback" not in err and "is not a" in err, err


def test_the_last_countable_year_still_reports(config):
    assert run("report", "--no-collect", "--at", "2999-12-31T23:00", "--config", str(config))[0] == 0
    assert run("series", "k", "--at", "1970-01-02", "--config", str(config))[0] == 0


@pytest.mark.parametrize("command", [["check"], ["report", "--no-collect"], ["plugins"]])
def test_toml_nested_past_pythons_recursion_limit_is_one_line(tmp_path, command):
    """``x = [[[[…]]]]`` 100,000 deep: tomllib's RecursionError was a traceback (``plugins`` too, reading the
    [plugins] table of a broken config)."""
    path = tmp_path / "kpitui.toml"
    path.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n[metrics.a]\nx = '
        + "[" * 100_000
        + "]" * 100_000
        + "\n",
        encoding="utf-8",
    )
    code, err = run(*command, "--config", str(path))
    assert code in (0, 2) and "Traceback" not in err, err  # plugins lists them anyway and exits 0
    assert "invalid TOML: arrays or inline tables nested too deeply" in err.splitlines()[-1], err


@pytest.mark.parametrize("value", ["0", "0.0001", '"10ms"'])
def test_a_refresh_faster_than_half_a_second_is_refused(tmp_path, value):
    """``refresh_seconds = 0.0001`` was taken: the dashboard re-read the history 10,000 times a second (and ``0``
    silently meant 5)."""
    path = tmp_path / "kpitui.toml"
    path.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n[ui]\nrefresh_seconds = {value}\n',
        encoding="utf-8",
    )
    code, err = run("check", "--config", str(path))
    assert code == 2 and err.splitlines()[-1].startswith("kpitui: "), err
    assert "refresh_seconds" in err, err
