"""merge_snapshot (kpitui.postgres.snapshot): a part, or a chain of delta parts, with newer rows
written over it, merged in one pass when the rows touch many metrics: the same as the slow way."""

from __future__ import annotations

import random

import polars as pl

from kpitui.postgres.snapshot import merge_chain, merge_snapshot
from kpitui.store_common import ID_FRAME_SCHEMA


def rows(keys: list[tuple[int, int]], rng: random.Random) -> pl.DataFrame:
    frame = pl.DataFrame(
        {"metric_id": [k[0] for k in keys], "at": [k[1] for k in keys], "value": [rng.uniform(-5, 5) for _ in keys]}
    )
    return frame.with_columns(pl.lit(1).alias("n")).select(pl.col(c).cast(t) for c, t in ID_FRAME_SCHEMA.items())


def test_many_metrics_merge_as_last_write_wins_sorted():
    rng = random.Random(3)
    universe = [(m, t) for m in range(200) for t in range(-40, 40, 3)]  # times before 1970 too
    old_keys = sorted(rng.sample(universe, 3000))
    new_keys = sorted(set(rng.sample(old_keys, 500) + rng.sample(universe, 1500)))  # rewritten and new keys
    old, new = rows(old_keys, rng), rows(new_keys, rng)
    merged = merge_snapshot(old, new)
    expected = (
        pl.concat([old, new])
        .unique(subset=["metric_id", "at"], keep="last", maintain_order=True)
        .sort("metric_id", "at")
    )
    assert new["metric_id"].n_unique() > 64  # the one-pass merge, not merge_grouped
    assert merged.schema == old.schema
    assert merged.rows() == expected.rows()
    assert merge_snapshot(old.clear(), new).rows() == new.rows()
    assert merge_snapshot(old, new.clear()).rows() == old.rows()


def expected_merge(*frames: pl.DataFrame) -> list[tuple]:
    """The slow way: every frame's rows, a later frame's winning, sorted."""
    merged = pl.concat(frames).unique(subset=["metric_id", "at"], keep="last", maintain_order=True)
    return merged.sort("metric_id", "at").rows()


def test_wide_keys_merge_on_the_128_bit_key_the_same():
    """Ids and a time span too wide for one 64-bit key together (the 128-bit key), and ones that
    just fit (the 64-bit key): the same last-write-wins merge."""
    rng = random.Random(5)
    for top_id, span in ((4_000_000_000, 2**40), (2**20, 2**62), (1_000, 2**50), (2**11, 2**51 - 1)):
        times = [-span // 2 + rng.randrange(span) for _ in range(300)] + [-span // 2, span - 1 - span // 2]
        ids = [rng.randrange(top_id) for _ in range(200)] + [0, top_id - 1]
        universe = sorted({(m, t) for m in ids for t in rng.sample(times, 5)})
        old_keys = sorted(rng.sample(universe, 600))
        new_keys = sorted(set(rng.sample(old_keys, 100) + rng.sample(universe, 300)))
        old, new = rows(old_keys, rng), rows(new_keys, rng)
        assert new["metric_id"].n_unique() > 64
        assert merge_snapshot(old, new).rows() == expected_merge(old, new), (top_id, span)


def test_a_chain_merges_as_one_after_another():
    """merge_chain (pairwise rounds) gives what merging each frame over the last gives: the latest row a key."""
    rng = random.Random(11)
    universe = [(m, t) for m in range(150) for t in range(0, 300, 7)]
    for count in (1, 2, 3, 5, 8, 12):
        frames = [rows(sorted(rng.sample(universe, 700)), rng) for _ in range(count)]
        one_by_one = frames[0]
        for later in frames[1:]:
            one_by_one = merge_snapshot(one_by_one, later)
        assert merge_chain(frames).rows() == one_by_one.rows() == expected_merge(*frames), count
