"""The HistoryStore contract (kpitui/history_store.py), run against every implementation.

Add an implementation to ``IMPLEMENTATIONS``: a function of ``tmp_path`` that
returns ``connect(readonly=False)``, which opens one more connection to the
same (empty, private to this test) history. A PostgreSQL store adds a
factory that creates a schema for the test and skips without a server.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from compaction_rollups import one_row as hourly

from kpitui.api import readings_frame
from kpitui.history_store import HistoryStore
from kpitui.store import CursorConflict, Store, StoreError

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 1, 9, tzinfo=UTC)

Connect = Callable[..., HistoryStore]


def sqlite_store(tmp_path: Path) -> Connect:
    path = tmp_path / "contract.sqlite3"
    return lambda readonly=False: Store(path, readonly=readonly)


def postgres_store(tmp_path: Path) -> Connect:
    """A new database on the real PostgreSQL (KPITUI_TEST_PG_URL), dropped by ``connect.cleanup``."""
    import uuid

    from kpitui.postgres_store import PostgresStore
    from tests.store_contract.conftest import admin_execute, admin_url, with_database

    admin = admin_url()
    name = f"kpitui_c_{uuid.uuid4().hex[:12]}"
    admin_execute(admin, f"CREATE DATABASE {name}")
    url = with_database(admin, name)

    def connect(readonly: bool = False) -> HistoryStore:
        return PostgresStore(url, readonly=readonly, path=tmp_path / "side.sqlite3")

    connect.cleanup = lambda: admin_execute(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[attr-defined]
    return connect


IMPLEMENTATIONS: dict[str, Callable[[Path], Connect]] = {"sqlite": sqlite_store, "postgres": postgres_store}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def connect(request, tmp_path) -> Connect:
    opened: list[HistoryStore] = []
    factory = IMPLEMENTATIONS[request.param](tmp_path)

    def open_one(readonly: bool = False) -> HistoryStore:
        store = factory(readonly=readonly)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()
    getattr(factory, "cleanup", lambda: None)()


def rows(*items: tuple[str, int, float]) -> pl.DataFrame:
    return readings_frame([(metric, T0 + dt.timedelta(minutes=minute), value) for metric, minute, value in items])


def stored(store: HistoryStore) -> dict[tuple[str, dt.datetime], float]:
    frame, _ = store.load()
    return {(m, at): v for m, at, v in frame.select("metric", "at", "value").iter_rows()}


def test_it_satisfies_the_protocol(connect):
    assert isinstance(connect(), HistoryStore)


def test_replace_ingest_is_idempotent(connect):
    store = connect()
    assert store.write(rows(("a", 0, 1.0), ("a", 1, 2.0))) == 2
    assert store.write(rows(("a", 0, 1.0), ("a", 1, 2.0))) == 0  # the same values again: nothing changes
    assert store.write(rows(("a", 1, 5.0), ("a", 1, 6.0))) == 1  # the last duplicate wins
    assert stored(store) == {("a", T0): 1.0, ("a", T0 + dt.timedelta(minutes=1)): 6.0}


def test_add_ingest_sums(connect):
    store = connect()
    store.write(rows(("hits", 0, 2.0), ("hits", 0, 3.0)), mode="add")
    store.write(rows(("hits", 0, 4.0)), mode="add")
    assert stored(store) == {("hits", T0): 9.0}


def test_bad_rows_are_dropped_and_counted(connect):
    store = connect()
    frame = pl.DataFrame(
        {"metric": ["a", "a", None], "at": [T0, T0 + dt.timedelta(minutes=1), T0], "value": [1.0, float("nan"), 1.0]}
    )
    assert store.write(frame) == 1 and store.last_dropped == 2


def test_a_cursor_commits_with_its_readings_and_guards_against_a_second_collector(connect):
    first, second = connect(), connect()
    first.write(rows(("hits", 0, 1.0)), mode="add", source="web", cursor="10", set_cursor=True, expect_cursor=None)
    assert second.cursor("web") == "10"
    with pytest.raises(CursorConflict):  # it read the cursor as None before the first collector moved it on
        second.write(rows(("hits", 0, 1.0)), mode="add", source="web", cursor="10", set_cursor=True, expect_cursor=None)
    assert stored(second) == {("hits", T0): 1.0}  # nothing of the refused write was kept
    second.write(rows(("hits", 1, 1.0)), mode="add", source="web", cursor="20", set_cursor=True, expect_cursor="10")
    assert first.cursor("web") == "20"


def test_incremental_loads_see_exactly_what_changed(connect):
    writer, reader = connect(), connect()
    writer.write(rows(("a", 0, 1.0), ("b", 0, 1.0)))
    frame, seq = reader.load()
    assert frame.height == 2 and seq > 0
    empty, same = reader.load(seq)
    assert empty.height == 0 and same == seq
    writer.write(rows(("a", 0, 1.0), ("a", 1, 3.0), ("b", 0, 2.0)))  # one unchanged, one new, one rewritten
    new, later = reader.load(seq)
    assert later > seq
    assert sorted(new.select("metric", "value").iter_rows()) == [("a", 3.0), ("b", 2.0)]
    merged = Store.merge(frame, new)
    assert {(m, v) for m, _, v in merged.select("metric", "at", "value").iter_rows()} == {
        ("a", 1.0),
        ("a", 3.0),
        ("b", 2.0),
    }
    assert set(reader.load(metrics=["b"])[0]["metric"]) == {"b"}
    assert reader.metric_names() == ["a", "b"]


def test_compaction_replaces_old_rows_moves_the_generation_and_closes_the_past(connect):
    store, viewer = connect(), connect()
    store.write(rows(*(("s", minute, 1.0) for minute in range(30))))
    generation = viewer.generation()

    before = T0 + dt.timedelta(hours=1)
    dry = store.compact(before, hourly, dry_run=True)
    assert dry.dry_run and dry.replaced == 30 and viewer.generation() == generation
    done = store.compact(before, hourly)
    assert (done.replaced, done.written) == (30, 1) and viewer.generation() != generation
    frame, _ = viewer.load()
    assert frame.select("value", "n").rows() == [(30.0, 30)]
    store.write(rows(("s", 5, 1.0)))  # a replace-mode re-send of the compacted past changes nothing
    assert store.last_compacted == 1 and viewer.load()[0].select("value", "n").rows() == [(30.0, 30)]
    store.write(rows(("s", 5, 1.0)), mode="add")  # a late event joins its bucket at the next compaction
    store.compact(before, hourly)
    assert viewer.load()[0].select("value", "n").rows() == [(31.0, 31)]


def test_source_health_is_shared(connect):
    collector, viewer = connect(), connect()
    collector.record_health("web", ok=False, error="timed out", at=T0)
    collector.record_health("web", ok=False, error="timed out", at=T0 + dt.timedelta(minutes=1))
    web = viewer.health()["web"]
    assert web.failures == 2 and web.error == "timed out" and web.last_error == T0 + dt.timedelta(minutes=1)
    collector.record_health("web", ok=True, at=T0 + dt.timedelta(minutes=2))
    web = viewer.health()["web"]
    assert web.failures == 0 and web.error is None and web.last_success == T0 + dt.timedelta(minutes=2)


def test_a_viewer_cannot_write_and_a_closed_store_says_so(connect):
    connect().write(rows(("a", 0, 1.0)))
    viewer = connect(readonly=True)
    assert viewer.readonly and stored(viewer) == {("a", T0): 1.0}
    with pytest.raises(StoreError):
        viewer.write(rows(("a", 1, 1.0)))
    with pytest.raises(StoreError):
        viewer.record_health("web", ok=True)
    viewer.close()
    with pytest.raises(StoreError):
        viewer.load()


EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


def _micros(at: dt.datetime) -> int:
    return (at - EPOCH) // dt.timedelta(microseconds=1)


def _random_rows(rng, names: list[str]) -> pl.DataFrame:
    """A write of a few readings: new metrics now and then, instants out of order and at an instant
    already stored (the same value or another), a metric written twice at one instant (the last wins)."""
    if rng.random() < 0.3:
        names.append(f"m{len(names)}")
    items = [
        (rng.choice(names), rng.randrange(0, 240), float(rng.randrange(-50, 50))) for _ in range(rng.randrange(1, 40))
    ]
    return rows(*items)


@pytest.mark.slow
def test_load_rows_is_load_with_each_time_in_microseconds_and_refreshes_a_history_exactly(connect):
    """``load_rows(since)`` (what :meth:`History.refresh` reads) holds the rows of ``load(since)`` with
    ``at`` as µs since the epoch, worked out here from the datetimes, and the same sequence number; a
    history refreshed from it after each of random writes (appends, out-of-order and same-instant
    rewrites, adds, new metrics, polls staged on SQLite's meta page, a deleted metric, a compaction)
    holds every reading a fresh load of the store holds, in order, with the same running totals."""
    import inspect
    import random

    from kpitui.history import History
    from kpitui.pipeline import REQUESTS_SCHEMA, ROWS_SCHEMA, aggregate

    rng = random.Random(12)
    writer, reader = connect(), connect()
    polls = "polled_at" in inspect.signature(writer.write).parameters
    history = History(reader, fold_rows=60, background=False)
    names = ["m0"]
    seqs = [0]
    for step in range(24):
        if step == 11:
            writer.delete_metric(names[0])
        elif step == 17:
            writer.compact(T0 + dt.timedelta(hours=1), hourly)
        elif polls and step % 4 == 3:  # a poll of a few rows: staged (SQLite), read over the table
            poll = rows(*((rng.choice(names), rng.randrange(0, 240), float(rng.randrange(9))) for _ in range(3)))
            writer.write(poll, source="poll", polled_at=T0)  # type: ignore[call-arg]
        else:
            writer.write(_random_rows(rng, names), mode="add" if step % 5 == 4 else "replace")
        for since in seqs[-3:]:
            loaded, seq = reader.load(since)
            got, got_seq = reader.load_rows(since)  # type: ignore[attr-defined]
            assert got_seq == seq and dict(got.schema) == ROWS_SCHEMA
            expected = sorted(
                (m, _micros(at), v, n) for m, at, v, n in loaded.select("metric", "at", "value", "n").iter_rows()
            )
            assert sorted(got.iter_rows()) == expected
        seqs.append(seq)
        history.refresh()
        fresh = History(connect(readonly=True))
        fresh.refresh()
        # each metric's readings in the index's order (by time), the metrics in any order
        by_metric = {"by": "metric", "maintain_order": True}
        assert history.frame.sort(**by_metric).equals(fresh.frame.sort(**by_metric))
        assert sorted(history.frame.select("metric", "at", "value").iter_rows()) == sorted(
            (m, at, v) for (m, at), v in stored(reader).items()
        )
        # the running totals (base and delta): each metric's sum and count over a few spans, read from
        # the index as the engine reads them, against the same sums of the stored readings in Python
        loaded_all = reader.load()[0].select("metric", "at", "value", "n").iter_rows()
        readings = {(m, at): (v, n) for m, at, v, n in loaded_all}  # n: the readings a compacted row stands for
        spans = [(0, 240), (30, 95), (100, 101), (200, 240)]
        requests = [(m, agg, start, end) for m in names for agg in ("sum", "count") for start, end in spans]
        frame = pl.DataFrame(
            [
                (i, m, agg, True, _micros(T0) + a * 60_000_000, _micros(T0) + b * 60_000_000)
                for i, (m, agg, a, b) in enumerate(requests)
            ],
            schema=REQUESTS_SCHEMA,
            orient="row",
        )
        got_answers = aggregate(history.view(), frame, {"sum", "count"}).collect().sort("req")["value"].to_list()
        for (m, agg, a, b), value in zip(requests, got_answers):
            inside = [
                v if agg == "sum" else n
                for (metric, at), (v, n) in readings.items()
                if metric == m and T0 + dt.timedelta(minutes=a) <= at < T0 + dt.timedelta(minutes=b)
            ]
            want = math.fsum(inside)
            assert (value or 0) == pytest.approx(want), (m, agg, a, b)
