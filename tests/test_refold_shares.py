"""A fold of the touched segments keeps the untouched rows' values and running totals where they are.

:func:`kpitui.pipeline.refold.fold_touched` re-indexes the segments a delta touched and takes every other
segment's values and running totals as slices of the base's columns (no copy; consecutive short chunks
copied into one, so that the columns do not end up in ever more chunks); the key is copied once into
one sorted chunk, the untouched keys moved piece by piece when a touched segment's span grew. These
tests check that against the index a full fold builds (column for column), and which rows were copied
by the addresses of their values (the columns' Arrow buffers, read through polars' C stream export).
"""

from __future__ import annotations

import ctypes
import math
import random
from unittest.mock import patch

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kpitui import mapped_columns
from kpitui.pipeline import Readings, View, fold, refold
from kpitui.pipeline.refold import fold_touched

WIDTH = 8  # bytes a value


def buffers(series: pl.Series) -> list[tuple[int, int]]:
    """(address of the first value, rows) of each chunk of ``series``."""
    capsule = series.__arrow_c_stream__()
    stream = mapped_columns._Stream.from_address(mapped_columns._capsule_pointer(capsule, b"arrow_array_stream"))
    out: list[tuple[int, int]] = []
    try:
        while True:
            array = mapped_columns._Array()
            assert stream.get_next(ctypes.byref(stream), ctypes.byref(array)) == 0
            if not array.release:
                return out
            try:
                if array.length:
                    out.append((array.buffers[1] + array.offset * WIDTH, array.length))
            finally:
                array.release(ctypes.byref(array))
    finally:
        stream.release(ctypes.byref(stream))


def addresses(series: pl.Series) -> list[int]:
    """The address of each row's value."""
    return [start + WIDTH * i for start, rows in buffers(series) for i in range(rows)]


def in_chunks(base: Readings, rows: int) -> Readings:
    """``base`` with its values and running totals cut into chunks of ``rows`` (as a streamed load leaves them)."""

    def cut(series: pl.Series) -> pl.Series:
        return pl.concat([series.slice(at, rows) for at in range(0, series.len(), rows)], rechunk=False)

    return Readings(base.segments, base.key, cut(base.value), cut(base.total))


def frame(rows: dict[tuple[str, int], float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"metric": [m for m, _ in rows], "at": [at for _, at in rows], "value": list(rows.values()), "n": 1},
        schema={"metric": pl.String, "at": pl.Int64, "value": pl.Float64, "n": pl.Int64},
    )


def folded_touched(view: View, *, piece: int, small: int) -> tuple[Readings, int]:
    """``fold_touched`` of ``view`` copying keys ``piece`` rows at a time and joining chunks shorter than
    ``small``; with how many times it called ``release``."""
    calls: list[int] = []
    merged_after: list[int] = []  # releases before the touched segments' rows are merged and summed again
    real_collect = refold.collect

    def collect(*frames):
        merged_after.append(len(calls))
        return real_collect(*frames)

    with (
        patch.object(refold, "PIECE_ROWS", piece),
        patch.object(refold, "SMALL_CHUNK", small),
        patch.object(refold, "collect", collect),
    ):
        got = fold_touched(
            view.base, view.delta, view.changes, view.hidden, share=math.inf, release=lambda: calls.append(1)
        )
    assert got is not None
    # the base's pages go once its touched rows are copied out, before their merge: not all of a mapped
    # base resident under the merge's memory (benchmarks/NOTES.md, "Memory: a full load's blobs and the
    # fold's mapped base")
    assert merged_after == [1]
    return got, len(calls)


def check_against_a_full_fold(view: View, got: Readings, releases: int, *, piece: int, small: int) -> None:
    """``got`` (the touched fold of ``view``) is the full fold's index column for column; ``release`` was
    called before the merge, after each piece of moved keys and after the key's copy; every untouched row
    whose piece of a base chunk (the chunk cut at touched segments) holds ``small`` rows or more is not
    copied; no two consecutive chunks are both shorter than ``small``."""
    want = fold(view, share=0.0).base
    assert got.segments.equals(want.segments)
    for name in ("key", "value", "total"):
        assert getattr(got, name).equals(getattr(want, name)), name
    assert got.maxima.equals(want.maxima)
    assert got.key.n_chunks() == 1 and got.key.flags["SORTED_ASC"]
    base = view.base
    written = set(view.delta.segments["metric"].to_list())
    before = base.places  # metric -> (offset, first, last, shift)
    after = got.places
    lengths = dict(zip(base.segments["metric"].to_list(), base.segments["length"].to_list()))
    # the runs of untouched segments (base order) and the base row ranges they cover
    runs: list[tuple[int, int, int]] = []  # (first row, end row, key move)
    for metric in base.segments["metric"].to_list():
        offset, _, _, shift = before[metric]
        if metric in written:
            runs.append((offset + lengths[metric], offset + lengths[metric], 0))  # a touched segment ends a run
            continue
        move = after[metric][3] - shift
        if runs and runs[-1][1] == offset and runs[-1][0] < runs[-1][1]:
            runs[-1] = (runs[-1][0], offset + lengths[metric], move)
        else:
            runs.append((offset, offset + lengths[metric], move))
    moved_pieces = sum(-(-(hi - lo) // piece) for lo, hi, move in runs if move and hi > lo)
    assert releases == 1 + moved_pieces + 1
    # the rows a base chunk shares with a run: kept in place when there are at least ``small`` of them
    chunk_ends: list[int] = []
    for _, rows in buffers(base.value):
        chunk_ends.append((chunk_ends[-1] if chunk_ends else 0) + rows)
    for name in ("value", "total"):
        old, new = addresses(getattr(base, name)), addresses(getattr(got, name))
        for metric, (offset, *_) in before.items():
            if metric in written:
                continue
            lo, hi = next((lo, hi) for lo, hi, _ in runs if lo <= offset < hi)
            for row in range(offset, offset + lengths[metric]):
                end = next(e for e in chunk_ends if e > row)
                start = max([0, *(e for e in chunk_ends if e <= row)])
                shared = min(end, hi) - max(start, lo)
                if shared >= small:
                    assert new[after[metric][0] + row - offset] == old[row], (name, metric, row)
        sizes = [rows for _, rows in buffers(getattr(got, name))]
        assert not any(a < small and b < small for a, b in zip(sizes, sizes[1:])), sizes


def base_view(metrics: int, rows: int, chunk: int) -> tuple[View, dict[tuple[str, int], float]]:
    readings = {(f"m{k:02d}", 10 * i): float((k * 7 + i) % 11 - 5) / 4 for k in range(metrics) for i in range(rows)}
    return View.of(in_chunks(Readings.build(frame(readings)), chunk)), readings


CASES = {
    # a rewrite inside one segment in the middle: no key moves
    "middle, rewritten": [("m03", 50, 9.0)],
    # the first segment grows past its last: every later key moves
    "first, grown": [("m00", 10_000, 1.0), ("m00", 20, 2.0)],
    # the last segment and a new metric (after every other segment)
    "last and a new metric": [("m07", 995, 3.0), ("zz", 5, 4.0)],
    # two segments apart, one grown before its first
    "two apart": [("m01", -500, 5.0), ("m05", 30, 6.0), ("m05", 31, 7.0)],
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("piece", [7, 2_000_000])
def test_a_touched_fold_copies_only_the_touched_segments_values_and_totals(case, piece):
    view, readings = base_view(metrics=8, rows=100, chunk=60)
    new = {(m, at): v for m, at, v in CASES[case]}
    view = view.write(frame(new))
    got, releases = folded_touched(view, piece=piece, small=16)
    check_against_a_full_fold(view, got, releases, piece=piece, small=16)
    assert got.value.n_chunks() > 1  # slices of the base's chunks, not one copy
    rows = {**readings, **new}
    assert sorted(View.of(got).frame().select("metric", pl.col("at").dt.epoch("us"), "value").rows()) == sorted(
        (m, at, v) for (m, at), v in rows.items()
    )


reading = st.tuples(st.sampled_from(("a", "b", "c", "d", "e")), st.integers(0, 15), st.integers(-8, 8))


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    initial=st.lists(reading, min_size=1, max_size=40),
    new=st.lists(reading, min_size=1, max_size=12),
    piece=st.integers(1, 7),
    small=st.integers(1, 9),
    chunk=st.integers(1, 12),
    extent=st.sampled_from((0, 10**9)),
)
def test_any_touched_fold_shares_what_it_can(initial, new, piece, small, chunk, extent):
    """Rewrites, rows before, inside and after segments, new metrics, base chunks of any size: the full
    fold's index, and the untouched rows left where they were."""
    rows = {(m, at + extent * (m == "a")): v / 4 for m, at, v in initial}
    view = View.of(in_chunks(Readings.build(frame(rows)), chunk))
    view = view.write(frame({(m, at + extent * (m == "c")): v / 4 for m, at, v in new}))
    got, releases = folded_touched(view, piece=piece, small=small)
    check_against_a_full_fold(view, got, releases, piece=piece, small=small)


@pytest.mark.slow
def test_folds_over_other_segments_each_time_keep_the_columns_in_few_chunks():
    """Forty folds, each touching two other segments (rows after their last, a rewrite, now and then a new
    metric): every fold equals the full fold, its chunks never two short ones in a row, and a fresh index
    of the same readings holds the same rows."""
    rng = random.Random(14)
    view, readings = base_view(metrics=30, rows=200, chunk=500)
    small = 100
    for k in range(40):
        metrics = rng.sample(sorted({m for m, _ in readings}), 2)
        new = {(m, 10_000 + 10 * k): float(k) for m in metrics}
        new[(metrics[0], 10 * rng.randrange(200))] = -float(k)
        if k % 9 == 0:
            new[(f"n{k:02d}", 0)] = 1.0
        view = view.write(frame(new))
        got, releases = folded_touched(view, piece=2_000_000, small=small)
        check_against_a_full_fold(view, got, releases, piece=2_000_000, small=small)
        readings.update(new)
        assert got.value.n_chunks() <= 2 * got.height // small + 2
        view = View.of(got)
    fresh = Readings.build(frame(readings))
    assert View.of(got).frame().sort("metric", "at").equals(View.of(fresh).frame().sort("metric", "at"))
