"""Why a KPI moved (issue 17): each formula type splits its change by input, exactly.

Hand-computed splits for every built-in formula type, a property test that
every split adds up to the change the formula's own expression gives, and the
real ``kpitui report --explain`` over a history with known readings.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass

import pytest
from hypothesis import given, settings, strategies as st

from kpitui.api import CannotDecompose, FormulaType, Input, readings_frame, shapley_split
from kpitui.builtin.analytics import (
    Cumulative,
    Funnel,
    FunnelOptions,
    Growth,
    GrowthOptions,
    MeanWeightsOptions,
    OfOptions,
    WeightedMean,
    WeightedSum,
    WeightsOptions,
)
from kpitui.builtin.formulas import (
    Difference,
    Expression,
    ExpressionOptions,
    Mean,
    MetricsOptions,
    Ratio,
    RatioOptions,
    Sum,
    evaluate,
)
from kpitui.store import Store
from tests.test_cli import run
from tests.test_json_contract import documented, validate

UTC = dt.timezone.utc


def split(formula, current, previous):
    return formula.decompose(current, previous)


# -- hand-computed, per formula type --------------------------------------------------------


def test_sum_is_each_inputs_change():
    f = Sum(MetricsOptions(["signups", "requests"]))
    assert split(f, {"signups": 32, "requests": 10}, {"signups": 20, "requests": 6}) == {"signups": 12, "requests": 4}
    # no data counts as zero, as the sum does
    assert split(f, {"signups": 5, "requests": None}, {"signups": None, "requests": 3}) == {
        "signups": 5,
        "requests": -3,
    }


def test_difference_is_signed():
    f = Difference(MetricsOptions(["revenue", "expenses", "tax"]))
    assert split(f, {"revenue": 100, "expenses": 30, "tax": 5}, {"revenue": 80, "expenses": 40, "tax": 2}) == {
        "revenue": 20, "expenses": 10, "tax": -3,
    }  # fmt: skip  # profit 65 - 38 = +27 = +20 + 10 - 3


def test_weighted_sum_weighs_each_change():
    f = WeightedSum(WeightsOptions({"signups": 1.0, "requests": 5.0}))
    assert split(f, {"signups": 10, "requests": 3}, {"signups": 7, "requests": 1}) == {"signups": 3.0, "requests": 10.0}


def test_ratio_is_the_symmetric_shift_share_split():
    f = Ratio(RatioOptions("signups", "views", percent=True))
    # 30/200 = 15% now, 20/100 = 20% before: -5 pp
    parts = split(f, {"numerator": 30, "denominator": 200}, {"numerator": 20, "denominator": 100})
    # numerator: +10 x (1/100 + 1/200) / 2 x 100 = +7.5 pp;
    # denominator: (1/200 - 1/100) x (20 + 30) / 2 x 100 = -12.5 pp
    assert parts["numerator"] == pytest.approx(7.5)
    assert parts["denominator"] == pytest.approx(-12.5)
    with pytest.raises(CannotDecompose, match="zero denominator"):
        split(f, {"numerator": 3, "denominator": 0}, {"numerator": 2, "denominator": 10})


def test_funnel_splits_between_step_conversions():
    f = Funnel(FunnelOptions(["views", "signups", "sales"]))
    # before: 100 -> 10 -> 2 (10%, 20%: overall 0.02); now: 100 -> 20 -> 2 (20%, 10%: overall 0.02)
    parts = split(f, {"views": 100, "signups": 20, "sales": 2}, {"views": 100, "signups": 10, "sales": 2})
    # Shapley of a product of two factors: Δa·(b0+b1)/2 and Δb·(a0+a1)/2
    assert parts["views→signups"] == pytest.approx(0.10 * (0.2 + 0.1) / 2)
    assert parts["signups→sales"] == pytest.approx(-0.10 * (0.1 + 0.2) / 2)
    # a step that alone moved carries the whole change
    parts = split(f, {"views": 100, "signups": 10, "sales": 4}, {"views": 100, "signups": 10, "sales": 2})
    assert parts == pytest.approx({"views→signups": 0.0, "signups→sales": 0.02})
    with pytest.raises(CannotDecompose, match="zero"):
        split(f, {"views": 100, "signups": 0, "sales": 0}, {"views": 100, "signups": 10, "sales": 2})


def test_mean_divides_by_how_many():
    f = Mean(MetricsOptions(["web", "phone", "mail"]))
    assert split(f, {"web": 9, "phone": 6, "mail": 3}, {"web": 6, "phone": 6, "mail": 0}) == {
        "web": 1.0,
        "phone": 0.0,
        "mail": 1.0,
    }
    with pytest.raises(CannotDecompose, match="only one of the two periods"):
        split(f, {"web": 9, "phone": None, "mail": 3}, {"web": 6, "phone": 6, "mail": 0})
    single = Mean(MetricsOptions(["days"]))
    assert split(single, {"days": 4.5}, {"days": 6.0}) == {"days": -1.5}


def test_weighted_mean_over_the_total_weight():
    f = WeightedMean(MeanWeightsOptions({"web": 2.0, "phone": 1.0}))
    # (2*9 + 1*6)/3 = 8 now, (2*6 + 1*3)/3 = 5 before: +3 = web 2*3/3 + phone 1*3/3
    assert split(f, {"web": 9, "phone": 6}, {"web": 6, "phone": 3}) == {"web": 2.0, "phone": 1.0}


def test_linear_expression_uses_its_coefficients_and_others_cannot_be_split():
    f = Expression(ExpressionOptions("leads + 2 * requests - refunds / 2"))
    parts = split(f, {"leads": 10, "requests": 4, "refunds": 2}, {"leads": 7, "requests": 1, "refunds": 6})
    assert parts == pytest.approx({"leads": 3.0, "requests": 6.0, "refunds": 2.0})
    with pytest.raises(CannotDecompose, match="not linear"):
        split(
            Expression(ExpressionOptions("(revenue - expenses) / revenue")),
            {"revenue": 2, "expenses": 1},
            {"revenue": 3, "expenses": 1},
        )


def test_single_input_formulas_carry_the_whole_change():
    assert split(Cumulative(OfOptions("sold")), {"value": 12}, {"value": 9}) == {"value": 3}
    g = Growth(GrowthOptions("sold", mode="absolute"))  # (12 - 9) now, (9 - 4) before: -2
    assert split(g, {"current": 12, "previous": 9}, {"current": 9, "previous": 4}) == {"current": 3, "previous": -5}
    with pytest.raises(CannotDecompose, match="percent"):
        split(Growth(GrowthOptions("sold")), {"current": 12, "previous": 9}, {"current": 9, "previous": 4})


class Opaque(FormulaType):
    """A plugin formula that does not say how to split a change."""

    type_name = "opaque"

    def inputs(self):
        return [Input("a", "a")]

    def expression(self, inputs):
        return inputs["a"] * inputs["a"]


def test_a_formula_without_decompose_cannot_be_decomposed():
    with pytest.raises(CannotDecompose, match="'opaque' does not say how to split"):
        Opaque(None).decompose({"a": 2}, {"a": 1})


def test_shapley_split_of_three_factors_adds_up():
    parts = shapley_split(
        lambda v: v["a"] * v["b"] * v["c"], {"a": 1.0, "b": 2.0, "c": 3.0}, {"a": 2.0, "b": 2.0, "c": 0.5}
    )
    assert parts["b"] == 0.0
    assert math.fsum(parts.values()) == pytest.approx(2.0 - 6.0)


# -- property: every split adds up to the change its formula's expression gives --------------


value = st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda x: round(x, 3)))
positive = st.floats(min_value=0.001, max_value=1e6, allow_nan=False)
NAMES = ["a", "b", "c"]


@dataclass
class Case:
    formula: FormulaType
    current: dict
    previous: dict


def _inputs_of(formula, draw, strategy):
    return {inp.name: draw(strategy) for inp in formula.inputs()}


@st.composite
def cases(draw) -> Case:
    kind = draw(
        st.sampled_from(
            [
                "sum",
                "difference",
                "weighted_sum",
                "ratio",
                "funnel",
                "mean",
                "weighted_mean",
                "expression",
                "cumulative",
                "growth",
            ]
        )
    )
    weights = {n: draw(st.floats(min_value=-10, max_value=10, allow_nan=False)) for n in NAMES}
    formula = {
        "sum": lambda: Sum(MetricsOptions(NAMES)),
        "difference": lambda: Difference(MetricsOptions(NAMES)),
        "weighted_sum": lambda: WeightedSum(WeightsOptions(weights)),
        "ratio": lambda: Ratio(RatioOptions("a", "b", percent=draw(st.booleans()))),
        "funnel": lambda: Funnel(FunnelOptions(NAMES, percent=draw(st.booleans()))),
        "mean": lambda: Mean(MetricsOptions(NAMES)),
        "weighted_mean": lambda: WeightedMean(MeanWeightsOptions({n: abs(w) + 0.5 for n, w in weights.items()})),
        "expression": lambda: Expression(
            ExpressionOptions(draw(st.sampled_from(["a + b - c", "2 * a - b / 4 + 3", "(a - b) * 1.5 + c"])))
        ),
        "cumulative": lambda: Cumulative(OfOptions("a")),
        "growth": lambda: Growth(GrowthOptions("a", mode="absolute")),
    }[kind]()
    strategy = st.one_of(positive, st.just(0.0)) if kind in ("funnel", "ratio") else value
    return Case(formula, _inputs_of(formula, draw, strategy), _inputs_of(formula, draw, strategy))


@settings(max_examples=300, deadline=None)
@given(cases())
def test_every_split_adds_up_to_the_change(case):
    now, before = evaluate(case.formula, [case.current, case.previous])
    if now is None or before is None:
        return  # no change to explain (kpitui never asks)
    try:
        parts = case.formula.decompose(case.current, case.previous)
    except CannotDecompose:
        return  # saying so is allowed; adding up wrong is not
    change = now - before
    scale = max([1.0, abs(now), abs(before), *(abs(p) for p in parts.values())])
    assert math.fsum(parts.values()) == pytest.approx(change, abs=1e-9 * scale)


# -- through the real CLI -----------------------------------------------------------------------


def t(*args):
    return dt.datetime(*args, tzinfo=UTC)


CONFIG = """
[metrics.signups]
name = "Newsletter sign-ups"
[metrics.requests]
name = "Retainer requests"
[metrics.views]
name = "Ad views"
[metrics.margin]
name = "Margin"

[kpis.leads]
name = "Lead Generation"
formula = "sum"
metrics = ["signups", "requests"]

[kpis.conversion]
name = "Conversion"
formula = "ratio"
numerator = "signups"
denominator = "views"
percent = true
unit = "percent"

[kpis.squared]
name = "Opaque"
formula = "expression"
expression = "signups * signups / views"
"""


@pytest.fixture
def history(write_config, tmp_path):
    config = write_config(CONFIG)
    rows = [
        # January: so the February comparison period has full history
        ("signups", t(2026, 1, 10), 1), ("requests", t(2026, 1, 10), 1), ("views", t(2026, 1, 10), 1),
        # February 1-15 (the comparison period of March 1-15): 8 sign-ups, 2 requests, 100 views
        ("signups", t(2026, 2, 3), 5), ("signups", t(2026, 2, 9), 3), ("requests", t(2026, 2, 4), 2),
        ("views", t(2026, 2, 4), 100),
        ("signups", t(2026, 2, 20), 50),  # after Feb 15: not in the comparison
        # March 1-15: 20 sign-ups, 6 requests, 400 views
        ("signups", t(2026, 3, 2), 20), ("requests", t(2026, 3, 5), 4), ("requests", t(2026, 3, 6), 2),
        ("views", t(2026, 3, 3), 400),
    ]  # fmt: skip
    with Store(tmp_path / "history.sqlite3") as store:
        store.write(readings_frame(rows))
    return config


def test_report_explain_json_says_which_input_moved(history):
    result = run(
        "report",
        "--explain",
        "--format",
        "json",
        "--no-collect",
        "--at",
        "2026-03-15T12:00:00+00:00",
        "--config",
        str(history),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    schema = documented()["report"]
    assert validate(data, schema, schema) == []
    kpis = {k["id"]: k for k in data["kpis"]}
    leads = kpis["leads"]
    assert (leads["value"], leads["previous"], leads["change"]) == (26, 10, 16)
    assert leads["explanation"]["decomposed"] is True
    assert {c["ref"]: c["amount"] for c in leads["explanation"]["contributions"]} == {"signups": 12, "requests": 4}
    assert {c["ref"]: (c["current"], c["previous"]) for c in leads["explanation"]["contributions"]} == {
        "signups": (20, 8),
        "requests": (6, 2),
    }
    conversion = kpis["conversion"]["explanation"]  # 20/400 = 5% now, 8/100 = 8% before: -3 pp
    amounts = {c["label"]: c["amount"] for c in conversion["contributions"]}
    assert amounts == pytest.approx(
        {"numerator": 12 * (1 / 100 + 1 / 400) / 2 * 100, "denominator": (1 / 400 - 1 / 100) * 28 / 2 * 100}, abs=1e-6
    )
    assert sum(amounts.values()) == pytest.approx(-3.0)
    opaque = kpis["squared"]["explanation"]
    assert opaque["decomposed"] is False and opaque["contributions"] == [] and "not linear" in opaque["reason"]


@pytest.mark.slow
def test_report_explain_table_and_usage(history):
    result = run(
        "report",
        "--explain",
        "--no-collect",
        "--at",
        "2026-03-15T12:00:00+00:00",
        "--width",
        "0",
        "--config",
        str(history),
    )
    assert result.returncode == 0, result.stderr
    assert "Lead Generation +16 = Newsletter sign-ups +12, Retainer requests +4" in result.stdout
    assert "Opaque: cannot be decomposed: expression" in result.stdout
    plain = run(
        "report", "--format", "json", "--no-collect", "--at", "2026-03-15T12:00:00+00:00", "--config", str(history)
    )
    assert "explanation" not in json.loads(plain.stdout)["kpis"][0]  # only asked for
    bad = run("report", "--explain", "--format", "csv", "--no-collect", "--config", str(history))
    assert (
        bad.returncode == 2
        and "--explain works with --format table or json" in bad.stderr
        and "Traceback" not in bad.stderr
    )
