"""Folding a small delta into a large base by re-indexing only the segments the delta touched.

:func:`kpitui.pipeline.fold` re-indexes every row: the base's rows read back,
filtered, merged with the delta's and summed again (about 0.7 s of CPU for ten
million readings, on the cores the refreshes run on). A delta of a collector's
polls touches a few metrics. Their segments are made again here (their kept
base rows and the delta's, sorted, summed); every other segment's rows are the
base's as they are: their values and running totals do not change and are
not copied (the new columns hold slices of the base's chunks); their keys move
by one constant per run of untouched segments when a touched segment's span
grew, and the key column is copied once, into one chunk. The result is the
same index :func:`kpitui.pipeline.fold` builds, column for column
(benchmarks/NOTES.md, helper ``fold14``: ~0.1 s of the fold thread's CPU for
ten million readings and a delta in ten metrics, of which the key's copy is
half, most of it the faults of its new pages).
"""

from __future__ import annotations

from typing import Callable

import polars as pl

from . import peaks
from .frames import _SEGMENTS_SCHEMA, collect
from .index import Readings, _check_span_total

#: re-index only the touched segments while their rows are at most this share of the base's
TOUCHED_SHARE = 0.25
#: rows of the base's keys moved at a time (then ``release`` is called)
PIECE_ROWS = 2_000_000
#: consecutive chunks of the value and total columns shorter than this are copied into one
SMALL_CHUNK = 1 << 12


def fold_touched(
    base: Readings,
    delta: Readings,
    changes: pl.DataFrame,
    hidden: pl.Series,
    *,
    share: float = TOUCHED_SHARE,
    release: Callable[[], None] | None = None,
    pause: Callable[[], object] | None = None,
) -> Readings | None:
    """``base`` with the delta (its index ``delta``, its rows ``changes``:
    :data:`~kpitui.pipeline.CHANGES_SCHEMA`; ``hidden``: the base rows it rewrites) folded in, or
    ``None`` where :func:`kpitui.pipeline.fold` should do it: an empty base, rows that stand for
    several readings (running counts), or touched segments holding more than ``share`` of the rows.

    The untouched segments' values and running totals are the base's chunks (slices, no copy: they
    are read by gathers and slices only, in chunks as a streamed load leaves them; :func:`_kept`);
    the key is copied once into one chunk (binary searches over a chunked column cost more: a
    refresh's and an evaluation's), its untouched runs moved :data:`PIECE_ROWS` rows at a time
    first when a touched segment's span grew. ``release`` is called once the touched segments' base
    rows are copied out, after each such piece and after the key's copy: a base read from mapped
    files gives their pages back there (:func:`kpitui.mapped_columns.drop_pages`; the new base's
    values and totals still point into the mapping, whose file is only ever unlinked, and read its
    pages again when asked). ``pause`` is called before
    each step that runs polars queries (on its shared thread pool, which a refresh's queries would
    queue behind): a background fold waits there behind the foreground (:mod:`kpitui.foreground`)."""
    wait = pause if pause is not None else _go_on
    if base.height == 0 or base.weighted is not None or base.count is not None or changes.height == 0:
        return None
    if not changes.select((pl.col("n") == 1).all()).item():
        return None
    bounds = delta.bounds  # metric -> (first, last, shift), in the delta's order
    delta_metrics = list(bounds)
    seg = base.segments
    names: list[str] = seg["metric"].to_list()
    offsets: list[int] = seg["offset"].to_list()
    lengths: list[int] = seg["length"].to_list()
    firsts: list[int] = seg["first"].to_list()
    lasts: list[int] = seg["last"].to_list()
    shifts: list[int] = seg["shift"].to_list()
    where = {m: i for i, m in enumerate(names)}
    touched = sorted(where[m] for m in delta_metrics if m in where)
    added = [m for m in delta_metrics if m not in where]  # new segments after the others, in the delta's order
    if sum(lengths[i] for i in touched) + changes.height > share * base.height:
        return None
    # every segment's bounds and shift, packed as the full build packs them (a rewrite is at an
    # instant the segment had: only rows past its bounds widen it)
    for m, (first, last, _) in bounds.items():
        if m in where:
            i = where[m]
            firsts[i], lasts[i] = min(firsts[i], first), max(lasts[i], last)
        else:
            firsts.append(first)
            lasts.append(last)
    new_shifts, span_taken = [], 0
    for first, last in zip(firsts, lasts):
        new_shifts.append(span_taken - first)
        span_taken += last - first + 1
    _check_span_total(span_taken)
    # the touched segments' rows: the base's kept rows (in key order) merged with the delta's, summed again
    after = {m: len(names) + k for k, m in enumerate(added)}
    numbers = [where[m] if m in where else after[m] for m in delta_metrics]
    # the touched segments' base rows, copied out of slices of the base's columns, their keys moved to
    # the new shifts, less the rows the delta rewrites (32-bit segment numbers and positions: polars'
    # row index is 32-bit; the positions only when the delta rewrites base rows)
    wait()
    old = pl.DataFrame(
        {
            "m": _joined([pl.repeat(i, lengths[i], dtype=pl.UInt32, eager=True) for i in touched], pl.UInt32),
            "key": _joined(
                [_moved(base.key.slice(offsets[i], lengths[i]), new_shifts[i] - shifts[i]) for i in touched], pl.Int64
            ),
            "value": _joined([base.value.slice(offsets[i], lengths[i]) for i in touched], pl.Float64),
        }
    )
    if hidden.len():
        spans = pl.DataFrame({"lo": [offsets[i] for i in touched], "hi": [offsets[i] + lengths[i] for i in touched]})
        positions = spans.select(pl.int_ranges("lo", "hi", dtype=pl.UInt32)).explode("lo")["lo"]
        old = old.filter(~positions.is_in(hidden.cast(pl.UInt32).implode()))
    if release is not None:
        release()  # the touched segments' base rows are copied (``old``): no base page is read until the key
    wait()
    segment = pl.lit(pl.Series(numbers, dtype=pl.UInt32)).gather(pl.col("m"))
    new = changes.lazy().select(
        m=segment, key=pl.lit(pl.Series(new_shifts, dtype=pl.Int64)).gather(segment) + pl.col("at"), value="value"
    )
    rows = (
        old.lazy()
        .with_columns(pl.col("key").set_sorted())
        .merge_sorted(new.sort("key").with_columns(pl.col("key").set_sorted()), key="key")
        .with_columns(total=pl.col("value").cum_sum().over(pl.col("m").set_sorted()))
    )
    (done,) = collect(rows)
    wait()
    remade = done["m"].unique_counts().to_list()  # the touched and new segments' lengths, in order
    for i, count in zip(done["m"].unique(maintain_order=True).to_list(), remade):
        if i < len(names):
            lengths[i] = count
        else:
            lengths.append(count)
    maxima = _maxima(base, done["total"], remade, set(touched), len(names))
    new_offsets, rows_taken = [], 0
    for count in lengths:
        new_offsets.append(rows_taken)
        rows_taken += count
    # the columns: untouched runs of base rows as they are (keys moved), touched segments anew, as
    # runs of (from the base, start, rows, key move); the touched and new segments' rows next to each
    # other are one run of ``done`` (its rows are in the same order)
    runs: list[tuple[bool, int, int, int]] = []
    done_at, at_segment = 0, 0
    for i in [*touched, len(names)]:
        lo = offsets[at_segment] if at_segment < len(names) else base.height
        hi = offsets[i] if i < len(names) else base.height
        if hi > lo:
            runs.append((True, lo, hi - lo, new_shifts[at_segment] - shifts[at_segment]))  # one move a run
        count = lengths[i] if i < len(names) else done.height - done_at  # the new metrics' rows come last
        if count and runs and not runs[-1][0]:
            runs[-1] = (False, runs[-1][1], runs[-1][2] + count, 0)
        elif count:
            runs.append((False, done_at, count, 0))
        done_at += count
        at_segment = i + 1
    wait()  # the copies from here on run on the fold's own thread (its priority, not polars' pool)
    key = _key(base.key, done["key"], runs, release=release)
    value = _kept("value", base.value, done["value"], runs)
    total = _kept("total", base.total, done["total"], runs)
    segments = pl.DataFrame(
        {
            "metric": [*names, *added],
            "offset": new_offsets,
            "length": lengths,
            "first": firsts,
            "last": lasts,
            "shift": new_shifts,
        },
        schema=_SEGMENTS_SCHEMA,
    )
    return Readings(segments, key, value, total, block_maxima=maxima)


def _moved(keys: pl.Series, by: int) -> pl.Series:
    """``keys`` moved by ``by`` (the same series when 0)."""
    return keys + by if by else keys


def _go_on() -> None:
    """No pause between a fold's steps."""


def _maxima(base: Readings, total: pl.Series, remade: list[int], touched: set[int], segments: int) -> pl.Series:
    """The fold's block maxima (:mod:`.peaks`): the base's for the segments it keeps as they are (their
    running totals do not change), worked out again from ``total`` (the rows of the touched and new
    segments, of ``remade`` lengths, in order) for the others."""
    kept, firsts = base.maxima.to_list(), base.ranges.firsts
    ends = [*firsts[1:], len(kept)]
    new = iter(peaks.maxima([total], remade).to_list())
    out: list[float] = []
    remade_blocks = iter(-(-length // peaks.BLOCK) for length in remade)
    for i in range(segments):
        if i in touched:
            out.extend(next(new) for _ in range(next(remade_blocks)))
        else:
            out.extend(kept[firsts[i] : ends[i]])
    for blocks in remade_blocks:  # the new segments, after the others
        out.extend(next(new) for _ in range(blocks))
    return pl.Series("maxima", out, pl.Float64)


def _key(
    old: pl.Series, new: pl.Series, runs: list[tuple[bool, int, int, int]], *, release: Callable[[], None] | None
) -> pl.Series:
    """The fold's key column, one sorted chunk (binary searches over a chunked column cost twice as
    much): ``runs`` (from ``old`` or ``new``, start, rows, key move) one after the other, copied
    once; a run of ``old`` whose keys move is moved first, :data:`PIECE_ROWS` rows at a time, and
    ``release()`` called after each such piece and after the copy (the parts' pages are no longer
    read)."""
    parts: list[pl.Series] = []
    for from_old, start, count, by in runs:
        if not from_old:
            parts.append(new.slice(start, count))
        elif not by:
            parts.append(old.slice(start, count))  # read by the copy below
        else:
            for at in range(start, start + count, PIECE_ROWS):
                parts.append(old.slice(at, min(PIECE_ROWS, start + count - at)) + by)
                if release is not None:
                    release()
    key = pl.concat(parts, rechunk=True)
    if release is not None:
        release()
    return key.alias("key").set_sorted()


def _kept(name: str, old: pl.Series, new: pl.Series, runs: list[tuple[bool, int, int, int]]) -> pl.Series:
    """The fold's column ``name`` (values or running totals: read by gathers and slices, in chunks as
    a streamed load leaves them): ``runs`` (from ``old`` or ``new``, start, rows) one after the other,
    the chunks of each run's slice as they are (no copy: the untouched segments' values and running
    totals do not change). Consecutive chunks of fewer than :data:`SMALL_CHUNK` rows are copied into
    one, so that folds that touch other segments each time do not cut the column into ever more
    chunks (every chunk has at least that many rows, or lies between two that have)."""
    chunks: list[pl.Series] = []
    small: list[pl.Series] = []  # consecutive small chunks, not yet copied
    small_rows = 0
    for from_old, start, count, _ in runs:
        for chunk in (old if from_old else new).slice(start, count).get_chunks():
            rows = chunk.len()
            if not rows:
                continue
            if rows >= SMALL_CHUNK:
                if small:
                    chunks.append(_joined(small))
                    small, small_rows = [], 0
                chunks.append(chunk)
                continue
            small.append(chunk)
            small_rows += rows
            if small_rows >= SMALL_CHUNK:
                chunks.append(_joined(small))
                small, small_rows = [], 0
    if small:
        chunks.append(_joined(small))
    return (pl.concat(chunks, rechunk=False) if len(chunks) > 1 else chunks[0]).alias(name)


def _joined(parts: list[pl.Series], dtype: pl.DataType | type[pl.DataType] | None = None) -> pl.Series:
    """``parts`` as one chunk (copied when there are several; no parts: an empty series of ``dtype``)."""
    if not parts:
        return pl.Series([], dtype=dtype)
    return pl.concat(parts, rechunk=True) if len(parts) > 1 else parts[0].rechunk()
