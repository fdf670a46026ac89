"""``[kpis.ID]`` (formula, window, grain, target, thresholds) and ``[objectives.ID]``."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, get_args

from .. import options as opts
from ..config_tables import KpiTable, ObjectiveTable, TargetTable, ThresholdsTable
from ..console import escape_controls
from ..model import UNITS, Kpi, Metric, Objective, Target, TargetKind, Thresholds
from .checks import TableChecks, plugin_call

TARGET_KINDS: tuple[str, ...] = get_args(TargetKind)
DIRECTIONS = {"up": "reach", "down": "below", "within": "within"}


class KpiUnits:
    """A KPI's unit when its table names none: its formula type's (``ratio``: ratio, ``growth``:
    percent), else, for a formula that keeps its inputs' unit (sum, mean, difference, …), the unit
    its inputs share (a mean of durations is a duration), else ``number``. Inputs may be KPIs
    (worked out first; cycles were refused before)."""

    def __init__(self, metrics: dict[str, Metric], formulas: dict[str, Any], tables: dict[str, dict[str, Any]]):
        self.metrics, self.formulas, self.tables = metrics, formulas, tables
        self._found: dict[str, tuple[str, str]] = {}

    def default(self, kid: str) -> tuple[str, str]:
        """``(unit, where it came from)``: ``("duration", "from its metrics")``; ``""``: not inherited."""
        found = self._found.get(kid)
        if found is None:
            found = self._found[kid] = self._work_out(kid)
        return found

    def unit(self, ref: str) -> str:
        if ref in self.metrics:
            return self.metrics[ref].unit
        unit = self.tables[ref].get("unit")
        return unit if unit in UNITS else self.default(ref)[0]

    def _work_out(self, kid: str) -> tuple[str, str]:
        formula = self.formulas[kid]
        if formula.default_unit:
            return formula.default_unit, ""
        if not getattr(formula, "keeps_unit", False):
            return "number", ""
        inputs = formula.inputs()
        units = {"count" if inp.agg == "count" else self.unit(inp.ref) for inp in inputs}
        if len(units) != 1 or not inputs:
            return "number", ""
        kinds = ["metric" if inp.ref in self.metrics else "KPI" for inp in {i.ref: i for i in inputs}.values()]
        noun = " and ".join(k + ("s" if kinds.count(k) > 1 else "") for k in sorted(set(kinds)))
        return units.pop(), f"from its {noun}"


def _unit_warning(formula: str, unit: str, inferred: str) -> str:
    """Why a KPI's named unit misreads its formula's numbers: a fraction (0.05 for 5%) under ``percent``."""
    if unit == "percent" and inferred == "ratio":
        return (
            f'unit "percent", but its {formula} formula gives a fraction (0.05 for 5%), shown as 0.05%: '
            'add percent = true to its table (x100), or set unit = "ratio"'
        )
    return ""


class KpiTables(TableChecks):
    def kpis(self, data: dict[str, Any], metrics: dict[str, Metric]) -> dict[str, Kpi]:
        from ..periods import GRAINS, PeriodError, parse_window

        registry = self.registry
        assert registry is not None
        formulas: dict[str, Any] = {}
        shapes: dict[str, tuple[str, Any, str, str | None, str, dict[str, Any]]] = {}
        for kid, where, table in self.entries("kpis", data):
            if kid in metrics:
                raise self.error(where, f"a metric is also called {kid!r}; KPI and metric ids must differ")
            formula, cls = self.plugin_type(where, table, "formula", registry.formulas, "formula type")
            params = self.plugin_options(where, cls.Options, table, opts.field_names(KpiTable), ("formula", formula))
            try:
                formulas[kid] = plugin_call(registry, "formula", formula, lambda: cls(params))
            except opts.OptionError as exc:
                raise self.error(where, exc.message) from None
            except Exception as exc:
                raise self.error(
                    where,
                    f"the {formula!r} formula (plugin {registry.owner('formula', formula)}) rejected its options: "
                    f"{type(exc).__name__}: {opts.exc_text(exc)}",
                ) from None
            window = self.typed(where, "window", table.get("window", "month_to_date"), str)
            try:
                window = parse_window(window).name
            except PeriodError as exc:
                raise self.error(where, f"window: {exc}") from None
            grain = table.get("grain")
            if grain is not None:
                grain = self.typed(where, "grain", grain, str)
                if grain not in GRAINS:
                    self.ref(where, "grain", grain, GRAINS, "grain")
            shapes[kid] = (formula, params, window, grain, where, table)
        # inputs may name metrics or other KPIs; no cycles
        names = dict.fromkeys([*metrics, *formulas])  # looked up ~1,000 times: a dict, in the same order as a list
        for kid, instance in formulas.items():
            formula = shapes[kid][0]
            plugin = f"the {formula!r} formula (plugin {registry.owner('formula', formula)})"
            try:
                inputs = plugin_call(registry, "formula", formula, instance.inputs)
            except Exception as exc:
                raise self.error(
                    f"kpis.{kid}", f"{plugin} failed to list its inputs: {type(exc).__name__}: {opts.exc_text(exc)}"
                ) from None
            wrong = _not_inputs(inputs)
            if wrong:
                raise self.error(f"kpis.{kid}", f"{plugin} listed its inputs wrongly: {wrong}")
            for inp in inputs:
                self.ref(f"kpis.{kid}", "formula input", inp.ref, names, "metric or KPI")
        self._check_cycles(formulas)
        units = KpiUnits(metrics, formulas, {kid: shape[5] for kid, shape in shapes.items()})
        kpis: dict[str, Kpi] = {}
        for kid, (formula, params, window, grain, where, table) in shapes.items():
            inferred, unit_from = units.default(kid)
            unit = self.unit(where, table, inferred)
            target = self.target(where, table["target"], duration=unit == "duration") if "target" in table else None
            thresholds = self.thresholds(where, table.get("thresholds", {}))
            weight = self.typed(where, "weight", table.get("weight", 1.0), float)
            if not math.isfinite(weight) or weight < 0:
                raise self.error(where, f"weight must be a finite number, not negative (got {weight})")
            kpis[kid] = Kpi(
                id=kid,
                formula=formula,
                params=params,
                window=window,
                grain=grain,
                unit=unit,
                target=target,
                thresholds=thresholds,
                weight=weight,
                unit_from="" if "unit" in table else unit_from,
                unit_warning=_unit_warning(formula, unit, inferred),
                **self.labels(where, kid, table),
            )
        return kpis

    def _check_cycles(self, formulas: dict[str, Any]) -> None:
        state: dict[str, int] = {}

        def visit(kid: str, chain: list[str]) -> None:
            if state.get(kid) == 2:
                return
            if state.get(kid) == 1:
                cycle = " -> ".join([*chain[chain.index(kid) :], kid])
                raise self.error(f"kpis.{kid}", f"KPIs refer to each other in a cycle: {cycle}")
            state[kid] = 1
            for inp in formulas[kid].inputs():
                if inp.ref in formulas:
                    visit(inp.ref, [*chain, kid])
            state[kid] = 2

        for kid in formulas:
            visit(kid, [])

    def target(self, where: str, data: Any, duration: bool = False) -> Target:
        """``duration``: the KPI's unit is a duration, so its numbers may be typed as "5d", "4h 30m"."""
        where = f"{where}.target"
        if duration and isinstance(data, str):
            data = {"value": data}
        if isinstance(data, (int, float)) and not isinstance(data, bool):  # finite, as the table's numbers
            return Target(kind="reach", value=self.typed(where, "target", data, float))
        if not isinstance(data, dict):
            raise self.error(where, "target must be a number or a table with kind, value, baseline, low, high, due")
        self.parse_table(where, TargetTable, data)
        if "kind" in data:
            kind = self.typed(where, "kind", data["kind"], str)
            if kind not in TARGET_KINDS:
                self.ref(where, "kind", kind, TARGET_KINDS, "target kind")
        elif "direction" in data:
            direction = self.typed(where, "direction", data["direction"], str)
            if direction not in DIRECTIONS:
                self.ref(where, "direction", direction, DIRECTIONS, "direction")
            kind = DIRECTIONS[direction]
        else:
            kind = "within" if ("low" in data or "high" in data) else "reach"
        nums = {
            k: self.seconds(where, k, data[k])
            if duration and isinstance(data[k], str)
            else self.typed(where, k, data[k], float)
            for k in ("value", "baseline", "low", "high")
            if k in data
        }
        due = data.get("due")
        if due is not None and not isinstance(due, dt.date):
            raise self.error(where, f"due must be a TOML date such as 2026-12-31, not {due!r}")
        if isinstance(due, dt.datetime):
            due = due.date()
        if due is not None and due >= dt.date.max - dt.timedelta(days=366):  # its end and period would not exist
            raise self.error(where, f"due {due.isoformat()} is beyond the last date kpitui can count to")
        if kind == "within":
            if "low" not in nums or "high" not in nums:
                raise self.error(where, "a 'within' target needs both low and high")
            if nums["low"] > nums["high"]:
                raise self.error(where, "low must not be greater than high")
        elif "value" not in nums:
            raise self.error(where, f"a {kind!r} target needs a value")
        if kind == "reach" and "baseline" in nums and nums["baseline"] == nums["value"]:
            raise self.error(where, "baseline and value must differ (the score runs from baseline to value)")
        if kind == "above" and nums.get("baseline") is not None and nums["baseline"] >= nums["value"]:
            raise self.error(
                where,
                "for an 'above' target the baseline must be below the value (the score runs from baseline up to value)",
            )
        if kind == "below" and nums.get("baseline") is not None and nums["baseline"] <= nums["value"]:
            raise self.error(
                where,
                "for a 'below' target the baseline must be above the value (the score runs from baseline down "
                "to value)",
            )
        return Target(kind=kind, due=due, **nums)

    def thresholds(self, where: str, data: Any) -> Thresholds:
        where = f"{where}.thresholds"
        if not isinstance(data, dict):
            raise self.error(where, "thresholds must be a table with on_track and at_risk")
        table = self.parse_table(where, ThresholdsTable, data)
        return Thresholds(on_track=table.on_track, at_risk=table.at_risk)

    def objectives(
        self, data: dict[str, Any], kpi_tables: dict[str, Any], kpis: dict[str, Kpi]
    ) -> dict[str, Objective]:
        """Objectives list their KPIs, or a KPI names its objective with ``objective = "id"``."""
        named: dict[str, list[str]] = {}
        for kid, table in kpi_tables.items():
            if "objective" in table:
                oid = self.typed(f"kpis.{kid}", "objective", table["objective"], str)
                self.ref(f"kpis.{kid}", "objective", oid, data, "objective")
                named.setdefault(oid, []).append(kid)
        objectives = {}
        for oid, where, table in self.entries("objectives", data):
            parsed = self.parse_table(where, ObjectiveTable, table)
            refs = list(parsed.kpis)
            for i, ref in enumerate(refs):
                self.ref(where, f"kpis[{i}]", ref, kpis, "KPI")
            refs += [kid for kid in named.get(oid, []) if kid not in refs]
            objectives[oid] = Objective(
                id=oid,
                title=oid.replace("_", " ").capitalize() if parsed.title is None else escape_controls(parsed.title),
                description=escape_controls(parsed.description),
                kpis=tuple(refs),
                thresholds=self.thresholds(where, parsed.thresholds),
            )
        return objectives


def _not_inputs(inputs: Any) -> str:
    """What is wrong with a formula's ``inputs()`` (``""``: a list of :class:`kpitui.api.Input`).

    Checked by shape, not by class, so the config stays free of polars (which ``kpitui.api`` imports).
    """
    if not isinstance(inputs, (list, tuple)):
        return f"expected a list of kpitui.api.Input, got {type(inputs).__name__}"
    for i, inp in enumerate(inputs):
        name, ref = getattr(inp, "name", None), getattr(inp, "ref", None)
        agg, offset = getattr(inp, "agg", None), getattr(inp, "offset", 0)
        if not (
            isinstance(name, str)
            and isinstance(ref, str)
            and (agg is None or isinstance(agg, str))
            and isinstance(offset, int)
            and not isinstance(offset, bool)
        ):
            return f"item {i} is {type(inp).__name__} {inp!r:.80}, not a kpitui.api.Input(name, ref, agg, offset)"
    return ""
