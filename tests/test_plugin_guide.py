"""The plugin guide (plugins/README.md) stays true to the code (issue 16)."""

from __future__ import annotations

import re
from pathlib import Path

import kpitui.sourcekit as sourcekit
from kpitui import hookspecs
from kpitui.api import FormulaType, MetricSource
from kpitui.model import UNITS

GUIDE_PATH = Path(__file__).resolve().parents[1] / "plugins" / "README.md"
GUIDE = GUIDE_PATH.read_text()


def section(title: str) -> str:
    start = GUIDE.index(title)
    rest = GUIDE[start + len(title) :]
    following = re.search(r"^#{2,3} ", rest, re.M)
    return rest[: following.start()] if following else rest


def test_each_hook_links_to_a_real_plugin_that_implements_it():
    hooks = [name for name in dir(hookspecs) if name.startswith("register_")]
    assert hooks
    for hook in hooks:
        text = section(f"### `{hook}`")
        links = re.findall(r"\]\(([^)#]+\.py)\)", text)
        assert links, f"the guide's {hook} section links to no plugin"
        implemented = [
            link
            for link in links
            if re.search(rf"@(kpitui\.)?hookimpl\s*\ndef {hook}\(", (GUIDE_PATH.parent / link).read_text())
        ]
        assert implemented, f"none of {links} implements {hook}"


def test_documented_class_attributes_exist():
    for name in (
        "passive",
        "default_unit",
        "metric_unit",
        "uses_condition",
        "default_interval",
        "default_timeout",
        "mode",
    ):
        assert hasattr(MetricSource, name) and f"{name}" in section("## The `MetricSource` contract"), name
    for name in ("to_date_series", "additive", "needs_raw_readings", "default_unit", "decompose"):
        assert hasattr(FormulaType, name) and name in section("## The `FormulaType` contract"), name
    assert 'metadata={"help":' in section("## Options dataclasses")


def test_the_unit_table_lists_exactly_kpituis_units():
    table = section("## The `MetricSource` contract").split("| unit | shown |", 1)[1]
    listed = re.findall(r"^\s*\| `(\w+)`", table, re.M)
    assert sorted(listed) == sorted(UNITS)


def test_every_public_sourcekit_helper_is_in_the_guide():
    text = section("## The source toolkit: `kpitui.sourcekit`")
    missing = [
        name
        for name in sourcekit.__all__
        if name not in text and name not in ("Bucket", "HttpStatusError", "NAIVE_FORMATS")
    ]
    assert not missing, missing


def test_the_guide_covers_ids_publishing_debugging_and_stability():
    for title in (
        "## Ids: metrics, KPIs, types",
        "## Debugging",
        "## Publishing",
        "## API stability and upgrades",
        "## Installing plugins",
    ):
        assert title in GUIDE, title
    assert "KPI and metric ids must differ" in GUIDE
    assert "pipx inject kpitui" in GUIDE
