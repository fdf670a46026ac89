"""The viewer's history follows a store written by someone else: new rows, rewritten rows, deletions."""

from __future__ import annotations

import datetime as dt

import pytest

from kpitui.api import readings_frame
from kpitui.history import History
from kpitui.store import Store

T = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def rows(frame):
    return sorted(frame.select("metric", "at", "value").iter_rows())


def test_history_follows_writes_rewrites_and_deletions(tmp_path):
    writer = Store(tmp_path / "h.sqlite3")
    reader = Store(tmp_path / "h.sqlite3")
    history = History(reader)
    assert history.refresh() == 0 and history.frame.height == 0

    writer.write(readings_frame([("a", T, 1.0), ("b", T, 2.0)]))
    assert history.refresh() == 2
    writer.write(readings_frame([("a", T, 5.0), ("a", T + dt.timedelta(hours=1), 3.0)]))
    assert history.refresh() == 2
    assert rows(history.frame) == [("a", T, 5.0), ("a", T + dt.timedelta(hours=1), 3.0), ("b", T, 2.0)]

    writer.delete_metric("b")
    history.refresh()
    assert rows(history.frame) == [("a", T, 5.0), ("a", T + dt.timedelta(hours=1), 3.0)]
    assert history.refresh() == 0
    writer.close()
    reader.close()


# -- the incremental index equals one built from scratch ----------------------------------------------

import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import polars as pl  # noqa: E402
from hypothesis import (  # noqa: E402
    HealthCheck,
    given,
    settings,
    strategies as st,  # noqa: E402
)

from kpitui.pipeline import REQUESTS_SCHEMA, View, aggregate  # noqa: E402

AGGS = ("sum", "count", "mean", "last", "first", "min", "max", "p90")
US = 1_000_000


def answers(view, requests):
    frame = pl.DataFrame([(i, *r) for i, r in enumerate(requests)], schema=REQUESTS_SCHEMA, orient="row")
    return aggregate(view, frame, set(AGGS)).collect().sort("req")["value"].to_list()


write = st.tuples(
    st.sampled_from(["replace", "add"]),
    st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 12), st.integers(-3, 3).map(float)), max_size=8),
    st.booleans(),  # delete metric "c" afterwards
    st.booleans(),  # let a running fold finish before the refresh
    st.booleans(),  # refresh without folding, then start the fold due after the checks (as the TUI does)
)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(writes=st.lists(write, min_size=1, max_size=6), fold_rows=st.integers(1, 6), background=st.booleans())
def test_incremental_refreshes_equal_a_fresh_load(writes, fold_rows, background):
    """Writes, rewrites, deletions and folds (in the refresh or in the background, adopted at any
    point): the history answers every request as an index built from a fresh load does, and each
    view's lineage names every metric that changed."""
    from kpitui.config import parse_config
    from kpitui.engine import Engine

    requests = [
        (m, agg, additive, T_US + s * US, T_US + (s + length) * US)
        for m in "abc"
        for agg in AGGS
        for additive in (True, False)
        for s, length in ((0, 13), (2, 5), (5, 0), (11, 3))
    ]
    with tempfile.TemporaryDirectory() as tmp:
        writer = Store(Path(tmp) / "h.sqlite3", snapshot_rows=4)
        reader = Store(Path(tmp) / "h.sqlite3")
        history = History(reader, fold_rows=fold_rows, background=background)
        config = parse_config(CONFIG, Path(tmp) / "kpitui.toml")
        engine = Engine(config)
        now = T + dt.timedelta(seconds=13)
        try:
            for mode, rows_, delete, wait, defer in writes:
                if rows_:
                    writer.write(readings_frame([(m, T + dt.timedelta(seconds=s), v) for m, s, v in rows_]), mode=mode)
                if delete:
                    writer.delete_metric("c")
                if wait:
                    history.wait()
                history.refresh(fold=not defer)
                fresh = View.from_frame(writer.load()[0])
                assert history.height == fresh.height
                assert answers(history.view(), requests) == answers(fresh, requests)
                assert sorted(history.frame.rows()) == sorted(fresh.frame().rows())
                assert engine.evaluate(history, now) == Engine(config).evaluate(history.view(), now)
                if defer:
                    history.fold_due()
                    assert answers(history.view(), requests) == answers(fresh, requests)
                    assert engine.evaluate(history, now) == Engine(config).evaluate(history.view(), now)
        finally:
            history.wait()
            writer.close()
            reader.close()


CONFIG = """
[metrics.a]
[metrics.b]
aggregation = "last"
[metrics.c]
unit = "duration"
aggregation = "mean"
[kpis.total]
formula = "sum"
metrics = ["a", "c"]
window = "today"
[kpis.level]
formula = "sum"
metrics = ["b"]
window = "today"
"""


T_US = (T - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)


def test_folding_keeps_every_reading(tmp_path):
    writer = Store(tmp_path / "h.sqlite3")
    history = History(Store(tmp_path / "h.sqlite3"), fold_rows=3, background=False)
    writer.write(readings_frame([("a", T + dt.timedelta(hours=h), float(h)) for h in range(5)]))
    history.refresh()
    writer.write(readings_frame([("a", T, 10.0), ("b", T, 1.0)]))
    history.refresh()
    assert history.view().changes.height == 2  # below fold_rows: kept as a delta
    writer.write(readings_frame([("a", T + dt.timedelta(hours=9), 9.0)]))
    history.refresh()
    assert history.view().changes.height == 0 and history.view().base.height == 7  # folded
    assert rows(history.frame)[:2] == [("a", T, 10.0), ("a", T + dt.timedelta(hours=1), 1.0)]
    writer.close()
    history.store.close()


def test_a_fold_held_back_by_the_refresh_starts_when_asked(tmp_path):
    writer = Store(tmp_path / "h.sqlite3")
    history = History(Store(tmp_path / "h.sqlite3"), fold_rows=2, background=False)
    writer.write(readings_frame([("a", T + dt.timedelta(hours=h), float(h)) for h in range(5)]))
    history.refresh()
    writer.write(readings_frame([("a", T, 10.0), ("b", T, 1.0), ("b", T + dt.timedelta(hours=1), 2.0)]))
    history.refresh(fold=False)
    held = history.view()
    assert held.changes.height == 3 and not history.folding  # due a fold, none started
    assert history.fold_due()
    view = history.view()
    assert view.changes.height == 0 and view.base.height == 7  # folded at once (no background)
    assert view.after == held.serial and view.written == frozenset()  # the same readings as the held view
    assert rows(history.frame) == rows(held.frame())
    assert not history.fold_due()  # nothing left to fold
    writer.close()
    history.store.close()


def test_a_fold_started_after_the_refresh_runs_in_the_background(tmp_path):
    writer = Store(tmp_path / "h.sqlite3")
    history = History(Store(tmp_path / "h.sqlite3"), fold_rows=2)
    writer.write(readings_frame([("a", T + dt.timedelta(hours=h), float(h)) for h in range(5)]))
    history.refresh()
    writer.write(readings_frame([("a", T, 10.0), ("b", T, 1.0)]))
    history.refresh(fold=False)
    assert not history.folding and history.fold_due() and history.folding
    assert not history.fold_due()  # one fold at a time
    writer.write(readings_frame([("a", T, 20.0)]))
    history.wait()
    history.refresh(fold=False)
    view = history.view()
    assert not history.folding and view.base.height == 6 and view.changes.height == 1
    assert rows(history.frame)[:1] == [("a", T, 20.0)]
    writer.close()
    history.store.close()


def test_a_background_fold_is_adopted_with_what_arrived_meanwhile(tmp_path):
    writer = Store(tmp_path / "h.sqlite3")
    history = History(Store(tmp_path / "h.sqlite3"), fold_rows=2)
    writer.write(readings_frame([("a", T + dt.timedelta(hours=h), float(h)) for h in range(5)]))
    history.refresh()
    writer.write(readings_frame([("a", T, 10.0), ("b", T, 1.0)]))
    history.refresh()
    assert history.folding and history.view().changes.height == 2  # folding in the background
    writer.write(readings_frame([("a", T, 20.0)]))
    history.wait()
    before = history.view()
    history.refresh()
    view = history.view()
    assert not history.folding
    assert view.base.height == 6 and view.changes.height == 1  # the fold's base, with what came since
    assert view.after == before.serial and view.written == {"a"}
    assert rows(history.frame)[:1] == [("a", T, 20.0)] and history.height == 6
    writer.close()
    history.store.close()
