"""The columnar snapshot in several parts, kept up to date by writers while late and rewritten
readings land in old parts' ranges: every full load (as a frame and as the parts a viewer indexes
one at a time) equals what the table holds, on both backends. On PostgreSQL the writers add delta
parts and bring the parts up to date a few at a time (kpitui.postgres.snapshot): checked to happen."""

from __future__ import annotations

import random

import polars as pl
import pytest

from kpitui import store_common
from kpitui.history import History
from kpitui.postgres import snapshot as pg_snapshot
from tests.store_contract.test_contract import at, frame, values

PART_ROWS = 50


def streamed(store) -> dict:
    """What the viewer's streamed first load indexes (``load_id_parts``), as {(metric, at): value}."""
    found = store.load_id_parts()
    if found is None:
        return {}
    parts, names, _ = found
    loaded = store_common.named_frame(pl.concat(list(parts)), names)
    return {(m, a): v for m, a, v in loaded.select("metric", "at", "value").iter_rows()}


def delta_state(open_store) -> tuple[int, int]:
    """(delta parts in use, parts behind the snapshot's sequence number) on PostgreSQL."""
    import psycopg

    store = open_store()
    with psycopg.connect(store.url) as con:
        top = con.execute("SELECT value FROM kpitui.meta WHERE key = 'snapshot_seq'").fetchone()[0]
        parts = con.execute("SELECT value FROM kpitui.meta WHERE key = 'snapshot_parts'").fetchone()[0]
        low = con.execute(
            "SELECT min(through) FROM kpitui.snapshot_parts WHERE part >= 0 AND part < %s", (parts,)
        ).fetchone()[0]
        deltas = con.execute(
            "SELECT count(*) FROM kpitui.snapshot_parts WHERE part < 0 AND through > %s AND through <= %s", (low, top)
        ).fetchone()[0]
        behind = con.execute(
            "SELECT count(*) FROM kpitui.snapshot_parts WHERE part >= 0 AND part < %s AND through < %s", (parts, top)
        ).fetchone()[0]
    return deltas, behind


def tracked_writes(writer, expected: dict):
    """``write(rows, mode, store=writer)`` that also keeps ``expected`` ((metric, at) -> value) as the store
    should hold it."""

    def write(rows: list[tuple[str, int, float]], mode: str = "replace", store=writer) -> None:
        store.write(frame(*rows), mode=mode)
        for m, t, v in rows:
            key = (m, at(t))
            expected[key] = expected.get(key, 0.0) + v if mode == "add" else v

    return write


@pytest.mark.slow
def test_late_and_rewritten_rows_in_old_parts_load_exactly(open_store, monkeypatch):
    monkeypatch.setattr(store_common, "SNAPSHOT_PART_ROWS", PART_ROWS)
    monkeypatch.setattr(pg_snapshot, "SNAPSHOT_PART_ROWS", PART_ROWS)
    writer = open_store(snapshot_rows=40)
    rng = random.Random(5)
    expected: dict = {}

    write = tracked_writes(writer, expected)

    # 6 metrics x 100 minutes: 12 parts of 50 rows, (m0, 0-49) the first
    write([(f"m{k}", t, float(k * 1000 + t)) for k in range(6) for t in range(100)])
    writer.snapshot()
    viewer = open_store(readonly=True)
    seen_deltas = seen_behind = 0
    for round_ in range(12):
        late = [
            (f"m{rng.randrange(6)}", -1 - rng.randrange(500), rng.uniform(-9, 9)) for _ in range(15)
        ]  # before every part's rows
        rewrites = [
            (f"m{rng.randrange(6)}", rng.randrange(100), rng.uniform(-9, 9)) for _ in range(15)
        ]  # keys stored in old parts
        between = [
            ("m0", 100 + round_, 0.5),
            ("m2", 1000 + round_, 0.25),
        ]  # after a metric's last part, before the next metric's
        write(late + rewrites + between)
        write([("m0", 7, 0.1 + 0.2 * round_), ("m5", 99, float(round_))])  # the same keys rewritten every round
        write([("m3", 42, 1.0), ("m3", 42, 2.0)], mode="add")
        if open_store.backend == "postgres":
            write([("m1", 3, 10.0)], mode="add", store=open_store(instance="web2"))  # another instance's count
            deltas, behind = delta_state(open_store)
            seen_deltas, seen_behind = max(seen_deltas, deltas), max(seen_behind, behind)
        assert values(viewer) == expected, f"round {round_}"
        assert streamed(viewer) in ({}, expected), f"round {round_}"
        history = History(viewer, background=False)
        history.refresh()
        got = history.frame.select("metric", "at", "value").rows()
        assert {(m, a): v for m, a, v in got} == expected, f"round {round_}"
    if open_store.backend == "postgres":
        assert streamed(viewer) == expected
        assert seen_deltas >= 1 and seen_behind >= 1, (
            seen_deltas,
            seen_behind,
        )  # parts were brought up a few at a time


def test_one_writer_keeps_the_snapshot_from_what_it_wrote_and_splits_grown_parts(open_store, monkeypatch):
    """A lone collector's delta parts come from the rows it wrote (no read back) when that is exact:
    rewritten keys, unchanged values, added-to counts and another instance's write in between all
    load as the table holds them; a part first written small is split as it grows."""
    if open_store.backend != "postgres":
        return  # SQLite rewrites its snapshot whole
    monkeypatch.setattr(store_common, "SNAPSHOT_PART_ROWS", PART_ROWS)
    monkeypatch.setattr(pg_snapshot, "SNAPSHOT_PART_ROWS", PART_ROWS)
    writer = open_store(snapshot_rows=40)
    fetched: list[int] = []
    fetch = type(writer)._fetch_since

    def counted(self, con, since, upto=None):
        found = fetch(self, con, since, upto)
        if self is writer and upto is not None:  # the writer's delta part, not a load's rows since
            fetched.append(found.height)
        return found

    monkeypatch.setattr(type(writer), "_fetch_since", counted)
    rng = random.Random(11)
    expected: dict = {}

    write = tracked_writes(writer, expected)

    write([(f"m{k}", t, float(t)) for k in range(2) for t in range(20)])
    writer.snapshot()  # one part of 40 rows, to grow far past 2 x PART_ROWS
    viewer = open_store(readonly=True)
    for round_ in range(10):
        keys = rng.sample([(f"m{k}", t) for k in range(4) for t in range(-200, 200)], 60)
        write([(m, t, rng.choice([float(t), rng.uniform(-9, 9)])) for m, t in keys])  # new, rewritten, unchanged
        write([("m9", 1000 + round_, 1.0)], mode="add")  # a new key added to: known
        assert values(viewer) == expected, f"round {round_}"
        assert streamed(viewer) in ({}, expected), f"round {round_}"
    assert fetched == [], "the one writer read back what it wrote"
    write([("m9", 1000, 2.0)], mode="add")  # a stored count added to: read back at the next refresh
    write([("m1", 5, 7.0)], mode="add", store=open_store(instance="web2"))  # another instance
    write([(m, t, -1.0) for m, t in rng.sample([(f"m{k}", t) for k in range(4) for t in range(-200, 200)], 60)])
    write([(m, t, -2.0) for m, t in rng.sample([(f"m{k}", t) for k in range(4) for t in range(-200, 200)], 60)])
    assert fetched, "a write that is not known exactly is read back"
    assert values(viewer) == expected
    assert streamed(viewer) == expected
    history = History(viewer, background=False)
    history.refresh()
    assert {(m, a): v for m, a, v in history.frame.select("metric", "at", "value").rows()} == expected
    import psycopg

    with psycopg.connect(writer.url) as con:
        parts = con.execute("SELECT value FROM kpitui.meta WHERE key = 'snapshot_parts'").fetchone()[0]
        biggest = con.execute("SELECT max(rows) FROM kpitui.snapshot_parts WHERE part >= 0").fetchone()[0]
    assert parts > 3 and biggest <= 2 * PART_ROWS + 60, (parts, biggest)
    # a busy spell that left the snapshot behind (a store whose writes never refresh it), then the
    # collector's idle catch-up: the snapshot alone holds every reading
    busy = open_store(snapshot_rows=100_000)
    for _ in range(3):
        keys = rng.sample([(f"m{k}", t) for k in range(4) for t in range(-300, 300)], 40)
        write([(m, t, rng.uniform(-9, 9)) for m, t in keys], store=busy)
    assert writer.catch_up()
    assert delta_state(open_store)[1] == 0
    with psycopg.connect(writer.url) as con:
        seq, snapshot_seq = (
            con.execute("SELECT value FROM kpitui.meta WHERE key = %s", (key,)).fetchone()[0]
            for key in ("seq", "snapshot_seq")
        )
    assert seq == snapshot_seq
    assert values(viewer) == expected
    assert streamed(viewer) == expected
    assert not writer.catch_up()  # nothing outstanding
