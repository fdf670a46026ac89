"""``kpitui series`` of a KPI whose plugin formula fails says why, as ``report`` does, and exits 1.

Before the fix a formula raising (``SystemExit``, ``None`` for an expression, a ``ZeroDivisionError``) gave a
column of "—" (JSON: every ``value`` null, CSV: empty cells) and exit 0: the same as a KPI with no readings yet,
while ``report`` said ``formula 'broken' (plugin broken) failed: ...``. A KPI that reads the broken one is named
too. Real plugin file in a ``[plugins] dirs`` folder, ``cli.main`` in-process.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from kpitui import cli

PLUGIN = """
import sys
import kpitui
from kpitui.api import FormulaType, Input


class Broken(FormulaType):
    type_name = "broken"
    description = "Fails when evaluated."

    def inputs(self):
        return [Input("x", "m")]

    def expression(self, inputs):
        raise ZeroDivisionError("the plugin divided by zero")


@kpitui.hookimpl
def register_formula_types():
    return [Broken]
"""


@pytest.fixture
def config(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "broken.py").write_text(PLUGIN, encoding="utf-8")
    path = tmp_path / "kpitui.toml"
    path.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n[plugins]\ndirs = ["plugins"]\n'
        '[metrics.m]\nsource = "manual"\n'
        '[kpis.bad]\nformula = "broken"\nwindow = "trailing_7d"\n'
        '[kpis.reads_bad]\nformula = "expression"\nexpression = "bad * 2"\nwindow = "trailing_7d"\n'
        '[kpis.fine]\nformula = "sum"\nmetrics = ["m"]\nwindow = "trailing_7d"\n',
        encoding="utf-8",
    )
    assert run("record", "m", "5", "--config", str(path))[0] == 0
    return path


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


WHY = "formula 'broken' (plugin broken) failed: ZeroDivisionError: the plugin divided by zero"


@pytest.mark.parametrize("kpi, why", [("bad", WHY), ("reads_bad", f"depends on bad: {WHY}")])
def test_a_failing_kpis_series_says_why_in_every_format(config, kpi, why):
    code, out, err = run("series", kpi, "--config", str(config))
    assert code == 1 and err == f"kpitui: series {kpi}: {why}\n", err
    assert out.splitlines()[1] == f"no values: {why}", out

    code, out, err = run("series", kpi, "--format", "json", "--config", str(config))
    document = json.loads(out)
    assert code == 1 and document["error"] == why and all(p["value"] is None for p in document["points"])

    code, out, err = run("series", kpi, "--format", "csv", "--config", str(config))
    assert code == 1 and why in err and out.startswith("start,value,end,undefined\n")


def test_a_working_kpis_series_has_no_error(config):
    code, out, err = run("series", "fine", "--format", "json", "--config", str(config))
    document = json.loads(out)
    assert code == 0 and err == "" and "error" not in document
    assert document["points"][-1]["value"] == 5
    code, out, err = run("series", "m", "--config", str(config))  # a metric: no formula to fail
    assert code == 0 and "no values" not in out
