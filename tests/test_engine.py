"""KPI evaluation against hand-computed values: formulas, windows, gaps, targets, statuses."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import kpitui
from kpitui.api import FormulaType, Input, readings_frame
from kpitui.config import load_config
from kpitui.engine import Engine
from kpitui.model import Status
from kpitui.plugins import load_registry

CONFIG = """
[metrics.a]
[metrics.b]
[metrics.z]
[metrics.g]
aggregation = "last"
[metrics.d]
unit = "duration"
aggregation = "mean"

[kpis.leads]
formula = "sum"
metrics = ["a", "b"]
window = "month_to_date"
target = { kind = "reach", value = 20 }

[kpis.rate]
formula = "ratio"
numerator = "a"
denominator = "b"

[kpis.zero]
formula = "ratio"
numerator = "a"
denominator = "z"

[kpis.profit]
formula = "difference"
metrics = ["a", "b"]

[kpis.margin]
formula = "expression"
expression = "(a - b) / a * 100"
target = { kind = "above", value = 100, baseline = 50 }

[kpis.gauge]
formula = "sum"
metrics = ["g"]

[kpis.gauge_today]
formula = "sum"
metrics = ["g"]
window = "today"

[kpis.onboarding]
formula = "mean"
metrics = ["d"]
target = { kind = "below", value = 10, baseline = 20 }

[kpis.doubled]
formula = "expression"
expression = "leads * 2"

[objectives.o]
kpis = ["leads", "margin", "onboarding", "rate"]
"""

NOW = dt.datetime(2026, 3, 15, 12, 0, tzinfo=dt.timezone.utc)


def t(*args):
    return dt.datetime(*args, tzinfo=dt.timezone.utc)


HISTORY = readings_frame(
    [
        ("a", t(2026, 3, 1, 10), 5),
        ("a", t(2026, 3, 10, 8), 7),
        ("a", t(2026, 2, 5), 3),
        ("a", t(2026, 2, 20), 4),  # after the previous period's same elapsed time
        ("a", t(2026, 3, 15, 13), 100),  # after `now`: ignored
        ("a", t(2025, 3, 3), 2),
        ("b", t(2026, 3, 2), 1),
        ("z", t(2026, 1, 1), 5),
        ("g", t(2026, 2, 10), 100),
        ("g", t(2026, 3, 5), 120),
        ("g", t(2026, 3, 14), 130),
        ("d", t(2026, 3, 3), 10),
        ("d", t(2026, 3, 9), 20),
    ]
)


@pytest.fixture
def snapshot(write_config, builtin_registry):
    config = load_config(write_config(CONFIG), registry=builtin_registry)
    return Engine(config).evaluate(HISTORY, NOW)


def test_sum_with_previous_period_and_last_year(snapshot):
    r = snapshot.kpis["leads"]
    assert r.value == 13  # a: 5 + 7, b: 1; the 13:00 reading is after now
    assert r.previous == 3  # Feb 1 .. Feb 15 12:00: only the Feb 5 reading
    assert r.last_year == 2
    # b's first reading (Mar 2) comes after the comparison period's start (Feb 1): partial history, no change
    assert r.partial_history and r.change is None and r.change_pct is None
    assert r.period.start == dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)


def test_pace_projection_drives_reach_score(snapshot):
    r = snapshot.kpis["leads"]
    fraction = (14.5 * 24) / (31 * 24)
    assert r.projection == pytest.approx(13 / fraction)
    assert r.score == 1.0 and r.status is Status.ON_TRACK


def test_ratio_and_no_data_before_first_reading(snapshot):
    r = snapshot.kpis["rate"]
    assert r.value == 12
    assert r.previous is None  # b had no reading before March: no data, not zero


def test_ratio_division_by_zero_is_undefined_not_no_data(snapshot):
    r = snapshot.kpis["zero"]
    assert r.value is None  # z has history but sums to 0 in March: a, 12, over 0
    assert r.status is Status.UNDEFINED
    assert r.undefined == "÷ 0: z is 0"
    # b had no reading before March: February's ratio has no data (not undefined), March's has its number
    rate = snapshot.kpis["rate"]
    assert rate.status is not Status.UNDEFINED and rate.undefined is None


def test_no_readings_at_all_is_no_data_not_undefined(write_config, builtin_registry):
    config = load_config(write_config(CONFIG), registry=builtin_registry)
    snap = Engine(config).evaluate(readings_frame([("g", t(2026, 3, 5), 1)]), NOW)
    zero = snap.kpis["zero"]
    assert zero.value is None and zero.status is Status.NO_DATA and zero.undefined is None


def test_undefined_when_only_part_of_the_inputs_has_data_is_no_data(write_config, builtin_registry):
    """A ratio whose numerator has never been read: no data (something is missing), whatever the denominator."""
    config = load_config(write_config(CONFIG), registry=builtin_registry)
    snap = Engine(config).evaluate(readings_frame([("z", t(2026, 1, 1), 5)]), NOW)
    assert snap.kpis["zero"].status is Status.NO_DATA


def test_undefined_reaches_kpis_built_on_it_and_the_objective(write_config, builtin_registry):
    text = CONFIG.replace('[objectives.o]\nkpis = ["leads", "margin", "onboarding", "rate"]', "")
    text += '[kpis.zero_twice]\nformula = "expression"\nexpression = "zero * 2"\n'
    text += '[objectives.o]\nkpis = ["zero", "zero_twice"]\n'
    text += '[objectives.empty]\nkpis = ["rate"]\n'
    config = load_config(write_config(text), registry=builtin_registry)
    snap = Engine(config).evaluate(HISTORY, NOW)
    twice = snap.kpis["zero_twice"]
    assert twice.value is None and twice.status is Status.UNDEFINED
    assert twice.undefined == "the formula gives no number for these inputs"
    by_id = {o.objective.id: o for o in snap.objectives}
    assert by_id["o"].status is Status.UNDEFINED
    assert by_id["empty"].status is Status.NO_TARGET  # rate has a value, no target
    before = Engine(config).evaluate(readings_frame([("g", t(2026, 3, 5), 1)]), NOW)
    assert {o.objective.id: o for o in before.objectives}["o"].status is Status.NO_DATA


def test_difference_and_expression(snapshot):
    assert snapshot.kpis["profit"].value == 11
    margin = snapshot.kpis["margin"]
    assert margin.value == pytest.approx(11 / 12 * 100)
    assert margin.score == pytest.approx((11 / 12 * 100 - 50) / 50)
    assert margin.status is Status.ON_TRACK


def test_gauge_takes_last_and_carries_forward(snapshot):
    assert snapshot.kpis["gauge"].value == 130
    assert snapshot.kpis["gauge"].previous == 100
    assert snapshot.kpis["gauge_today"].value == 130  # no reading today: carried forward


def test_mean_of_durations_and_lower_is_better(snapshot):
    r = snapshot.kpis["onboarding"]
    assert r.value == 15
    assert r.score == pytest.approx(0.5)  # halfway from 20 down to 10
    assert r.status is Status.AT_RISK


def test_kpi_of_a_kpi(snapshot):
    assert snapshot.kpis["doubled"].value == 26


def test_sparkline_buckets(snapshot):
    series = snapshot.kpis["leads"].series
    assert len(series) == 14
    assert series[-1][0] == dt.datetime(2026, 3, 15, tzinfo=dt.timezone.utc)
    by_day = {at.day: v for at, v in series}
    assert by_day[10] == 7 and by_day[2] == 1 and by_day[15] == 0 and by_day[5] == 0


def test_objective_rolls_up_weighted_scores(snapshot):
    (objective,) = snapshot.objectives
    scores = [snapshot.kpis[k].score for k in ("leads", "margin", "onboarding")]
    assert objective.score == pytest.approx(sum(scores) / 3)  # "rate" has no target: not counted


def test_freshness_and_latest(snapshot):
    assert snapshot.kpis["leads"].freshness == t(2026, 3, 10, 8)
    assert snapshot.metrics["a"].latest == 7
    assert snapshot.metrics["g"].latest_at == t(2026, 3, 14)


def test_window_override_and_offset(write_config, builtin_registry):
    config = load_config(write_config(CONFIG), registry=builtin_registry)
    engine = Engine(config)
    feb = engine.evaluate(HISTORY, NOW, window="month_to_date", offset=1)
    assert feb.kpis["leads"].value == 7  # the whole of February: 3 + 4
    assert feb.kpis["leads"].projection is None
    quarter = engine.evaluate(HISTORY, NOW, window="quarter_to_date")
    assert quarter.kpis["leads"].value == 20


def test_time_zone_moves_day_boundaries(write_config, builtin_registry):
    text = '[kpitui]\ntimezone = "America/New_York"\n' + CONFIG
    config = load_config(write_config(text), registry=builtin_registry)
    history = readings_frame(
        [("a", t(2026, 3, 1, 3), 50), ("a", t(2026, 3, 1, 6), 1)]
    )  # 03:00 UTC is still Feb 28 in New York
    r = Engine(config).evaluate(history, NOW).kpis["leads"]
    assert r.value == 1


class Exploding(FormulaType):
    type_name = "exploding"

    def inputs(self):
        return [Input("a", "a")]

    def expression(self, inputs):
        raise RuntimeError("boom")


class _Plugin:
    __name__ = "exploding_plugin"

    @kpitui.hookimpl
    def register_formula_types(self):
        return [Exploding]


def test_a_failing_formula_only_breaks_its_kpi(write_config):
    registry = load_registry(load_installed=False, extra=[_Plugin()])
    text = (
        CONFIG
        + '\n[kpis.bad]\nformula = "exploding"\n\n[kpis.uses_bad]\nformula = "expression"\nexpression = "bad + 1"\n'
    )
    config = load_config(write_config(text), registry=registry)
    snap = Engine(config).evaluate(HISTORY, NOW)
    assert "boom" in snap.kpis["bad"].error and "exploding_plugin" in snap.kpis["bad"].error
    assert snap.kpis["bad"].status is Status.NO_DATA
    assert "depends on bad" in snap.kpis["uses_bad"].error
    assert snap.kpis["leads"].value == 13


def test_empty_history_is_no_data_everywhere(write_config, builtin_registry):
    config = load_config(write_config(CONFIG), registry=builtin_registry)
    snap = Engine(config).evaluate(readings_frame([]), NOW)
    assert all(r.value is None and r.status is Status.NO_DATA for r in snap.kpis.values())


def test_detail_series_with_previous_period(write_config, builtin_registry):
    config = load_config(write_config(CONFIG), registry=builtin_registry)
    series = Engine(config).series(HISTORY, "leads", now=NOW, grain="day", points=20)
    assert len(series) == 20
    by_day = {(at.month, at.day): (v, p) for at, v, p in series}
    assert by_day[(3, 10)][0] == 7
    assert by_day[(3, 5)][1] == 3  # Feb 5, one month earlier


def test_detail_series_previous_line_at_month_ends(write_config, builtin_registry):
    config = load_config(write_config(CONFIG), registry=builtin_registry)
    history = readings_frame([("a", t(2026, 2, 27, 10), 4), ("a", t(2026, 2, 28, 10), 9), ("a", t(2026, 3, 30, 10), 2)])
    series = Engine(config).series(history, "leads", now=t(2026, 3, 31, 12), grain="day", points=5)
    previous = {at.day: p for at, _, p in series}
    assert previous[27] == 4  # Feb 27
    assert (
        previous[28] == previous[29] == previous[30] == 9
    )  # no Feb 29..30: Feb 28, never an empty or multi-day bucket
    assert previous[31] == 9  # today so far (to 12:00) against Feb 28 to 12:00
    assert [v for _, v, _ in series][-2:] == [2, 0]


def test_metric_series_by_its_own_aggregation_rule(write_config, builtin_registry):
    """A metric's detail chart and ``kpitui series <metric>``: each bucket by the metric's rule, no KPI involved."""
    config = load_config(write_config(CONFIG), registry=builtin_registry)
    history = readings_frame(
        [
            ("a", t(2026, 3, 11, 9), 2), ("a", t(2026, 3, 11, 17), 3), ("a", t(2026, 3, 13, 8), 4),
            ("a", t(2026, 3, 15, 11), 6), ("a", t(2026, 3, 15, 13), 100),  # after now: not counted
            ("a", t(2026, 3, 10, 12), 7),  # Mar 10: the day before the first bucket
            ("g", t(2026, 3, 12, 6), 120), ("g", t(2026, 3, 14, 6), 130), ("g", t(2026, 3, 14, 20), 125),
            ("d", t(2026, 3, 12, 1), 10), ("d", t(2026, 3, 12, 2), 30), ("d", t(2026, 3, 15, 1), 5),
        ]
    )  # fmt: skip
    engine = Engine(config)
    days = [t(2026, 3, d) for d in range(11, 16)]

    def chart(metric, **kw):
        rows = engine.metric_series(history, metric, now=NOW, grain="day", points=5, **kw)
        assert [at for at, _, _ in rows] == days
        return [(v, p) for _, v, p in rows]

    # a sum: each day's readings added; the comparison line one day (the window "today") earlier
    assert chart("a") == [(5, 7), (0, 5), (4, 0), (0, 4), (6, 0)]
    # a gauge (last): each day's last reading, carried forward over days without one
    assert [v for v, _ in chart("g")] == [None, 120, 120, 125, 125]
    # a mean of durations: the day's readings averaged; days without one have no value
    assert [v for v, _ in chart("d")] == [None, 20, None, None, 5]
    # over a month-long window the comparison bucket is the same day one month earlier
    assert [p for _, p in chart("a", window="month_to_date")] == [None] * 5
    # a year earlier, and an offset: the buckets end with the window's period one period back
    assert [p for _, p in chart("a", compare="last_year")] == [None] * 5
    shifted = engine.metric_series(history, "a", now=NOW, grain="day", points=2, offset=5)
    assert [(at.day, v, p) for at, v, p in shifted] == [(9, None, None), (10, 7, None)]  # nothing before Mar 10


@pytest.mark.parametrize(
    "grain, window, compare",
    [("day", "today", "previous"), ("hour", "month_to_date", "last_year"), ("week", "last_90_days", "previous")],
)
def test_metric_series_equals_a_one_metric_sum(write_config, builtin_registry, grain, window, compare):
    """What a metric's chart showed before it had its own method: a one-metric ``sum`` KPI's series."""
    sums = "".join(f'[kpis.sum_{m}]\nformula = "sum"\nmetrics = ["{m}"]\n' for m in ("a", "g", "d"))
    config = load_config(write_config(CONFIG + sums), registry=builtin_registry)
    engine = Engine(config)
    for m in ("a", "g", "d"):
        kw = dict(now=NOW, grain=grain, points=12, window=window, compare=compare)
        assert engine.metric_series(HISTORY, m, **kw) == engine.series(HISTORY, f"sum_{m}", **kw)


class PlusOne(FormulaType):
    type_name = "plus_one"

    def inputs(self):
        return [Input("a", "a")]

    def expression(self, inputs):
        return inputs["a"] + 1


class _PlusOnePlugin:
    __name__ = "plus_one_plugin"

    @kpitui.hookimpl
    def register_formula_types(self):
        return [PlusOne]


SHAPES = """
[metrics.a]
[metrics.b]
[metrics.z]

[kpis.just_a]
formula = "sum"
metrics = ["a"]

[kpis.a2]
formula = "expression"
expression = "a * 2"

[kpis.b2]
formula = "expression"
expression = "b * 2"

[kpis.a3]
formula = "expression"
expression = "a * 3"

[kpis.ab]
formula = "sum"
metrics = ["a", "b"]

[kpis.bz]
formula = "sum"
metrics = ["b", "z"]

[kpis.plugged]
formula = "plus_one"

[kpis.on_plugged]
formula = "expression"
expression = "plugged * 2"
"""


def test_kpis_of_one_formula_shape_are_answered_together_each_from_its_own_inputs(write_config):
    registry = load_registry(load_installed=False, extra=[_PlusOnePlugin()])
    engine = Engine(load_config(write_config(SHAPES), registry=registry))
    compiled = engine.program.kpis
    shape = {kid: c.shape.key if c.shape is not None else None for kid, c in compiled.items()}
    # the same expression of other metrics shares a shape; another constant or formula does not
    assert shape["a2"] == shape["b2"] and shape["ab"] == shape["bz"]
    assert len({shape["a2"], shape["a3"], shape["ab"], shape["just_a"]}) == 4
    # a plugin's formula (and a KPI reading it) keeps its own expressions over the request columns
    assert shape["plugged"] is None and shape["on_plugged"] is None
    snap = engine.evaluate(HISTORY, NOW)
    values = {kid: r.value for kid, r in snap.kpis.items()}
    assert values == {
        "just_a": 12, "a2": 24, "b2": 2, "a3": 36, "ab": 13, "bz": 1, "plugged": 13, "on_plugged": 26,
    }  # fmt: skip
    assert snap.kpis["a2"].previous == 6 and snap.kpis["b2"].previous is None  # b's first reading is in March
    just_a = [v for _, v in snap.kpis["just_a"].series]
    assert any(v for v in just_a)
    assert [v for _, v in snap.kpis["a2"].series] == [None if v is None else v * 2 for v in just_a]
    assert [v for _, v in snap.kpis["a3"].series] == [None if v is None else v * 3 for v in just_a]
    assert [v for _, v in snap.kpis["plugged"].series] == [None if v is None else v + 1 for v in just_a]


def test_every_kpi_on_every_row_is_its_own_expressions_over_the_wide_frame_of_answers(write_config):
    """The evaluation asks per shape, placeholder and KPI a block of requests (shared by KPIs reading
    the same column on the same rows) and takes each shape's cells from the answers by position: each
    KPI's value and parts on each of its rows are what its own expressions give over the wide frame
    of the same answers (one request per row and column), the way before shapes; the rows it is not
    planned on stay empty."""
    from kpitui import pipeline
    from kpitui.engine import _row_kpis, _wide

    registry = load_registry(load_installed=False, extra=[_PlusOnePlugin()])
    text = CONFIG + '\n[kpis.plugged]\nformula = "plus_one"\n\n[kpis.on_plugged]\nformula = "expression"\n'
    text += 'expression = "plugged * 2"\n\n[kpis.rate_today]\nformula = "ratio"\nnumerator = "a"\n'
    text += 'denominator = "b"\nwindow = "today"\n\n[kpis.funnel]\nformula = "funnel"\nsteps = ["a", "b", "z"]\n'
    engine = Engine(load_config(write_config(text), registry=registry))
    compiled = engine.program.kpis
    for when in (NOW, NOW - dt.timedelta(days=40, hours=5)):
        rows, plans, slots = engine.plan(when)
        row_kpis = _row_kpis(plans)
        view = pipeline.View.from_frame(HISTORY)
        evaluation = engine.run(view, when, rows, row_kpis, slots)
        pairs = [(r, k) for r, kids in row_kpis.items() for k in kids if k in compiled]
        asked, columns = engine.requests(pairs, slots, when)
        (cells,) = pipeline.collect(pipeline.aggregate(view, asked, {"sum", "mean", "last"}, carry=["row", "c"]))
        wide = _wide(cells.filter(pl.col("row") >= 0), len(rows), columns)
        checked = 0
        for kid in compiled:
            exprs = {kid: engine.expression(kid, 0, set())}
            parts = engine.compiler.formulas[kid].parts(engine.columns(kid, 0, set()))
            exprs.update({f"{kid}::{name}": pipeline.clean(part) for name, part in parts.items()})
            on_rows = {r for r, k in pairs if k == kid}
            for name, expr in exprs.items():
                want = wide.select(expr.alias("v"))["v"].to_list()
                got = evaluation.values[name]
                assert [got[r] for r in sorted(on_rows)] == [want[r] for r in sorted(on_rows)], name
                assert all(got[r] is None for r in range(len(rows)) if r not in on_rows), name
                checked += 1
        assert checked > len(compiled)  # parts too


def test_results_made_without_init_are_what_their_dataclass_makes(snapshot):
    """KPI results and metric statuses are made without running ``__init__`` (for speed): each is what
    its dataclass makes of the same fields (equal, the same repr, its fields in field order)."""
    import dataclasses

    from kpitui.model import KpiResult, MetricStatus

    made = [*snapshot.kpis.values(), *snapshot.metrics.values()]
    assert len(made) > 10
    for result in made:
        names = [f.name for f in dataclasses.fields(result)]
        again = type(result)(**{name: getattr(result, name) for name in names})
        assert result == again and repr(result) == repr(again)
        assert list(vars(result)) == names
    assert any(isinstance(r, KpiResult) and r.value is not None for r in made)
    assert any(isinstance(r, MetricStatus) and r.latest is not None for r in made)
