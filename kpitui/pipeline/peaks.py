"""The largest running total inside a period: block maxima of |running total| and their range maximum.

A period's sum is the difference of the running totals at its ends, and each step of a running total
inside the period rounds at the total's magnitude there (:mod:`~.exact`). The ends alone do not bound
that: a huge reading and its negative (a typo and its correction) both inside the period leave both
ends small while the steps between them round at the huge magnitude. So each index keeps, per block
of :data:`BLOCK` rows of a metric's segment (a segment's blocks start at its first row; its last one
is shorter), the largest |running total| (``total`` and ``weighted``) in the block: about 2,500
floats per ten million rows. A period's largest |running total| is bounded by the maximum over the
blocks its rows touch (a sparse table of the block maxima: two look-ups a period, the same in the
query and in Python). A block that holds rows outside the period only makes the bound larger (the
period is summed again from its rows, exactly): never smaller.

The maxima of an index built from rows are worked out once when first read (:func:`maxima`); the
index cache stores them (a base read from the cache's mapped files has them without touching its
pages), a refold carries those of the segments it did not touch, and a delta (a few rows per metric)
keeps one block per segment (:data:`WHOLE`), worked out by the query that sums it.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

#: rows per block of a base index (= _MINI ** 2: a block is at most _MINI runs of _MINI rows)
BLOCK = 4096
#: the block of an index that keeps one per segment (a delta's)
WHOLE = 2**62
_MINI = 64
#: rows of a column read at a time while its maxima are worked out (a multiple of _MINI)
_PIECE = 1 << 20


def count(lengths: list[int], block: int) -> int:
    """How many blocks segments of these ``lengths`` have."""
    return sum(-(-length // block) for length in lengths)


def maxima(columns: list[pl.Series], lengths: list[int], block: int = BLOCK) -> pl.Series:
    """The largest |value| of ``columns`` (running totals, all the same length; segments of these
    ``lengths`` one after the other) in each block of ``block`` rows of each segment, in order.
    NaN is left out (a NaN running total makes every later one and each period over it NaN: nothing
    there is rounded off); a block of NaN only has 0.

    For :data:`BLOCK`: the maxima of every run of 64 rows of the whole column (reshaped, a piece at
    a time), then each block's from its first and last 64 rows and the runs that lie inside it (a
    block of one segment shares runs with the next): a dozen polars calls for any number of rows.
    For :data:`WHOLE`: each segment's maximum, grouped."""
    if block == WHOLE:
        return _whole(columns, lengths)
    if block != BLOCK:
        raise ValueError(f"blocks of {block} rows: only {BLOCK} or one per segment")
    starts: list[int] = []
    ends: list[int] = []
    at = 0
    for length in lengths:
        for row in range(at, at + length, BLOCK):
            starts.append(row)
            ends.append(min(row + BLOCK, at + length))
        at += length
    if not starts:
        return pl.Series("maxima", [], pl.Float64)
    s, e, k = pl.col("s"), pl.col("e"), pl.int_range(pl.len(), dtype=pl.Int64) % _MINI
    lo, hi = (s + _MINI - 1) // _MINI, e // _MINI  # the runs that lie wholly inside a block: lo .. hi - 1
    at_rows = (
        pl.DataFrame({"s": starts, "e": ends}, schema={"s": pl.Int64, "e": pl.Int64})
        .select(s.repeat_by(_MINI).explode(), e.repeat_by(_MINI).explode())  # _MINI rows a block
        .select(
            first=pl.min_horizontal(s + k, e - 1),  # the block's first 64 rows (its last one repeated)
            last=pl.max_horizontal(e - 1 - k, s),  # its last 64 rows
            inside=pl.min_horizontal(lo + k, hi - 1).clip(0),
            some=hi > lo,
        )
    )
    first, last, inside, some = at_rows.get_columns()
    parts: list[pl.Series] = []
    for column in columns:  # gathered as Series: a literal of a column in chunks would be copied whole
        runs = _runs(column).gather(inside)
        parts += [column.gather(first).abs(), column.gather(last).abs(), runs.zip_with(some, runs.clear(runs.len()))]
    rows = pl.select(pl.max_horizontal(parts).alias("maxima")).to_series()
    return rows.reshape((-1, _MINI)).arr.max().fill_nan(0.0).alias("maxima")


def _runs(column: pl.Series) -> pl.Series:
    """The largest |value| of each run of :data:`_MINI` rows of ``column`` (NaN left out)."""
    highs, lows = [], []
    for at in range(0, column.len(), _PIECE):
        piece = column.slice(at, _PIECE)
        pad = -piece.len() % _MINI
        if pad:
            piece = piece.extend_constant(0.0, pad)
        runs = piece.reshape((-1, _MINI))  # no copy (no |value| column: max(largest, -smallest))
        highs.append(runs.arr.max())
        lows.append(runs.arr.min())
    return pl.select(pl.max_horizontal(pl.lit(pl.concat(highs)), -pl.lit(pl.concat(lows)))).to_series()


def _whole(columns: list[pl.Series], lengths: list[int]) -> pl.Series:
    if not lengths:
        return pl.Series("maxima", [], pl.Float64)
    segment = pl.Series(range(len(lengths)), dtype=pl.UInt32).repeat_by(pl.Series(lengths, dtype=pl.UInt32)).explode()
    largest = pl.max_horizontal([pl.lit(c).abs() for c in columns])
    frame = pl.select(segment=pl.lit(segment), v=largest)
    return frame.group_by("segment", maintain_order=True).agg(pl.col("v").max())["v"].fill_nan(0.0).alias("maxima")


@dataclass(frozen=True)
class Ranges:
    """The block maxima of an index, for the largest |running total| over a period's rows.

    ``firsts``: each segment's first block (in the segments' order); ``table``: a sparse table of
    the maxima, level ``j`` (the maximum of 2**j blocks from each) at ``j * blocks``; ``level[w]``
    and ``back[w]``: where the two look-ups of a range of ``w`` blocks are, from its first block
    and from its last."""

    block: int
    blocks: int
    firsts: list[int]
    table: list[float]
    level: list[int]
    back: list[int]

    @classmethod
    def build(cls, maxima: list[float], lengths: list[int], block: int) -> Ranges:
        firsts, taken = [], 0
        for length in lengths:
            firsts.append(taken)
            taken += -(-length // block)
        if taken != len(maxima):
            raise ValueError(f"{len(maxima)} block maxima for {taken} blocks")
        blocks = len(maxima)
        table = list(maxima)
        previous, width = maxima, 1
        while 2 * width <= blocks:
            current = [a if a >= b else b for a, b in zip(previous, previous[width:])]
            current += previous[len(current) :]  # past the last whole range: never read
            table += current
            previous, width = current, 2 * width
        level, back = [0], [0]
        for w in range(1, blocks + 1):
            j = w.bit_length() - 1
            level.append(j * blocks)
            back.append(j * blocks + 1 - (1 << j))
        return cls(block, blocks, firsts, table, level, back)

    def peak(self, first: int, offset: int, lo: int, hi: int) -> float:
        """The largest |running total| of rows ``lo`` .. ``hi - 1`` of the segment at ``offset``
        whose first block is ``first`` (at least: the maximum of the blocks they touch); 0 for none."""
        if hi <= lo:
            return 0.0
        a = first + (lo - offset) // self.block
        b = first + (hi - 1 - offset) // self.block
        w = b - a + 1
        x, y = self.table[self.level[w] + a], self.table[self.back[w] + b]
        return x if x >= y else y

    def peak_expr(self, first: pl.Expr, offset: pl.Expr, lo: pl.Expr, hi: pl.Expr) -> pl.Expr:
        """:meth:`peak` in a query (the same look-ups and comparison: the same number)."""
        last = len(self.table) - 1
        a = first + (lo - offset) // self.block
        b = first + (hi - 1 - offset) // self.block
        w = (b - a + 1).clip(0, self.blocks)
        table = pl.lit(pl.Series(self.table, dtype=pl.Float64))
        x = table.gather((pl.lit(pl.Series(self.level, dtype=pl.Int64)).gather(w) + a).clip(0, last))
        y = table.gather((pl.lit(pl.Series(self.back, dtype=pl.Int64)).gather(w) + b).clip(0, last))
        return pl.when(hi <= lo).then(0.0).when(x >= y).then(x).otherwise(y)
