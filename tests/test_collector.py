"""The collector: each source under its own guard; failures become that source's error state."""

from __future__ import annotations

import datetime as dt
import math
import threading
import time

import polars as pl
import pytest

import kpitui
from kpitui.api import FetchResult, MetricSource, SourceError, readings_frame
from kpitui.collector import Collector
from kpitui.config import load_config
from kpitui.history import History
from kpitui.plugins import load_registry
from kpitui.store import Store

NOW = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.timezone.utc)
BEHAVIOUR: dict[str, object] = {}


class Scripted(MetricSource):
    """Does whatever BEHAVIOUR[source id] says: a frame, an exception, a hang, garbage."""

    type_name = "scripted"
    mode = "add"

    def fetch(self, cursor, now):
        action = BEHAVIOUR[self.spec.id]
        if isinstance(action, BaseException):
            raise action
        if action == "hang":
            time.sleep(5)
        if callable(action):
            return action(self, cursor)
        return action


class ExplodingInit(MetricSource):
    type_name = "exploding_init"

    def __init__(self, *args):
        raise RuntimeError("cannot connect")


class Plugin:
    __name__ = "scripted_plugin"

    @kpitui.hookimpl
    def register_metric_sources(self):
        return [Scripted, ExplodingInit]


CONFIG = """
[sources.good]
type = "scripted"
[sources.bad]
type = "scripted"
timeout = 0.3
[sources.broken]
type = "exploding_init"

[metrics.ok]
source = "good"
[metrics.other]
source = "bad"
[metrics.never]
source = "broken"
"""


@pytest.fixture
def setup(write_config, tmp_path):
    registry = load_registry(load_installed=False, extra=[Plugin()])
    config = load_config(write_config(CONFIG), registry=registry)
    store = Store(tmp_path / "h.sqlite3")
    collector = Collector(config, store, clock=lambda: NOW)
    yield config, store, collector
    collector.close()
    store.close()


def frame(metric, value, at=NOW - dt.timedelta(hours=1)):
    return FetchResult(readings_frame([(metric, at, value)]), cursor="c1")


def test_one_failing_source_does_not_stop_the_others(setup):
    config, store, collector = setup
    BEHAVIOUR.update(good=frame("ok", 5), bad=SourceError("API said 503"))
    results = {r.source: r for r in collector.run_once()}
    assert results["good"].error is None and results["good"].written == 1
    assert results["bad"].error == "fetch failed (plugin scripted_plugin): API said 503"
    assert "cannot connect" in results["broken"].error and "scripted_plugin" in results["broken"].error
    health = store.health()
    assert health["bad"].failures == 1 and health["bad"].error == "fetch failed (plugin scripted_plugin): API said 503"
    assert health["good"].ok and health["good"].last_success == NOW
    history = History(store)
    history.refresh()
    assert history.frame["value"].to_list() == [5.0]


@pytest.mark.slow
def test_a_hanging_fetch_times_out_is_left_behind_and_the_source_is_skipped_after_two(setup):
    config, store, collector = setup
    BEHAVIOUR.update(bad="hang")  # a sleep that ignores the cancel event
    started = time.monotonic()
    result = collector.poll("bad")
    assert time.monotonic() - started < 2.5  # the timeout, then a moment to honour the cancellation
    assert result.error == "timed out after 0.3s; it ignored the cancellation and still runs"
    first = collector.states["bad"].instance
    again = collector.poll("bad")  # the old instance is still busy: a new one is polled
    assert collector.states["bad"].instance is not first and again.error.startswith("timed out after 0.3s")
    third = collector.poll("bad")
    assert third.error == "skipped (plugin scripted_plugin): 2 earlier fetches ignored the 0.3s timeout and still run"
    assert store.health()["bad"].failures == 3


def test_a_fetch_that_honours_cancellation_ends_and_the_next_poll_runs(setup):
    config, store, collector = setup

    def wait_for_cancel(source, cursor):
        source.cancelled.wait(30)
        raise SourceError(f"stopped: cancelled={source.cancelled.is_set()}")

    BEHAVIOUR.update(bad=wait_for_cancel)
    started = time.monotonic()
    result = collector.poll("bad")
    assert time.monotonic() - started < 1.0 and result.error.endswith("stopped: cancelled=True")
    assert not collector.states["bad"].left_behind
    BEHAVIOUR.update(bad=frame("other", 5))
    assert collector.poll("bad").written == 1


def test_failures_back_off_exponentially(setup):
    config, store, collector = setup
    BEHAVIOUR.update(bad=RuntimeError("x"))
    delays = []
    for _ in range(4):
        before = time.monotonic()
        collector.poll("bad")
        delays.append(collector.states["bad"].next_due - before)
    interval = config.sources["bad"].interval
    assert [round(d / interval) for d in delays] == [1, 2, 4, 8]
    BEHAVIOUR.update(bad=frame("other", 1))
    assert collector.poll("bad").error is None
    assert store.health()["bad"].failures == 0 and store.health()["bad"].ok


@pytest.mark.parametrize(
    "garbage, problem",
    [
        ("not a result", "must return a FetchResult"),
        (FetchResult(readings=[1, 2, 3]), "must be a polars DataFrame"),
        (FetchResult(pl.DataFrame({"metric": ["other"], "value": [1.0]})), "lack column(s) at"),
        (FetchResult(pl.DataFrame({"metric": ["other"], "at": ["yesterday"], "value": [1.0]})), "wrong types"),
        (FetchResult(readings_frame([]), cursor=42), "cursor must be a string"),
        (FetchResult(readings_frame([]), cursor="log:\udcff"), "cursor must be text UTF-8 can hold"),
    ],
)
def test_garbage_results_are_reported(setup, garbage, problem):
    _, store, collector = setup
    BEHAVIOUR.update(bad=garbage)
    result = collector.poll("bad")
    assert result.error and problem in result.error
    assert store.health()["bad"].error == result.error


def test_bad_values_are_skipped_and_good_ones_kept(setup):
    _, store, collector = setup
    rows = [
        ("other", NOW - dt.timedelta(hours=1), 1.0),
        ("other", NOW - dt.timedelta(hours=2), math.nan),
        ("other", NOW - dt.timedelta(hours=3), math.inf),
        ("other", NOW + dt.timedelta(days=400), 1.0),  # far future
        ("other", dt.datetime(1901, 1, 1, tzinfo=dt.timezone.utc), 1.0),  # before 1970
        ("ok", NOW - dt.timedelta(hours=1), 1.0),  # another source's metric
    ]
    BEHAVIOUR.update(bad=FetchResult(readings_frame(rows), cursor="c"))
    result = collector.poll("bad")
    assert result.error is None and result.written == 1 and result.skipped == 5
    strings = pl.DataFrame(
        {"metric": ["other", "other"], "at": [NOW, NOW - dt.timedelta(hours=5)], "value": ["12", "lots"]}
    )
    BEHAVIOUR.update(bad=FetchResult(strings, cursor="d"))
    result = collector.poll("bad")
    assert result.written == 1 and result.skipped == 1


def test_cursor_is_handed_back_and_add_mode_accumulates(setup):
    _, store, collector = setup
    seen = []

    def tail(source, cursor):
        seen.append(cursor)
        n = int(cursor or 0)
        return FetchResult(readings_frame([("other", NOW - dt.timedelta(hours=1), 2.0)]), cursor=str(n + 1))

    BEHAVIOUR.update(bad=tail)
    for _ in range(3):
        assert collector.poll("bad").error is None
    assert seen == [None, "1", "2"]
    history = History(store)
    history.refresh()
    assert history.frame["value"].to_list() == [6.0]


def test_two_collectors_of_one_source_never_double_count(setup, write_config, tmp_path):
    config, store, collector = setup
    second_store = Store(tmp_path / "h.sqlite3")
    second = Collector(config, second_store, clock=lambda: NOW)
    gate = threading.Barrier(2)

    def slow_tail(source, cursor):
        gate.wait(timeout=5)  # both read the same cursor before either writes
        return FetchResult(
            readings_frame([("other", NOW - dt.timedelta(hours=1), 1.0)]), cursor=str(int(cursor or 0) + 1)
        )

    BEHAVIOUR.update(bad=slow_tail)
    results = []
    threads = [threading.Thread(target=lambda c=c: results.append(c.poll("bad"))) for c in (collector, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.error is None for r in results)
    history = History(store)
    history.refresh()
    assert history.frame["value"].to_list() == [1.0]
    second.close()
    second_store.close()
