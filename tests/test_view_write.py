""":meth:`View.write`'s shortcuts give the view the whole write gives: its query collected without plan
optimizations, no base lookup for rows after every base reading of their metric (a collector's
appends), the segments' lengths counted in Python for rows after every delta row of their metric, the
new delta's bounds handed over from the lists they were made of, the hidden base rows kept."""

from __future__ import annotations

import math
from unittest.mock import patch

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kpitui import pipeline
from kpitui.pipeline import View, fold, view as view_module
from kpitui.pipeline.index import Readings

METRICS = ("a", "b", "c", "d")

# values with NaN, infinities, -0.0 and huge ones: the running totals and block maxima must be the
# same floats bit for bit, not only close
values = st.one_of(
    st.integers(-8, 8).map(lambda k: k / 4),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, -1e308, 5e-324, 0.1, 1 / 3]),
)
#: (metric, instant, value, n) with instants relative to where the batch is placed
reading = st.tuples(st.sampled_from(METRICS), st.integers(0, 30), values, st.integers(1, 3))
#: a batch and where it goes: appended after every instant so far, or over the instants so far
write = st.tuples(
    st.lists(reading, min_size=1, max_size=15), st.sampled_from(["append", "at_last", "over", "straddle"])
)


def frame_of(rows: dict[tuple[str, int], tuple[float, int]]) -> pl.DataFrame:
    items = sorted(rows.items(), key=lambda kv: (kv[0][1] * 7919 % 101, kv[0][0]))  # not in (metric, at) order
    return pl.DataFrame(
        {
            "metric": [m for (m, _), _ in items],
            "at": [at for (_, at), _ in items],
            "value": [v for _, (v, _) in items],
            "n": [n for _, (_, n) in items],
        },
        schema=pipeline.ROWS_SCHEMA,
    )


def placed(batch: list, how: str, top: int) -> dict[tuple[str, int], tuple[float, int]]:
    """The batch's rows (the last of each (metric, at)), its instants moved after ``top`` (append), from
    ``top`` on (at_last: a row at the last instant so far replaces it), over 0..30 (over) or across
    ``top`` (straddle)."""
    shift = {"append": top + 1, "at_last": top, "over": 0, "straddle": max(0, top - 10)}[how]
    return {(m, at + shift): (v, n) for m, at, v, n in batch}


def whole_write(view: View, new: pl.DataFrame) -> View:
    """The write as it was: every new row looked up in the base, the query's plan optimized, the
    segments' offsets searched in its rows."""
    with (
        patch.object(view_module, "WRITE_OPTIMIZATIONS", pipeline.OPTIMIZATIONS),
        patch.object(view_module, "_after_the_base", lambda bounds, grown: False),
        patch.object(view_module, "_after_the_delta", lambda last, grown: False),
    ):
        return view.write(new)


def columns_of(index: Readings) -> dict[str, list]:
    out = {name: getattr(index, name) for name in ("key", "value", "total", "weighted", "count")}
    out = {name: None if column is None else column.to_list() for name, column in out.items()}
    out["maxima"] = index.maxima.to_list()
    out["segments"] = index.segments.rows()
    return out


def same_index(got: Readings, want: Readings) -> None:
    a, b = columns_of(got), columns_of(want)
    for name in a:
        if isinstance(a[name], list):
            assert repr(a[name]) == repr(b[name]), name  # repr: nan, -0.0 and every digit count
        else:
            assert a[name] == b[name], name


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    initial=st.lists(reading, max_size=20),
    writes=st.lists(st.tuples(write, st.booleans()), min_size=1, max_size=6),
)
def test_a_write_is_the_whole_writes_view_and_its_bounds_are_its_segments(initial, writes):
    base_rows = {(m, at): (v, n) for m, at, v, n in initial}
    view = reference = View.from_frame(frame_of(base_rows)) if base_rows else View.of(Readings.empty())
    top = max((at for _, at in base_rows), default=0)
    appended = 0
    for (batch, how), fold_now in writes:
        rows = placed(batch, how, top)
        new = frame_of(rows)
        appended += all(at > top for _, at in rows)
        view, reference = view.write(new), whole_write(reference, new)
        if fold_now:  # a view derived as History.refresh derives them, its hidden rows known or not
            view = view.derived_from(reference, view.written, view.written_from)
        assert view.hidden.to_list() == reference.changes["pos"].drop_nulls().to_list()
        assert view.firsts == reference.firsts
        same_index(view.delta, reference.delta)
        assert repr(view.changes.rows()) == repr(reference.changes.rows())
        assert (view.written, view.written_from) == (reference.written, reference.written_from)
        # the bounds handed over are what the segments say (as the index works them out when not given)
        fresh = Readings(view.delta.segments, view.delta.key, view.delta.value, view.delta.total)
        assert view.delta.bounds == fresh.bounds
        assert view.delta.places == fresh.places
        assert view.delta.firsts == fresh.firsts
        top = max(top, *(at for _, at in rows))
        if fold_now:
            view, reference = fold(view), fold(reference)
            same_index(view.base, reference.base)


def test_rows_after_the_base_rewrite_nothing_and_a_row_at_its_last_instant_rewrites_it():
    """The appends' shortcut is taken only when every row comes after its metric's last base reading:
    a row at that very instant rewrites it (its value and count taken out of the running totals)."""
    base = View.from_frame(frame_of({("a", 10): (1.0, 1), ("a", 20): (2.0, 3), ("b", 5): (4.0, 1)}))
    assert view_module._after_the_base(base.base.bounds, {"a": (21, 30), "c": (0, 1)})
    assert not view_module._after_the_base(base.base.bounds, {"a": (20, 30)})
    assert not view_module._after_the_base(base.base.bounds, {"a": (21, 30), "b": (5, 5)})
    at_last = base.write(frame_of({("a", 20): (7.0, 1), ("a", 25): (1.0, 1)}))
    changes = at_last.changes.rows(named=True)
    second_of_a = base.base.places["a"][0] + 1  # a's second base row
    want = [(20, second_of_a, 2.0, 3), (25, None, None, None)]
    assert [(r["at"], r["pos"], r["was_value"], r["was_n"]) for r in changes] == want
    assert at_last.delta.total.to_list() == [5.0, 6.0]  # 7 - 2, then + 1
    after = base.write(frame_of({("a", 21): (7.0, 1), ("c", 1): (1.0, 2)}))
    assert [(r["pos"], r["was_value"], r["was_n"]) for r in after.changes.rows(named=True)] == [(None, None, None)] * 2
    assert after.height == 5


def test_a_row_at_the_deltas_last_instant_replaces_it_and_the_segment_does_not_grow_by_it():
    """The segments' lengths are counted in Python only for rows after every delta row of their metric."""
    base = View.from_frame(frame_of({("a", 10): (1.0, 1), ("b", 5): (4.0, 1)}))
    view = base.write(frame_of({("a", 30): (1.0, 1), ("a", 31): (2.0, 1), ("b", 9): (1.0, 1)}))
    assert not view_module._after_the_delta({"a": 31}, {"a": (31, 32, 2)})
    assert view_module._after_the_delta({"a": 31}, {"a": (32, 40, 2), "c": (0, 0, 1)})
    new = frame_of({("a", 31): (5.0, 1), ("a", 32): (1.0, 1)})
    again, reference = view.write(new), whole_write(view, new)
    same_index(again.delta, reference.delta)
    assert dict(zip(again.delta.segments["metric"], again.delta.segments["length"])) == {"a": 3, "b": 1}
    assert again.delta.total.to_list()[:3] == [1.0, 6.0, 7.0]  # 31's 2.0 replaced by 5.0
