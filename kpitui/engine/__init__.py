"""Evaluate KPIs over the reading history: values, comparisons, sparklines, targets, statuses.

An evaluation (:meth:`Engine.evaluate`) takes these steps:

1. *compile* (once per config, :mod:`~kpitui.engine.program`): each KPI's
   formula becomes polars expressions over request columns, each column a
   (metric, aggregation, steps back) the formula reads; KPIs that use other
   KPIs compose their expressions;
2. *plan* (:mod:`~kpitui.engine.planning`): the periods each KPI is shown for
   (current window, comparison period, same period last year, each sparkline
   bucket), worked out once per window and once per sparkline and shared by
   the KPIs that use them;
3. *answer* (:mod:`~kpitui.engine.queries`), two polars queries: the first
   answers every (period, column) the KPIs read from the reading index
   (:mod:`kpitui.pipeline`: binary searches and running totals, exact at any
   boundary, gaps filled per aggregation rule); the second runs the formulas'
   expressions over those answers, one query per formula shape (KPIs whose
   built-in formulas compute the same thing of their reads), giving every
   period's value at once;
4. *build results* (:mod:`~kpitui.engine.results`): change, target, score,
   pace and status per KPI, objectives rolled up, each metric's newest reading.

After a first evaluation, the next one (new readings, a moved clock) runs
only the KPIs that what changed can reach, and carries the others over
(:mod:`~kpitui.engine.memo`). The detail chart (:meth:`Engine.series`,
:meth:`Engine.metric_series`) is in :mod:`~kpitui.engine.charts`.

The history is a :class:`kpitui.pipeline.View` (what
:meth:`kpitui.history.History.view` keeps current), anything with a
``view()`` method returning one, or a plain readings frame, indexed on the
spot (``metric, at, value`` and optionally ``n``).

Formula types are plugins: each call into one is guarded, and a formula that
raises puts its KPI (only) in an error state.
"""

from __future__ import annotations

from .core import Engine, as_view, calendar_of
from .memo import Memo
from .planning import SPARK_POINTS, KpiPlan, Plan, Slots, SteppedPeriod, sparkline as _sparkline
from .program import CompiledKpi, Compiler, Program, Read
from .queries import Evaluation, row_kpis as _row_kpis, scatter as _wide
from .results import KpiValues

__all__ = [
    "SPARK_POINTS",
    "CompiledKpi",
    "Compiler",
    "Engine",
    "Evaluation",
    "KpiPlan",
    "KpiValues",
    "Memo",
    "Plan",
    "Program",
    "Read",
    "Slots",
    "SteppedPeriod",
    "as_view",
    "calendar_of",
    "_row_kpis",
    "_sparkline",
    "_wide",
]
