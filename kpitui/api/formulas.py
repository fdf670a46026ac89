"""KPI formula types: :class:`FormulaType`, its :class:`Input`, and splitting a change by input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from ..model import NO_NUMBER
from ..options import NoOptions

if TYPE_CHECKING:
    import polars as pl
else:
    from kpitui.lazy import polars as pl


@dataclass(frozen=True)
class Input:
    """One value a formula needs, aggregated over the period being evaluated.

    ``ref``: a metric id (or another KPI's id). ``agg``: override the metric's
    time aggregation (``sum``, ``last``, ``mean``, ``min``, ``max``, ``count``,
    ``first``, or a quantile such as ``p90``). ``offset``: how many periods
    back (``1`` is the previous period).
    """

    name: str
    ref: str
    agg: str | None = None
    offset: int = 0


def safe_div(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """``numerator / denominator``, null where the denominator is zero or missing (a KPI whose inputs all
    have data but whose denominator is 0 is shown *undefined*, "÷ 0", not "no data")."""
    return pl.when(denominator != 0).then(numerator / denominator).otherwise(None)


class FormulaType:
    """A way of computing a KPI from its inputs, such as ``sum`` or ``ratio``.

    An instance is made per KPI with its validated ``Options``. kpitui
    aggregates each :class:`Input` over each period and calls
    :meth:`expression` with one polars expression per input name; the result
    is evaluated for the current period, the previous one, the same period last
    year and every sparkline bucket, in one pass.
    """

    type_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions
    #: the unit a KPI of this type has when its table names none; may be set per instance (``ratio`` with
    #: ``percent`` does)
    default_unit: str | None = None
    #: the value is in its inputs' unit (a sum, mean, difference or percentile of durations is a duration):
    #: a KPI of this type whose table names no unit takes its inputs' unit when they all share one
    keeps_unit: bool = False
    #: additive: the value over a period is the sum of its values over the period's parts (linear in
    #: its inputs: sums, differences, weighted sums). When its inputs are additive too (``sum`` or
    #: ``count`` metrics, additive KPIs, read over the same period), a to-date value can be
    #: projected to the period's end (pace) and a target prorated to another window's length.
    #: May be set per instance (``expression`` does, from its formula).
    additive: bool = False
    #: the earlier name of ``additive`` (either one makes a formula additive)
    projectable: ClassVar[bool] = False
    #: each sparkline point covers the window's period up to the end of its bucket
    #: (a running total that restarts with the period), not the bucket alone
    to_date_series: ClassVar[bool] = False
    #: the value depends on individual raw readings, not only on per-hour or per-day totals (a
    #: percentile): retention keeps the raw readings of every metric it reads, unless the config
    #: lists the metric in ``[storage] downsample_anyway``. Inputs whose ``agg`` cannot be rebuilt
    #: from down-sampled rows (a quantile, ``first``, ``min`` of a ``sum`` metric) count too.
    needs_raw_readings: ClassVar[bool] = False

    def __init__(self, options: Any):
        self.options = options

    def inputs(self) -> list[Input]:
        """The metrics (or KPIs) this formula reads."""
        raise NotImplementedError

    def expression(self, inputs: dict[str, pl.Expr]) -> pl.Expr:
        """Combine the aggregated inputs into the KPI's value."""
        raise NotImplementedError

    def parts(self, inputs: dict[str, pl.Expr]) -> dict[str, pl.Expr]:
        """Named sub-values shown beside the KPI (for example each funnel step)."""
        return {}

    def undefined_reason(self) -> str:
        """Why the value is none while every input has data over the period (the KPI's status is then
        ``undefined``, not ``no data``): a short phrase shown beside it, such as ``"÷ 0: ad_views is 0"``
        for a ratio. The engine calls it only then; null comes from a zero denominator
        (:func:`safe_div`) or a NaN or infinity (made null). The default says no more than that."""
        return NO_NUMBER

    def series(self, value: pl.Expr) -> pl.Expr:
        """Transform the bucket series of values (for example a running total)."""
        return value

    def decompose(self, current: dict[str, float | None], previous: dict[str, float | None]) -> dict[str, float]:
        """How much of the change against the previous period comes from each input ("why it moved").

        ``current`` and ``previous``: each :class:`Input`'s value (by its
        ``name``) over the current and the previous period (``None``: no data).
        Return ``{label: amount}`` whose amounts add up, exactly (up to float
        rounding), to the KPI's value over the current period minus its value
        over the previous one. A label is an input's ``name`` (``kpitui``
        links it to that input's metric for drill-down) or a label of your own
        (``funnel`` uses its steps, ``a→b``). kpitui checks the sum and shows
        nothing rather than amounts that do not add up.

        Raise :class:`CannotDecompose` with a short reason when this change
        cannot be split (an input without data, a zero denominator). The
        default raises it: a formula type without this method "cannot be
        decomposed". :func:`shapley_split` splits any function of a few factors
        exactly.
        """
        raise CannotDecompose(f"formula type {self.type_name!r} does not say how to split a change by input")

    @classmethod
    def example(cls) -> dict[str, Any]:
        """Example KPI keys for ``kpitui init``."""
        return {}


class CannotDecompose(Exception):
    """A KPI's change cannot be split by input (see :meth:`FormulaType.decompose`); the message says why."""


def shapley_split(
    value: Callable[[dict[str, float]], float], previous: dict[str, float], current: dict[str, float]
) -> dict[str, float]:
    """Split ``value(current) - value(previous)`` between the factors (the keys) exactly: the Shapley split.

    Each factor's share is the change it makes when it moves from its previous
    to its current value, averaged over every order in which the factors can
    be moved (the others at their previous value before it moves, at their
    current one after). The shares always add up to the whole change, and a
    factor that did not change gets 0. For two factors of a product or a
    ratio ``N / D`` this is the symmetric shift-share split:
    ``ΔN · (1/D₀ + 1/D₁) / 2`` and ``(1/D₁ - 1/D₀) · (N₀ + N₁) / 2``.
    ``value`` is called 2ⁿ times for n factors: keep n small (at most 12).
    """
    import math

    names = list(previous)
    n = len(names)
    if n > 12:
        raise CannotDecompose(f"{n} factors are too many to split (at most 12)")
    cache: dict[int, float] = {}

    def at(mask: int) -> float:  # factors whose bit is set are at their current value
        if mask not in cache:
            cache[mask] = value({name: (current if mask >> i & 1 else previous)[name] for i, name in enumerate(names)})
        return cache[mask]

    weights = [math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n) for k in range(n)]
    shares: dict[str, float] = {}
    for i, name in enumerate(names):
        bit = 1 << i
        total = 0.0
        for mask in range(1 << n):
            if not mask & bit:
                total += weights[bin(mask).count("1")] * (at(mask | bit) - at(mask))
        shares[name] = total
    return shares
