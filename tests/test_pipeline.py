"""The reading index: every aggregation over any period equals a brute-force computation,
however the index was reached (built at once, written to incrementally, folded)."""

from __future__ import annotations

import datetime as dt
import math
from unittest.mock import patch

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kpitui.api import readings_frame
from kpitui.config import load_config
from kpitui.engine import Engine
from kpitui.pipeline import (
    ANSWERED,
    NEVER,
    REQUESTS_SCHEMA,
    ROWS_SCHEMA,
    Readings,
    View,
    aggregate,
    answer,
    fold,
    next_readings,
    quantile_of,
)
from kpitui.pipeline.refold import fold_touched

METRICS = ("a", "b", "c")
AGGS = ("sum", "count", "mean", "last", "first", "min", "max", "p50", "p90")

# -- brute force --------------------------------------------------------------------------------


def brute(rows: dict[tuple[str, int], tuple[float, int]], metric: str, agg: str, additive: bool, start: int, end: int):
    """The aggregation rules of kpitui.pipeline, one reading at a time."""
    before = sorted((at, v, n) for (m, at), (v, n) in rows.items() if m == metric and at < end)
    inside = [(at, v, n) for at, v, n in before if at >= start]
    values = sorted(v for _, v, _ in inside)
    if agg in ("sum", "count"):
        if not before:
            return None
        if agg == "count":
            return float(sum(n for _, _, n in inside))
        return float(sum(v if additive else v * n for _, v, n in inside))
    if agg == "last":
        return before[-1][1] if before else None
    if not inside:
        return None
    if agg == "mean":
        return sum(v if additive else v * n for _, v, n in inside) / sum(n for _, _, n in inside)
    if agg == "first":
        return inside[0][1]
    if agg == "min":
        return values[0]
    if agg == "max":
        return values[-1]
    q = quantile_of(agg) * (len(values) - 1)  # linear interpolation
    low = math.floor(q)
    return values[low] + (values[min(low + 1, len(values) - 1)] - values[low]) * (q - low)


def frame_of(rows: dict[tuple[str, int], tuple[float, int]]) -> pl.DataFrame:
    items = sorted(rows.items(), key=lambda kv: (kv[0][1] * 7919 % 101, kv[0][0]))  # not in (metric, at) order
    return pl.DataFrame(
        {
            "metric": [m for (m, _), _ in items],
            "at": [at for (_, at), _ in items],
            "value": [v for _, (v, _) in items],
            "n": [n for _, (_, n) in items],
        },
        schema={"metric": pl.String, "at": pl.Int64, "value": pl.Float64, "n": pl.Int64},
    )


def answers(view: View, requests: list[tuple[str, str, bool, int, int]]) -> list[float | None]:
    frame = pl.DataFrame([(i, *r) for i, r in enumerate(requests)], schema=REQUESTS_SCHEMA, orient="row")
    out = aggregate(view, frame, {r[1] for r in requests}).collect().sort("req")
    return out["value"].to_list()


def same(got: list[float | None], want: list[float | None]) -> bool:
    return all(
        (g is None) == (w is None) and (g is None or math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-9))
        for g, w in zip(got, want, strict=True)
    )


# -- strategies -----------------------------------------------------------------------------------

values = st.integers(-8, 8).map(lambda k: k / 4)  # exact in binary: running totals stay exact
# few instants, so that writes often rewrite existing readings
reading = st.tuples(st.sampled_from(METRICS), st.integers(0, 15), values, st.integers(1, 3))
batch = st.lists(reading, max_size=12)
request = st.tuples(
    st.sampled_from(METRICS + ("unknown",)),
    st.sampled_from(AGGS),
    st.booleans(),
    st.integers(-3, 18),
    st.integers(0, 8),
)


def as_requests(raw) -> list[tuple[str, str, bool, int, int]]:
    return [(m, agg, additive, start, start + length) for m, agg, additive, start, length in raw]


def apply(rows: dict, new: list) -> dict:
    rows = dict(rows)
    for m, at, v, n in new:
        rows[(m, at)] = (v, n)
    return rows


def unique(new: list) -> pl.DataFrame:
    return frame_of(apply({}, new))


# -- properties -------------------------------------------------------------------------------------


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(initial=batch, raw=st.lists(request, min_size=1, max_size=25))
def test_a_built_index_answers_like_brute_force(initial, raw):
    rows = apply({}, initial)
    requests = as_requests(raw)
    assert same(answers(View.from_frame(frame_of(rows)), requests), [brute(rows, *r) for r in requests])


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    initial=batch,
    writes=st.lists(st.tuples(batch, st.booleans()), max_size=5),
    raw=st.lists(request, min_size=1, max_size=25),
)
def test_incremental_writes_and_folds_equal_a_fresh_index(initial, writes, raw):
    """Rewrites of base rows, of delta rows, new metrics, folds at any point: same answers as from scratch."""
    rows = apply({}, initial)
    view = View.from_frame(frame_of(rows))
    requests = as_requests(raw)
    for new, fold_now in writes:
        view = view.write(unique(new))
        rows = apply(rows, new)
        if fold_now:
            view = fold(view)
        assert view.height == len(rows)
        assert same(answers(view, requests), [brute(rows, *r) for r in requests])
    back = view.frame()
    assert sorted(back.select("metric", pl.col("at").dt.epoch("us"), "value").rows()) == sorted(
        (m, at, v) for (m, at), (v, _) in rows.items()
    )


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(initial=batch, writes=st.lists(batch, min_size=1, max_size=5))
@pytest.mark.parametrize("in_python", [4096, 0])
def test_the_deltas_segments_hold_each_metrics_rows_written(initial, writes, in_python):
    """After each write, the delta's segments (what :meth:`View.write` works out from the sorted rows:
    offsets, lengths, bounds, shifts) are those of its rows counted here in Python: each metric's
    rows in the delta, in the order the metrics were first written, read back through the lengths.
    ``in_python`` 0: each write's first and last instants from polars (a start's large write)."""
    with patch("kpitui.pipeline.view._INSTANTS_IN_PYTHON", in_python):
        _check_the_deltas_segments(initial, writes)


def _check_the_deltas_segments(initial, writes):
    view = View.from_frame(frame_of(apply({}, initial)))
    delta_rows: dict[str, dict[int, float]] = {}
    order: list[str] = []
    for new in writes:
        view = view.write(unique(new))
        written = apply({}, new)
        for m in sorted({m for m, _ in written} - set(order)):  # metrics new to the delta, by name
            order.append(m)
        for (m, at), (v, _) in written.items():
            delta_rows.setdefault(m, {})[at] = v
        offsets, taken, shift_taken, expected = 0, [], 0, []
        for m in order:
            ats = sorted(delta_rows[m])
            expected.append((m, offsets, len(ats), ats[0], ats[-1], shift_taken - ats[0]))
            offsets += len(ats)
            shift_taken += ats[-1] - ats[0] + 1
            taken += [(order.index(m), at, delta_rows[m][at]) for at in ats]
        assert view.delta.segments.rows() == expected
        assert view.delta.rows().select("m", "at", "value").rows() == taken


def test_a_large_write_records_each_metrics_first_and_last_instant():
    """A write of more rows than :data:`kpitui.pipeline.view._INSTANTS_IN_PYTHON` (a start's rows since
    the index cache, bounds from polars): the delta's segments' bounds and shifts, the metrics written
    and each one's first instant written, against the rows counted here in Python; then a second,
    small write over it (bounds in Python) that reaches earlier and later in some metrics."""
    import random

    rng = random.Random(13)
    base = {(f"m{k:02d}", at): (float(k), 1) for k in range(40) for at in range(0, 40_000, 400)}
    view = View.from_frame(frame_of(base))
    written: dict[str, set[int]] = {}
    for new_rows in (
        {(f"m{rng.randrange(30):02d}", rng.randrange(-5_000, 60_000)): (rng.random(), 1) for _ in range(9_000)},
        {(f"m{rng.randrange(25, 45):02d}", rng.randrange(-9_000, 70_000)): (rng.random(), 1) for _ in range(300)},
    ):
        new = frame_of(new_rows)
        assert (new.height > 4096) == (len(written) == 0)  # the first write takes the polars path
        later = view.write(new)
        this = {}
        for m, at in new_rows:
            this.setdefault(m, []).append(at)
            written.setdefault(m, set()).add(at)
        assert later.written == frozenset(this)
        assert later.written_from == {m: min(ats) for m, ats in this.items()}
        segments = later.delta.segments
        bounds = {m: (min(ats), max(ats)) for m, ats in written.items()}
        assert dict(zip(segments["metric"], zip(segments["first"], segments["last"]))) == bounds
        assert segments["length"].to_list() == [len(written[m]) for m in segments["metric"]]
        spans = [b - a + 1 for a, b in (bounds[m] for m in segments["metric"])]
        assert segments["shift"].to_list() == [sum(spans[:i]) - bounds[m][0] for i, m in enumerate(segments["metric"])]
        view = later


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    initial=batch,
    writes=st.lists(st.tuples(batch, st.booleans()), max_size=4),
    points=st.lists(st.tuples(st.sampled_from(METRICS + ("unknown",)), st.integers(-2, 18)), max_size=20),
)
def test_next_readings_are_the_first_at_or_after_each_instant(initial, writes, points):
    """next_readings over base and delta (rewrites of base rows, new metrics, folds) against the rows."""
    rows = apply({}, initial)
    view = View.from_frame(frame_of(rows))
    for new, fold_now in writes:
        view = view.write(unique(new))
        rows = apply(rows, new)
        if fold_now:
            view = fold(view)
    want = {(m, t): min((at for (m2, at) in rows if m2 == m and at >= t), default=NEVER) for m, t in points}
    assert next_readings(view, points) == want


# any float, not only the exact ones: the eager answers must be the query's to the last bit
any_value = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
any_reading = st.tuples(st.sampled_from(METRICS), st.integers(0, 15), any_value, st.integers(1, 3))
any_batch = st.lists(any_reading, max_size=12)
eager_request = st.tuples(
    st.sampled_from(METRICS + ("unknown",)),
    st.sampled_from(sorted(ANSWERED)),
    st.booleans(),
    st.integers(-3, 18),
    st.integers(0, 8),
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    initial=any_batch,
    writes=st.lists(st.tuples(any_batch, st.booleans()), max_size=4),
    raw=st.lists(eager_request, min_size=1, max_size=25),
    one_by_one=st.sampled_from([0, 48, 10**6]),
)
def test_eager_answers_are_the_querys_exactly(initial, writes, raw, one_by_one):
    """answer() (no query: an incremental evaluation's few hundred requests) gives what aggregate()
    gives, value and instant, bit for bit: over a built index, rewrites of base and delta rows,
    down-sampled rows, new metrics and folds at any point; with the cells it reads by one gather or
    one by one (``queries.ONE_BY_ONE``: never, up to 48, always)."""
    import kpitui.pipeline.queries as queries

    with patch.object(queries, "ONE_BY_ONE", one_by_one):
        _eager_answers_are_the_querys(initial, writes, raw)


def _eager_answers_are_the_querys(initial, writes, raw):
    rows = apply({}, initial)
    view = View.from_frame(frame_of(rows))
    requests = as_requests(raw)
    frame = pl.DataFrame([(i, *r) for i, r in enumerate(requests)], schema=REQUESTS_SCHEMA, orient="row")
    columns = [list(c) for c in zip(*requests)]
    for new, fold_now in [([], False), *writes]:
        if new:
            view = view.write(unique(new))
            rows = apply(rows, new)
        if fold_now:
            view = fold(view)
        want = aggregate(view, frame, {r[1] for r in requests}).collect().sort("req")
        values, instants = answer(view, *columns)
        assert values == want["value"].to_list()
        assert instants == want["at"].to_list()
        assert same(values, [brute(rows, *r) for r in requests])


def test_an_empty_index_has_no_data():
    view = View.of(Readings.empty())
    assert answers(view, [("a", agg, True, 0, 10) for agg in AGGS]) == [None] * len(AGGS)
    assert view.frame().height == 0


def test_keys_stay_exact_at_any_boundary():
    """Readings a microsecond apart fall on either side of a boundary between them."""
    t = 1_767_225_600_000_000  # 2026-01-01 UTC in µs
    view = View.from_frame(pl.DataFrame({"metric": ["a", "a"], "at": [t - 1, t], "value": [1.0, 2.0]}))
    assert answers(view, [("a", "sum", True, 0, t), ("a", "sum", True, t, t + 1), ("a", "last", True, 0, t)]) == [
        1.0,
        2.0,
        1.0,
    ]


# -- through the engine -------------------------------------------------------------------------------

UTC = dt.timezone.utc

DOWNSAMPLED = """
[metrics.s]
[metrics.m]
unit = "duration"
aggregation = "mean"
[metrics.c]
aggregation = "count"

[kpis.total]
formula = "sum"
metrics = ["s"]
window = "today"
[kpis.mean_of_s]
formula = "mean"
metrics = ["s"]
window = "today"
[kpis.mean_of_m]
formula = "mean"
metrics = ["m"]
window = "today"
[kpis.count]
formula = "sum"
metrics = ["c"]
window = "today"
"""


def test_downsampled_rows_weigh_by_n(write_config, builtin_registry):
    """A row standing for n readings: sums of additive metrics add values, means weigh by n, counts add n."""
    t = dt.datetime(2026, 1, 5, 10, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "metric": ["s", "s", "m", "m", "c", "c"],
            "at": [t, t + dt.timedelta(minutes=30)] * 3,
            "value": [12.0, 3.0, 4.0, 10.0, 6.0, 1.0],
            "n": [3, 1, 3, 1, 5, 1],
        },
        schema={"metric": pl.String, "at": pl.Datetime("us", "UTC"), "value": pl.Float64, "n": pl.Int64},
    )
    config = load_config(write_config(DOWNSAMPLED), registry=builtin_registry)
    kpis = Engine(config).evaluate(frame, t + dt.timedelta(hours=2)).kpis
    assert kpis["total"].value == 15  # 12 (three readings) + 3
    assert kpis["mean_of_s"].value == 15 / 4
    assert kpis["mean_of_m"].value == (4 * 3 + 10) / 4
    assert kpis["count"].value == 6  # 5 + 1 readings
    plain = Engine(config).evaluate(frame.drop("n"), t + dt.timedelta(hours=2)).kpis
    assert plain["count"].value == 2 and plain["mean_of_m"].value == 7  # without n: one reading per row


EXACT = """
[metrics.a]
[kpis.leads]
formula = "sum"
metrics = ["a"]
window = "month_to_date"
"""


def test_comparison_periods_end_exactly_at_the_elapsed_time(write_config, builtin_registry):
    """Month to date at 12:30 compares with the previous month cut at 12:30, not at the hour."""
    config = load_config(write_config(EXACT), registry=builtin_registry)
    history = readings_frame(
        [
            ("a", dt.datetime(2026, 2, 15, 12, 15, tzinfo=UTC), 1),
            ("a", dt.datetime(2026, 2, 15, 12, 30, tzinfo=UTC), 5),  # at the same elapsed time: counts, as `now` does
            ("a", dt.datetime(2026, 2, 15, 12, 30, 0, 1, tzinfo=UTC), 10),
            ("a", dt.datetime(2026, 3, 15, 12, 29, 59, 999999, tzinfo=UTC), 100),
            ("a", dt.datetime(2026, 3, 15, 12, 30, tzinfo=UTC), 1000),  # at `now`: counts (as of 12:30 includes 12:30)
            ("a", dt.datetime(2026, 3, 15, 12, 30, 0, 1, tzinfo=UTC), 10000),  # after `now`: not yet
        ]
    )
    r = Engine(config).evaluate(history, dt.datetime(2026, 3, 15, 12, 30, tzinfo=UTC)).kpis["leads"]
    assert r.value == 1100
    assert r.previous == 6


def test_the_engine_reads_a_history_view_and_a_frame_alike(write_config, builtin_registry):
    config = load_config(write_config(EXACT), registry=builtin_registry)
    history = readings_frame([("a", dt.datetime(2026, 3, d, tzinfo=UTC), d) for d in range(1, 15)])
    now = dt.datetime(2026, 3, 15, tzinfo=UTC)
    engine = Engine(config)
    assert engine.evaluate(View.from_frame(history), now) == engine.evaluate(history, now)
    with pytest.raises(TypeError, match="History, a View or a readings frame"):
        engine.evaluate([("a", now, 1.0)], now)


def test_an_index_spanning_too_long_is_refused_when_built_and_when_written():
    """Each metric owns a key range as long as its span: together they must fit in 2**63 µs."""
    far = 4 * 10**18  # µs: ~127,000 years either side of 1970
    rows = pl.DataFrame(
        {"metric": ["a", "a", "b", "b"], "at": [-far, far, -far, far], "value": [1.0] * 4, "n": [1] * 4},
        schema=ROWS_SCHEMA,
    )
    with pytest.raises(ValueError, match="spans too long"):
        Readings.build(rows)
    one = rows.filter(pl.col("metric") == "a")
    view = View.of(Readings.empty()).write(one)  # one metric's span fits
    assert view.height == 2
    with pytest.raises(ValueError, match="spans too long"):
        view.write(rows.filter(pl.col("metric") == "b"))


# -- folding only the touched segments ------------------------------------------------------------------

plain_reading = st.tuples(st.sampled_from(METRICS + ("d", "e")), st.integers(0, 15), values, st.just(1))


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    initial=st.lists(plain_reading, max_size=30),
    writes=st.lists(st.lists(plain_reading, max_size=12), min_size=1, max_size=4),
    extent=st.sampled_from((-5, 0, 10**9, 10**15)),
)
def test_folding_the_touched_segments_builds_the_index_a_full_fold_builds(initial, writes, extent):
    """Rewrites, new rows inside, before and after a segment, new metrics: column for column the same
    index as re-indexing every row (whose answers the test above checks against brute force)."""
    rows = apply({}, [(m, at + extent * (m == "a"), v, n) for m, at, v, n in initial])
    view = View.from_frame(frame_of(rows)) if rows else View.of(Readings.empty())
    for new in writes:
        view = view.write(unique([(m, at + extent * (m == "c"), v, n) for m, at, v, n in new])) if new else view
    touched, everything = fold(view, share=math.inf), fold(view, share=0.0)
    ran = fold_touched(view.base, view.delta, view.changes, view.hidden, share=math.inf)
    assert (ran is not None) == (view.changes.height > 0 and view.base.height > 0)  # the touched fold ran
    for got, want in ((touched.base, everything.base), (touched.delta, everything.delta)):
        assert got.segments.equals(want.segments)
        for name in ("key", "value", "total"):
            assert getattr(got, name).equals(getattr(want, name)), name
            assert getattr(got, name).n_chunks() == 1
        assert got.key.flags["SORTED_ASC"] == want.key.flags["SORTED_ASC"]
        assert got.weighted is want.weighted is None and got.count is want.count is None
    assert (touched.after, touched.written) == (everything.after, everything.written)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    initial=any_batch,
    writes=st.lists(st.tuples(any_batch, st.booleans()), max_size=3),
    rounds=st.lists(st.lists(eager_request, min_size=1, max_size=12), min_size=2, max_size=4),
    points=st.lists(st.tuples(st.sampled_from(METRICS), st.integers(-2, 18)), max_size=8),
    remembered=st.sampled_from([2, 5, 20_000]),
)
def test_eager_answers_stay_the_querys_while_an_index_remembers_what_it_found(
    initial, writes, rounds, points, remembered
):
    """Each index remembers the rows its binary searches found and the values read at them
    (``Readings.remembered``: an incremental evaluation asks the base index the same periods' ends
    again and again). Asked again and again on the same view (and on the views written and folded
    after it), with what :func:`next_readings` read (the keys alone) in between, and with the memo
    started again when full (``remembered``: 2 and 5 of them), the answers stay the query's, bit for
    bit, and the next readings the rows'."""
    import kpitui.pipeline.queries as queries

    rows = apply({}, initial)
    view = View.from_frame(frame_of(rows))
    with patch.object(queries, "REMEMBERED", remembered):
        for new, fold_now in [([], False), *writes]:
            if new:
                view = view.write(unique(new))
                rows = apply(rows, new)
            if fold_now:
                view = fold(view)
            for raw in rounds:
                requests = as_requests(raw)
                frame = pl.DataFrame([(i, *r) for i, r in enumerate(requests)], schema=REQUESTS_SCHEMA, orient="row")
                want = aggregate(view, frame, {r[1] for r in requests}).collect().sort("req")
                values, instants = answer(view, *[list(c) for c in zip(*requests)])
                assert values == want["value"].to_list()
                assert instants == want["at"].to_list()
                firsts = {
                    (m, t): min((at for (m2, at) in rows if m2 == m and at >= t), default=NEVER) for m, t in points
                }
                assert next_readings(view, points) == firsts
