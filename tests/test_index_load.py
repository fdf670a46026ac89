"""A store's full load is indexed batch by batch (kpitui.pipeline.load): the same index, bit for bit, in less memory."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kpitui.pipeline import load as index_load
from kpitui.pipeline.index import Readings, _index

NAMES = {i: f"metric {i}" for i in range(6)}


def loaded(rows: list[tuple[int, int, float, int]], chunk: int) -> pl.DataFrame:
    """(metric_id, at, value, n) rows as a store's load hands them over: many chunks."""
    frame = pl.DataFrame(
        rows, schema={"metric_id": pl.UInt32, "at": pl.Int64, "value": pl.Float64, "n": pl.UInt32}, orient="row"
    )
    return pl.concat([frame.slice(o, chunk) for o in range(0, max(frame.height, 1), chunk)], rechunk=False)


def general(frame: pl.DataFrame) -> Readings:
    """The index built the general way (a sort when needed; over() running totals of the whole frame)."""
    ids = frame["metric_id"]
    present = ids.unique(maintain_order=True)
    m = ids.replace_strict(present, pl.int_range(present.len(), eager=True), return_dtype=pl.UInt32)
    rows = frame.select(m=m, at="at", value="value", n=pl.col("n").cast(pl.Int64))
    labels = pl.Series("metric", [NAMES[i] for i in present.to_list()], pl.String)
    if rows.select((pl.col("n") == 1).all()).item():
        return _index([rows.drop("n")], labels)
    return _index(
        [rows.select("m", "at", "value", c_total="value", c_weighted=pl.col("value") * pl.col("n"), c_count="n")],
        labels,
    )


def assert_identical(a: Readings, b: Readings) -> None:
    assert a.segments.equals(b.segments)
    for name in ("key", "value", "total", "weighted", "count"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert x.equals(y, check_names=False), name  # exact: the same additions in the same order
    assert a.key.n_chunks() == 1  # searched: one chunk


grouped_rows = st.lists(
    st.tuples(
        st.integers(0, 5),
        st.lists(
            st.tuples(st.integers(0, 10_000), st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([1, 1, 1, 4])),
            max_size=30,
        ),
    ),
    max_size=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(groups=grouped_rows, chunk=st.integers(1, 9), batch=st.integers(1, 40))
def test_batches_build_the_index_a_whole_frame_builds(groups, chunk, batch):
    """Metrics grouped and sorted by time, cut into chunks and batches anywhere (a metric's rows
    spanning batches), down-sampled rows or not: the same segments, keys and running totals."""
    seen, rows = set(), []
    for metric, readings in groups:
        if metric in seen:
            continue
        seen.add(metric)
        rows += [(metric, at, value, n) for at, value, n in sorted(readings)]
    frame = loaded(rows, chunk)
    old, index_load.BATCH_ROWS = index_load.BATCH_ROWS, batch
    try:
        built, _ = index_load.build_ids(lambda: (frame.clone(), NAMES, 7))
    finally:
        index_load.BATCH_ROWS = old
    if not rows:
        assert built.height == 0
        return
    assert_identical(built, general(frame))


@pytest.mark.parametrize(
    "rows",
    [
        [(1, 10, 1.0, 1), (2, 5, 2.0, 1), (1, 20, 3.0, 1)],  # metric 1 twice: not grouped
        [(1, 10, 1.0, 1), (1, 30, 2.0, 1), (1, 20, 3.0, 1), (2, 1, 4.0, 1)],  # out of time order
    ],
)
def test_a_load_out_of_order_is_sorted_by_the_general_build(rows):
    frame = loaded(rows, 2)
    assert index_load.build(index_load.batches(frame), NAMES) is None  # nothing consumed: the general build sorts
    built, seq = index_load.build_ids(lambda: (frame.clone(), NAMES, 3))
    assert seq == 3 and built.key.is_sorted()
    assert_identical(built, general(frame))


def test_building_from_a_load_holds_little_besides_it():
    """Peak memory over the loaded frame while indexing 2M readings in 20 chunks: the old build (the
    whole frame keyed, then running totals over it) needed 17.7 bytes a reading, batches 11.5.
    Measured in a child process with the allocator handing freed memory back at once, so that
    resident memory is live memory."""
    script = textwrap.dedent(
        """
        import os, polars as pl
        from kpitui.pipeline import load as index_load
        from kpitui.pipeline import Readings
        def rss(field):
            for line in open("/proc/self/status"):
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
        rows, metrics = 2_000_000, 200
        per = rows // metrics
        parts = []
        for p in range(20):
            ids = pl.int_range(p * 10, (p + 1) * 10, eager=True, dtype=pl.UInt32).repeat_by(per).explode()
            at = pl.int_range(0, ids.len(), eager=True, dtype=pl.Int64) % per * 1_000_000
            parts.append(pl.DataFrame({"metric_id": ids, "at": at, "value": (at % 7).cast(pl.Float64),
                                       "n": pl.repeat(1, ids.len(), dtype=pl.UInt32, eager=True)}))
        frame = pl.concat(parts, rechunk=False)
        del parts, ids, at
        index_load.BATCH_ROWS = 100_000
        names = {i: str(i) for i in range(metrics)}
        holder = [frame]
        del frame
        with open(f"/proc/{os.getpid()}/clear_refs", "w") as f:
            f.write("5")  # reset the peak
        before = rss("VmRSS:")
        index, _ = index_load.build_ids(lambda: (holder.pop(), names, 1))
        assert index.height == rows
        print((rss("VmHWM:") - before) / rows)
        """
    )
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux /proc")
    env = {**os.environ, "_RJEM_MALLOC_CONF": "dirty_decay_ms:0,muzzy_decay_ms:0"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    per_row = float(out.stdout.strip())
    assert per_row <= 14.0, f"{per_row:.1f} bytes a reading over the loaded frame"


# -- the store's snapshot parts, indexed one at a time as they are decoded ------------------------------


@pytest.mark.parametrize("downsampled", [False, True])
def test_snapshot_parts_streamed_into_the_index_equal_the_whole_load(tmp_path, monkeypatch, downsampled):
    """Small snapshot parts (metrics cut across them), a tail written since (rewrites in any part,
    rows past a part's end, new metrics) and, with ``downsampled``, rows standing for several
    readings only in a late part: the history's index is bit for bit the one built from the whole
    load, and holds exactly the table's readings."""
    import datetime as dt
    import random

    from kpitui import store_common
    from kpitui.history import History
    from kpitui.pipeline.load import build_streamed
    from kpitui.store import Store

    monkeypatch.setattr(store_common, "SNAPSHOT_PART_ROWS", 97)
    monkeypatch.setattr(index_load, "BATCH_ROWS", 40)
    rng = random.Random(11)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    path = tmp_path / "h.sqlite3"
    store = Store(path, snapshot_rows=50)
    names = [f"m{i:02d}" for i in range(9)]
    frame = lambda rows: pl.DataFrame(  # noqa: E731
        rows, schema={"metric": pl.String, "at": pl.Datetime("us", "UTC"), "value": pl.Float64}, orient="row"
    )
    base = [
        (rng.choice(names[:6]), t0 + dt.timedelta(minutes=rng.randrange(5_000)), float(rng.randrange(-50, 100)))
        for _ in range(700)
    ]
    store.write(frame(base))
    if downsampled:
        con = store._conn
        con.execute(
            "UPDATE readings SET n = 3 WHERE metric_id = (SELECT max(id) FROM metrics WHERE name IN ('m04', 'm05'))"
        )
        con.commit()
    History(store).refresh()  # writes the snapshot (in parts of 97 rows)
    assert store._conn.execute("SELECT count(*) FROM snapshot_parts").fetchone()[0] > 5
    tail = [(m, at, v + 0.5) for m, at, v in rng.sample(base, 30)]
    tail += [
        (
            rng.choice(names),
            t0 + dt.timedelta(minutes=rng.randrange(4_000, 6_000), seconds=3),
            float(rng.randrange(100)),
        )
        for _ in range(40)
    ]
    store.write(frame(tail))

    reader = Store(path, readonly=True)
    parts, id_names, seq = reader.load_id_parts()
    released: list[int] = []  # release(): after the last part, after the key's copy (polars' freed pages purged)
    streamed = build_streamed(parts, id_names, release=lambda: released.append(1))
    assert len(released) == 2
    whole, whole_seq = index_load.build_ids(reader.load_ids)
    assert seq == whole_seq
    assert_identical(streamed, whole)
    assert (streamed.count is not None) == downsampled

    history = History(Store(path, readonly=True))
    history.refresh()
    seen = history.frame.select("metric", pl.col("at").dt.epoch("us"), "value").sort("metric", "at")
    table = store._conn.execute(
        "SELECT m.name, r.at, r.value FROM readings r JOIN metrics m ON m.id = r.metric_id"
    ).fetchall()
    assert seen.rows() == sorted(table)


def test_parts_out_of_order_say_so():
    parts = [loaded([(1, 10, 1.0, 1), (2, 5, 2.0, 1)], 5), loaded([(1, 20, 3.0, 1)], 5)]  # metric 1 twice
    with pytest.raises(index_load.NotInOrder):
        index_load.build_streamed(iter(parts), NAMES)
    with pytest.raises(index_load.NotInOrder):
        index_load.build_streamed(
            iter([loaded([(1, 10, 1.0, 1)], 5), loaded([(1, 5, 3.0, 1)], 5)]), NAMES
        )  # time goes back
