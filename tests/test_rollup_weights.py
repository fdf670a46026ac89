"""An objective's score with weights near the float maximum: the weighted mean by hand, not NaN (a ``ValueError``
traceback from ``kpitui report`` before); a weight of ``inf`` or ``nan`` is a config error."""

from __future__ import annotations

import pytest

from kpitui.scoring import rollup
from tests.test_plugin_guards import kpitui


def test_huge_weights_give_the_mean_by_hand():
    assert rollup([(0.5, 1e308), (1.0, 1e308)]) == 0.75  # equal weights: the plain mean
    assert rollup([(0.2, 1.5e308), (0.8, 0.5e308)]) == (0.2 * 3 + 0.8) / 4
    assert rollup([(0.5, 1.0), (1.0, 3.0)]) == (0.5 + 3.0) / 4  # ordinary weights: as before


@pytest.mark.slow
def test_report_with_huge_weights_and_a_refused_infinite_one(tmp_path):
    path = tmp_path / "kpitui.toml"
    kpis = "".join(
        f'[kpis.k{i}]\nname = "K{i}"\nformula = "sum"\nmetrics = ["a"]\nobjective = "o"\ntarget = {t}\nweight = 1e308\n'
        for i, t in enumerate((4, 8))
    )
    store = (tmp_path / "h.db").as_posix()
    path.write_text(f'[storage]\npath = "{store}"\n[metrics.a]\nname = "A"\n[objectives.o]\ntitle = "O"\n' + kpis)
    assert kpitui("record", "a", "2", "--config", str(path)).returncode == 0
    result = kpitui("report", "--no-collect", "--config", str(path))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    path.write_text(path.read_text().replace("weight = 1e308", "weight = inf", 1))
    refused = kpitui("report", "--no-collect", "--config", str(path))
    assert refused.returncode == 2 and "weight must be a finite number" in refused.stderr
