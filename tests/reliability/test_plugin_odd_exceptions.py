"""A plugin raising odd exceptions: one whose ``__str__`` raises, a ``BaseException`` subclass, ``KeyboardInterrupt``
and ``SystemExit`` from plugin code. Each is that KPI's or source's error, never a traceback from every command
(through the real ``kpitui`` script)."""

from __future__ import annotations

import json

from tests.test_plugin_guards import kpitui, plugin_config

PLUGIN = """
import kpitui
from kpitui.api import FormulaType, Input, MetricSource

class BadStr(Exception):
    def __str__(self):
        raise RuntimeError("str broke")

class BadBase(BaseException):
    pass

def formula(name, error):
    class F(FormulaType):
        type_name = name
        def inputs(self):
            return [Input("m", "a")]
        def expression(self, inputs):
            raise error
    return F

class Src(MetricSource):
    type_name = "badstr_src"
    def fetch(self, cursor, now):
        raise BadStr()

@kpitui.hookimpl
def register_formula_types():
    return [formula("badstr", BadStr()), formula("basebase", BadBase("base")),
            formula("ctrlc", KeyboardInterrupt()), formula("exits", SystemExit(3))]

@kpitui.hookimpl
def register_metric_sources():
    return [Src]
"""

TABLES = """
[sources.s1]
type = "badstr_src"
[metrics.a]
name = "A"
[metrics.b]
name = "B"
source = "s1"
[kpis.ok]
name = "OK"
formula = "sum"
metrics = ["a"]
""" + "".join(f'[kpis.{t}]\nname = "{t}"\nformula = "{t}"\n' for t in ("badstr", "basebase", "ctrlc", "exits"))


def test_odd_exceptions_are_each_kpis_error(tmp_path):
    path = plugin_config(tmp_path, {"odd.py": PLUGIN}, TABLES)
    assert kpitui("record", "a", "4", "--config", str(path)).returncode == 0
    result = kpitui("report", "--no-collect", "--format", "json", "--config", str(path))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    kpis = {k["id"]: k for k in json.loads(result.stdout)["kpis"]}
    assert kpis["ok"]["value"] == 4.0
    assert "BadStr: (its message could not be read: BadStr.__str__ failed)" in kpis["badstr"]["error"]
    assert "BaseExceptionRaised: BadBase: base" in kpis["basebase"]["error"]
    assert "KeyboardInterrupt" in kpis["ctrlc"]["error"] and "SystemExit: 3" in kpis["exits"]["error"]


def test_a_source_error_whose_str_raises(tmp_path):
    path = plugin_config(tmp_path, {"odd.py": PLUGIN}, TABLES)
    result = kpitui("collect", "--once", "--config", str(path), timeout=120)
    assert "Traceback" not in result.stderr + result.stdout
    assert (
        "s1: error: fetch failed (plugin odd): BadStr: (its message could not be read" in result.stdout + result.stderr
    )


MULTILINE = """
import kpitui
import polars as pl
from kpitui.api import FormulaType, Input

class Paragraphs(FormulaType):
    type_name = "paragraphs"
    def inputs(self):
        return [Input("m", "a")]
    def expression(self, inputs):
        raise ValueError("the first line\\n\\nthe second paragraph\\r\\n   indented")

class WrongCol(FormulaType):
    type_name = "wrong_col"
    def inputs(self):
        return [Input("m", "a")]
    def expression(self, inputs):
        return pl.col(pl.col("x"))  # polars: "invalid input for `col`", then a paragraph

class NoColumn(FormulaType):
    type_name = "no_column"
    def inputs(self):
        return [Input("m", "a")]
    def expression(self, inputs):
        return pl.col("not_a_column")  # fails at collect: polars adds its resolved plan and a context stack

@kpitui.hookimpl
def register_formula_types():
    return [Paragraphs, WrongCol, NoColumn]
"""


def test_a_plugin_error_with_line_breaks_is_one_line_in_the_report(tmp_path):
    """Before: the message's line breaks went into the report's Status cell and split the KPI's row in three
    (polars' own errors have paragraphs)."""
    tables = (
        '[metrics.a]\nname = "A"\n'
        '[kpis.p]\nname = "P"\nformula = "paragraphs"\n[kpis.w]\nname = "W"\nformula = "wrong_col"\n'
        '[kpis.n]\nname = "N"\nformula = "no_column"\n'
    )
    path = plugin_config(tmp_path, {"multiline.py": MULTILINE}, tables)
    assert kpitui("record", "a", "4", "--config", str(path)).returncode == 0
    table = kpitui("report", "--no-collect", "--width", "0", "--config", str(path))
    assert table.returncode == 0 and "Traceback" not in table.stderr, table.stderr
    rows = [line for line in table.stdout.splitlines() if "failed" in line]
    assert len(rows) == 3, table.stdout
    row = {line.split()[0]: line for line in rows}
    assert "ValueError: the first line the second paragraph indented" in row["P"], rows
    assert "invalid input for `col` Expected" in row["W"], rows
    assert 'ColumnNotFoundError: unable to find column "not_a_column"' in row["N"], rows
    assert "Resolved plan" not in table.stdout and "context stack" not in table.stdout, row["N"]
    result = kpitui("report", "--no-collect", "--format", "json", "--config", str(path))
    errors = [k["error"] for k in json.loads(result.stdout)["kpis"]]
    assert all(e and "\n" not in e and "\r" not in e for e in errors), errors
