"""merge_snapshot (kpitui.postgres.snapshot): a part, or a chain of delta parts, with newer rows
written over it, merged in one pass when the rows touch many metrics: the same as the slow way."""

from __future__ import annotations

import random

import polars as pl

from kpitui.postgres.snapshot import merge_snapshot
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
