"""Re-evaluation after new readings and a moved clock equals a from-scratch evaluation.

The engine carries over what the last evaluation computed for KPIs that new
readings and a moved clock cannot have changed (kpitui.engine.memo); these
tests drive one engine through random writes, folds, clock moves (within the
hour, across days, months and the DST change) and window switches, and compare
every snapshot with a fresh engine's.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kpitui.config import load_config
from kpitui.engine import Engine
from kpitui.engine.planning import sparkline as _sparkline
from kpitui.model import SourceHealth
from kpitui.pipeline import Readings, View, fold

UTC = dt.timezone.utc
START = dt.datetime(2026, 3, 27, 9, 30, tzinfo=UTC)  # the clocks go forward in London on Sunday Mar 29

CONFIG = """
[kpitui]
timezone = "Europe/London"

[metrics.a]
[metrics.b]
aggregation = "last"
[metrics.c]
unit = "duration"
aggregation = "mean"
[metrics.d]
unit = "number"
aggregation = "min"
[metrics.e]
aggregation = "count"

[kpis.leads]
formula = "sum"
metrics = ["a", "e"]
target = { kind = "reach", value = 50 }

[kpis.rate]
formula = "ratio"
numerator = "a"
denominator = "e"
window = "today"

[kpis.growth]
formula = "growth"
of = "leads"
window = "week_to_date"

[kpis.running]
formula = "cumulative"
of = "a"
window = "trailing_7d"

[kpis.p90]
formula = "percentile"
of = "c"
window = "last_month"

[kpis.level]
formula = "sum"
metrics = ["b"]
window = "today"

[kpis.low]
formula = "mean"
metrics = ["d", "c"]
window = "year_to_date"
target = { kind = "below", value = 5, due = 2026-04-15 }

[kpis.doubled]
formula = "expression"
expression = "leads * 2 + b"

[kpis.other]
formula = "sum"
metrics = ["e"]
window = "yesterday"
target = { kind = "reach", value = 3 }

[kpis.quarter]
formula = "growth"
of = "a"
window = "quarter_to_date"

[objectives.o]
kpis = ["leads", "rate", "low"]
"""

STEPS = [0, 1, 59, 3600, 5400, 86_400, 3 * 86_400, 40 * 86_400]  # seconds the clock moves on
WINDOWS = [None, None, None, "month_to_date", "today"]

seconds = st.one_of(st.integers(-2 * 86_400, 86_400), st.integers(-45 * 86_400, 86_400))  # mostly near the clock
reading = st.tuples(st.sampled_from("abcde"), seconds, st.integers(-3, 9))
step = st.tuples(
    st.lists(reading, max_size=6),  # readings written, seconds from the current clock (some in the future)
    st.sampled_from(STEPS),
    st.sampled_from(WINDOWS),
    st.booleans(),  # fold the delta into the base
)


def as_rows(rows, now):
    seen = {(m, now + dt.timedelta(seconds=s)): float(v) for m, s, v in rows}
    epoch = dt.datetime(1970, 1, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "metric": [m for m, _ in seen],
            "at": [(at - epoch) // dt.timedelta(microseconds=1) for _, at in seen],
            "value": list(seen.values()),
            "n": [1] * len(seen),
        },
        schema={"metric": pl.String, "at": pl.Int64, "value": pl.Float64, "n": pl.Int64},
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory, builtin_registry):
    path = tmp_path_factory.mktemp("inc") / "kpitui.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path, registry=builtin_registry)


def fresh(config, view, now, window=None):
    """A new engine's evaluation, with nothing remembered from earlier plans either."""
    _sparkline.cache_clear()
    return Engine(config).evaluate(view, now, window=window)


@pytest.mark.slow
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(initial=st.lists(reading, max_size=40), steps=st.lists(step, min_size=1, max_size=6))
def test_re_evaluation_equals_a_fresh_one(config, initial, steps):
    engine = Engine(config)
    now = START
    view = View.of(Readings.empty()).write(as_rows(initial, now))
    assert engine.evaluate(view, now) == fresh(config, view, now)
    for rows, seconds, window, folding in steps:
        view = view.write(as_rows(rows, now)) if rows else view
        view = fold(view) if folding else view
        now += dt.timedelta(seconds=seconds)
        assert engine.evaluate(view, now, window=window) == fresh(config, view, now, window)


def test_metric_statuses_follow_new_readings_and_the_source_health(config):
    """A re-evaluation remakes the status of only the metrics whose newest reading was asked again,
    and of every metric when the source health it is given differs from the last evaluation's."""
    down = {"manual": SourceHealth("manual", error="unreachable", failures=2)}  # the config's metrics
    engine, now = Engine(config), START
    view = View.of(Readings.empty()).write(as_rows([("a", -60, 1), ("b", -60, 2)], now))
    for rows, health in (([], None), ([("a", 0, 5)], None), ([("c", 0, 3)], down), ([], down), ([("b", 0, 7)], None)):
        view = view.write(as_rows(rows, now)) if rows else view
        now += dt.timedelta(seconds=5)
        got = engine.evaluate(view, now, health=health)
        _sparkline.cache_clear()
        assert got == Engine(config).evaluate(view, now, health=health)
        assert all(m.health == (down["manual"] if health else None) for m in got.metrics.values())


def test_only_what_changed_is_recomputed(config, monkeypatch):
    engine = Engine(config)
    now = START
    view = View.of(Readings.empty()).write(as_rows([("a", -3600, 1), ("c", -7200, 4), ("e", -60, 1)], now))
    first = engine.evaluate(view, now)
    computed: list[set[str]] = []
    run = engine.run

    def spy(view, now, rows, row_kpis, slots, latest=None):
        computed.append({k for kids in row_kpis.values() for k in kids})
        return run(view, now, rows, row_kpis, slots, latest)

    monkeypatch.setattr(engine, "run", spy)
    assert engine.evaluate(view, now) == first and computed[-1] == set()  # nothing new: nothing recomputed
    view = view.write(as_rows([("c", -60, 10)], now))
    engine.evaluate(view, now)
    # the KPIs that read c on a period the reading reaches: not p90 (last month's, and buckets before)
    assert computed[-1] == {"low"}
    engine.evaluate(view, now + dt.timedelta(seconds=30))  # the clock moved over no reading
    assert computed[-1] == set()
    view = view.write(as_rows([("d", 40, 2)], now))  # a reading 40 s ahead of the old clock
    engine.evaluate(view, now + dt.timedelta(seconds=60))
    assert computed[-1] == {"low"}


@pytest.mark.parametrize(
    "start", [START, dt.datetime(2026, 3, 31, 22, 59, 30, tzinfo=UTC)]
)  # mid-morning; midnight of Mar 31 -> Apr 1 in London
def test_the_tuis_refresh_with_the_clock_moved_equals_a_fresh_evaluation(config, start):
    """The benchmark's clock-moved case, exactly: readings in a few metrics written at the clock, the
    clock 5 s later, again and again (here across a day, a month and a quarter boundary too)."""
    import random

    rng = random.Random(5)
    engine = Engine(config)
    now = start
    history = [(m, -rng.randrange(1, 60 * 86_400), rng.randint(0, 9)) for m in "abcde" for _ in range(60)]
    # readings the moving periods cross: a trailing week's start, the same time yesterday, last year
    # and a week ago (comparison periods' ends), and readings ahead of the clock that it reaches
    for back in (7 * 86_400, 86_400, 365 * 86_400):
        history += [(m, s - back, rng.randint(1, 9)) for m in "abe" for s in range(0, 70, 3)]
    history += [(m, s, rng.randint(1, 9)) for m in "bde" for s in range(3, 70, 7)]
    view = View.of(Readings.empty()).write(as_rows(history, now))
    engine.evaluate(view, now)
    for round in range(12):
        written = [("c", rng.uniform(0, 5), rng.randint(0, 9)) for _ in range(40)]  # one metric written at the clock
        view = view.write(as_rows(written, now))
        view = fold(view) if round == 6 else view
        now += dt.timedelta(seconds=5)
        assert engine.evaluate(view, now) == fresh(config, view, now)


def test_a_carried_result_is_a_plain_copy():
    """Results carried over to a moved clock are copied field by field (kpitui.engine.results._copy):
    right only while KpiResult has nothing ``__init__`` would compute or check."""
    from kpitui.model import KpiResult

    assert not hasattr(KpiResult, "__post_init__") and not hasattr(KpiResult, "__slots__")


@pytest.mark.parametrize("since_days", [3, 40])  # growth cut short (history starts this week) / with a value
def test_a_growth_is_carried_over_to_a_moved_clock(config, monkeypatch, since_days):
    """KPIs that read the period before (``growth``, ``quarter``) are carried over to a moved clock
    like the others when nothing they read changed (they used to be made again every time), cut
    short or not, and equal a fresh evaluation's, across a week's start too (where the periods
    move over their readings and they are made again)."""
    from kpitui.engine.results import Results

    boundary = dt.datetime(2026, 3, 23, tzinfo=UTC)  # Monday, 00:00 in London (GMT until Mar 29)
    now = boundary - dt.timedelta(seconds=17)
    history = [(m, -s, 2) for m in "ae" for s in range(3600, since_days * 86_400, 3 * 3571)]
    view = View.of(Readings.empty()).write(as_rows(history, now))
    engine = Engine(config)
    engine.evaluate(view, now)
    made: list[str] = []
    kpi = Results.kpi

    def spy(self, kid, plan, numbers):
        made.append(kid)
        return kpi(self, kid, plan, numbers)

    monkeypatch.setattr(Results, "kpi", spy)
    values = []
    for round in range(6):
        view = view.write(as_rows([("c", 2, round), ("c", -86_400 - 5 * round, round)], now))  # ahead; a rewrite
        now += dt.timedelta(seconds=5)
        made.clear()
        got, ours = engine.evaluate(view, now), set(made)
        assert got == fresh(config, view, now)
        crossed = now - dt.timedelta(seconds=5) < boundary <= now
        assert ("growth" in ours) == crossed and ("quarter" in ours) <= crossed  # made again only at midnight
        values.append(got.kpis["growth"].value)
    assert (values[0] is None) == (since_days == 3) and got.kpis["quarter"].partial_history


def test_a_reading_at_a_remembered_period_end_is_seen(config, monkeypatch):
    """A clock moved 5 s at a time probes each period's end from the first reading after it that
    the move before found (kpitui.engine.memo: no search for a period that moved over none). A
    reading written exactly at such a remembered instant (a week back, the start of the region the
    next move probes; written at the same clock, which keeps what is remembered of the others),
    one just inside the next region, and an old one rewritten are each seen: every evaluation
    equals a fresh one, and the moves search again only for the metrics written."""
    from kpitui import pipeline as pipeline_module
    from kpitui.engine import memo

    searched: list[set[str]] = []
    search = pipeline_module.next_readings

    def spy(view, points):
        points = list(points)
        searched.append({m for m, _ in points})
        return search(view, points)

    monkeypatch.setattr(memo.pipeline, "next_readings", spy)
    now = START
    week = 7 * 86_400
    history = [(m, s, 3) for m in "abcde" for s in range(-40 * 86_400, -3600, 7919)]
    history += [(m, -week + 60, 1) for m in "ae"]  # a week back, a minute ahead: the moves reach it
    view = View.of(Readings.empty()).write(as_rows(history, now))
    engine = Engine(config)
    engine.evaluate(view, now)
    for round in range(14):
        written = [("c", 1, round)]
        if round == 4:
            written.append(("a", -week, 5))  # exactly where the next move of a week back's end starts
        if round == 6:
            written.append(("e", -week + 2, 4))  # inside the next move's region
        if round == 8:
            written.append(("a", -week - 5 * round, 9))  # a reading a move already passed, rewritten
            written.append(("b", -40 * 86_400 + 7919, 1))  # a rewrite of an old reading
        view = view.write(as_rows(written, now))
        now += dt.timedelta(seconds=0 if round == 4 else 5)  # round 4 at the same clock: nothing probed
        searched.clear()
        got = engine.evaluate(view, now)
        asked = set().union(*searched)
        assert got == fresh(config, view, now)
        if round in (1, 2, 3):  # only the metric written each round (c) is searched again
            assert asked <= {"c"}, asked
        if round in (5, 9):  # a was written the round before: what was remembered of it was let go
            assert "a" in asked


def rows_run(engine: Engine, monkeypatch) -> list[set[tuple[int, str]]]:
    """Each evaluation's (row, KPI) pairs that ``engine`` runs, one set per call of ``Engine.run``."""
    asked: list[set[tuple[int, str]]] = []
    run = engine.run

    def spy(view, now, rows, row_kpis, slots, latest=None):
        asked.append({(row_id, k) for row_id, kids in row_kpis.items() for k in kids})
        return run(view, now, rows, row_kpis, slots, latest)

    monkeypatch.setattr(engine, "run", spy)
    return asked


def test_at_the_same_clock_only_the_rows_a_written_reading_reaches_are_run(config, monkeypatch):
    """At the same clock a KPI that reads a metric written is run only on the rows of its plan whose
    periods end after the earliest reading written (a read over [start, end) depends on the
    readings before its end only); its other rows keep their numbers. Each evaluation equals a
    fresh one (this fails if the rows kept are not exactly those), and the rows run are counted."""
    engine, now = Engine(config), START
    history = [("a", -3600, 1), ("e", -86_400 - 60, 2), ("e", -60, 1), ("e", -40 * 86_400, 5)]
    view = View.of(Readings.empty()).write(as_rows(history, now))
    engine.evaluate(view, now)
    asked = rows_run(engine, monkeypatch)
    # e written 30 s ago: "other" (e over yesterday) is not run at all; "leads" (a + e, this month)
    # on its current period and the sparkline's last bucket, not on last month or last year
    view = view.write(as_rows([("e", -30, 3)], now))
    assert engine.evaluate(view, now) == fresh(config, view, now)
    plans = engine.plan(now).plans
    ran = {k for _, k in asked[-1]}
    assert "other" not in ran and {"leads", "rate", "growth", "doubled"} <= ran
    leads = {row_id for row_id, k in asked[-1] if k == "leads"}
    assert plans["leads"].current in leads and plans["leads"].previous not in leads
    assert leads < set(plans["leads"].positions)
    # e written yesterday: "other" is run again (its value moves), and so are leads' earlier buckets
    view = view.write(as_rows([("e", -86_400 + 60, 4)], now))
    assert engine.evaluate(view, now) == fresh(config, view, now)
    assert "other" in {k for _, k in asked[-1]}
    # written 40 days back: last month's period and older buckets run again; then a fold (the
    # instants written are not known over a fold's view: every row of the KPIs to run)
    view = view.write(as_rows([("e", -40 * 86_400 + 5, 6)], now))
    assert engine.evaluate(view, now) == fresh(config, view, now)
    assert plans["leads"].previous in {row_id for row_id, k in asked[-1] if k == "leads"}
    view = fold(view.write(as_rows([("e", -20, 1)], now)))
    assert engine.evaluate(view, now) == fresh(config, view, now)
    assert {row_id for row_id, k in asked[-1] if k == "leads"} == set(plans["leads"].positions)


def test_with_the_clock_moved_only_the_rows_whose_periods_moved_or_a_written_reading_reaches_are_run(
    config, monkeypatch
):
    """With the clock moved (the TUI's refresh), a KPI to run (it reads a metric written, or a period
    of it moved over a reading) is run only on the rows of its plan whose periods moved or end after
    the earliest reading written; the others keep their numbers. A sparkline rolling over to a new
    bucket runs all of its rows (each position holds another bucket), a window no longer ending at
    now (yesterday, after midnight) all of its rows, a KPI reading nothing written with periods that
    moved over nothing none. Each evaluation equals a fresh one (this fails if a row kept is not the
    same period with the same readings before its end), and the rows run are counted."""
    now = dt.datetime(2026, 3, 26, 23, 59, 50, tzinfo=UTC)  # London is on GMT until Mar 29
    history = [(m, -s, 2) for m in "abce" for s in range(30, 50 * 86_400, 7919)]
    view = View.of(Readings.empty()).write(as_rows(history, now))
    engine = Engine(config)
    engine.evaluate(view, now)
    asked = rows_run(engine, monkeypatch)

    def step(written, seconds):
        nonlocal view, now
        view = view.write(as_rows(written, now)) if written else view
        now += dt.timedelta(seconds=seconds)
        asked.clear()
        assert engine.evaluate(view, now) == fresh(config, view, now)
        plans = engine.plan(now).plans
        return plans, lambda kid: {row_id for row_id, k in asked[-1] if k == kid} if asked else set()

    # e written at the clock, the clock 5 s later, within the hour: today's rate on the rows ending
    # at now (current, the same elapsed time yesterday and last year, the last hour), not the others
    plans, ran = step([("e", 1, 3)], 5)
    rate = ran("rate")
    assert plans["rate"].current in rate and rate < set(plans["rate"].positions)
    assert plans["rate"].spark[0] not in rate
    assert not ran("other") and not ran("p90")  # yesterday's and last month's periods did not move
    # the hour's end: the sparkline rolled over (every bucket is another), and midnight: yesterday
    # is another day (its rows all moved)
    plans, ran = step([("e", 2, 4)], 5)  # 00:00:00
    assert set(plans["rate"].spark) <= ran("rate")
    assert ran("other") == set(plans["other"].positions)
    plans, ran = step([("e", 1, 5), ("a", 7, 1)], 5)  # 00:00:05; a reading of a ahead of the clock
    assert ran("rate") < set(plans["rate"].positions)
    # nothing written, the clock over the reading of a: the KPIs reading a run on the rows that moved
    plans, ran = step([], 5)
    leads = ran("leads")
    assert plans["leads"].current in leads and leads < set(plans["leads"].positions)
    assert not ran("other") and not ran("level")


def test_a_first_reading_the_clock_reaches_makes_a_carried_result_partial(config):
    """A result carried over to a moved clock (kpitui.engine.results.Results.partial_last_year_moved)
    is worked out again for the same period last year when one of its metrics got its first reading
    by now: yesterday's sum of e, whose periods did not move, had no reading of e by the clock (not
    partial), then one 3 s ahead of it that the clock reached (last year now reaches before it)."""
    now = START
    view = View.of(Readings.empty()).write(as_rows([("a", -3600, 1), ("e", 3, 2)], now))
    engine = Engine(config)
    first = engine.evaluate(view, now)
    assert first == fresh(config, view, now) and not first.kpis["other"].partial_last_year
    now += dt.timedelta(seconds=5)
    got = engine.evaluate(view, now)
    assert got == fresh(config, view, now) and got.kpis["other"].partial_last_year


@pytest.mark.parametrize("window", [None, "today"])
def test_results_carried_to_a_moved_clock_are_made_once_per_shared_plan(config, monkeypatch, window):
    """With the clock moved, a result carried over is made by the engine itself (Engine._results: what
    the move did to a plan worked out once for the KPIs sharing it), not by Results.moved, but for
    a KPI whose judgement depends on the clock (``low``'s due date, ``leads``'s pace to the month's end;
    with every KPI shown over today, the projections of ``other`` and ``running`` to the day's end too)
    and one whose newest reading moved (written, or a reading ahead of the clock that it passed: its
    freshness). Each evaluation equals a fresh one (this fails if a carried result keeps a period, a
    freshness or a sparkline it should not); a result whose periods did not move is the very same."""
    from kpitui.engine.results import Results

    now = START
    history = [(m, -s, 2) for m in "abcde" for s in range(30, 20 * 86_400, 7919)]
    view = View.of(Readings.empty()).write(as_rows(history, now))
    engine = Engine(config)
    before = engine.evaluate(view, now, window=window)
    moved: list[str] = []
    carry = Results.moved

    def spy(self, kid, *args):
        moved.append(kid)
        return carry(self, kid, *args)

    monkeypatch.setattr(Results, "moved", spy)
    # e written 30 s ahead of the clock, then the clock past it: ``other`` (e yesterday) is carried
    # over with the newest reading of e moved (its freshness)
    for seconds, written in ((5, []), (5, [("c", 1, 3)]), (5, [("e", 30, 1)]), (3600, []), (5, [("e", 2, 1)])):
        view = view.write(as_rows(written, now)) if written else view
        now += dt.timedelta(seconds=seconds)
        moved.clear()
        got = engine.evaluate(view, now, window=window)
        assert got == fresh(config, view, now, window)
        clocked = {"low", "leads"} if window is None else {"low", "leads", "other", "running"}
        fresher = {kid for kid, result in got.kpis.items() if result.freshness != before.kpis[kid].freshness}
        assert set(moved) <= clocked | fresher, moved
        if window is None and "other" not in fresher and all(m != "e" for m, _, _ in written):
            assert got.kpis["other"] is before.kpis["other"]  # yesterday, nothing of it moved
        before = got


@pytest.mark.parametrize("seed", range(12))
def test_the_stale_probe_answers_each_region_as_the_readings_say(seed):
    """``memo._held`` (the regions a moved clock's periods passed over): which metrics have a reading
    in each region, and each metric's first reading at or after the end of a region without one,
    checked against the readings themselves. ``known`` as a move leaves it: first readings at or
    after the regions' starts, for all, some or none of the metrics asked (a region answered whole
    when every one is known and none falls inside it, metric by metric otherwise)."""
    import random

    from kpitui import pipeline as pipeline_module
    from kpitui.engine.memo import _held

    rng = random.Random(seed)
    metrics = list("abcdefgh")
    rows = [(m, rng.randrange(-5000, 0), 1) for m in metrics for _ in range(rng.randrange(0, 6))]
    view = View.of(Readings.empty()).write(as_rows(rows, START))
    base = pipeline_module.micros(START)
    at = {m: sorted(base + s * 1_000_000 for n, s, _ in rows if n == m) for m in metrics}

    def first_from(m, instant):
        return next((t for t in at[m] if t >= instant), pipeline_module.NEVER)

    asked, known = {}, {}
    for _ in range(rng.randrange(1, 8)):
        a = base + rng.randrange(-6000, 100) * 1_000_000
        b = a + rng.choice([1, 5, 60, 900, 4000]) * 1_000_000
        asked[(a, b)] = set(rng.sample(metrics, rng.randrange(0, len(metrics) + 1)))
        mode = rng.choice(["all", "some", "none", "more"])
        pool = metrics if mode == "more" else sorted(asked[(a, b)])
        chosen = [m for m in pool if mode != "none" and (mode != "some" or rng.random() < 0.5)]
        known.setdefault(a, {}).update({m: first_from(m, a) for m in chosen})
    hit, nexts = _held(view, asked, known)
    want_hit, want_nexts = {}, {}
    for (a, b), names in asked.items():
        for m in names:
            if first_from(m, a) < b:
                want_hit.setdefault(m, set()).add((a, b))
            else:
                want_nexts.setdefault(b, {})[m] = first_from(m, b)
    assert hit == want_hit
    assert {b: found for b, found in nexts.items() if found} == want_nexts


#: instants the TUI's clock is set just before, then moved over 5 s at a time: an hour's end, London's
#: midnight, a month's end (March 31 -> April 1), the clocks going forward (March 29, 01:00 UTC) and back
#: (October 25, 01:00 UTC), a year's end
EDGES = [
    dt.datetime(2026, 3, 27, 10, 0, tzinfo=UTC),
    dt.datetime(2026, 3, 27, 0, 0, tzinfo=UTC),
    dt.datetime(2026, 3, 31, 23, 0, tzinfo=UTC),
    dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
    dt.datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
    dt.datetime(2027, 1, 1, 0, 0, tzinfo=UTC),
]


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_small_clock_moves_over_edges_with_random_writes_equal_a_fresh_evaluation(config, seed):
    """The TUI's refresh, fuzzed: the clock set a few seconds before an edge (:data:`EDGES`) and moved
    1-9 s at a time over it, with random readings written around the clock (in its past and future,
    in the metrics read by every kind of KPI), a fold now and then, and now and then a jump to the
    next edge; each evaluation equals a fresh one. What the engine carries between moves (the stale
    probe's groups and regions, results carried per shared plan, the index's remembered searches)
    must follow every one of them."""
    import random

    rng = random.Random(seed)
    engine = Engine(config)
    edges = EDGES[seed:] + EDGES[:seed]
    now = edges[0] - dt.timedelta(seconds=rng.randrange(5, 30))
    history = [(m, -rng.randrange(1, 400 * 86_400), rng.randint(-3, 9)) for m in "abcde" for _ in range(80)]
    history += [(m, rng.randrange(-90, 90), rng.randint(0, 9)) for m in "abcde" for _ in range(6)]
    view = View.of(Readings.empty()).write(as_rows(history, now))
    assert engine.evaluate(view, now) == fresh(config, view, now)
    for round in range(30):
        if rng.random() < 0.6:
            metrics = rng.sample("abcde", rng.randint(1, 2))
            written = [
                (m, rng.randrange(-120, 60), rng.randint(-3, 9)) for m in metrics for _ in range(rng.randint(1, 5))
            ]
            view = view.write(as_rows(written, now))
        if rng.random() < 0.1:
            view = fold(view)
        if round % 10 == 9:  # on to the next edge
            now = edges[(round // 10 + 1) % len(edges)] - dt.timedelta(seconds=rng.randrange(5, 30))
        else:
            now += dt.timedelta(seconds=rng.randint(1, 9))
        assert engine.evaluate(view, now) == fresh(config, view, now), (round, now)


@pytest.mark.parametrize("now", EDGES + [START])
def test_where_a_kpi_reads_back_from_is_the_plans_slots_or_worked_out_alike(config, now):
    """Results._reach takes the start of a period a KPI reads steps back from the plan's slots (cut at
    now, so only a start before now is taken as it is): for every KPI on each row of its plan, at
    an hour's end, midnight, a month's end, both DST changes and a year's end, the same instant as
    worked out from the row itself (fails when a cut start is taken, or the slot's end)."""
    from kpitui.engine.results import Results, reach

    engine = Engine(config)
    for window in (None, "today", "month_to_date"):
        plan = engine.plan(now, window)
        made = {}
        for slots in (plan.slots, None):
            results = Results(engine.compiler, engine.program, engine.cal, plan.rows, {}, now, {}, frozenset(), slots)
            made[slots is None] = {
                (kid, row): results._reach(kid, row)
                for kid, kpi_plan in plan.plans.items()
                for row in kpi_plan.positions
            }
        assert made[False] == made[True]
        for (kid, row), at in made[False].items():
            start = results._at(row)[0]
            assert at == reach(engine.cal, plan.rows[row], start, engine.program.kpis.get(kid))
        assert any(at < results._at(row)[0] for (kid, row), at in made[False].items())  # growths read back
