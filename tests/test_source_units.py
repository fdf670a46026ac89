"""A source gives its metrics a default unit (issue 16): a revenue metric shows $474, not 474."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = """
from dataclasses import dataclass
import kpitui
from kpitui.api import FetchResult, MetricSource, readings_frame


@dataclass(frozen=True)
class ShopMetric:
    column: str = "orders"


class Shop(MetricSource):
    type_name = "shop"
    description = "Orders and revenue of a shop."
    MetricOptions = ShopMetric
    default_unit = "count"

    @classmethod
    def metric_unit(cls, options, metric_options):
        return {"revenue": "currency", "conversion": "percent"}.get(metric_options.column, cls.default_unit)

    def fetch(self, cursor, now):
        values = {"orders": 12, "revenue": 474, "conversion": 3.5}
        return FetchResult(readings_frame([(m.id, now, values[m.options.column]) for m in self.metrics]))


class Bad(MetricSource):
    type_name = "bad_unit"
    default_unit = "dollars"


@kpitui.hookimpl
def register_metric_sources():
    return [Shop, Bad]
"""


def kpitui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).with_name("kpitui")), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )


def write(tmp_path: Path, metrics: str) -> Path:
    (tmp_path / "plugins").mkdir(exist_ok=True)
    (tmp_path / "plugins" / "shop.py").write_text(PLUGIN)
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{tmp_path / "h.sqlite3"}"\n[plugins]\ndirs = ["plugins"]\n[sources.shop]\ntype = '
        f'"shop"\n{metrics}'
    )
    return config


@pytest.mark.slow
def test_a_sources_default_unit_reaches_the_report(tmp_path):
    config = write(
        tmp_path,
        '[metrics.orders]\nsource = "shop"\n'
        '[metrics.revenue]\nsource = "shop"\ncolumn = "revenue"\n'
        '[metrics.conversion]\nsource = "shop"\ncolumn = "conversion"\n'
        '[metrics.revenue_as_number]\nsource = "shop"\ncolumn = "revenue"\nunit = "number"\n',
    )
    assert kpitui("collect", "--once", "--config", str(config)).returncode == 0
    data = json.loads(kpitui("report", "--no-collect", "--format", "json", "--config", str(config)).stdout)
    units = {m["id"]: m["unit"] for m in data["metrics"]}
    assert units == {"orders": "count", "revenue": "currency", "conversion": "percent", "revenue_as_number": "number"}
    table = kpitui("report", "--no-collect", "--width", "0", "--config", str(config)).stdout
    assert "$474" in table and "3.5%" in table


def test_a_plugins_unknown_unit_names_the_plugin(tmp_path):
    config = write(tmp_path, '[sources.bad]\ntype = "bad_unit"\n[metrics.x]\nsource = "bad"\n')
    check = kpitui("check", "--config", str(config))
    assert check.returncode == 2
    assert "gives the unknown unit 'dollars'" in check.stderr and "plugin shop" in check.stderr
