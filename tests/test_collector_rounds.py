"""The collector's rounds (issue 18 item 4): sources keep to a cadence from one origin, so sources whose
intervals divide each other are polled in the same round, and in a round a source that writes a file
(the demo's site log) is polled before the sources that may read it, so they find its lines in that
round and commit with it: one write-back of the history's pages a round instead of two."""

from __future__ import annotations

import datetime as dt
import math
import time
from pathlib import Path

import pytest

import kpitui
from kpitui.api import FetchResult, MetricSource, readings_frame
from kpitui.collector import Collector
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
