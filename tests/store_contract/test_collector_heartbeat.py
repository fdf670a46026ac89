"""A poll that finds nothing new is not a commit every time (issue 18 item 4): each commit costs a disk
whole WAL and -shm pages, and most polls of a log find nothing. Its success time is committed as a
heartbeat at most every HEARTBEAT_EVERY seconds; readings, a new cursor and any change in health
(a failure, a recovery) commit at once. On SQLite and on PostgreSQL (the collector's path is shared)."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

import kpitui
from kpitui.api import FetchResult, MetricSource, SourceError, readings_frame
from kpitui.collector import HEARTBEAT_EVERY, Collector
from kpitui.config import load_config
from kpitui.plugins import load_registry

START = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.timezone.utc)
NEXT: dict[str, object] = {}


class Tail(MetricSource):
    """Returns NEXT["poll"]: a FetchResult, or an exception to raise."""

    type_name = "tail"
    mode = "add"

    def fetch(self, cursor, now):
        action = NEXT["poll"]
        if isinstance(action, BaseException):
            raise action
        return action


class Plugin:
    __name__ = "tail_plugin"

    @kpitui.hookimpl
    def register_metric_sources(self):
        return [Tail]


def nothing(cursor: str = "c1") -> FetchResult:
    return FetchResult(readings_frame([]), cursor=cursor)


@pytest.fixture
def polls(open_store, write_config):
    """``poll(at)``: one poll of source ``web`` at ``at``; then the store, the collector and the clock."""
    registry = load_registry(load_installed=False, extra=[Plugin()])
    config = load_config(
        write_config('[sources.web]\ntype = "tail"\ninterval = 10\n\n[metrics.hits]\nsource = "web"\n'),
        registry=registry,
    )
    store = open_store()
    clock = {"now": START}
    collector = Collector(config, store, clock=lambda: clock["now"])

    def poll(at: dt.datetime):
        clock["now"] = at
        return collector.poll("web")

    yield poll, store, collector
    collector.close()


def committed(store, at: dt.datetime) -> bool:
    """Whether the poll at ``at`` committed the source's success (its stored last success is that instant)."""
    return store.health()["web"].last_success == at


def test_polls_that_find_nothing_new_commit_a_heartbeat_not_every_poll(polls, open_store):
    poll, store, collector = polls
    NEXT["poll"] = FetchResult(readings_frame([("hits", START, 3.0)]), cursor="c1")
    assert poll(START).written == 1 and committed(store, START)
    version = None
    if open_store.backend == "sqlite":  # every commit by another connection moves data_version
        watcher = sqlite3.connect(store.path)
        version = lambda: watcher.execute("PRAGMA data_version").fetchone()[0]  # noqa: E731
    NEXT["poll"] = nothing()
    commits = file_commits = 0
    times = [START + dt.timedelta(seconds=10 * k) for k in range(1, 61)]  # ten minutes at the sample's 10 s
    for at in times:
        before = version() if version else None
        result = poll(at)
        assert result.error is None and result.written == 0
        commits += committed(store, at)
        if version:
            file_commits += version() != before
        health = store.health()["web"]
        # never shown as failing, and its stored success at most a heartbeat behind the poll
        assert health.ok and at - health.last_success < dt.timedelta(seconds=HEARTBEAT_EVERY)
    # 60 polls over 600 s: one heartbeat per HEARTBEAT_EVERY (10 with 60 s), not 60
    assert commits <= 600 / HEARTBEAT_EVERY + 1, commits
    if version:
        assert file_commits == commits, (file_commits, commits)
    # the collector itself knows the last poll (a TUI running it shows that)
    assert collector.last_successes() == {"web": times[-1]}


def test_the_heartbeat_is_the_poll_nearest_its_age_even_a_moment_early(polls):
    """Polls every 10 s start a little early or late (their round's other polls took more or less time):
    the heartbeat is the poll nearest HEARTBEAT_EVERY, in its round, not the one after it."""
    poll, store, _ = polls
    NEXT["poll"] = FetchResult(readings_frame([("hits", START, 3.0)]), cursor="c1")
    assert poll(START).written == 1 and committed(store, START)
    NEXT["poll"] = nothing()
    early = dt.timedelta(seconds=0.3)
    beats = [START + dt.timedelta(seconds=10 * k) - early for k in range(1, 13)]
    stored = [at for at in beats if (poll(at), committed(store, at))[1]]
    every = int(HEARTBEAT_EVERY // 10)
    assert stored == [beats[every - 1], beats[2 * every - 1]]  # 59.7 s and 119.7 s, not 69.7 and 129.7


def test_readings_or_a_new_cursor_commit_at_once(polls):
    poll, store, _ = polls
    NEXT["poll"] = nothing("c1")
    poll(START)
    at = START + dt.timedelta(seconds=10)
    NEXT["poll"] = nothing("c2")  # the log was rotated or read past lines that count nothing: the cursor moves
    poll(at)
    assert committed(store, at) and store.cursor("web") == "c2"
    at += dt.timedelta(seconds=10)
    NEXT["poll"] = FetchResult(readings_frame([("hits", START, 2.0)]), cursor="c2")  # readings, same cursor
    assert poll(at).written == 1 and committed(store, at)


def test_a_failure_after_success_is_recorded_at_once_and_so_is_the_recovery(polls):
    poll, store, _ = polls
    NEXT["poll"] = nothing()
    poll(START)
    poll(START + dt.timedelta(seconds=10))  # nothing new: not committed
    failed_at = START + dt.timedelta(seconds=20)
    NEXT["poll"] = SourceError("log unreadable")
    assert poll(failed_at).error
    health = store.health()["web"]
    assert health.failures == 1 and "log unreadable" in health.error and health.last_error == failed_at
    NEXT["poll"] = SourceError("permission denied")  # a new message: also at once
    again = failed_at + dt.timedelta(seconds=10)
    poll(again)
    health = store.health()["web"]
    assert health.failures == 2 and "permission denied" in health.error
    recovered = again + dt.timedelta(seconds=20)  # within a heartbeat of the last committed success
    NEXT["poll"] = nothing()
    assert poll(recovered).error is None
    health = store.health()["web"]
    assert health.ok and health.failures == 0 and health.last_success == recovered


def test_a_viewer_running_the_collector_shows_its_own_last_poll_not_the_heartbeat(write_config):
    from kpitui.ui.runtime import Runtime

    registry = load_registry(load_installed=False, extra=[Plugin()])
    config = load_config(
        write_config('[sources.web]\ntype = "tail"\ninterval = 10\n\n[metrics.hits]\nsource = "web"\n'),
        registry=registry,
    )
    clock = {"now": START}
    runtime = Runtime.open(config, collect=True, clock=lambda: clock["now"])
    try:
        NEXT["poll"] = nothing()
        runtime.poll("web")
        clock["now"] = START + dt.timedelta(seconds=30)
        runtime.poll("web")
        assert runtime.reader.health()["web"].last_success == START  # the second poll was not committed
        snapshot = runtime.evaluate(window=None, offset=0, force=True)
        assert snapshot.metrics["hits"].health.last_success == START + dt.timedelta(seconds=30)
    finally:
        runtime.close()
