"""Built-in KPI formula types: sum, ratio, difference, mean and expression.

Each also says how a change splits by input (``decompose``, "why it moved"):
sums and differences by each input's signed change, a mean by each input's
change over the count, a ratio by the symmetric shift-share (Shapley) split
of numerator and denominator effects, a linear expression by each input's
change times its coefficient.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kpitui import hookimpl
from kpitui.api import NO_NUMBER, CannotDecompose, FormulaType, Input, OptionError, safe_div, shapley_split

if TYPE_CHECKING:
    import polars as pl

    from kpitui.expressions import Arithmetic
else:
    from kpitui.lazy import polars as pl


def _inputs(refs: list[str]) -> list[Input]:
    return [Input(ref, ref) for ref in refs]


def _delta(current: dict[str, float | None], previous: dict[str, float | None], name: str) -> float:
    """An input's change, no data counting as zero (as sums do)."""
    return (current.get(name) or 0.0) - (previous.get(name) or 0.0)


def _present(current: dict[str, float | None], previous: dict[str, float | None], names: list[str]) -> list[str]:
    """The inputs with data in both periods; CannotDecompose when one has data in only one of them."""
    have = [n for n in names if current.get(n) is not None and previous.get(n) is not None]
    odd = [n for n in names if (current.get(n) is None) != (previous.get(n) is None)]
    if odd:
        raise CannotDecompose(f"{odd[0]} has data in only one of the two periods (the mean is over different inputs)")
    return have


def evaluate(formula: FormulaType, rows: list[dict[str, float | None]]) -> list[float | None]:
    """The formula's value for each row of input values (by input name), as the engine computes it."""
    names = [inp.name for inp in formula.inputs()]
    frame = pl.DataFrame({n: pl.Series([row.get(n) for row in rows], dtype=pl.Float64) for n in names})
    value = formula.expression({n: pl.col(n) for n in names})
    finite = pl.when(value.is_finite()).then(value).otherwise(None)
    return frame.select(finite.cast(pl.Float64).alias("value"))["value"].to_list()


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
    keeps_unit = True
    additive = True  # a to-date sum of counts can be projected to the period's end

    def inputs(self) -> list[Input]:
        return _inputs(self.options.metrics)

    def expression(self, inputs: dict[str, pl.Expr]) -> pl.Expr:
        cols = list(inputs.values())
        any_value = pl.any_horizontal([c.is_not_null() for c in cols])
        return pl.when(any_value).then(pl.sum_horizontal(cols))

    def decompose(self, current: dict[str, float | None], previous: dict[str, float | None]) -> dict[str, float]:
        """Each metric's own change (Lead Generation +16 = sign-ups +12, retainer requests +4)."""
        return {ref: _delta(current, previous, ref) for ref in self.options.metrics}

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"metrics": ["newsletter_signups", "retainer_requests"]}


class Mean(FormulaType):
    """Client onboarding time: the mean of one duration metric, or of several metrics."""

    type_name = "mean"
    description = "The mean of one metric over the window (a duration), or of several metrics."
    Options = MetricsOptions
    keeps_unit = True

    def inputs(self) -> list[Input]:
        if len(self.options.metrics) == 1:
            return [Input(self.options.metrics[0], self.options.metrics[0], agg="mean")]
        return _inputs(self.options.metrics)

    def expression(self, inputs: dict[str, pl.Expr]) -> pl.Expr:
        return pl.mean_horizontal(list(inputs.values()))

    def decompose(self, current: dict[str, float | None], previous: dict[str, float | None]) -> dict[str, float]:
        """Each metric's change divided by how many metrics the mean is over."""
        names = [inp.name for inp in self.inputs()]
        have = _present(current, previous, names)
        return {n: (_delta(current, previous, n) / len(have) if n in have else 0.0) for n in names}

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"metrics": ["onboarding_days"]}


class Difference(FormulaType):
    """Operating profit = revenue − expenses: the first metric minus the others."""

    type_name = "difference"
    description = "The first metric minus the others (operating profit = revenue - expenses)."
    Options = MetricsOptions
    keeps_unit = True
    additive = True

    def inputs(self) -> list[Input]:
        return _inputs(self.options.metrics)

    def expression(self, inputs: dict[str, pl.Expr]) -> pl.Expr:
        first, *rest = inputs.values()
        return first - pl.sum_horizontal(rest) if rest else first

    def decompose(self, current: dict[str, float | None], previous: dict[str, float | None]) -> dict[str, float]:
        """The first metric's change, then minus each other metric's change."""
        first, *rest = self.options.metrics
        return {first: _delta(current, previous, first), **{ref: -_delta(current, previous, ref) for ref in rest}}

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"metrics": ["revenue", "expenses"]}


@dataclass(frozen=True)
class RatioOptions:
    numerator: str
    denominator: str
    percent: bool = False


class Ratio(FormulaType):
    """Conversion rate = sign-ups ÷ ad views; undefined (÷ 0) when the denominator is zero."""

    type_name = "ratio"
    description = "numerator / denominator over the window; x100 with percent = true."
    Options = RatioOptions
    default_unit = "ratio"

    def __init__(self, options: RatioOptions):
        super().__init__(options)
        if options.percent:  # x100: the value is a percentage, shown and targeted as one (1.2%, not 1.2)
            self.default_unit = "percent"

    def inputs(self) -> list[Input]:
        return [Input("numerator", self.options.numerator), Input("denominator", self.options.denominator)]

    def expression(self, inputs: dict[str, pl.Expr]) -> pl.Expr:
        value = safe_div(inputs["numerator"], inputs["denominator"])
        return value * 100 if self.options.percent else value

    def undefined_reason(self) -> str:
        return f"÷ 0: {self.options.denominator} is 0"

    def decompose(self, current: dict[str, float | None], previous: dict[str, float | None]) -> dict[str, float]:
        """The numerator's and the denominator's effects: the symmetric shift-share (Shapley) split,
        ``ΔN·(1/D₀+1/D₁)/2`` and ``(1/D₁−1/D₀)·(N₀+N₁)/2`` (x100 with percent); exact, zeros allowed."""
        for period, values in (("current", current), ("previous", previous)):
            if values.get("numerator") is None or not values.get("denominator"):
                raise CannotDecompose(f"the {period} period has no numerator or a zero denominator")
        scale = 100.0 if self.options.percent else 1.0
        return shapley_split(lambda v: scale * v["numerator"] / v["denominator"], _pair(previous), _pair(current))

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"numerator": "webinar_signups", "denominator": "ad_views", "percent": True}


def _pair(values: dict[str, float | None]) -> dict[str, float]:
    return {"numerator": float(values["numerator"] or 0.0), "denominator": float(values["denominator"] or 0.0)}


@functools.lru_cache(maxsize=1024)
def _compiled(text: str) -> Arithmetic:
    """``compile_arithmetic(text)``, once for the options' check and the formula built from them
    (a compiled formula is immutable; a text that fails is compiled again, to fail the same way)."""
    from kpitui.expressions import compile_arithmetic

    return compile_arithmetic(text)


@dataclass(frozen=True)
class ExpressionOptions:
    expression: str

    def validate(self) -> None:
        from kpitui.expressions import ExpressionError

        try:
            compiled = _compiled(self.expression)
        except ExpressionError as exc:
            raise OptionError(f"expression: {exc}", "expression") from None
        if not compiled.names:
            raise OptionError(
                f'expression {self.expression.strip()!r} uses no metric or KPI: name at least one, e.g. "leads * 2" '
                "(for a fixed goal use target = …)",
                "expression",
            )


class Expression(FormulaType):
    """Arithmetic over metric ids, such as ``(revenue - expenses) / revenue``; never eval'd."""

    type_name = "expression"
    description = "Arithmetic over metric and KPI ids: + - * / ( ), abs, min, max, round, coalesce."
    Options = ExpressionOptions

    def __init__(self, options: ExpressionOptions) -> None:
        super().__init__(options)
        self.compiled = _compiled(options.expression)
        self.additive = self.compiled.linear  # leads + reqs is additive; revenue / visits is not
        self.keeps_unit = self.compiled.keeps_unit  # revenue - expenses is money; revenue / visits is not

    def inputs(self) -> list[Input]:
        return _inputs(list(self.compiled.names))

    def expression(self, inputs: dict[str, pl.Expr]) -> pl.Expr:
        return self.compiled.build(inputs)

    def undefined_reason(self) -> str:
        # + - * abs min max round coalesce of numbers give a number; only a division gives none
        return "÷ 0: a divisor in the expression is 0" if "/" in self.options.expression else NO_NUMBER

    def decompose(self, current: dict[str, float | None], previous: dict[str, float | None]) -> dict[str, float]:
        """A linear expression (``leads + 2 * requests``): each input's change times its coefficient,
        worked out by moving that input alone from its previous to its current value."""
        if not self.compiled.linear:
            raise CannotDecompose(
                f"expression {self.options.expression.strip()!r} is not linear (a sum of inputs times constants)"
            )
        names = [inp.name for inp in self.inputs()]
        rows = [dict(previous), dict(current)] + [{**previous, n: current.get(n)} for n in names]
        before, after, *moved = evaluate(self, rows)
        known = [v for v in moved if v is not None]
        if before is None or after is None or len(known) != len(moved):
            raise CannotDecompose("an input has no data in one of the two periods")
        return {n: v - before for n, v in zip(names, known)}

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"expression": "(revenue - expenses) / revenue * 100"}


@hookimpl
def register_formula_types() -> list[type[FormulaType]]:
    return [Sum, Ratio, Difference, Mean, Expression]
