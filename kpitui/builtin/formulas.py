"""Built-in KPI formula types: sum, ratio, difference, mean and expression."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from kpitui import hookimpl
from kpitui.api import FormulaType, Input, OptionError, safe_div


def _inputs(refs: list[str]) -> list[Input]:
    return [Input(ref, ref) for ref in refs]


@dataclass(frozen=True)
class MetricsOptions:
    metrics: list[str]

    def validate(self) -> None:
        if not self.metrics:
            raise OptionError("metrics must name at least one metric", "metrics")


class Sum(FormulaType):
    """Lead Generation = newsletter sign-ups + retainer requests."""

    type_name = "sum"
    description = "The sum of several metrics over the window (missing ones count as zero)."
    Options = MetricsOptions
    additive = True  # a to-date sum of counts can be projected to the period's end

    def inputs(self) -> list[Input]:
        return _inputs(self.options.metrics)

    def expression(self, inputs: dict[str, pl.Expr]) -> pl.Expr:
        cols = list(inputs.values())
        any_value = pl.any_horizontal([c.is_not_null() for c in cols])
        return pl.when(any_value).then(pl.sum_horizontal(cols))

    @classmethod
    def example(cls):
        return {"metrics": ["newsletter_signups", "retainer_requests"]}


class Mean(FormulaType):
    """Client onboarding time: the mean of one duration metric, or of several metrics."""

    type_name = "mean"
    description = "The mean of one metric over the window (a duration), or of several metrics."
    Options = MetricsOptions

    def inputs(self) -> list[Input]:
        if len(self.options.metrics) == 1:
            return [Input(self.options.metrics[0], self.options.metrics[0], agg="mean")]
        return _inputs(self.options.metrics)

    def expression(self, inputs: dict[str, pl.Expr]) -> pl.Expr:
        return pl.mean_horizontal(list(inputs.values()))

    @classmethod
    def example(cls):
        return {"metrics": ["onboarding_days"]}


class Difference(FormulaType):
    """Operating profit = revenue − expenses: the first metric minus the others."""

    type_name = "difference"
    description = "The first metric minus the others (operating profit = revenue - expenses)."
    Options = MetricsOptions
    additive = True

    def inputs(self) -> list[Input]:
        return _inputs(self.options.metrics)

    def expression(self, inputs: dict[str, pl.Expr]) -> pl.Expr:
        first, *rest = inputs.values()
        return first - pl.sum_horizontal(rest) if rest else first

    @classmethod
    def example(cls):
        return {"metrics": ["revenue", "expenses"]}


@dataclass(frozen=True)
class RatioOptions:
    numerator: str
    denominator: str
    percent: bool = False


class Ratio(FormulaType):
    """Conversion rate = sign-ups ÷ ad views; no data when the denominator is zero."""

    type_name = "ratio"
    description = "numerator / denominator over the window; x100 with percent = true."
    Options = RatioOptions
    default_unit = "ratio"

    def inputs(self) -> list[Input]:
        return [Input("numerator", self.options.numerator), Input("denominator", self.options.denominator)]

    def expression(self, inputs: dict[str, pl.Expr]) -> pl.Expr:
        value = safe_div(inputs["numerator"], inputs["denominator"])
        return value * 100 if self.options.percent else value

    @classmethod
    def example(cls):
        return {"numerator": "webinar_signups", "denominator": "ad_views", "percent": True}


@dataclass(frozen=True)
class ExpressionOptions:
    expression: str

    def validate(self) -> None:
        from kpitui.expressions import ExpressionError, compile_arithmetic

        try:
            compiled = compile_arithmetic(self.expression)
        except ExpressionError as exc:
            raise OptionError(f"expression: {exc}", "expression") from None
        if not compiled.names:
            raise OptionError(
                f"expression {self.expression.strip()!r} uses no metric or KPI: name at least one, e.g. \"leads * 2\" "
                "(for a fixed goal use target = …)",
                "expression",
            )


class Expression(FormulaType):
    """Arithmetic over metric ids, such as ``(revenue - expenses) / revenue``; never eval'd."""

    type_name = "expression"
    description = "Arithmetic over metric and KPI ids: + - * / ( ), abs, min, max, round, coalesce."
    Options = ExpressionOptions

    def __init__(self, options):
        from kpitui.expressions import compile_arithmetic

        super().__init__(options)
        self.compiled = compile_arithmetic(options.expression)
        self.additive = self.compiled.linear  # leads + reqs is additive; revenue / visits is not

    def inputs(self) -> list[Input]:
        return _inputs(list(self.compiled.names))

    def expression(self, inputs: dict[str, pl.Expr]) -> pl.Expr:
        return self.compiled.build(inputs)

    @classmethod
    def example(cls):
        return {"expression": "(revenue - expenses) / revenue * 100"}


@hookimpl
def register_formula_types():
    return [Sum, Ratio, Difference, Mean, Expression]
