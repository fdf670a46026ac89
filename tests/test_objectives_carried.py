"""Objectives over a moved clock: an objective none of whose KPIs was made again keeps the last
evaluation's score and status (its KPIs' results of now); every snapshot equals a fresh evaluation's."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from kpitui.config import load_config
from kpitui.engine import Engine
from kpitui.engine.results import Results
from kpitui.pipeline import Readings, View, fold
from tests.test_incremental import CONFIG, START, as_rows, fresh

#: objectives of KPIs that a reading of ``c`` alone does not reach (``quiet``), that it does (``p90``
#: and ``typical`` read it; ``typical``'s score is its mean against a target), and one mixing both
OBJECTIVES = """
[kpis.typical]
formula = "mean"
metrics = ["c"]
window = "today"
target = { kind = "reach", value = 4 }

[objectives.quiet]
kpis = ["level", "growth", "doubled"]

[objectives.reached]
kpis = ["p90", "low", "typical"]

[objectives.mixed]
kpis = ["rate", "typical", "quarter"]
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory, builtin_registry):
    path = tmp_path_factory.mktemp("objectives") / "kpitui.toml"
    path.write_text(CONFIG + OBJECTIVES, encoding="utf-8")
    return load_config(path, registry=builtin_registry)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_objectives_carried_to_a_moved_clock_equal_a_fresh_evaluations(config, monkeypatch, seed):
    rng = random.Random(seed)
    worked_out: list[str] = []
    objective = Results.objective

    def counted(self, obj, results):
        worked_out.append(obj.id)
        return objective(self, obj, results)

    monkeypatch.setattr(Results, "objective", counted)
    engine, now = Engine(config), START
    history = [(m, -rng.randrange(1, 90 * 86_400), rng.randint(-3, 9)) for m in "abcde" for _ in range(40)]
    view = View.of(Readings.empty()).write(as_rows(history, now))
    engine.evaluate(view, now)
    kept_at_least_once = set()
    for round in range(25):
        # mostly the benchmark's round (one metric written at the clock, the clock 5 s later); now and then
        # a reading of another metric, a fold, or a longer move
        metric = "c" if rng.random() < 0.8 else rng.choice("abde")
        view = view.write(as_rows([(metric, rng.uniform(-4, 0), rng.randint(0, 9)) for _ in range(3)], now))
        view = fold(view) if round % 9 == 8 else view
        now += dt.timedelta(seconds=5 if rng.random() < 0.85 else rng.choice([600, 86_400]))
        worked_out.clear()
        snapshot = engine.evaluate(view, now)
        kept_at_least_once.update(o for o in ("quiet", "reached", "mixed") if o not in worked_out)
        assert snapshot == fresh(config, view, now), (round, now)
        by_id = {o.objective.id: o for o in snapshot.objectives}
        assert [r.kpi.id for r in by_id["quiet"].kpis] == ["level", "growth", "doubled"]
        assert all(r is snapshot.kpis[r.kpi.id] for o in snapshot.objectives for r in o.kpis)
    assert "quiet" in kept_at_least_once  # the carried path was taken, not only the worked-out one
