"""A huge reading and its correction inside one period: its sum and mean equal ``math.fsum`` of its readings.

A period's running totals at both ends are small when a spike (a typo of 1e17) and its negative (the
correction) both lie inside it; the steps between them round at 1e17. The block maxima of |running
total| (:mod:`kpitui.pipeline.peaks`) flag such a period. Checked here: the block maxima and their range
maximum against a plain scan of the rows; then random spikes and corrections at random places of several
metrics (rows standing for several readings, blocks of several thousand rows), asked over random periods
by both ways of answering (the query and the eager path), against ``math.fsum`` of the raw readings, in
the base, with a delta rewriting rows (a spike corrected, a new pair), after both kinds of fold, through
the index cache, and over PostgreSQL's store."""

from __future__ import annotations

import datetime as dt
import json
import math
import random

import polars as pl
import pytest

from kpitui.api import readings_frame
from kpitui.history import History
from kpitui.pipeline import REQUESTS_SCHEMA, Readings, View, aggregate, answer, fold, peaks
from kpitui.store import Store

UTC_EPOCH = 1_767_225_600_000_000  # 2026-01-01 in µs
SECOND = 1_000_000


def _scan(columns: list[list[float]], lengths: list[int], block: int) -> list[float]:
    """Each block's largest |value| (NaN left out; 0 when all are), one row at a time."""
    out, at = [], 0
    for length in lengths:
        for s in range(at, at + length, block):
            rows = range(s, min(s + block, at + length))
            out.append(max((abs(c[r]) for c in columns for r in rows if not math.isnan(c[r])), default=0.0))
        at += length
    return out


@pytest.mark.parametrize("seed", range(6))
def test_the_block_maxima_are_each_blocks_largest_running_total(seed):
    rng = random.Random(seed)
    lengths = [
        rng.choice([1, 2, 63, 64, 65, 127, 4095, 4096, 4097, 8192, 9000, rng.randint(1, 12000)]) for _ in range(9)
    ]
    height = sum(lengths)
    columns = [[rng.uniform(-1, 1) * 10 ** rng.randint(0, 18) for _ in range(height)] for _ in range(2)]
    for _ in range(3):  # a NaN and an infinity somewhere
        columns[rng.randrange(2)][rng.randrange(height)] = rng.choice([math.nan, -math.inf])
    columns[0][:70] = columns[1][:70] = [math.nan] * 70  # a block of NaN (a segment of 1, 2, 63, ...)
    series = [pl.Series(c, dtype=pl.Float64) for c in columns]
    assert peaks.maxima(series[:1], lengths).to_list() == _scan(columns[:1], lengths, peaks.BLOCK)
    assert peaks.maxima(series, lengths).to_list() == _scan(columns, lengths, peaks.BLOCK)
    assert peaks.maxima(series, lengths, peaks.WHOLE).to_list() == _scan(columns, lengths, peaks.WHOLE)
    # in several chunks (a streamed load's running totals)
    chunked = pl.concat([series[0].slice(o, 5000) for o in range(0, height, 5000)], rechunk=False)
    assert peaks.maxima([chunked], lengths).to_list() == _scan(columns[:1], lengths, peaks.BLOCK)


@pytest.mark.parametrize("seed", range(4))
def test_the_range_maximum_bounds_every_running_total_of_the_period(seed):
    """Over any rows of a segment: at least the largest |running total| among them, at most the largest of
    the blocks they touch; the query's number is the eager one."""
    rng = random.Random(seed)
    lengths = [rng.randint(1, 30000) for _ in range(5)]
    column = [rng.uniform(-1, 1) * 10 ** rng.randint(0, 17) for _ in range(sum(lengths))]
    maxima = peaks.maxima([pl.Series(column)], lengths).to_list()
    ranges = peaks.Ranges.build(maxima, lengths, peaks.BLOCK)
    asked, offsets = [], [sum(lengths[:i]) for i in range(len(lengths))]
    for _ in range(300):
        s = rng.randrange(len(lengths))
        off, length = offsets[s], lengths[s]
        lo = off + rng.randint(0, length)
        hi = lo + rng.randint(0, off + length - lo) if rng.random() < 0.8 else lo
        asked.append((ranges.firsts[s], off, lo, hi))
    got = [ranges.peak(*a) for a in asked]
    for (first, off, lo, hi), peak in zip(asked, got):
        if hi <= lo:
            assert peak == 0.0
            continue
        assert max(abs(column[r]) for r in range(lo, hi)) <= peak
        touched = range(first + (lo - off) // peaks.BLOCK, first + (hi - 1 - off) // peaks.BLOCK + 1)
        assert peak == max(maxima[b] for b in touched)
    frame = pl.DataFrame(asked, schema=["first", "off", "lo", "hi"], orient="row")
    expr = ranges.peak_expr(pl.col("first"), pl.col("off"), pl.col("lo"), pl.col("hi"))
    assert frame.select(expr)[:, 0].to_list() == got


# -- random spikes and corrections, against math.fsum of the readings -------------------------------------


def spiked(rng: random.Random, metrics: int = 3, rows: int = 9000) -> dict[tuple[str, int], tuple[float, int]]:
    """(metric, at µs) -> (value, n): ordinary readings (a few metrics, one with several blocks), spikes of
    1e15..1e20 (either sign) each followed some rows later by its negative, n of 1..4 on some metrics."""
    out: dict[tuple[str, int], tuple[float, int]] = {}
    for m in range(metrics):
        name, height = f"m{m}", rows if m == 0 else rng.randint(1, rows // 3)
        several = m == 1
        at = [UTC_EPOCH + i * 60 * SECOND for i in range(height)]
        values = [round(rng.uniform(0, 10), rng.randint(0, 3)) for _ in range(height)]
        for _ in range(rng.randint(1, 4)):
            spike = rng.choice([1e15, 1e16, 1e17, 1e20]) * rng.choice([1, -1]) * rng.choice([1, 3.7])
            i = rng.randrange(height)
            j = min(height - 1, i + rng.choice([1, 2, 50, 3000, 5000]))
            values[i] += spike
            values[j] -= spike  # the correction (rounded: not always exactly cancelled)
        for t, v in zip(at, values):
            out[(name, t)] = (v, rng.randint(1, 4) if several else 1)
    return out


def truth(readings: dict[tuple[str, int], tuple[float, int]], metric: str, agg: str, additive: bool, s: int, e: int):
    inside = [(v, n) for (m, t), (v, n) in readings.items() if m == metric and s <= t < e]
    seen = any(m == metric and t < e for m, t in readings)
    total = math.fsum(v if additive else v * n for v, n in inside)
    count = float(sum(n for _, n in inside))
    if agg == "sum":
        return total if seen else None
    if agg == "count":
        return count if seen else None
    return total / count if count else None


def periods(rng: random.Random, readings: dict[tuple[str, int], tuple[float, int]], how_many: int = 60) -> list:
    top = max(t for _, t in readings)
    names = sorted({m for m, _ in readings})
    out = []
    for _ in range(how_many):
        a = rng.randint(UTC_EPOCH - 3600 * SECOND, top + 3600 * SECOND)
        b = rng.choice([a + rng.randint(0, 7200) * 60 * SECOND, top + SECOND, a + 60 * SECOND])
        start = UTC_EPOCH if rng.random() < 0.2 else a
        metric = rng.choice(names)
        out += [(metric, agg, additive, start, b) for agg in ("sum", "mean", "count") for additive in (True, False)]
    return out


def check(view: View, readings: dict[tuple[str, int], tuple[float, int]], requests: list) -> None:
    frame = pl.DataFrame([(i, *r) for i, r in enumerate(requests)], schema=REQUESTS_SCHEMA, orient="row")
    lazy = aggregate(view, frame, {"sum", "count", "mean"}).collect().sort("req")["value"].to_list()
    metric, agg, additive, start, end = (list(column) for column in zip(*requests))
    eager, _ = answer(view, metric, agg, additive, start, end)
    assert eager == lazy
    for request, value in zip(requests, lazy):
        expected = truth(readings, *request)
        if expected is None:
            assert value is None, request
        else:
            assert value is not None and math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-300), (
                request,
                value,
                expected,
            )


def as_frame(readings: dict[tuple[str, int], tuple[float, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(m, t, v, n) for (m, t), (v, n) in readings.items()],
        schema={"metric": pl.String, "at": pl.Int64, "value": pl.Float64, "n": pl.Int64},
        orient="row",
    )


def rewrites(rng: random.Random, readings: dict[tuple[str, int], tuple[float, int]]) -> dict:
    """Rows a delta writes: some readings rewritten (a spike among them corrected to a small value, a
    small one to a spike), a new spike and its correction past the ends."""
    keys = sorted(readings)
    new: dict[tuple[str, int], tuple[float, int]] = {}
    for key in rng.sample(keys, 40):
        new[key] = (round(rng.uniform(0, 5), 2), readings[key][1])
    big = [k for k in keys if abs(readings[k][0]) > 1e12]
    for key in rng.sample(big, min(2, len(big))):
        new[key] = (1.5, readings[key][1])
    metric, top = "m0", max(t for m, t in keys if m == "m0")
    new[(metric, top + 60 * SECOND)] = (-3e17, 1)
    new[(metric, top + 120 * SECOND)] = (3e17 + 4.25, 1)
    new[rng.choice(keys)] = (7e16, 1)
    new[("m9", UTC_EPOCH)] = (2.5, 1)  # a metric only in the delta
    return new


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(8))
def test_random_spikes_and_corrections_in_random_periods(seed):
    rng = random.Random(seed)
    readings = spiked(rng)
    requests = periods(rng, readings)
    view = View.from_frame(as_frame(readings).with_columns(pl.col("at").cast(pl.Datetime("us", "UTC"))))
    check(view, readings, requests)
    # a delta rewriting rows, then each kind of fold
    new = rewrites(rng, readings)
    written = view.write(as_frame(new))
    readings = {**readings, **new}
    requests = periods(rng, readings)
    check(written, readings, requests)
    for share in (0.0, 1.0):  # a full re-index; only the touched segments (when the rows are plain)
        folded = fold(written, share=share)
        check(folded, readings, requests)
        base = folded.base
        assert (
            base.maxima.to_list()
            == peaks.maxima(
                [base.total] if base.weighted is None else [base.total, base.weighted],
                base.segments["length"].to_list(),
            ).to_list()
        )


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_a_refold_carries_the_maxima_of_the_segments_it_keeps(seed):
    """Plain rows (the refold's case): its block maxima equal those worked out from its running totals."""
    rng = random.Random(100 + seed)
    readings = {k: (v, 1) for k, (v, _) in spiked(rng, metrics=5, rows=12000).items()}
    view = View.from_frame(as_frame(readings).drop("n").with_columns(pl.col("at").cast(pl.Datetime("us", "UTC"))))
    assert view.base.ranges.blocks > 3  # the base's maxima worked out (as a probe does) before the fold
    new = {k: (v, 1) for k, (v, _) in rewrites(rng, readings).items() if k[0] in ("m0", "m9")}
    written = view.write(as_frame(new))
    folded = fold(written, share=1.0)
    assert folded.base.block_maxima is not None  # carried, not worked out again
    assert (
        folded.base.maxima.to_list()
        == peaks.maxima([folded.base.total], folded.base.segments["length"].to_list()).to_list()
    )
    readings = {**readings, **new}
    check(folded, readings, periods(rng, readings))


def stored_rows(readings: dict[tuple[str, int], tuple[float, int]]) -> pl.DataFrame:
    """Plain readings as a store takes them."""
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return readings_frame([(m, epoch + dt.timedelta(microseconds=t), v) for (m, t), (v, _) in readings.items()])


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2))
def test_through_the_index_cache(tmp_path, seed):
    """A store's full load, the index cache a second start reads (its block maxima with it) and the rows
    written since as the delta; a cache of the format before (no maxima) is not read: loaded in full."""
    rng = random.Random(200 + seed)
    readings = {k: (v, 1) for k, (v, _) in spiked(rng).items()}
    store = Store(tmp_path / "h.sqlite3")
    store.write(stored_rows(readings))
    first = History(store, index_cache=True, background=False)
    first.refresh()
    if first.saving is not None:
        first.saving.join()
    check(first.view(), readings, periods(rng, readings))
    new = {k: (v, 1) for k, (v, _) in rewrites(rng, readings).items()}
    store.write(stored_rows(new))
    readings = {**readings, **new}
    second = History(store, index_cache=True, background=False)
    second.refresh()
    assert second.from_cache and second.view().base.block_maxima is not None
    check(second.view(), readings, periods(rng, readings))
    # the format before this one: no maxima in its header
    (header,) = (tmp_path / "h.sqlite3-index").glob("*.json")
    old = json.loads(header.read_text())
    old["format"] = 3
    del old["block"], old["maxima"]
    header.write_text(json.dumps(old))
    third = History(store, index_cache=True, background=False)
    third.refresh()
    assert not third.from_cache
    check(third.view(), readings, periods(rng, readings))
    store.close()


@pytest.mark.slow
def test_over_postgresql(tmp_path):
    """PostgreSQL's store: its full load and the rows written since (a refresh)."""
    from test_store_contract import postgres_store

    connect = postgres_store(tmp_path)
    try:
        store = connect()
        rng = random.Random(300)
        readings = {k: (v, 1) for k, (v, _) in spiked(rng, rows=6000).items()}
        store.write(stored_rows(readings))
        history = History(store, background=False)
        history.refresh()
        check(history.view(), readings, periods(rng, readings))
        new = {k: (v, 1) for k, (v, _) in rewrites(rng, readings).items()}
        store.write(stored_rows(new))
        history.refresh()
        readings = {**readings, **new}
        check(history.view(), readings, periods(rng, readings))
        store.close()
    finally:
        connect.cleanup()  # type: ignore[attr-defined]


def test_a_delta_over_an_empty_base():
    one = View.of(Readings.empty()).write(as_frame({("a", UTC_EPOCH): (1e17, 1)}))
    readings = {("a", UTC_EPOCH): (1e17, 1)}
    check(one, readings, [("a", "sum", True, UTC_EPOCH, UTC_EPOCH + 1), ("a", "mean", False, 0, UTC_EPOCH)])
