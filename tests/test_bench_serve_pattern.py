"""The browser benchmark's "first values" (benchmarks/bench_serve.py): the first KPI's row with a number in its
Value cell, with or without the Period cell before it, never a period's date or a placeholder."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.bench_serve import first_value_pattern

SAMPLE = Path(__file__).resolve().parents[1] / "kpitui" / "sample_config.toml"


@pytest.mark.parametrize(
    "row, shown",
    [
        ("│ ●  {}               48                 700", True),
        ("│ ●  {}   Dec 2026 to date    48   700", True),
        ("│ ●  {}   2026-12-04 to date    $1,200   700", True),
        ("│ ●  {}   Nov 2026 to Nov 3 18:01    9d 4h   700", True),
        ("│ ●  {}   2026-12-04 to date    4.1%   700", True),
        ("│ ●  {}   2026-12-04 to date    —   700", False),
        ("│ ●  {}   Q4 2026 to date    loading…", False),
        ("│ ●  {}               —                 700", False),
    ],
)
def test_the_first_value_is_the_value_cell_after_the_optional_period(row, shown):
    from kpitui.config import load_config

    config = load_config(SAMPLE)
    name = config.kpis[next(iter(config.objectives.values())).kpis[0]].name
    pattern = first_value_pattern(SAMPLE)
    assert bool(pattern.search(row.format(name))) is shown
