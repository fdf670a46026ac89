"""Plugin code run inside evaluation is bounded by the plugins' time limit (``KPITUI_PLUGIN_TIMEOUT``).

A plugin formula whose polars UDF (``map_elements``), ``series()`` or ``decompose()`` hangs used to hold
``kpitui report`` (and the TUI's evaluation) for good. Real plugin files in a ``[plugins] dirs`` folder, run
through the real ``kpitui`` script in a subprocess: the KPI shows an error naming the plugin, the built-in KPIs
beside it keep their numbers, and the process ends.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.test_plugin_guards import kpitui, plugin_config

PLUGIN = """
import time
import polars as pl
import kpitui
from kpitui.api import FormulaType, Input

def forever(value):
    while True:
        time.sleep(0.05)

class StuckUdf(FormulaType):
    type_name = "stuck_udf"
    def inputs(self):
        return [Input("m", "a")]
    def expression(self, inputs):
        return inputs["m"].map_elements(forever, return_dtype=pl.Float64)

class Spins(FormulaType):
    type_name = "spins"
    def inputs(self):
        return [Input("m", "a")]
    def expression(self, inputs):
        def spin(value):
            while True:
                pass
        return inputs["m"].map_elements(spin, return_dtype=pl.Float64)

class StuckSeries(FormulaType):
    type_name = "stuck_series"
    def inputs(self):
        return [Input("m", "a")]
    def expression(self, inputs):
        return inputs["m"] * 3
    def series(self, value):
        return value.map_batches(lambda s: forever(s), return_dtype=pl.Float64)

class StuckDecompose(FormulaType):
    type_name = "stuck_decompose"
    def inputs(self):
        return [Input("m", "a")]
    def expression(self, inputs):
        return inputs["m"] * 4
    def decompose(self, current, previous):
        forever(None)

class Fine(FormulaType):
    type_name = "fine"
    def inputs(self):
        return [Input("m", "a")]
    def expression(self, inputs):
        return inputs["m"].map_elements(lambda v: v * 5, return_dtype=pl.Float64)

class Raises(FormulaType):
    type_name = "raises_udf"
    def inputs(self):
        return [Input("m", "a")]
    def expression(self, inputs):
        def bad(value):
            raise ValueError("the UDF broke")
        return inputs["m"].map_elements(bad, return_dtype=pl.Float64)

@kpitui.hookimpl
def register_formula_types():
    return [StuckUdf, Spins, StuckSeries, StuckDecompose, Fine, Raises]
"""

BASE = """
[metrics.a]
name = "A"
aggregation = "sum"
[kpis.plain]
name = "Plain"
window = "today"
formula = "sum"
metrics = ["a"]
[kpis.fine]
name = "Fine"
window = "today"
formula = "fine"
"""
STUCK = """
[kpis.stuck]
name = "Stuck"
window = "today"
formula = "stuck_udf"
[kpis.spinning]
name = "Spinning"
window = "today"
formula = "spins"
[kpis.raising]
name = "Raising"
window = "today"
formula = "raises_udf"
[kpis.reads_stuck]
name = "Reads stuck"
window = "today"
formula = "sum"
metrics = ["stuck"]
"""
SERIES = """
[kpis.stuck_series]
name = "S"
window = "today"
formula = "stuck_series"
[kpis.stuck_decompose]
name = "D"
window = "today"
formula = "stuck_decompose"
"""


def recorded(tmp_path, tables):
    path = plugin_config(tmp_path, {"slowplug.py": PLUGIN}, BASE + tables)
    today = int(time.time()) // 86400 * 86400  # the UTC calendar's day
    for at_s in (today - 2 * 86400 - 3600, today - 3600, today + 1):  # history from before yesterday
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at_s))
        done = kpitui("record", "a", "7", "--at", at, "--config", str(path))
        assert done.returncode == 0, done.stderr
    return path


@pytest.mark.slow
def test_a_hanging_udf_is_that_kpis_error_and_the_report_ends(tmp_path):
    config = recorded(tmp_path, STUCK)
    started = time.monotonic()
    result = kpitui(
        "report", "--no-collect", "--format", "json", "--config", str(config),
        env={"KPITUI_PLUGIN_TIMEOUT": "2"}, timeout=90,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    kpis = {k["id"]: k for k in json.loads(result.stdout)["kpis"]}
    assert kpis["plain"]["error"] is None and kpis["plain"]["value"] == 7.0
    assert kpis["fine"]["error"] is None and kpis["fine"]["value"] == 35.0
    for kid in ("stuck", "spinning"):
        assert kpis[kid]["value"] is None
        assert "plugin slowplug" in kpis[kid]["error"] and "did not finish within 2s" in kpis[kid]["error"]
    assert "the UDF broke" in kpis["raising"]["error"] and "plugin slowplug" in kpis["raising"]["error"]
    assert kpis["reads_stuck"]["value"] is None and "depends on stuck" in kpis["reads_stuck"]["error"]
    assert elapsed < 60, elapsed


@pytest.mark.slow
def test_a_hanging_series_or_decompose_is_bounded(tmp_path):
    config = recorded(tmp_path, SERIES)
    started = time.monotonic()
    result = kpitui(
        "report", "--no-collect", "--explain", "--format", "json", "--config", str(config),
        env={"KPITUI_PLUGIN_TIMEOUT": "2"}, timeout=90,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    kpis = {k["id"]: k for k in out["kpis"]}
    assert kpis["plain"]["value"] == 7.0 and kpis["stuck_decompose"]["value"] == 28.0
    assert kpis["stuck_series"]["value"] == 21.0  # its sparkline shown as aggregated, its transform left out
    reason = kpis["stuck_decompose"]["explanation"]["reason"]
    assert "cannot be decomposed" in reason and "did not finish within 2s" in reason, reason
    assert kpis["plain"]["explanation"]["decomposed"]
    assert time.monotonic() - started < 80
