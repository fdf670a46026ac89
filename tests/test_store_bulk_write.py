"""A big write's rows reach SQLite in statements of many rows plus a tail of single rows, chunk by chunk
(kpitui/sqlite_store/writes.py): every row arrives whole, with its own sequence number, whatever the count."""

from __future__ import annotations

import datetime as dt
import sqlite3

import polars as pl
import pytest

from kpitui.sqlite_store import writes
from kpitui.store import Store

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def readings(rows: int, *, seed: int) -> pl.DataFrame:
    """``rows`` distinct (metric, at) readings of 7 metrics, in no order, values with many digits."""
    i = pl.int_range(0, rows, eager=True)
    return pl.DataFrame(
        {
            "metric": (i % 7).map_elements(lambda k: f"m{k}", return_dtype=pl.String),
            "at": pl.Series([T0 + dt.timedelta(microseconds=int(k)) for k in i.hash(seed) % 10**12]),
            "value": (i.hash(seed + 1) % 10**9).cast(pl.Float64) / 7.0,
        }
    ).unique(subset=["metric", "at"], keep="first")


@pytest.mark.parametrize("rows", [1, 199, 200, 201, 999, 1_234])
def test_every_row_of_a_write_is_stored_exactly_with_its_own_seq(tmp_path, monkeypatch, rows):
    monkeypatch.setattr(writes, "_CHUNK_ROWS", 400)  # several chunks, each with a tail of single rows
    frame = readings(rows, seed=rows)
    with Store(tmp_path / "h.sqlite3") as store:
        assert store.write(frame) == frame.height
        loaded, top = store.load()
    assert top == frame.height
    key = ["metric", "at"]
    assert loaded.select("metric", "at", "value").sort(key).equals(frame.sort(key))
    con = sqlite3.connect(tmp_path / "h.sqlite3")
    seqs = [s for (s,) in con.execute("SELECT seq FROM readings ORDER BY seq")]
    con.close()
    assert seqs == list(range(1, frame.height + 1))


def test_a_second_write_replaces_and_adds_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(writes, "_CHUNK_ROWS", 400)
    first = readings(1_000, seed=3)
    second = first.slice(500, 500).with_columns(pl.col("value") + 1.5)
    with Store(tmp_path / "h.sqlite3") as store:
        store.write(first)
        assert store.write(second) == 500
        assert store.write(second.with_columns(pl.lit(0.25).alias("value")), mode="add") == 500
        loaded, top = store.load()
    assert top == 2_000
    expected = pl.concat([first.slice(0, 500), second.with_columns(pl.col("value") + 0.25)])
    key = ["metric", "at"]
    assert loaded.select("metric", "at", "value").sort(key).equals(expected.sort(key))
