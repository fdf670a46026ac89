"""Built-in analytic formula types: growth, cumulative, funnel, percentile, weighted sum and mean.

Each is an ordinary :class:`~kpitui.api.FormulaType` with a validated
``Options`` dataclass, registered through ``register_formula_types`` like
:mod:`kpitui.builtin.formulas`. They lean on what the engine already does
with :class:`~kpitui.api.Input`:

- ``offset``: ``growth`` reads its metric (or KPI) one period back; the engine
  evaluates that for the window (the previous window period, cut at the same
  elapsed time for to-date windows) and for every sparkline bucket (the bucket
  before);
- ``agg``: ``percentile`` asks for a quantile (``p90``) of the raw readings;
- ``parts()``: ``funnel`` shows each step's conversion beside the KPI;
- ``to_date_series``: ``cumulative`` asks for sparkline points that are the
  window's value *up to* each bucket (a running total that restarts with each
  window period).

``decompose`` ("why it moved"): ``funnel`` splits the change of its overall
conversion between its steps' conversions (the Shapley split of their
product: exact, each step's effect averaged over every order of applying the
changes); the weighted sum and mean by each input's weighted change;
``cumulative`` and ``percentile`` have one input, which carries the whole change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from kpitui import hookimpl
from kpitui.aggregations import is_valid_agg
from kpitui.api import CannotDecompose, FormulaType, Input, OptionError, safe_div, shapley_split

if TYPE_CHECKING:
    import polars as pl
else:
    from kpitui.lazy import polars as pl


def _whole(current: dict[str, float | None], previous: dict[str, float | None], name: str) -> dict[str, float]:
    """One input carries the whole change."""
    if current.get(name) is None or previous.get(name) is None:
        raise CannotDecompose("no data in one of the two periods")
    return {name: current[name] - previous[name]}  # type: ignore[operator]


def _some(cols: list[pl.Expr]) -> pl.Expr:
    """True where at least one column has data."""
    return pl.any_horizontal([c.is_not_null() for c in cols])


# -- growth ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrowthOptions:
    """``of``: a metric or KPI id. ``mode``: ``percent`` (change ÷ |previous| × 100) or
    ``absolute`` (current − previous)."""

    of: str
    mode: Literal["percent", "absolute"] = "percent"


class Growth(FormulaType):
    """Period-over-period change: this window against the one before (and each bucket against the one before)."""

    type_name = "growth"
    description = "Change of a metric or KPI since the previous period: percent (default) or absolute."
    Options = GrowthOptions
    default_unit: str | None = "percent"

    def __init__(self, options: GrowthOptions):
        super().__init__(options)
        if options.mode == "absolute":  # this - previous is in its input's unit (+42 sales, +$1,200), not a percent
            self.default_unit = None
            self.keeps_unit = True

    def inputs(self) -> list[Input]:
        return [Input("current", self.options.of), Input("previous", self.options.of, offset=1)]

    def expression(self, inputs: dict[str, pl.Expr]) -> pl.Expr:
        current, previous = inputs["current"], inputs["previous"]
        if self.options.mode == "absolute":
            return current - previous
        return safe_div(current - previous, previous.abs()) * 100

    def undefined_reason(self) -> str:
        if self.options.mode == "absolute":
            return super().undefined_reason()
        return f"÷ 0: {self.options.of} was 0 the period before"

    def decompose(self, current: dict[str, float | None], previous: dict[str, float | None]) -> dict[str, float]:
        """``absolute`` only: this period's change minus the previous period's."""
        if self.options.mode != "absolute":
            raise CannotDecompose('a percent growth is not split by input (use mode = "absolute")')
        for name in ("current", "previous"):
            if current.get(name) is None or previous.get(name) is None:
                raise CannotDecompose("no data in one of the periods compared")
        return {
            "current": current["current"] - previous["current"],  # type: ignore[operator]
            "previous": previous["previous"] - current["previous"],  # type: ignore[operator]
        }

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"of": "newsletter_signups", "mode": "percent"}


class _OneInput(FormulaType):
    """A formula whose value is its one input, ``value``: all of a change is that input's."""

    def expression(self, inputs: dict[str, pl.Expr]) -> pl.Expr:
        return inputs["value"]

    def decompose(self, current: dict[str, float | None], previous: dict[str, float | None]) -> dict[str, float]:
        return _whole(current, previous, "value")


# -- cumulative --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfOptions:
    """``of``: a metric (summed over time) or a KPI id."""

    of: str


class Cumulative(_OneInput):
    """Running total: the window's value is the total over the window; each sparkline point is
    the total from the start of its window period to the end of its bucket."""

    type_name = "cumulative"
    description = "Running total of a metric or KPI over the window (period to date; trailing windows roll)."
    Options = OfOptions
    additive = True
    keeps_unit = True
    #: the engine evaluates each sparkline point over the window up to that bucket's end
    to_date_series = True

    def inputs(self) -> list[Input]:
        return [Input("value", self.options.of)]

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"of": "memberships_sold", "window": "year_to_date"}


# -- funnel ------------------------------------------------------------------------------------


ARROW = "→"


@dataclass(frozen=True)
class FunnelOptions:
    """``steps``: metric (or KPI) ids in funnel order, first the widest. ``percent``: x100."""

    steps: list[str]
    percent: bool = False

    def validate(self) -> None:
        if len(self.steps) < 2:
            raise OptionError("steps must name at least two metrics, widest first", "steps")
        seen: set[str] = set()
        for step in self.steps:
            if step in seen:
                raise OptionError(f"steps names {step!r} twice", "steps")
            seen.add(step)


class Funnel(FormulaType):
    """Ad views -> sales page views -> webinar sign-ups -> memberships: overall conversion, and each step's."""

    type_name = "funnel"
    description = "Overall conversion of ordered steps (last / first); each step's conversion shown as a part."
    Options = FunnelOptions
    default_unit = "ratio"

    def __init__(self, options: FunnelOptions):
        super().__init__(options)
        if options.percent:  # x100: the value is a percentage (6.5%), as a ratio's with percent = true
            self.default_unit = "percent"

    def inputs(self) -> list[Input]:
        return [Input(step, step) for step in self.options.steps]

    def _rate(self, numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
        value = safe_div(numerator, denominator)
        return value * 100 if self.options.percent else value

    def expression(self, inputs: dict[str, pl.Expr]) -> pl.Expr:
        steps = self.options.steps
        return self._rate(inputs[steps[-1]], inputs[steps[0]])

    def undefined_reason(self) -> str:
        return f"÷ 0: the first step, {self.options.steps[0]}, is 0"

    def parts(self, inputs: dict[str, pl.Expr]) -> dict[str, pl.Expr]:
        steps = self.options.steps
        return {f"{a}{ARROW}{b}": self._rate(inputs[b], inputs[a]) for a, b in zip(steps, steps[1:])}

    def decompose(self, current: dict[str, float | None], previous: dict[str, float | None]) -> dict[str, float]:
        """Each step's conversion change: the overall conversion is the product of the steps'
        conversions, split between them exactly by the Shapley split (see :func:`shapley_split`)."""
        steps = self.options.steps
        for period, values in (("current", current), ("previous", previous)):
            if any(values.get(step) is None for step in steps) or any(not values[step] for step in steps[:-1]):
                raise CannotDecompose(
                    f"a step of the {period} period has no data or is zero (its conversion is undefined)"
                )
        labels = [f"{a}{ARROW}{b}" for a, b in zip(steps, steps[1:])]

        def rates(values: dict[str, float | None]) -> dict[str, float]:
            known = {step: value for step, value in values.items() if value is not None}  # every step, checked above
            return {label: known[b] / known[a] for label, a, b in zip(labels, steps, steps[1:])}

        scale = 100.0 if self.options.percent else 1.0
        return shapley_split(lambda v: scale * math.prod(v.values()), rates(previous), rates(current))

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"steps": ["ad_views", "sales_page_views", "webinar_signups", "memberships_sold"], "percent": True}


# -- percentile --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PercentileOptions:
    """``of``: a metric id (its raw readings). ``p``: the percentile, 0..100 (``90`` = p90)."""

    of: str
    p: float = 90.0

    def validate(self) -> None:
        if not (0 <= self.p <= 100) or not is_valid_agg(_quantile_name(self.p)):
            raise OptionError(f"p must be a percentile from 0 to 100 such as 90 or 99.9, not {self.p!r}", "p")


def _quantile_name(p: float) -> str:
    return f"p{p:g}" if not math.isnan(p) else "p?"


class Percentile(_OneInput):
    """Response time p90: a percentile of a metric's raw readings over the window (linear interpolation)."""

    type_name = "percentile"
    description = "A percentile (p = 90 -> p90) of a metric's raw readings over the window."
    Options = PercentileOptions
    needs_raw_readings = True
    keeps_unit = True

    def inputs(self) -> list[Input]:
        return [Input("value", self.options.of, agg=_quantile_name(self.options.p))]

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"of": "onboarding_days", "p": 90}


# -- weighted sum and mean ---------------------------------------------------------------------


@dataclass(frozen=True)
class WeightsOptions:
    """``weights``: ``{ metric = weight, ... }`` (metric or KPI ids)."""

    weights: dict[str, float] = field(default_factory=dict)

    def validate(self) -> None:
        if not self.weights:
            raise OptionError(
                "weights must give at least one metric a weight, e.g. weights = { revenue = 1.0 }", "weights"
            )
        for ref, weight in self.weights.items():
            if not math.isfinite(weight):
                raise OptionError(f"weights.{ref} must be a finite number", f"weights.{ref}")


class WeightedSum(FormulaType):
    """Σ weight × metric: a lead score (a sign-up counts 1, a retainer request 5); missing ones count as zero."""

    type_name = "weighted_sum"
    description = "The sum of metrics each multiplied by its weight (missing ones count as zero)."
    Options = WeightsOptions
    additive = True

    def inputs(self) -> list[Input]:
        return [Input(ref, ref) for ref in self.options.weights]

    def expression(self, inputs: dict[str, pl.Expr]) -> pl.Expr:
        cols = [inputs[ref] * weight for ref, weight in self.options.weights.items()]
        return pl.when(_some(cols)).then(pl.sum_horizontal(cols))

    def decompose(self, current: dict[str, float | None], previous: dict[str, float | None]) -> dict[str, float]:
        """Each metric's change times its weight (no data counts as zero)."""
        return {
            ref: w * ((current.get(ref) or 0.0) - (previous.get(ref) or 0.0)) for ref, w in self.options.weights.items()
        }

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"weights": {"newsletter_signups": 1.0, "retainer_requests": 5.0}}


@dataclass(frozen=True)
class MeanWeightsOptions(WeightsOptions):
    def validate(self) -> None:
        super().validate()
        for ref, weight in self.weights.items():
            if weight < 0:
                raise OptionError(f"weights.{ref} must not be negative in a weighted mean", f"weights.{ref}")
        if sum(self.weights.values()) <= 0:
            raise OptionError("weights must not all be zero in a weighted mean", "weights")


class WeightedMean(FormulaType):
    """Σ weight × metric ÷ Σ weight over the metrics that have data (a blended satisfaction score)."""

    type_name = "weighted_mean"
    description = "The mean of metrics weighted by their weights; metrics with no data are left out."
    Options = MeanWeightsOptions
    additive = True  # linear: a mean of additive inputs scales with them
    keeps_unit = True

    def inputs(self) -> list[Input]:
        return [Input(ref, ref) for ref in self.options.weights]

    def expression(self, inputs: dict[str, pl.Expr]) -> pl.Expr:
        items = list(self.options.weights.items())
        weighted = pl.sum_horizontal([inputs[ref] * w for ref, w in items])
        present = pl.sum_horizontal(
            [pl.when(inputs[ref].is_not_null()).then(pl.lit(w)).otherwise(0.0) for ref, w in items]
        )
        return pl.when(_some([inputs[ref] for ref, _ in items])).then(safe_div(weighted, present))

    def decompose(self, current: dict[str, float | None], previous: dict[str, float | None]) -> dict[str, float]:
        """Each metric's weighted change over the total weight, when the same metrics have data in both periods."""
        odd = [ref for ref in self.options.weights if (current.get(ref) is None) != (previous.get(ref) is None)]
        if odd:
            raise CannotDecompose(
                f"{odd[0]} has data in only one of the two periods (the mean is over different inputs)"
            )
        present = sum(w for ref, w in self.options.weights.items() if current.get(ref) is not None)
        if not present:
            raise CannotDecompose("no metric has data with a weight")
        return {
            ref: (w * (current[ref] - previous[ref]) / present if current.get(ref) is not None else 0.0)  # type: ignore[operator]
            for ref, w in self.options.weights.items()
        }

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"weights": {"csat_web": 2.0, "csat_phone": 1.0}}


@hookimpl
def register_formula_types() -> list[type[FormulaType]]:
    return [Growth, Cumulative, Funnel, Percentile, WeightedSum, WeightedMean]
