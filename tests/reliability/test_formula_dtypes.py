"""A plugin formula whose expression gives strings (or lists, or Decimals) is that KPI's error; the other KPIs keep
their values.

Before the fix ``expression()`` returning ``pl.lit("abc")`` compiled, then failed the one polars query that
evaluates every KPI: ``kpitui report`` ended in a traceback (``InvalidOperationError: is_finite operation not
supported for dtype str``) and showed nothing at all.
"""

from __future__ import annotations

import contextlib
import io
import json

from kpitui import cli

PLUGIN = """
import polars as pl
import kpitui
from kpitui.api import FormulaType, Input


class Strings(FormulaType):
    type_name = "strings"
    description = "gives a string"

    def inputs(self):
        return [Input("x", "a")]

    def expression(self, inputs):
        return pl.lit("abc")


class Lists(FormulaType):
    type_name = "lists"
    description = "gives a list"

    def inputs(self):
        return [Input("x", "a")]

    def expression(self, inputs):
        return pl.concat_list([inputs["x"], inputs["x"]])


class Decimals(FormulaType):
    type_name = "decimals"
    description = "gives a Decimal (numeric to polars, yet is_finite() refuses it)"

    def inputs(self):
        return [Input("x", "a")]

    def expression(self, inputs):
        return inputs["x"].cast(pl.Decimal(10, 2))


@kpitui.hookimpl
def register_formula_types():
    return [Strings, Lists, Decimals]
"""


def test_a_formula_of_strings_is_its_kpis_error_not_the_reports(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "odd_formulas.py").write_text(PLUGIN, encoding="utf-8")
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n[plugins]\ndirs = ["plugins"]\n'
        '[metrics.a]\nunit = "count"\n'
        '[kpis.good]\nformula = "sum"\nmetrics = ["a"]\nwindow = "trailing_7d"\n'
        '[kpis.strings]\nformula = "strings"\nwindow = "trailing_7d"\n'
        '[kpis.lists]\nformula = "lists"\nwindow = "trailing_7d"\n'
        '[kpis.decimals]\nformula = "decimals"\nwindow = "trailing_7d"\n'
        '[kpis.reads_strings]\nformula = "sum"\nmetrics = ["strings", "a"]\nwindow = "trailing_7d"\n',
        encoding="utf-8",
    )
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main(["record", "a", "4", "--config", str(config)]) == 0
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["report", "--no-collect", "--format", "json", "--config", str(config)])
    assert code == 0, err.getvalue()
    kpis = {k["id"]: k for k in json.loads(out.getvalue())["kpis"]}
    assert kpis["good"]["value"] == 4.0
    for kid in ("strings", "lists", "decimals", "reads_strings"):
        assert kpis[kid]["value"] is None and kpis[kid]["status"] == "no_data", kpis[kid]
    assert "does not give a number" in json.dumps(kpis["strings"]), kpis["strings"]
    assert "Decimal" in json.dumps(kpis["decimals"]), kpis["decimals"]
