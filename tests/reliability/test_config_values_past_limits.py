"""Config values past what Python's URL parser and thread waits accept: one ``kpitui: ...`` line and exit 2 (or the
one source's error), never a traceback; a CSV annotation file that is a FIFO is that source's error, never a hang.

Found by a targeted mutation harness over the sample config (attack14). Before the fix:
- ``url = "http://[::1"`` (an unclosed IPv6 bracket) on an ``http`` or ``prometheus`` source or a ``webhook``
  notifier ended every command (``check`` included) in ``ValueError: Invalid IPv6 URL``; a port of 99999 was
  taken;
- a source's ``timeout = 1e308`` passed ``check``, then ``report`` and ``collect --once`` ended in
  ``OverflowError: timestamp out of range for platform time_t`` (a thread's wait);
- ``KPITUI_PLUGIN_TIMEOUT=inf`` made every third-party plugin "fail to load" with that OverflowError;
- ``[annotation_sources.X] type = "csv"`` with ``path`` a FIFO blocked ``report`` and ``annotations list`` for good.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from .conftest import KPITUI, REPO, kpitui_env
from .test_cli_ranges import run

BASE = '[storage]\npath = "{history}"\n[metrics.m]\nsource = "manual"\n[kpis.k]\nformula = "sum"\nmetrics = ["m"]\n'


def write(tmp_path, extra: str):
    path = tmp_path / "kpitui.toml"
    path.write_text(BASE.format(history=(tmp_path / "h.sqlite3").as_posix()) + extra, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "extra, said",
    [
        (
            '[sources.h]\ntype = "http"\nurl = "http://[::1/x"\n[metrics.q]\nsource = "h"\n',
            "[sources.h] url is not a valid URL (Invalid IPv6 URL)",
        ),
        (
            '[sources.h]\ntype = "http"\nurl = "http://127.0.0.1:99999/x"\n[metrics.q]\nsource = "h"\n',
            "[sources.h] url is not a valid URL (Port out of range 0-65535)",
        ),
        (
            '[sources.p]\ntype = "prometheus"\nurl = "http://[::1"\n[metrics.q]\nsource = "p"\nquery = "up"\n',
            "[sources.p] url is not a valid URL (Invalid IPv6 URL)",
        ),
        (
            '[notifiers.hook]\ntype = "webhook"\nurl = "http://[::1"\n',
            "[notifiers.hook] its options could not be checked (plugin builtin:notifiers): "
            "ValueError: Invalid IPv6 URL",
        ),
        (
            '[sources.d]\ntype = "demo"\ntimeout = 1e308\n[metrics.q]\nsource = "d"\n',
            "[sources.d] timeout: at most 1d (a fetch not done in a day is stuck), not 1e+308s",
        ),
    ],
)
@pytest.mark.parametrize("command", [["check"], ["report", "--format", "json"], ["collect", "--once"]])
def test_a_value_past_the_parsers_limits_is_one_line(tmp_path, extra, said, command):
    config = write(tmp_path, extra)
    code, err = run(*command, "--config", str(config))
    assert code == 2 and "Traceback" not in err, err
    (line,) = err.splitlines()
    assert line.startswith("kpitui: ") and said in line, line


def test_a_day_long_timeout_is_still_taken(tmp_path):
    config = write(
        tmp_path, '[sources.d]\ntype = "demo"\nhistory_days = 2\ntimeout = "1d"\n[metrics.q]\nsource = "d"\n'
    )
    code, err = run("collect", "--once", "--config", str(config))
    assert code == 0, err


def test_an_endless_plugin_timeout_from_the_environment_is_the_default(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "tiny.py").write_text(
        "import polars as pl\nimport kpitui\nfrom kpitui.api import FormulaType, Input\n\n"
        "class Twice(FormulaType):\n    type_name = 'twice'\n    description = 'twice m'\n"
        "    def inputs(self):\n        return [Input('x', 'm')]\n"
        "    def expression(self, inputs):\n        return inputs['x'] * 2\n\n"
        "@kpitui.hookimpl\ndef register_formula_types():\n    return [Twice]\n",
        encoding="utf-8",
    )
    config = write(tmp_path, '[plugins]\ndirs = ["plugins"]\n[kpis.t]\nformula = "twice"\n')
    for value in ("inf", "1e308"):
        done = subprocess.run(
            [*KPITUI, "check", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            env=kpitui_env(KPITUI_PLUGIN_TIMEOUT=value),
            cwd=REPO,
        )
        assert done.returncode == 0 and "OverflowError" not in done.stderr, (value, done.stderr)


def test_a_csv_annotation_file_that_is_a_fifo_is_that_sources_error(tmp_path):
    fifo = tmp_path / "notes.csv"
    os.mkfifo(fifo)
    config = write(tmp_path, f'[annotation_sources.z]\ntype = "csv"\npath = "{fifo.as_posix()}"\n')
    for command in (["report", "--no-collect"], ["annotations", "list"]):
        try:
            done = subprocess.run(
                [*KPITUI, *command, "--config", str(config)],
                capture_output=True,
                text=True,
                timeout=60,
                env=kpitui_env(),
                cwd=REPO,
            )
        except subprocess.TimeoutExpired:
            with open(fifo, "wb"):  # let the blocked open() return
                pass
            pytest.fail(f"{command} blocked on the FIFO")
        said = f"annotation source z: SourceError: {fifo} is a FIFO, socket or device, not a file"
        assert done.returncode == 0 and said in done.stderr, (command, done.stderr)
