"""Sums a running total cannot give exactly: a period next to a huge reading, summed again from its rows.

A period's sum is the difference of two running totals of its metric (:class:`~.index.Readings`). Each
step of a running total rounds to the total's own magnitude, so after a reading of 1e17 (a typo, a
counter reset read as a value) the running total is about 1e17 and a later period's sum comes out as
(1e17 + x) - (1e17 + y): its low digits are gone (24 readings adding up to 30 read 0). The steps before
the period are shared by both ends and cancel; only the steps inside it round, each by at most half a
unit in the last place of the running total there. :func:`inexact` bounds that from the totals at the
period's ends (the index's ``err``, :func:`spread`) or, when larger, from the largest running total inside
the period (a spike and its correction both inside it leave the ends small: :mod:`.peaks`, its block
maxima) and, where the bound is not small against the answer,
:func:`exact_total` adds the period's rows up again, exactly (``math.fsum``). For ordinary data (no
running total large against a period's sum) nothing is summed again. Both ways of answering requests
(:func:`~.queries.aggregate` and :func:`~.queries.answer`) use these, so they give the same numbers.
"""

from __future__ import annotations

import bisect
import math
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from .view import View

#: the rounding of one step of a running total, at most, relative to it (twice the unit roundoff: margin)
STEP = 2.0**-52
#: the error an answer may carry, relative to it, before its rows are summed again. The bound is a worst case
#: (every step rounding the same way, at the larger end's magnitude): for a metric of N same-sign readings of
#: about one size it is ~2N * STEP of the answer, so this flags no period of an ordinary metric below ~22M
#: readings (1e-9 flagged every period of one past ~2.3M: a long window's rows summed in Python at every
#: evaluation), while a reading 1e8 times a period's average before it is flagged at once
TOLERANCE = 1e-8
#: readings summed exactly past the float maximum are scaled by this first (a power of two: exact)
_SCALE = 2.0**-64


def spread(before_lo: float, before_hi: float, rows: int) -> float:
    """What bounds the rounding of a period's difference of running totals (``before_lo``, ``before_hi``:
    the totals just before its first row and after its last; ``rows``: how many rows it has): in units of
    :data:`STEP`. As the index's probe works it out (``err``), for the eager path; both then take the
    larger of it and ``rows`` times the largest running total inside the period (:mod:`.peaks`). An empty
    period has none (not ``inf * 0``: running totals past the float maximum are infinite)."""
    return (abs(before_hi) + abs(before_lo)) * float(rows) if rows else 0.0


def inexact(err: float, total: float) -> bool:
    """Whether a total whose periods' spreads add up to ``err`` may be off by more than :data:`TOLERANCE`
    of itself. A spread that is not finite always may: running totals near the float maximum (a reading
    of 1e308 weeks before) add up to infinity in the spread, or overflowed themselves, while the period's
    own readings are ordinary (their difference read 0, or NaN)."""
    return not math.isfinite(err) or err * STEP > TOLERANCE * abs(total)


def inexact_expr(err: pl.Expr, total: pl.Expr) -> pl.Expr:
    """:func:`inexact` in a query (the same arithmetic, so both paths flag the same requests)."""
    return (err * STEP > total.abs() * TOLERANCE) | ~err.is_finite()


def exact_total(
    view: View,
    base_rows: tuple[int, int, int],
    delta_rows: tuple[int, int],
    additive: bool,
    hidden: list[int],
    divide: float = 1.0,
) -> float:
    """The total of a period's readings added up exactly (rounded once): its rows in the base
    (``base_rows``: the metric's segment offset, lo, hi) but the ``hidden`` ones (sorted), which the
    delta rewrote, and its rows in the delta (lo, hi). ``additive``: each row's value; otherwise
    its value·n (the product each row adds to the ``weighted`` running total). ``divide``: by the count, for a
    mean (a mean of readings whose sum is past the float maximum is not)."""
    terms: list[float] = []
    off, lo, hi = base_rows
    base = view.base
    if hi > lo:
        skipped = hidden[bisect.bisect_left(hidden, lo) : bisect.bisect_left(hidden, hi)]
        values = base.value.slice(lo, hi - lo).to_list()
        if additive or base.weighted is None or base.count is None:
            products = values
        else:
            start = max(lo - 1, off)
            counts = base.count.slice(start, hi - start).to_list()
            if lo == off:
                counts.insert(0, 0.0)
            products = [v * float(round(b - a)) for v, a, b in zip(values, counts, counts[1:])]
        if skipped:
            gone = set(skipped)
            products = [v for p, v in zip(range(lo, hi), products) if p not in gone]
        terms.extend(products)
    lo, hi = delta_rows
    if hi > lo:
        rows = view.changes.slice(lo, hi - lo)
        values = rows["value"].to_list()
        terms.extend(values if additive else [v * float(n) for v, n in zip(values, rows["n"].to_list())])
    try:
        return math.fsum(terms) / divide
    except OverflowError:  # a partial sum past the float maximum (readings near it): scaled by a power of two,
        # exact, it comes back as it is (or as an infinity of its sign when it is itself past the maximum)
        return math.fsum(t * _SCALE for t in terms) / divide / _SCALE
