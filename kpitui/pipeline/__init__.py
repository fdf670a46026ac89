"""polars: the reading index the engine queries, and how readings combine over a period.

The engine asks for aggregates of metrics over half-open periods
``[start, end)`` (instants as integer microseconds since the epoch, UTC; the
physical value of polars' ``Datetime("us", "UTC")``). A *request* is one
(metric, aggregation, start, end); :func:`aggregate` answers any number of
them in one lazy query.

The index
---------
:class:`Readings` holds readings sorted by (metric, time) with running totals
per metric, so the sum, count or mean of a metric over *any* period is two
binary searches and two lookups, exact at every boundary (no re-aggregation
of the history per evaluation). One sorted Int64 ``key`` column makes the
searches vectorised: each metric's rows own the key range
``[base, base + span)`` with ``span = last - first + 1`` (µs) and
``key = base + (at - first)``, so keys grow with (metric, at) and a request's
boundary becomes a key by clipping it into its metric's range. (The spans of
all metrics must add up to less than 2**63 µs, about 292,000 metric-years.)

How a metric's readings combine over a period is its aggregation rule:

- ``sum`` and ``count``: added up; a period with no reading is 0 once the
  metric has any reading before the period ends (and no data before that);
- ``last`` (gauges such as subscribers): the latest reading before the period
  ends, carried forward from earlier periods when the period itself has none;
- ``mean``, ``min``, ``max``, ``first``: over the readings in the period; no
  reading, no data;
- quantiles (``p50``, ``p90``, ``p99.9``): over the readings in the period,
  linear interpolation.

``min``, ``max`` and quantiles read the values of the period's rows (a slice
of the metric's sorted segment); everything else reads running totals.

A difference of running totals rounds at the totals' magnitude: after one
reading of 1e17 every later period's sum would lose its low digits. Each
sum and mean carries a bound of that rounding, from the totals at the
period's ends and the largest total inside it (block maxima of |running
total|, :mod:`~kpitui.pipeline.peaks`: a spike and its correction both
inside the period); where it exceeds 1e-8 of the answer, the period's rows
are added up again exactly (:mod:`~kpitui.pipeline.exact`).

Down-sampled rows
-----------------
A row may stand for ``n`` raw readings (column ``n``, 1 when absent) whose
value is their aggregate by the metric's own rule (sum -> sum, mean -> mean,
last, min, max). Then ``count = Σ n``; the raw total of an *additive* metric
(rule ``sum`` or ``count``) is ``Σ value``, of any other ``Σ value·n``;
``mean = raw total / count``. ``min``/``max``/``first``/``last`` read row
values (exact for metrics with that rule); quantiles treat each row as one
reading (an approximation over down-sampled history).

Incremental updates
-------------------
A :class:`View` is a large immutable *base* index plus a small *delta* index
of the rows written since the base was built, each delta row carrying the
base row it rewrites (``was_value``, ``was_n``; null for a new row) and the
base positions those rewrites hide. Running totals in the delta are of
*contributions* (``value - was_value`` …), so a period's total is base plus
delta; ``last``/``first`` take the later/earlier of the two candidates (the
delta's on a tie: it is the rewrite); slices skip the hidden base rows.
Writing to a view (:meth:`View.write`) re-sorts and re-sums only the delta;
:class:`kpitui.history.History` keeps a view current and folds the delta
into a new base when it grows (:func:`fold`).

The package: ``frames`` (the schemas, aggregation names, :func:`collect`),
``index`` (:class:`Readings`), ``view`` (:class:`View`, :func:`fold`) and
``queries`` (:func:`aggregate`, :func:`next_readings`), ``exact`` (sums a running total
cannot give exactly), ``peaks`` (the largest running total over a period); ``load`` builds the base index
from a store's full load batch by batch (:func:`~kpitui.pipeline.load.build_ids`).
"""

from __future__ import annotations

from ..epoch import (
    from_micros as from_micros,  # re-exported: the engine and the history read them from here
    micros as micros,
)
from .frames import (
    ADDITIVE as ADDITIVE,
    DECOMPOSABLE as DECOMPOSABLE,
    FORMULA_OPTIMIZATIONS as FORMULA_OPTIMIZATIONS,
    OPTIMIZATIONS as OPTIMIZATIONS,
    REQUESTS_SCHEMA as REQUESTS_SCHEMA,
    ROWS_SCHEMA as ROWS_SCHEMA,
    as_rows as as_rows,
    clean as clean,
    collect as collect,
    is_valid_agg as is_valid_agg,
    quantile_of as quantile_of,
)
from .index import Readings as Readings
from .queries import (
    ANSWERED as ANSWERED,
    NEVER as NEVER,
    aggregate as aggregate,
    answer as answer,
    next_readings as next_readings,
)
from .view import CHANGES_SCHEMA as CHANGES_SCHEMA, View as View, fold as fold
