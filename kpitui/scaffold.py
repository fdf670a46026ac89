"""``kpitui plugin new NAME``: a plugin package that installs, registers and passes its tests as written.

It holds a source (a CSV of events counted or summed per local day, built
on :mod:`kpitui.sourcekit`), a formula type (a rate per N), tests on the
fixtures of :mod:`kpitui.testing`, a README and a CI workflow.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import __version__

NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ScaffoldError(Exception):
    """A name or folder the template cannot use."""


def names(raw: str) -> dict[str, str]:
    """``contracts`` (or ``kpitui-contracts``) -> plugin, distribution, module and type names."""
    short = raw.strip().lower().removeprefix("kpitui-").removeprefix("kpitui_").replace("-", "_")
    if not NAME.match(short):
        raise ScaffoldError(
            f"plugin name {raw!r}: use lower-case letters, digits and _ (or -), starting with a letter, e.g. 'crm'"
        )
    return {
        "name": short,
        "dist": "kpitui-" + short.replace("_", "-"),
        "module": f"kpitui_{short}",
        "source": f"{short}_events",
        "formula": f"{short}_rate",
        "title": short.replace("_", " ").title(),
        "kpitui_floor": ".".join(__version__.split(".")[:2]),
        "kpitui_next": f"{__version__.split('.')[0]}.{int(__version__.split('.')[1]) + 1}",
    }


PYPROJECT = """[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "kpitui plugin: {title} events per day and a rate per N."
readme = "README.md"
requires-python = ">=3.11"
keywords = ["kpitui", "kpitui-plugin"]
classifiers = ["Development Status :: 3 - Alpha", "Programming Language :: Python :: 3"]
# kpitui's plugin API may change in a minor release while it is 0.x (see its plugin guide)
dependencies = ["kpitui>={kpitui_floor},<{kpitui_next}"]

[project.optional-dependencies]
test = ["pytest>=8"]

# The line that makes this a kpitui plugin: "<plugin name> = <module>".
[project.entry-points.kpitui]
{name} = "{module}"

[tool.setuptools.packages.find]
include = ["{module}*"]
"""

INIT = '''"""{dist}: a kpitui plugin.

Registers the ``{source}`` metric source and the ``{formula}`` formula type
through kpitui's hooks (``kpitui plugins`` lists them).
"""

from __future__ import annotations

import kpitui

from .formula import Rate
from .source import EventsSource

__version__ = "0.1.0"
__all__ = ["EventsSource", "Rate", "register_formula_types", "register_metric_sources"]


@kpitui.hookimpl
def register_metric_sources():
    return [EventsSource]


@kpitui.hookimpl
def register_formula_types():
    return [Rate]
'''

SOURCE = '''"""The ``{source}`` source: rows of a CSV export, counted (or a column summed) per local day.

Replace the reading part with your system's API; keep the shape: read
everything the metrics need once per fetch, one reading per (metric, day).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from kpitui.api import FetchResult, MetricSource, OptionError, SourceError, readings_frame
from kpitui.sourcekit import bucket_start, parse_times, read_table


@dataclass(frozen=True)
class EventsOptions:
    path: str = field(metadata={{"help": "the CSV export, relative to the config file"}})
    time_column: str = field(default="time", metadata={{"help": "the column with each event's time"}})


@dataclass(frozen=True)
class EventsMetricOptions:
    kind: str | None = field(
        default=None, metadata={{"help": "count only rows whose `kind` column is this (default: every row)"}}
    )
    value_column: str | None = field(default=None, metadata={{"help": "sum this column instead of counting rows"}})

    def validate(self) -> None:
        if self.value_column == "":
            raise OptionError("value_column must name a column", "value_column")


class EventsSource(MetricSource):
    """Events from a CSV export, per local day: a count of rows, or the sum of a column."""

    type_name = "{source}"
    description = "Events from a CSV export, counted (or a column summed) per day."
    Options = EventsOptions
    MetricOptions = EventsMetricOptions
    mode = "replace"  # each fetch gives every day's full value: stored over the old one
    default_interval = 300.0

    @classmethod
    def metric_unit(cls, options, metric_options) -> str | None:
        return "number" if metric_options.value_column else "count"

    @classmethod
    def check(cls, options, metrics, context) -> None:
        for metric in metrics:
            if metric.aggregation != "sum":
                raise OptionError(f"metric {{metric.id!r}} is a total per day: use aggregation = 'sum'")

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {{"source": {{"path": "events.csv", "time_column": "time"}}, "metric": {{"kind": "signup"}}}}

    def fetch(self, cursor, now) -> FetchResult:
        path = self.context.path(self.options.path)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise SourceError(f"file not found: {{path}}") from None
        stamp = f"{{stat.st_size}}:{{stat.st_mtime_ns}}:{{self.context.timezone}}"
        state = hashlib.sha256(stamp.encode()).hexdigest()[:16]
        if state == cursor:  # unchanged since the last poll
            return FetchResult(readings_frame([]), cursor=cursor)
        raw = read_table(path)
        if self.options.time_column not in raw.columns:
            raise SourceError(
                f"{{path.name}} has no column {{self.options.time_column!r}}; its columns: {{', '.join(raw.columns)}}"
            )
        tz = self.context.timezone
        rows = raw.lazy().with_columns(at=parse_times(pl.col(self.options.time_column), tz))
        frames = []
        for metric in self.metrics:
            o = metric.options
            kept = rows.filter(pl.col("at").is_not_null())
            if o.kind is not None:
                kept = kept.filter(pl.col("kind") == o.kind) if "kind" in raw.columns else kept.filter(pl.lit(False))
            if o.value_column:
                value = pl.col(o.value_column).cast(pl.Float64, strict=False).sum()
            else:
                value = pl.len().cast(pl.Float64)
            frames.append(
                kept.group_by(day=bucket_start(pl.col("at"), "day", tz))
                .agg(value=value)
                .select(metric=pl.lit(metric.id), at="day", value="value")
            )
        readings, unreadable = pl.collect_all([pl.concat(frames), rows.select(pl.col("at").is_null().sum())])
        return FetchResult(readings, cursor=state, skipped=int(unreadable.item()))
'''

FORMULA = '''"""The ``{formula}`` formula type: events per N exposures (per 1,000 visitors, per 100 orders)."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from kpitui.api import FormulaType, Input, OptionError, safe_div


@dataclass(frozen=True)
class RateOptions:
    events: str = field(metadata={{"help": "the metric (or KPI) counting what happened"}})
    per: str = field(metadata={{"help": "the metric (or KPI) it happened out of"}})
    scale: float = field(default=1000.0, metadata={{"help": "events per this many (default 1000)"}})

    def validate(self) -> None:
        if self.scale <= 0:
            raise OptionError(f"scale must be positive, not {{self.scale}}", "scale")


class Rate(FormulaType):
    """events / per x scale; no exposures (per is 0): undefined, "÷ 0"."""

    type_name = "{formula}"
    description = "Events per N exposures: events / per x scale."
    Options = RateOptions
    default_unit = "number"

    def inputs(self) -> list[Input]:
        return [Input("events", self.options.events), Input("per", self.options.per)]

    def expression(self, inputs: dict[str, pl.Expr]) -> pl.Expr:
        return safe_div(inputs["events"], inputs["per"]) * self.options.scale

    def undefined_reason(self) -> str:
        # why the value is none while both inputs have data: kpitui shows the KPI "undefined" with this
        return f"÷ 0: {{self.options.per}} is 0"

    @classmethod
    def example(cls):
        return {{"events": "signups", "per": "visitors", "scale": 1000}}
'''

TESTS = '''"""Tests of {dist} against the real kpitui (kpitui.testing's fixtures): run `pytest`."""

from __future__ import annotations

import importlib.metadata

import pytest

import {module}
from kpitui.api import SourceError
from kpitui.testing import evaluate, fetch_source

CONFIG = """
[kpitui]
timezone = "America/New_York"

[sources.shop]
type = "{source}"
path = "events.csv"

[metrics.signups]
source = "shop"
kind = "signup"

[metrics.visitors]
source = "shop"
kind = "visit"

[kpis.signups_per_1000]
formula = "{formula}"
events = "signups"
per = "visitors"
"""

CSV = """time,kind
2026-03-02 09:00,visit
2026-03-02 10:00,visit
2026-03-02 23:30,signup
2026-03-03 00:15,visit
2026-03-03T05:20:00Z,signup
not a time,visit
"""


def test_the_source_counts_rows_per_local_day(kpitui_config, tmp_path):
    (tmp_path / "events.csv").write_text(CSV)
    config = kpitui_config(CONFIG, plugins=[{module}])

    result = fetch_source(config, "shop")

    got = {{(metric, at.isoformat()): value for metric, at, value in result.readings.iter_rows()}}
    # days start at local (New York) midnight: 05:00 UTC in March before the DST change
    assert got == {{
        ("signups", "2026-03-02T05:00:00+00:00"): 1.0,
        ("signups", "2026-03-03T05:00:00+00:00"): 1.0,  # 05:20Z is 00:20 in New York
        ("visitors", "2026-03-02T05:00:00+00:00"): 2.0,
        ("visitors", "2026-03-03T05:00:00+00:00"): 1.0,
    }}
    assert result.skipped == 1  # "not a time"
    assert fetch_source(config, "shop", cursor=result.cursor).readings.height == 0  # unchanged file: nothing to do


def test_a_missing_file_is_a_clear_error(kpitui_config):
    config = kpitui_config(CONFIG, plugins=[{module}])
    with pytest.raises(SourceError, match="file not found"):
        fetch_source(config, "shop")


def test_the_rate_per_thousand(kpitui_config):
    config = kpitui_config(CONFIG, plugins=[{module}])
    readings = [
        ("signups", "2026-03-02T12:00", 3),
        ("visitors", "2026-03-02T12:00", 1200),
        ("signups", "2026-03-03T12:00", 1),
    ]
    snapshot = evaluate(config, readings, now="2026-03-10T12:00")
    assert snapshot.kpis["signups_per_1000"].value == pytest.approx(4 / 1200 * 1000)


def test_listed_by_kpitui_plugins(kpitui_cli):
    try:
        importlib.metadata.distribution("{dist}")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("install the package first: pip install -e .")
    result = kpitui_cli("plugins")
    assert "{dist} 0.1.0 (entry point {name}) — ok" in result.stdout
'''

README = """# {dist}

A [kpitui](https://pypi.org/project/kpitui/) plugin: the `{source}` metric
source (events from a CSV export, counted or summed per day) and the
`{formula}` formula type (events per N exposures).

```bash
kpitui install -e .            # or: pip install -e .   (pipx: pipx inject kpitui -e .)
kpitui plugins                 # {dist} 0.1.0 (entry point {name}) — ok
```

```toml
[sources.shop]
type = "{source}"
path = "events.csv"            # relative to the config file
time_column = "time"

[metrics.signups]
source = "shop"
kind = "signup"                # rows whose `kind` column is "signup"; or value_column = "amount" to sum

[metrics.visitors]
source = "shop"
kind = "visit"

[kpis.signups_per_1000]
formula = "{formula}"
events = "signups"
per = "visitors"
scale = 1000
```

## Develop

```bash
pip install -e '.[test]'
pytest
```

The tests use kpitui's pytest fixtures (`kpitui_config`, `fetch_source`,
`evaluate`, `kpitui_cli`). kpitui's plugin guide covers the whole contract.
"""

WORKFLOW = """name: tests
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python-version: ["3.11", "3.12", "3.13"]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: ${{{{ matrix.python-version }}}}
      - run: pip install -e '.[test]'
      - run: pytest
      - run: kpitui plugins --strict
"""

GITIGNORE = "__pycache__/\n*.egg-info/\n.venv/\ndist/\nbuild/\n*.sqlite3*\n"


def files(raw: str) -> dict[str, str]:
    """Relative path -> text of every file of the package for plugin ``raw``."""
    n = names(raw)
    module = n["module"]
    return {
        "pyproject.toml": PYPROJECT.format(**n),
        f"{module}/__init__.py": INIT.format(**n),
        f"{module}/source.py": SOURCE.format(**n),
        f"{module}/formula.py": FORMULA.format(**n),
        f"tests/test_{n['name']}.py": TESTS.format(**n),
        "README.md": README.format(**n),
        ".github/workflows/tests.yml": WORKFLOW.format(**n),
        ".gitignore": GITIGNORE,
    }


def create(raw: str, parent: Path) -> Path:
    """Write the package into ``parent/kpitui-NAME`` (which must not exist) and return that folder."""
    n = names(raw)
    root = parent / n["dist"]
    if root.exists():
        raise ScaffoldError(f"{root} already exists; choose another name or folder")
    for rel, text in files(raw).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root
