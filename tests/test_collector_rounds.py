"""The collector's rounds (issue 18 item 4): sources keep to a cadence from one origin, so sources whose
intervals divide each other are polled in the same round, and in a round a source that writes a file
(the demo's site log) is polled before the sources that may read it, so they find its lines in that
round and commit with it: one write-back of the history's pages a round instead of two."""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from pathlib import Path

import pytest

import kpitui
from kpitui.api import FetchResult, MetricSource, readings_frame
from kpitui.collector import ROUND_STORE_AFTER, Collector
from kpitui.config import load_config
from kpitui.plugins import load_registry
from kpitui.store import Store

NOW = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.timezone.utc)
SITE_LOG = "site.log"


class Writer(MetricSource):
    """Appends a line to the site log on each poll (as the demo appends its made-up site's log)."""

    type_name = "site_writer"
    mode = "replace"

    @classmethod
    def writes(cls, options, context):
        return [context.path(SITE_LOG)]

    def fetch(self, cursor, now):
        time.sleep(0.05)  # a fetch that takes a moment: a reader polled beside it would overtake it
        with self.context.path(SITE_LOG).open("a") as log:
            log.write("GET /\n")
        return FetchResult(readings_frame([("written", NOW, 1.0)]))


class Reader(MetricSource):
    """Reports how many lines the site log has (as the sample's ``web`` counts the demo's log)."""

    type_name = "site_reader"
    mode = "replace"

    def fetch(self, cursor, now):
        path = self.context.path(SITE_LOG)
        lines = len(path.read_text().splitlines()) if path.exists() else 0
        return FetchResult(readings_frame([("lines", NOW, float(lines))]))


class Plugin:
    __name__ = "site_plugin"

    @kpitui.hookimpl
    def register_metric_sources(self):
        return [Writer, Reader]


CONFIG = """
[sources.web]
type = "site_reader"
interval = 10
[sources.demo]
type = "site_writer"
interval = 30

[metrics.lines]
source = "web"
[metrics.written]
source = "demo"
"""


@pytest.fixture
def collector(write_config, tmp_path):
    registry = load_registry(load_installed=False, extra=[Plugin()])
    config = load_config(write_config(CONFIG), registry=registry)
    store = Store(tmp_path / "h.sqlite3")
    collector = Collector(config, store, clock=lambda: NOW)
    yield collector
    collector.close()
    store.close()


def test_a_source_writing_a_file_is_polled_before_the_others_in_its_round(collector):
    store = collector.store
    for round_ in range(1, 6):
        results = collector.poll_many(["web", "demo"])
        assert [r.source for r in results] == ["web", "demo"]  # the results keep the order asked for
        assert all(r.error is None for r in results)
        lines = store.load(metrics=["lines"])[0]["value"].to_list()
        assert lines == [float(round_)]  # the reader saw this round's line, every round


def test_sources_keep_a_cadence_from_one_origin_so_their_rounds_coincide(collector):
    for _ in range(3):
        before = time.monotonic()
        collector.poll_many(["web", "demo"])
        after = time.monotonic()
        for sid, interval in (("web", 10.0), ("demo", 30.0)):
            due = collector.states[sid].next_due
            slots = (due - collector.origin) / interval
            assert math.isclose(slots, round(slots), abs_tol=1e-6)  # on the grid origin + k * interval
            assert before < due and due - interval <= after  # the next slot, not one later
        # every slot of the 30 s source is a slot of the 10 s one: they are polled in one round
        assert math.isclose((collector.states["demo"].next_due - collector.origin) % 10.0, 0.0, abs_tol=1e-6)


def test_a_poll_that_overran_its_slots_skips_them(collector):
    collector.origin = time.monotonic() - 95.0  # as if the collector ran for 95 s and this poll came late
    before = time.monotonic()
    collector.poll_many(["demo"])
    due = collector.states["demo"].next_due
    slots = round((due - collector.origin) / 30.0)
    assert slots >= 4 and due > before  # slots 1-3 are past: polled once now, not three times at once
    assert Path(collector.context.path(SITE_LOG)).read_text().count("\n") == 1


class Jittery(MetricSource):
    """A fetch whose time varies from poll to poll (as a real source's does: a log's new lines, a slow API):
    every other fetch takes 50 ms longer."""

    type_name = "jittery"
    mode = "replace"
    polls = 0

    def fetch(self, cursor, now):
        Jittery.polls += 1
        time.sleep(0.05 * (Jittery.polls % 2))
        return FetchResult(readings_frame([("jitter", NOW, float(Jittery.polls))]))


class JitteryPlugin:
    __name__ = "jittery_plugin"

    @kpitui.hookimpl
    def register_metric_sources(self):
        return [Jittery]


def _recording_commits(store, commits):
    write = store.write

    def recorded(*args, **kwargs):
        commits.append(time.monotonic())
        return write(*args, **kwargs)

    store.write = recorded


def test_a_round_on_its_cadence_commits_at_its_slot_however_long_its_fetch_took(write_config, tmp_path):
    """Rounds commit on their cadence (the slot + ROUND_STORE_AFTER, at most a tenth of the interval; odd
    slots half as long after), not when their fetches end: what decides whether a round's pages are
    still dirty from the round before (one write-back for both) is the time between their commits, and
    fetch times jitter."""
    registry = load_registry(load_installed=False, extra=[JitteryPlugin()])
    config = load_config(
        write_config('[sources.j]\ntype = "jittery"\ninterval = 1.5\n[metrics.jitter]\nsource = "j"\n'),
        registry=registry,
    )
    store = Store(tmp_path / "h.sqlite3")
    collector = Collector(config, store, clock=lambda: NOW)
    commits: list[float] = []
    _recording_commits(store, commits)
    stop = threading.Event()
    runner = threading.Thread(target=collector.run_forever, args=(stop,))
    runner.start()
    try:
        time.sleep(6.6)
    finally:
        stop.set()
        runner.join(10)
        collector.close()
        store.close()
    after = min(ROUND_STORE_AFTER, 1.5 / 10)
    on_cadence = commits[1:]  # the first poll is due at once (no slot before it): it commits when fetched
    assert len(on_cadence) >= 3
    for t in on_cadence:
        slot = math.floor((t - collector.origin) / 1.5)  # the slot it was due at, on the 1.5 s grid
        beat = collector.origin + slot * 1.5 + after / (2 if slot % 2 else 1)  # odd slots: half as long after
        # its fetch took 0 or 50 ms: committing as it ends is before the beat (by 25-150 ms); the wait
        # never ends early, and a late wake-up (or a fetch slowed by load) is still within its slot
        assert beat <= t < beat + 0.75, (t - collector.origin, slot)


def test_odd_slots_commit_half_as_long_after_theirs(collector):
    """Consecutive rounds commit their interval apart minus and plus half of ROUND_STORE_AFTER in turn: the
    shorter gap lands before the kernel's write-back of the round before it (30 s after it dirtied its pages)."""
    collector.origin = 1000.0
    beats = []
    for k in range(1, 5):
        for sid, interval in (("web", 10.0), ("demo", 30.0)):
            collector.states[sid].next_due = collector.origin + k * 30.0  # both due: the demo's slot k
        beats.append(collector._round_store_at(["web", "demo"]) - (collector.origin + k * 30.0))
    after = min(ROUND_STORE_AFTER, 10.0 / 10)  # a tenth of the round's shortest interval at most
    assert beats == [after / 2, after, after / 2, after]  # odd slots of the round's longest interval: half
    gaps = [30.0 + b - a for a, b in zip(beats, beats[1:])]
    assert gaps == [30.0 + after / 2, 30.0 - after / 2, 30.0 + after / 2]


def test_a_stop_during_the_wait_stores_what_was_fetched_at_once(collector):
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    results = collector.poll_many(["web", "demo"], store_at=started + 30, stop=stop)
    assert time.monotonic() - started < 5
    assert all(r.error is None and r.written == 1 for r in results)
    assert collector.store.load(metrics=["written"])[0]["value"].to_list() == [1.0]


def test_a_backlog_or_a_retry_commits_at_once(collector):
    assert collector._round_store_at(["web", "demo"]) is not None
    collector.states["web"].pending = True  # a backlog read on: its next chunk's commit waits for nothing
    assert collector._round_store_at(["web", "demo"]) is None
    collector.states["web"].pending = False
    collector.states["demo"].failures = 1  # retried after a failure: off the cadence
    assert collector._round_store_at(["demo"]) is None
