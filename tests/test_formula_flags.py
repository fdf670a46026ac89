"""The formulas' queries are collected without plan optimizations (``pipeline.FORMULA_OPTIMIZATIONS``):
every number must be the one polars' optimized plans give, and the one worked out by hand.

Formulas of every built-in type and a plugin's (``nps``), KPIs reading KPIs, over readings with gaps
(nulls), zeros (division by zero), negatives, huge values (overflow to infinity, NaN: no data) and
tiny ones, in a full evaluation and in evaluations after writes and clock moves (the incremental path,
which collects only the rows that moved). Each snapshot is compared field by field (``repr``, so
``-0.0`` against ``0.0`` or one bit of a float counts) with the same engine run under polars' default
optimizations and under the pipeline's own (:data:`kpitui.pipeline.OPTIMIZATIONS`). The hand values
also hold the shapes' outputs made null in Python when NaN or infinite (``queries._cleaned``: their
expressions are not cleaned in the query).
"""

from __future__ import annotations

import datetime as dt
import random

import kpitui_nps
import polars as pl
import pytest

from kpitui import pipeline
from kpitui.api import readings_frame
from kpitui.engine import Engine
from kpitui.pipeline import View

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 15, 12, tzinfo=UTC)

CONFIG = """
[kpitui]
timezone = "Europe/London"

[metrics.a]
[metrics.b]
[metrics.c]
[metrics.z]
[metrics.gap]
[metrics.m]
unit = "duration"
aggregation = "mean"
[metrics.g]
aggregation = "last"
[metrics.n]
aggregation = "count"
[metrics.promoters]
[metrics.detractors]
[metrics.responses]

[kpis.total]
formula = "sum"
metrics = ["a", "b", "gap"]
target = { kind = "reach", value = 50 }
[kpis.only_gap]
formula = "sum"
metrics = ["gap"]
[kpis.avg]
formula = "mean"
metrics = ["a", "b", "gap"]
[kpis.avg_one]
formula = "mean"
metrics = ["m"]
[kpis.profit]
formula = "difference"
metrics = ["a", "b", "c"]
[kpis.rate]
formula = "ratio"
numerator = "a"
denominator = "z"
[kpis.rate_pct]
formula = "ratio"
numerator = "b"
denominator = "a"
percent = true
window = "today"
[kpis.expr]
formula = "expression"
expression = "(a - b) / z * 100"
[kpis.expr_fns]
formula = "expression"
expression = "max(a, b) / min(c, z) + abs(b - a) - round(a / 3, 2) + coalesce(gap, g) * 1.0"
[kpis.nan_expr]
formula = "expression"
expression = "a * a - a * a"
[kpis.composite]
formula = "expression"
expression = "total / rate_pct - profit"
[kpis.growth]
formula = "growth"
of = "total"
window = "week_to_date"
[kpis.growth_abs]
formula = "growth"
of = "rate"
mode = "absolute"
[kpis.running]
formula = "cumulative"
of = "a"
window = "year_to_date"
[kpis.funnel]
formula = "funnel"
steps = ["a", "b", "z"]
percent = true
[kpis.p90]
formula = "percentile"
of = "m"
p = 90
[kpis.weighted]
formula = "weighted_sum"
weights = { a = 2.5, b = -1.0, g = 0.5 }
[kpis.weighted_mean]
formula = "weighted_mean"
weights = { a = 2.0, z = 1.0, gap = 3.0 }
[kpis.counted]
formula = "ratio"
numerator = "n"
denominator = "b"
[kpis.nps]
formula = "nps"
promoters = "promoters"
detractors = "detractors"
responses = "responses"
[kpis.nps_of_kpis]
formula = "expression"
expression = "nps * 2 - total"
"""

METRICS = ["a", "b", "c", "z", "m", "g", "n", "promoters", "detractors", "responses"]  # "gap": never a reading
VALUES = [0.0, -0.0, 1.0, -3.5, 7.25, 1e-300, -2e-310, 1e300, -1e308, 123456.789, 0.1, 3.0]


def _readings(seed: int, count: int, start: dt.datetime, seconds: float) -> pl.DataFrame:
    rnd = random.Random(seed)
    rows = []
    for _ in range(count):
        metric = rnd.choice(METRICS)
        if metric == "z" and rnd.random() < 0.7:
            value = 0.0  # mostly zero: a denominator of zero
        else:
            value = rnd.choice(VALUES) if rnd.random() < 0.6 else round(rnd.uniform(-50, 200), rnd.randint(0, 6))
        rows.append((metric, start + dt.timedelta(seconds=rnd.uniform(0, seconds)), value))
    return readings_frame(rows)


def _snapshots(config, seed: int) -> list[str]:
    """An engine's snapshots, as text: a full evaluation over 30 days of readings, then readings
    written and the clock moved (5 s, a minute, an hour) through the incremental path."""
    history = _readings(seed, 600, NOW - dt.timedelta(days=30), 30 * 86400)
    engine = Engine(config)
    view = View.from_frame(history)
    now, out = NOW, []
    out.append(repr(engine.evaluate(view, now)))
    for step, (seconds, count) in enumerate([(5, 20), (60, 5), (3600, 40), (5, 0), (5, 30)]):
        new = _readings(seed * 100 + step, count, now, seconds) if count else None
        now += dt.timedelta(seconds=seconds)
        if new is not None:
            view = view.write(pipeline.as_rows(new))
        out.append(repr(engine.evaluate(view, now)))
    return out


@pytest.fixture
def config(kpitui_config):
    return kpitui_config(CONFIG, installed=False, plugins=[kpitui_nps])


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(8))
def test_formula_values_are_the_optimized_plans(config, seed, monkeypatch):
    assert pipeline.FORMULA_OPTIMIZATIONS is not pipeline.OPTIMIZATIONS
    ours = _snapshots(config, seed)
    for flags in (pl.QueryOptFlags(), pipeline.OPTIMIZATIONS):
        monkeypatch.setattr(pipeline, "FORMULA_OPTIMIZATIONS", flags)
        theirs = _snapshots(config, seed)
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert a == b, (seed, i, flags)


def test_the_formulas_queries_are_collected_with_those_flags(config, monkeypatch):
    """What the test above compares is what the engine runs: the formulas' queries (a shape's, a plugin's)
    collected with ``FORMULA_OPTIMIZATIONS``, and they are not left out of an incremental evaluation."""
    seen: list[pl.QueryOptFlags] = []
    collect = pipeline.collect

    def spy(*frames, optimizations=pipeline.OPTIMIZATIONS):
        seen.append(optimizations)
        return collect(*frames, optimizations=optimizations)

    monkeypatch.setattr(pipeline, "collect", spy)
    _snapshots(config, 3)
    formulas = [o for o in seen if o is pipeline.FORMULA_OPTIMIZATIONS]
    assert len(formulas) >= 2 * 6  # per evaluation: the shapes' query and at least the plugin's


def test_formula_values_by_hand(config):
    """The values of the trickiest formulas over readings chosen by hand (March to date, today, in London)."""
    at = NOW - dt.timedelta(hours=2)
    rows = [
        ("a", at, 6.0),
        ("a", at + dt.timedelta(seconds=1), 4.0),
        ("b", at, 2.5),
        ("c", at, -1.0),
        ("z", at, 0.0),
        ("g", at, 8.0),
        ("m", at, 3.0),
        ("m", at + dt.timedelta(seconds=1), 5.0),
        ("n", at, 1.0),
        ("n", at + dt.timedelta(seconds=1), 1.0),
        ("promoters", at, 30.0),
        ("detractors", at, 10.0),
        ("responses", at, 50.0),
        ("a", NOW - dt.timedelta(days=30), 1e300),  # February to date: a / z overflows
        ("z", NOW - dt.timedelta(days=30), 1e-10),
    ]
    snap = Engine(config).evaluate(View.from_frame(readings_frame(rows)), NOW)
    kpis = {k.kpi.id: k for k in snap.kpis.values()}
    value = {kid: r.value for kid, r in kpis.items()}
    assert value["total"] == 12.5  # a + b (+ no readings of gap)
    assert value["only_gap"] is None
    assert value["avg"] == (10.0 + 2.5) / 2
    assert value["avg_one"] == 4.0
    assert value["profit"] == 10.0 - (2.5 + -1.0)
    assert value["rate"] is None  # a / 0
    assert value["rate_pct"] == 2.5 / 10.0 * 100
    assert value["expr"] is None  # (a - b) / 0 * 100
    assert value["expr_fns"] == pytest.approx(10.0 / -1.0 + 7.5 - 3.33 + 8.0)  # min(c, z) = -1: defined
    assert value["composite"] == 12.5 / 25.0 - 8.5  # total / rate_pct - profit
    assert value["weighted_mean"] == (2.0 * 10.0 + 1.0 * 0.0) / 3.0  # gap: no reading, left out
    assert value["weighted"] == 2.5 * 10.0 - 2.5 + 0.5 * 8.0
    assert kpis["rate"].previous is None and kpis["total"].previous == 1e300  # 1e310: infinity, no data
    assert kpis["weighted"].previous == 2.5e300
    assert value["nan_expr"] == 0.0 and kpis["nan_expr"].previous is None  # 1e600 - 1e600: NaN, no data
    assert value["counted"] == 2.0 / 2.5
    assert value["nps"] == (30.0 - 10.0) / 50.0 * 100
    assert value["nps_of_kpis"] == 40.0 * 2 - 12.5
