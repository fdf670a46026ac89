"""Folding a small delta into a large base by re-indexing only the segments the delta touched.

:func:`kpitui.pipeline.fold` re-indexes every row: the base's rows read back,
filtered, merged with the delta's and summed again (about 0.7 s of CPU for ten
million readings, on the cores the refreshes run on). A delta of a collector's
polls touches a few metrics. Their segments are made again here (their kept
base rows and the delta's, sorted, summed); every other segment's rows are the
base's as they are (a slice: values and running totals do not change; keys
move by one constant per run of untouched segments when a touched segment's
span grew), and the columns are put together in one copy each. The result is
the same index :func:`kpitui.pipeline.fold` builds, column for column.
"""

from __future__ import annotations

from typing import Callable

import polars as pl

from . import peaks
from .frames import _SEGMENTS_SCHEMA, collect
from .index import Readings, _check_span_total

#: re-index only the touched segments while their rows are at most this share of the base's
TOUCHED_SHARE = 0.25
#: rows of the base's columns copied at a time (one chunk of the new value and total columns)
PIECE_ROWS = 2_000_000


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

    The new columns are copied from the base's about :data:`PIECE_ROWS` rows at a time, one chunk
    each (the key is then made one chunk: binary searches over a chunked column cost twice as much;
    values and running totals stay in those chunks, as a streamed load leaves them: gathers only),
    and ``release`` is called after each piece: a base read from mapped files gives their pages back
    there (:func:`kpitui.mapped_columns.drop_pages`), so that only a piece's source pages are
    resident beside the copies, never the whole mapped base as well. ``pause`` is called before
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
    # 32-bit segment numbers and positions (polars' row index is 32-bit): the touched rows' temporaries
    # are the fold's largest after its three new columns
    spans = pl.DataFrame(
        {"m": touched, "lo": [offsets[i] for i in touched], "hi": [offsets[i] + lengths[i] for i in touched]},
        schema={"m": pl.UInt32, "lo": pl.UInt32, "hi": pl.UInt32},
    )
    wait()
    kept = spans.select("m", pos=pl.int_ranges("lo", "hi", dtype=pl.UInt32)).explode("pos")
    if hidden.len():
        kept = kept.filter(~pl.col("pos").is_in(hidden.cast(pl.UInt32).implode()))
    wait()
    moved = pl.Series([new - old for new, old in zip(new_shifts, shifts)], dtype=pl.Int64)
    old = pl.DataFrame(
        {
            "m": kept["m"],
            "key": base.key.gather(kept["pos"]) + moved.gather(kept["m"]),
            "value": base.value.gather(kept["pos"]),
        }
    )
    if release is not None:
        release()  # the touched segments' base rows are copied (``old``): no base page is read until the pieces
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
    # pieces of (source, start, rows, key move) copied PIECE_ROWS rows at a time
    pieces: list[tuple[bool, int, int, int]] = []  # (from the base, start, rows, key move)
    done_at, at_segment = 0, 0
    for i in [*touched, len(names)]:
        lo = offsets[at_segment] if at_segment < len(names) else base.height
        hi = offsets[i] if i < len(names) else base.height
        if hi > lo:
            by = new_shifts[at_segment] - shifts[at_segment]  # the same for every segment of the run
            pieces.extend((True, at, min(PIECE_ROWS, hi - at), by) for at in range(lo, hi, PIECE_ROWS))
        count = lengths[i] if i < len(names) else done.height - done_at  # the new metrics' rows come last
        pieces.append((False, done_at, count, 0))
        done_at += count
        at_segment = i + 1
    wait()  # the copies from here on run on the fold's own thread (its priority, not polars' pool)
    key = _column("key", base.key, done["key"], pieces, moved=True, release=release).rechunk().set_sorted()
    value = _column("value", base.value, done["value"], pieces, release=release)
    total = _column("total", base.total, done["total"], pieces, release=release)
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


def _column(
    name: str,
    old: pl.Series,
    new: pl.Series,
    pieces: list[tuple[bool, int, int, int]],
    *,
    moved: bool = False,
    release: Callable[[], None] | None = None,
) -> pl.Series:
    """The column ``name`` of a fold: ``pieces`` (from ``old`` or ``new``, start, rows, key move:
    added when ``moved``) one after the other, in chunks of about :data:`PIECE_ROWS` rows, each
    copied from its parts and then ``release()`` called (the parts' pages are no longer read)."""
    chunks: list[pl.Series] = []
    parts: list[pl.Series] = []
    rows = 0
    for i, (from_old, start, count, by) in enumerate(pieces):
        if count:
            if from_old:
                part = old.slice(start, count)
                parts.append(part + by if moved and by else part)
            else:
                parts.append(new.slice(start, count))
            rows += count
        if parts and (rows >= PIECE_ROWS or i == len(pieces) - 1):
            chunks.append(pl.concat(parts, rechunk=True))
            parts, rows = [], 0
            if release is not None:
                release()
    return pl.concat(chunks, rechunk=False).alias(name)  # the delta has rows: never empty
