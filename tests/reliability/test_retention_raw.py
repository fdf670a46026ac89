"""Retention keeps the raw readings a KPI needs one by one (issue 11 item 5), through ``kpitui compact``.

A percentile over one down-sampled row per bucket is not the percentile of the
readings: p90 of 10, 20, 30, 40, 50, 200 in one hour moved after compaction.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from kpitui import hookimpl, retention
from kpitui.api import FormulaType, Input, readings_frame
from kpitui.config import load_config
from kpitui.store import Store
from kpitui.testing import load_test_config

from .conftest import run_kpitui

UTC = dt.timezone.utc
HOUR = (dt.datetime.now(UTC) - dt.timedelta(days=200)).replace(minute=0, second=0, microsecond=0)
VALUES = (10, 20, 30, 40, 50, 200)


def write(tmp_path: Path, extra_storage: str = "", extra: str = "") -> Path:
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\nraw_retention_days = 90\ndownsample_to = '
        f'"day"\n{extra_storage}\n'
        '[metrics.latency]\nunit = "number"\naggregation = "mean"\n\n'
        '[metrics.orders]\nunit = "count"\naggregation = "sum"\n\n'
        '[kpis.latency_p90]\nformula = "percentile"\nof = "latency"\np = 90\nwindow = "today"\n\n'
        '[kpis.order_total]\nformula = "sum"\nmetrics = ["orders"]\nwindow = "today"\n' + extra
    )
    with Store(tmp_path / "h.sqlite3") as store:
        rows = [
            (m, HOUR + dt.timedelta(minutes=7 * i), float(v))
            for m in ("latency", "orders")
            for i, v in enumerate(VALUES)
        ]
        store.write(readings_frame(rows))
    return config


def p90(config: Path) -> float:
    at = (HOUR + dt.timedelta(minutes=59)).isoformat()
    result = run_kpitui(
        "series",
        "latency_p90",
        "--grain",
        "hour",
        "--points",
        "1",
        "--at",
        at,
        "--format",
        "json",
        "--config",
        str(config),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["points"][0]["value"]


def test_a_percentile_kpi_keeps_its_raw_readings_through_compact(tmp_path, figures):
    config = write(tmp_path)
    before = p90(config)
    dry = run_kpitui("compact", "--dry-run", "--config", str(config))
    assert dry.returncode == 0, dry.stderr
    assert "would replace 6 readings" in dry.stdout  # orders only
    assert "kept raw: latency (KPI latency_p90 (percentile) reads its raw readings)" in dry.stdout
    assert "orders" not in dry.stdout.split("kept raw:", 1)[1]
    done = run_kpitui("compact", "--config", str(config))
    assert done.returncode == 0 and "replaced 6 readings" in done.stdout and "kept raw: latency" in done.stdout
    assert p90(config) == before == 125.0  # linear interpolation between 50 and 200
    with Store(tmp_path / "h.sqlite3", readonly=True) as store:
        counts = store.load()[0].group_by("metric").len().sort("metric").rows()
    assert counts == [("latency", 6), ("orders", 1)]
    figures(kpi_values_compared=1, raw_readings_kept=6)


@pytest.mark.slow
def test_downsample_anyway_compacts_it_and_says_the_value_can_change(tmp_path):
    config = write(tmp_path, 'downsample_anyway = ["latency"]\n')
    before = p90(config)
    done = run_kpitui("compact", "--config", str(config))
    assert "replaced 12 readings" in done.stdout and "kept raw" not in done.stdout
    assert p90(config) != before  # the documented price: one mean row per day
    typo = write(tmp_path, 'downsample_anyway = ["latncy"]\n')
    check = run_kpitui("check", "--config", str(typo))
    assert check.returncode == 2 and "did you mean 'latency'" in check.stderr


def test_an_agg_that_one_row_per_bucket_cannot_give_keeps_the_metric_raw(tmp_path):
    config = write(
        tmp_path,
        extra='\n[metrics.queue]\nunit = "number"\naggregation = "last"\n\n'
        '[kpis.mean_queue]\nformula = "mean"\nmetrics = ["queue"]\nwindow = "today"\n',
    )
    kept = retention.kept_raw(load_config(config))
    # the mean of a gauge needs every reading; the sum of a sum metric does not
    assert kept == {
        "latency": "latency_p90 (percentile) reads its raw readings",
        "queue": "mean_queue reads its mean, which one row per bucket cannot give",
    }


class RawHungry(FormulaType):
    """A third-party formula type that declares it needs raw readings."""

    type_name = "raw_hungry"
    needs_raw_readings = True

    def inputs(self):
        return [Input("x", self.options.metrics[0])]

    def expression(self, inputs):
        return inputs["x"]


class HungryPlugin:
    @hookimpl
    def register_formula_types(self):
        from kpitui.builtin.formulas import MetricsOptions

        RawHungry.Options = MetricsOptions
        return [RawHungry]


def test_a_plugin_formula_can_declare_it(tmp_path):
    text = (
        write(tmp_path).read_text()
        + '\n[kpis.hungry]\nformula = "raw_hungry"\nmetrics = ["orders"]\nwindow = "today"\n'
    )
    config = load_test_config(text, tmp_path, plugins=[HungryPlugin()], name="plugin.toml")
    assert retention.kept_raw(config)["orders"] == "hungry (raw_hungry) reads its raw readings"
