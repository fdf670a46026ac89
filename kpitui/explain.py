"""Why a KPI moved: its change against the previous period, split by input.

Each formula type says how its value splits (``FormulaType.decompose``, see
:mod:`kpitui.api`); this module reads every KPI's input values over the
current and the previous period (the same periods, aggregations and steps
back as the engine's evaluation, in one collect), asks the formula, and checks
that the parts add up to the change the snapshot shows. Nothing that does not
add up is shown: the KPI then says why it cannot be decomposed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from . import pipeline
from .api import CannotDecompose
from .formatting import format_change, json_number
from .model import NO_NUMBER, Status
from .options import exc_text

if TYPE_CHECKING:
    from .engine import Engine
    from .model import KpiResult, Snapshot

ARROW = "→"


@dataclass(frozen=True)
class Contribution:
    """One input's share of a KPI's change, in the KPI's unit.

    ``label``: the input's name in the formula (or the formula's own label,
    such as a funnel step ``a→b``); ``ref``: the metric or KPI behind it (the
    later step of a funnel step), ``None`` when there is none; ``current`` and
    ``previous``: that input's value over the two periods (``None`` for a label
    that is not an input).
    """

    label: str
    ref: str | None
    amount: float
    current: float | None = None
    previous: float | None = None


@dataclass(frozen=True)
class Explanation:
    """A KPI's change and its split by input, or why there is none (``reason``)."""

    kpi: str
    method: str  # the formula type
    change: float | None
    contributions: tuple[Contribution, ...] = ()
    reason: str | None = None

    @property
    def decomposed(self) -> bool:
        return self.reason is None


def _tolerance(change: float, amounts: list[float]) -> float:
    scale = max([1.0, abs(change), *(abs(a) for a in amounts)])
    return 1e-9 * scale


def _ref_of(label: str, refs: dict[str, str]) -> str | None:
    if label in refs:
        return refs[label]
    if ARROW in label and label.rsplit(ARROW, 1)[1] in refs:
        return refs[label.rsplit(ARROW, 1)[1]]
    return None


def _decompose(formula: Any, current: dict[str, float | None], previous: dict[str, float | None]) -> Any:
    """``formula.decompose(current, previous)``; a plugin's under the plugins' time limit (one that hangs is
    :class:`~kpitui.plugins.PluginTimeout`, a reason shown, not a report that never comes)."""
    if type(formula).__module__.startswith("kpitui.builtin."):
        return formula.decompose(current, previous)
    from .plugins import bounded, plugin_timeout

    return bounded(lambda: formula.decompose(current, previous), plugin_timeout())


def decompose(
    formula: Any, result: KpiResult, current: dict[str, float | None], previous: dict[str, float | None]
) -> Explanation:
    """Ask ``formula`` to split ``result``'s change between its inputs (values by input name), checked."""
    kid, method = result.kpi.id, result.kpi.formula
    if result.error:
        return Explanation(kid, method, None, reason=result.error)
    if result.change is None:
        if result.status is Status.UNDEFINED:  # inputs with data, no number (÷ 0): say that, not "no value"
            why = f"the current period's value is undefined: {result.undefined or NO_NUMBER}"
        elif result.partial_history:
            why = "history starts within the previous period"
        else:
            why = "no value in the current or the previous period"
        return Explanation(kid, method, None, reason=f"no change to explain ({why})")
    change = result.change
    try:
        split = _decompose(formula, dict(current), dict(previous))
    except CannotDecompose as exc:
        return Explanation(kid, method, change, reason=f"cannot be decomposed: {exc}")
    except Exception as exc:  # noqa: BLE001 - a plugin's decompose must not take the report down
        failed = f"{type(exc).__name__}: {exc_text(exc)}"
        return Explanation(kid, method, change, reason=f"cannot be decomposed: formula {method!r} failed: {failed}")
    try:
        amounts = {str(label): float(amount) for label, amount in split.items()}
    except (AttributeError, TypeError, ValueError):
        return Explanation(
            kid,
            method,
            change,
            reason=f"cannot be decomposed: formula {method!r} returned {type(split).__name__}, not {{label: amount}}",
        )
    total = math.fsum(amounts.values())
    if not all(math.isfinite(a) for a in amounts.values()) or abs(total - change) > _tolerance(
        change, list(amounts.values())
    ):
        return Explanation(
            kid,
            method,
            change,
            reason=f"cannot be decomposed: the split by input adds up to {total:g}, not to the change {change:g}",
        )
    refs = {inp.name: inp.ref for inp in formula.inputs()}
    parts = tuple(
        Contribution(label, _ref_of(label, refs), amount, current.get(label), previous.get(label))
        for label, amount in amounts.items()
    )
    return Explanation(kid, method, change, parts)


def input_values(
    engine: Engine, history: Any, snapshot: Snapshot, kpis: list[str], *, window: str | None = None, offset: int = 0
) -> dict[str, tuple[dict[str, float | None], dict[str, float | None]]]:
    """Each KPI's input values (by input name) over its current and its previous period, as the
    engine reads them for ``snapshot`` (same clock, window and offset), in one collect."""
    from .engine import _wide, as_view

    now = snapshot.at
    view = as_view(history)
    rows, plans, slots = engine.plan(now, window, offset)
    prog = engine.program
    kids = [k for k in kpis if k in prog.kpis and k in plans]
    pairs = [(plans[k].current, k) for k in kids] + [(plans[k].previous, k) for k in kids]
    if not pairs:
        return {}
    requests, columns = engine.requests(pairs, slots, now, metrics=[])
    aggs = prog.aggs(kids) | {"last"}
    (answers,) = pipeline.collect(pipeline.aggregate(view, requests, aggs, carry=["metric", "row", "c"]))
    wide = _wide(answers.filter(pl.col("row") >= 0), len(rows), columns)
    if not columns:
        wide = pl.DataFrame({"__row": pl.int_range(len(rows), eager=True)})
    exprs: list[pl.Expr] = []
    names: dict[str, list[str]] = {}
    for kid in kids:
        inputs = engine.columns(kid, 0, set())
        names[kid] = list(inputs)
        exprs += [pipeline.clean(expr).cast(pl.Float64).alias(f"{kid}::{name}") for name, expr in inputs.items()]
    (values,) = pipeline.collect(wide.lazy().with_columns(*exprs).select([e.meta.output_name() for e in exprs]))
    out: dict[str, tuple[dict[str, float | None], dict[str, float | None]]] = {}
    for kid in kids:
        plan = plans[kid]
        columns_of = {name: values[f"{kid}::{name}"] for name in names[kid]}
        out[kid] = (
            {n: c[plan.current] for n, c in columns_of.items()},
            {n: c[plan.previous] for n, c in columns_of.items()},
        )
    return out


def explain(
    engine: Engine,
    history: Any,
    snapshot: Snapshot,
    kpis: list[str] | None = None,
    *,
    window: str | None = None,
    offset: int = 0,
) -> dict[str, Explanation]:
    """Why each KPI of ``snapshot`` (or of ``kpis``) moved against its previous period."""
    wanted = list(snapshot.kpis) if kpis is None else [k for k in kpis if k in snapshot.kpis]
    values = input_values(engine, history, snapshot, wanted, window=window, offset=offset)
    out: dict[str, Explanation] = {}
    for kid in wanted:
        result = snapshot.kpis[kid]
        formula = engine.formulas.get(kid)
        if formula is None or kid not in values:
            out[kid] = Explanation(
                kid,
                result.kpi.formula,
                result.change,
                reason=result.error or engine.errors.get(kid) or "no formula to ask",
            )
            continue
        current, previous = values[kid]
        out[kid] = decompose(formula, result, current, previous)
    return out


def label_of(part: Contribution, names: dict[str, str]) -> str:
    """How a contribution is named on screen: its metric's or KPI's name (with the formula's label
    when that says more: ``webinar sign-ups (numerator)``), a funnel step's names, else its label."""
    if ARROW in part.label:
        return ARROW.join(names.get(step, step) for step in part.label.split(ARROW))
    if part.ref is None:
        return names.get(part.label, part.label)
    name = names.get(part.ref, part.ref)
    return name if part.label in (part.ref, "value") else f"{name} ({part.label})"


def one_line(result: KpiResult, explanation: Explanation, names: dict[str, str], currency: str = "$") -> str:
    """``Lead Generation +16 = newsletter sign-ups +12, retainer requests +4`` (or why not)."""
    kpi = result.kpi
    if not explanation.decomposed:
        return f"{kpi.name}: {explanation.reason}"
    total = format_change(explanation.change, None, kpi.unit, kpi.decimals, currency)
    parts = ", ".join(
        f"{label_of(p, names)} {format_change(p.amount, None, kpi.unit, kpi.decimals, currency)}"
        for p in explanation.contributions
    )
    return f"{kpi.name} {total} = {parts}"


def as_dict(explanation: Explanation) -> dict[str, Any]:
    """The ``explanation`` of a KPI in ``report --explain --format json`` (docs/json.md)."""

    def num(value: float | None) -> float | None:
        return json_number(value)

    return {
        "method": explanation.method,
        "change": num(explanation.change),
        "decomposed": explanation.decomposed,
        "reason": explanation.reason,
        "contributions": [
            {
                "label": p.label,
                "ref": p.ref,
                "amount": num(p.amount),
                "current": num(p.current),
                "previous": num(p.previous),
            }
            for p in explanation.contributions
        ],
    }


__all__ = ["Contribution", "Explanation", "as_dict", "decompose", "explain", "input_values", "label_of", "one_line"]
