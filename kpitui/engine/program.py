"""Compiling formulas: each KPI's formula as polars expressions over request columns, once per config.

A formula type (a plugin) says which inputs it reads (:class:`~kpitui.api.Input`:
a metric or another KPI, an aggregation, periods back) and builds an
expression over them. :class:`Compiler` holds one formula instance per KPI
and compiles the config into a :class:`Program`: per KPI that has not failed,
a :class:`CompiledKpi` with its expressions (KPIs read by others are inlined:
their expressions compose) and the :class:`Read` columns they take from the
reading index. Every call into a formula is guarded: one that raises puts its
KPI (and the KPIs that read it) in an error state, never the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Iterable, Mapping, NamedTuple

import polars as pl

from .. import pipeline
from ..api import FormulaType, Input
from ..config import Config
from ..model import NO_NUMBER, Kpi
from ..options import exc_text, redact
from ..plugins import bounded, plugin_timeout


class Read(NamedTuple):
    """A request column a KPI reads: ``metric`` by ``agg`` over the period ``steps`` back (named ``column``)."""

    column: str
    metric: str
    agg: str
    steps: int
    additive: bool  # the metric's rule adds up (sum, count): how down-sampled rows weigh


def column_name(metric: str, agg: str, steps: int) -> str:
    return f"{metric}|{agg}|{steps}"


@dataclass(frozen=True)
class Shape:
    """A KPI's expressions over placeholder columns: its ``i``-th read (by column) is ``_i``, its value
    ``_v`` and its parts ``_p0``, ``_p1``... KPIs with the same ``key`` (serialized expressions and
    number of reads) compute the same thing of their reads, so one query over their rows, one KPI
    after the other, answers them all (see :func:`kpitui.engine.queries.run`).

    The value and the parts are as the formula gives them, not through :func:`kpitui.pipeline.clean`:
    ``run`` makes their NaN and infinities null on the values collected (the same values; the
    cleaned expression holds the formula's twice, and building the query plan is most of what a
    clock-moved round's small queries cost)."""

    key: tuple[int, tuple[bytes, ...]]
    exprs: tuple[pl.Expr, ...]


@dataclass(frozen=True)
class CompiledKpi:
    """A KPI's formula, compiled: its expressions (value, then parts) named ``names`` (none when it has
    a :class:`Shape`: then they are the shape's, over placeholders), the columns they read, the steps
    back among those, the metrics behind it (through other KPIs too) and whether its value adds up
    over a period's parts (see :meth:`Compiler.projectable`)."""

    exprs: tuple[pl.Expr, ...]
    names: tuple[str, ...]  # the KPI's id, then "id::part" per part
    parts: tuple[str, ...]
    reads: tuple[Read, ...]  # sorted by column
    steps: frozenset[int]
    metrics: frozenset[str]
    projectable: bool
    shape: Shape | None = None  # built-in formulas only (a plugin's expression may not work row by row)


@dataclass(frozen=True)
class Program:
    """The compiled KPIs (those whose formula and dependencies compiled), and which KPIs read each metric."""

    kpis: dict[str, CompiledKpi]
    readers: dict[str, frozenset[str]]  # metric -> the KPIs that read it

    def aggs(self, kids: Iterable[str]) -> set[str]:
        """The aggregations ``kids`` read."""
        return {read.agg for kid in kids for read in self.kpis[kid].reads}


class Compiler:
    """One formula instance per KPI of ``config``, the inputs each reads, and the errors met so far
    (``errors``: KPI id -> message; a formula failing later adds its KPI)."""

    def __init__(self, config: Config):
        self.config = config
        self.errors: dict[str, str] = {}
        #: the plugin KPIs whose evaluation did not finish within the plugins' time limit (not run again)
        self.stuck: set[str] = set()
        self.formulas: dict[str, FormulaType] = {}
        self.inputs: dict[str, list[Input]] = {}
        for kid, kpi in config.kpis.items():
            try:
                formula = config.registry.formulas[kpi.formula](kpi.params)
                self.inputs[kid] = list(formula.inputs())
                self.formulas[kid] = formula
            except Exception as exc:  # noqa: BLE001 - a plugin formula must not take the others down
                self.errors[kid] = self.error(kpi, exc)

    def error(self, kpi: Kpi, exc: BaseException) -> str:
        owner = self.config.registry.owner("formula", kpi.formula) or "?"
        return redact(f"formula {kpi.formula!r} (plugin {owner}) failed: {type(exc).__name__}: {exc_text(exc)}")

    def plugin_error(self, kid: str, exc: BaseException) -> str:
        """The KPI's error when evaluating its plugin formula failed: the plugins whose formulas it runs named."""
        kpi = self.config.kpis[kid]
        registry, builtin, owners = self.config.registry, self._builtin_plugins, []
        todo, seen = [kid], set()
        while todo:  # the KPI, then those it reads (through others too)
            k = todo.pop(0)
            if k in seen:
                continue
            seen.add(k)
            owner = registry.owner("formula", self.config.kpis[k].formula)
            if owner not in builtin and owner not in owners:
                owners.append(owner)
            todo.extend(inp.ref for inp in self.inputs.get(k, []) if inp.ref in self.config.kpis)
        names = ", ".join(str(owner) for owner in owners) or "?"
        return redact(f"formula {kpi.formula!r} (plugin {names}) failed: {type(exc).__name__}: {exc_text(exc)}")

    # -- the dependency graph --------------------------------------------

    def metrics_of(self, kid: str, seen: frozenset[str] = frozenset()) -> set[str]:
        """Every metric a KPI reads, through other KPIs too."""
        out: set[str] = set()
        for inp in self.inputs.get(kid, []):
            if inp.ref in self.config.kpis:
                if inp.ref not in seen:
                    out |= self.metrics_of(inp.ref, seen | {kid})
            else:
                out.add(inp.ref)
        return out

    def broken_dependency(self, kid: str) -> str | None:
        """Why the KPI cannot be evaluated (its formula, or one of the KPIs it reads, failed), else ``None``."""
        if kid in self.errors:
            return self.errors[kid]
        for inp in self.inputs.get(kid, []):
            if inp.ref in self.config.kpis:
                problem = self.broken_dependency(inp.ref)
                if problem:
                    return f"depends on {inp.ref}: {problem}"
        return None

    def dependency_order(self, kids: Iterable[str]) -> list[str]:
        """KPIs after the KPIs they read, so a failing one is known before its dependants."""
        order: dict[str, None] = {}  # insertion-ordered set

        def visit(kid: str) -> None:
            if kid in order:
                return
            for inp in self.inputs.get(kid, []):
                if inp.ref in self.config.kpis:
                    visit(inp.ref)
            order[kid] = None

        wanted = set(kids)
        for kid in sorted(wanted):
            visit(kid)
        return [k for k in order if k in wanted]

    # -- expressions -----------------------------------------------------------

    def columns(
        self, kid: str, offset: int, needs: set[tuple[str, str, int]], names: Mapping[str, str] | None = None
    ) -> dict[str, pl.Expr]:
        """The KPI's inputs as expressions over request columns (offset = periods back); adds the
        (metric, aggregation, steps back) columns they read to ``needs``. ``names``: each request
        column under another name (see :class:`Shape`)."""

        def col(name: str) -> pl.Expr:
            return pl.col(name if names is None else names[name])

        columns: dict[str, pl.Expr] = {}
        for inp in self.inputs[kid]:
            steps = offset + inp.offset
            if inp.ref in self.config.kpis:
                columns[inp.name] = self.expression(inp.ref, steps, needs, names)
            else:
                rule = self.config.metrics[inp.ref].aggregation
                agg = inp.agg or rule
                needs.add((inp.ref, agg, steps))
                columns[inp.name] = col(column_name(inp.ref, agg, steps))
                if agg == "mean" and rule == "last":  # a gauge stood at its carried-forward value all along
                    needs.add((inp.ref, "last", steps))
                    columns[inp.name] = pl.coalesce(columns[inp.name], col(column_name(inp.ref, "last", steps)))
        return columns

    def expression(
        self, kid: str, offset: int, needs: set[tuple[str, str, int]], names: Mapping[str, str] | None = None
    ) -> pl.Expr:
        """The KPI's value as an expression over request columns (offset = periods back; ``names``: see
        :meth:`columns`)."""
        return pipeline.clean(self.formulas[kid].expression(self.columns(kid, offset, needs, names)))

    def needs(self, kid: str, offset: int, needs: set[tuple[str, str, int]]) -> None:
        """Add the (metric, aggregation, steps back) columns the KPI reads to ``needs``, as
        :meth:`columns` does, without building expressions."""
        for inp in self.inputs[kid]:
            steps = offset + inp.offset
            if inp.ref in self.config.kpis:
                self.needs(inp.ref, steps, needs)
            else:
                rule = self.config.metrics[inp.ref].aggregation
                agg = inp.agg or rule
                needs.add((inp.ref, agg, steps))
                if agg == "mean" and rule == "last":
                    needs.add((inp.ref, "last", steps))

    @staticmethod
    def reads(needs: set[tuple[str, str, int]], additive: dict[str, bool]) -> tuple[Read, ...]:
        """The columns ``needs`` names, sorted."""
        return tuple(sorted(Read(column_name(m, a, s), m, a, s, additive.get(m, True)) for m, a, s in needs))

    def shape(self, kid: str, reads: tuple[Read, ...]) -> tuple[Shape, tuple[str, ...]]:
        """The KPI's expressions over placeholder columns, one per read (see :class:`Shape`), and the
        names of its parts."""
        names = {read.column: f"_{i}" for i, read in enumerate(reads)}
        # not cleaned here (see Shape): the value's expression as the formula gives it
        exprs = [self.formulas[kid].expression(self.columns(kid, 0, set(), names)).alias("_v")]
        parts = self.formulas[kid].parts(self.columns(kid, 0, set(), names))
        exprs += [part.alias(f"_p{j}") for j, part in enumerate(parts.values())]
        return Shape((len(reads), tuple(e.meta.serialize() for e in exprs)), tuple(exprs)), tuple(parts)

    @cached_property
    def _builtin_plugins(self) -> set[str]:
        return {p.name for p in self.config.registry.plugins if p.origin == "builtin"}

    def builtin(self, kid: str) -> bool:
        """Are the KPI's formula and those of the KPIs it reads (through others too) built-in types?"""
        registry, builtin = self.config.registry, self._builtin_plugins
        todo, seen = [kid], set()
        while todo:
            k = todo.pop()
            if k in seen:
                continue
            seen.add(k)
            if registry.owner("formula", self.config.kpis[k].formula) not in builtin:
                return False
            todo.extend(inp.ref for inp in self.inputs.get(k, []) if inp.ref in self.config.kpis)
        return True

    def projectable(self, kid: str) -> bool:
        """Is the KPI additive (its value over a period is the sum of its values over the parts)? Then
        a to-date value can be projected to the period's end and its target prorated to another
        window: the formula declares itself ``additive`` (or ``projectable``), reads its inputs over
        the same period (no offset) and each input is additive (a ``sum``/``count`` metric or an
        additive KPI)."""
        formula = self.formulas.get(kid)
        if formula is None or not (getattr(formula, "additive", False) or getattr(formula, "projectable", False)):
            return False
        for inp in self.inputs[kid]:
            if inp.offset:
                return False
            if inp.ref in self.config.kpis:
                if not self.projectable(inp.ref):
                    return False
            elif (inp.agg or self.config.metrics[inp.ref].aggregation) not in ("sum", "count"):
                return False
        return True

    def undefined_reason(self, kid: str) -> str:
        """Why the KPI's value is undefined (none from inputs that have data): its formula's
        :meth:`~kpitui.api.FormulaType.undefined_reason`, or the general phrase when that fails or says nothing."""
        formula = self.formulas.get(kid)
        try:
            reason = formula.undefined_reason() if formula is not None else NO_NUMBER
        except Exception:  # noqa: BLE001 - a plugin's phrase must not take the KPI down
            reason = NO_NUMBER
        if not isinstance(reason, str):
            return NO_NUMBER
        shown = "".join(c for c in " ".join(reason.split()) if c.isprintable())[:200]  # one line, no escapes
        return shown or NO_NUMBER

    def to_date_series(self, kid: str) -> bool:
        """Are the KPI's sparkline points to date (``cumulative``), not per bucket?"""
        return bool(getattr(self.formulas.get(kid), "to_date_series", False))

    def series(
        self, kid: str, series: Iterable[tuple[object, float | None]]
    ) -> tuple[tuple[object, float | None], ...]:
        """A KPI's sparkline or chart values through its formula's ``series`` transform (if it has one)."""
        series = tuple(series)
        formula = self.formulas[kid]
        if type(formula).series is FormulaType.series:
            return series
        frame = pl.DataFrame({"v": [v for _, v in series]}, schema={"v": pl.Float64})

        def transform() -> list[float | None]:
            return frame.select(pipeline.clean(formula.series(pl.col("v"))))["v"].to_list()

        try:
            if self.config.registry.owner("formula", self.config.kpis[kid].formula) in self._builtin_plugins:
                transformed = transform()
            else:  # plugin code (its expression, a UDF in it) under the plugins' time limit
                transformed = bounded(transform, plugin_timeout())
        except Exception as exc:  # noqa: BLE001
            self.errors[kid] = self.error(self.config.kpis[kid], exc)
            return series
        return tuple((at, v) for (at, _), v in zip(series, transformed))

    # -- the program -----------------------------------------------------------

    def compile(self) -> Program:
        """Each KPI's expressions and the columns they read (a formula that raises here puts its KPI,
        and the KPIs that read it, in an error state)."""
        additive = {mid: m.aggregation in pipeline.ADDITIVE for mid, m in self.config.metrics.items()}
        kpis: dict[str, CompiledKpi] = {}
        readers: dict[str, set[str]] = {}
        for kid in self.dependency_order(self.config.kpis):
            if self.broken_dependency(kid) is not None:
                continue
            needs: set[tuple[str, str, int]] = set()
            shape: Shape | None
            try:
                if self.builtin(kid):  # expressions over placeholders only (see Shape)
                    self.needs(kid, 0, needs)
                    reads = self.reads(needs, additive)
                    shape, parts = self.shape(kid, reads)
                    exprs: list[pl.Expr] = []
                else:  # plugin code (expression(), parts()) under the plugins' time limit: one that hangs is
                    # that KPI's error, not a report or a dashboard that never comes
                    exprs, named = bounded(
                        lambda: (
                            [self.expression(kid, 0, needs).alias(kid)],
                            self.formulas[kid].parts(self.columns(kid, 0, needs)),
                        ),
                        plugin_timeout(),
                    )
                    exprs += [pipeline.clean(part).alias(f"{kid}::{name}") for name, part in named.items()]
                    reads, shape, parts = self.reads(needs, additive), None, tuple(named)
            except Exception as exc:  # noqa: BLE001
                self.errors[kid] = self.error(self.config.kpis[kid], exc)
                continue
            compiled = kpis[kid] = CompiledKpi(
                exprs=tuple(exprs),
                names=(kid, *(f"{kid}::{name}" for name in parts)),
                parts=parts,
                reads=reads,
                steps=frozenset(read.steps for read in reads),
                metrics=frozenset(self.metrics_of(kid)),
                projectable=self.projectable(kid),
                shape=shape,
            )
        for kid in self.mistyped(kpis):
            del kpis[kid]
        for kid in self.dependency_order(self.config.kpis):
            if kid in kpis and self.broken_dependency(kid) is not None:  # reads a KPI that failed the probe
                del kpis[kid]
        for kid, compiled in kpis.items():
            for metric in compiled.metrics:
                readers.setdefault(metric, set()).add(kid)
        return Program(kpis, {metric: frozenset(kids) for metric, kids in readers.items()})

    def mistyped(self, kpis: dict[str, CompiledKpi]) -> list[str]:
        """The KPIs whose plugin formula does not give numbers (an expression of strings or lists), found on an
        empty frame once for all, each put in its error state: at evaluation it failed the whole query, every KPI."""

        def probe(kids: Iterable[str]) -> pl.Schema:
            schema = {read.column: pl.Float64 for kid in kids for read in kpis[kid].reads}
            exprs = [e for kid in kids for e in kpis[kid].exprs]
            return pl.LazyFrame(schema=schema).select(exprs).collect_schema()

        registry = self.config.registry
        builtin = {p.name for p in registry.plugins if p.origin == "builtin"}
        probed = [kid for kid in kpis if registry.owner("formula", self.config.kpis[kid].formula) not in builtin]
        if not probed:  # the built-in formula types give numbers: nothing to probe
            return []
        bad: dict[str, pl.DataType] = {}
        try:
            found = probe(probed)
            for name, dtype in found.items():
                if not _usable_number(dtype):
                    bad.setdefault(name.split("::", 1)[0], dtype)
        except Exception:  # noqa: BLE001 - find which KPI it was, one by one
            for kid in probed:
                try:
                    found = probe([kid])
                    wrong = [dtype for dtype in found.values() if not _usable_number(dtype)]
                    if wrong:
                        bad[kid] = wrong[0]
                except Exception as exc:  # noqa: BLE001
                    self.errors[kid] = self.error(self.config.kpis[kid], exc)
        for kid, dtype in bad.items():
            self.errors.setdefault(
                kid,
                self.error(
                    self.config.kpis[kid],
                    TypeError(f"its expression does not give a number (it gives {dtype}; a float or an integer)"),
                ),
            )
        return [kid for kid in kpis if kid in self.errors]


def _usable_number(dtype: pl.DataType) -> bool:
    """A float or an integer: what a KPI's value is kept as. ``Decimal`` is numeric to polars, yet ``is_finite``
    (every value's check) refuses it, and that failed the one query of every KPI."""
    return dtype.is_float() or dtype.is_integer()
