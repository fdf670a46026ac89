"""Building the base index from a store's full load, batch by batch (bounded peak memory).

A full load hands over every reading keyed by integer metric id (``metric_id,
at, value, n``), grouped by id and sorted by time within each id, as a frame
of many chunks (the snapshot's parts and the pieces the tail was merged into).
Indexing it whole held the loaded frame, its keyed copy and the running-total
temporaries of ``cum_sum().over(metric)`` at once (about 65 bytes a reading
at the peak). Here the frame is cut into batches along its chunks (about
:data:`BATCH_ROWS` rows, no copy) and each batch is turned into its share of
the index -- keys, values, running totals -- and let go before the next, so
the peak is the loaded frame (24 bytes a reading) plus one batch's
temporaries, and the index is built as the frame goes away.

Two cheap passes: the first reads only the ids, times and ``n`` to find each
metric's rows (one run per metric), its first and last instant and whether
the rows are in (metric, time) order; with that the key ranges (see
:mod:`kpitui.pipeline.index`) are known before any key is made. The second makes
the keys and the running totals; a metric whose rows continue into the next
batch carries its running totals over, summed in the same order as one
``cum_sum`` over the whole metric (bit for bit the same totals). A frame not
in that order is handed back (``None``) for the general build, which sorts.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

import polars as pl

from .index import Readings, _check_span_total, _check_spans

#: rows per batch (batches follow the frame's chunks, so some are larger or smaller)
BATCH_ROWS = 1 << 20


def build_ids(load: Callable[[], tuple[pl.DataFrame, dict[int, str], int]]) -> tuple[Readings, int]:
    """:meth:`Readings.build_ids <kpitui.pipeline.Readings.build_ids>` from ``load()``, batch by batch
    as the loaded frame is let go when it is grouped by id and sorted by time within each id (a
    store's full load is); otherwise the general build (which sorts)."""
    frame, names, seq = load()
    parts = batches(frame)
    del frame  # only this call holds it now: each batch goes once it is indexed
    built = build(parts, names)
    if built is not None:
        return built, seq
    handed = [pl.concat(parts, rechunk=False) if parts else pl.DataFrame(schema=_EMPTY)]
    parts.clear()
    return Readings.build_ids(lambda: (handed.pop(), names, seq))


_EMPTY = {"metric_id": pl.UInt32, "at": pl.Int64, "value": pl.Float64, "n": pl.UInt32}


def batches(frame: pl.DataFrame) -> list[pl.DataFrame]:
    """``frame`` as consecutive frames along its chunks (no copy), of about :data:`BATCH_ROWS` rows."""
    columns = frame.get_columns()
    chunks = [c.get_chunks() for c in columns]
    lengths = [[s.len() for s in cs] for cs in chunks]
    if any(ls != lengths[0] for ls in lengths):  # columns chunked differently: cut slices instead
        return [frame.slice(o, BATCH_ROWS) for o in range(0, frame.height, BATCH_ROWS)]
    out, pending, rows = [], [], 0
    for i, n in enumerate(lengths[0]):
        pending.append(pl.DataFrame([cs[i] for cs in chunks]))
        rows += n
        if rows >= BATCH_ROWS:
            out.append(pl.concat(pending, rechunk=False) if len(pending) > 1 else pending[0])
            pending, rows = [], 0
    if pending:
        out.append(pl.concat(pending, rechunk=False) if len(pending) > 1 else pending[0])
    return out


def build(parts: list[pl.DataFrame], names: dict[int, str]) -> Readings | None:
    """The index of ``parts`` (from :func:`batches`; emptied as they are indexed), or ``None`` when
    they are not grouped by id and sorted by time within each id (nothing is consumed then)."""
    runs = _runs(parts)
    if runs is None:
        return None
    ids, lengths, firsts, lasts, plain = runs
    if not ids:
        parts.clear()
        return Readings.empty()
    segments = _segments(ids, lengths, firsts, lasts, names)
    shifts = segments["shift"]
    ends = (segments["offset"] + segments["length"]).to_list()
    kinds = ["total"] if plain else ["total", "weighted", "count"]
    contributions = _contributions(plain)
    keys: list[pl.Series] = []
    values: list[pl.Series] = []
    running: dict[str, list[pl.Series]] = {k: [] for k in kinds}
    carry: dict[str, float] | None = None  # the running totals of a metric that goes on in the next batch
    segment, done = 0, 0  # the segment of the next batch's first row; rows indexed so far
    weights_plain = True
    while parts:
        batch = parts.pop(0)
        if batch.height == 0:
            continue
        rows = batch.height
        frame = batch.select(r=pl.col("metric_id").rle_id(), at="at", value="value", *([] if plain else ["n"]))
        del batch
        last = segment + int(frame["r"][-1])  # the segment of the batch's last row
        shift = pl.lit(shifts.slice(segment, last - segment + 1)).gather(pl.col("r"))
        frame = frame.select("r", key=pl.col("at") + shift, value="value", *contributions)
        if not plain:
            weights_plain = weights_plain and bool(frame.select((pl.col("weighted") == pl.col("total")).all()).item())
        totals = _running(frame, kinds, carry)
        keys.append(frame["key"])
        values.append(frame["value"])
        for k in kinds:
            running[k].append(totals[k])
        done += rows
        if done == ends[last]:
            segment, carry = last + 1, None
        else:
            segment, carry = last, {k: float(totals[k][-1]) for k in kinds}
        del frame, totals
    # the key column is searched (binary searches over a chunked column cost twice as much): one
    # chunk; the others are only gathered from and stay in their batches' chunks
    key = _whole(keys).rechunk().set_sorted()
    value = _whole(values)
    total = _whole(running.pop("total"))
    weighted = None if plain or weights_plain else _whole(running["weighted"])
    count = None if plain else _whole(running["count"])
    return Readings(segments, key, value, total, weighted, count)


def _segments(
    ids: list[int], lengths: list[int], firsts: list[int], lasts: list[int], names: dict[int, str]
) -> pl.DataFrame:
    """One row a metric's run: its name, where its rows start (``offset``) and how many, its first and
    last time, and the ``shift`` that packs its times into one increasing key after the runs before it."""
    stats = pl.DataFrame(
        {"length": lengths, "first": firsts, "last": lasts},
        schema={"length": pl.Int64, "first": pl.Int64, "last": pl.Int64},
    )
    stats = stats.with_columns(span=pl.col("last") - pl.col("first") + 1)
    _check_spans(stats)
    return stats.select(
        metric=pl.Series("metric", [names[i] for i in ids], pl.String),
        offset=pl.col("length").cum_sum() - pl.col("length"),
        length="length",
        first="first",
        last="last",
        shift=pl.col("span").cum_sum() - pl.col("span") - pl.col("first"),
    )


def _scan(part: pl.DataFrame) -> tuple[bool, list[int], list[int], list[int], list[int]] | None:
    """A non-empty part's metric runs: whether every row counts 1, and each run's id, length, first
    and last instant; ``None`` when a metric's rows go back in time."""
    checked = part.select(
        ordered=((pl.col("at").diff() >= 0) | (pl.col("metric_id").diff() != 0)).all(),
        plain=(pl.col("n") == 1).all(),
    )
    if not checked["ordered"][0]:
        return None
    rle = part["metric_id"].rle().struct.unnest()
    ends = rle["len"].cum_sum()
    at = part["at"]
    return (
        bool(checked["plain"][0]),
        rle["value"].to_list(),
        rle["len"].to_list(),
        at.gather(ends - rle["len"]).to_list(),
        at.gather(ends - 1).to_list(),
    )


def _contributions(plain: bool) -> list[pl.Expr]:
    """What each row adds to the running totals: its value (``total``), and unless every row counts
    1, its value times ``n`` (``weighted``) and ``n`` (``count``)."""
    contributions = [pl.col("value").alias("total")]
    if not plain:
        contributions += [
            (pl.col("value") * pl.col("n").cast(pl.Float64)).alias("weighted"),
            pl.col("n").cast(pl.Float64).alias("count"),
        ]
    return contributions


def _running(frame: pl.DataFrame, kinds: list[str], carry: dict[str, float] | None) -> pl.DataFrame:
    """Each run's running totals of ``kinds``; the first run's go on from ``carry`` (a metric
    continued from the previous batch), added in the order one ``cum_sum`` over the metric adds."""
    sums = [pl.col(k).cum_sum().over(pl.col("r").set_sorted()) for k in kinds]
    if carry is None:
        return frame.select(sums)
    first = int(frame["r"].search_sorted(1, side="left"))  # the rows of the first run
    head = pl.concat([pl.DataFrame({k: [carry[k]] for k in kinds}), frame.select(kinds).head(first)])
    head = head.select(pl.col(k).cum_sum() for k in kinds).slice(1)
    if first == frame.height:
        return head
    return pl.concat([head, frame.slice(first).select(sums)])


def _whole(series: list[pl.Series]) -> pl.Series:
    """The pieces as one Series of as many chunks (no copy; the list is emptied)."""
    out = pl.concat(series, rechunk=False) if len(series) > 1 else series[0]
    series.clear()
    return out


def _runs(parts: list[pl.DataFrame]) -> tuple[list[int], list[int], list[int], list[int], bool] | None:
    """Each metric's run over the parts: ids, lengths, first and last instants (in order), and
    whether every row counts 1; ``None`` when an id has two runs or a run is out of time order."""
    runs = _Runs()
    plain = True
    for part in parts:
        if part.height == 0:
            continue
        scanned = _scan(part)
        if scanned is None or not runs.add(*scanned[1:]):
            return None
        plain = plain and scanned[0]
    return runs.ids, runs.lengths, runs.firsts, runs.lasts, plain


class _Runs:
    """Each metric's run over the parts added so far: ids, lengths, first and last instants, in order."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.lengths: list[int] = []
        self.firsts: list[int] = []
        self.lasts: list[int] = []
        self.seen: set[int] = set()
        self.last_at: int | None = None
        self.spans: list[int] = [0]  # the spans of the first k runs added up, for k = 0 up to a run not yet ended

    def shift(self, run: int) -> int:
        """What packs run ``run``'s times into the key after the runs before it (all ended once a later
        run has started): their spans added up, less its first instant (``shift`` of :func:`_segments`)."""
        while len(self.spans) <= run:
            k = len(self.spans) - 1
            total = self.spans[-1] + self.lasts[k] - self.firsts[k] + 1
            _check_span_total(float(total))
            self.spans.append(total)
        return self.spans[run] - self.firsts[run]

    def continues(self, run_id: int) -> bool:
        """Whether a part starting with ``run_id`` goes on with the last run."""
        return bool(self.ids) and self.ids[-1] == run_id

    def add(self, run_ids: list[int], run_lengths: list[int], run_firsts: list[int], run_lasts: list[int]) -> bool:
        """Add a part's runs (from :func:`_scan`); ``False`` when its first run goes on with the last
        one but back in time, or a metric's run starts again after another's."""
        continues = self.continues(run_ids[0])
        if continues and self.last_at is not None and run_firsts[0] < self.last_at:
            return False
        for k, (i, n, a, b) in enumerate(zip(run_ids, run_lengths, run_firsts, run_lasts)):
            if k == 0 and continues:
                self.lengths[-1] += n
                self.lasts[-1] = b
                continue
            if i in self.seen:
                return False
            self.seen.add(i)
            self.ids.append(i)
            self.lengths.append(n)
            self.firsts.append(a)
            self.lasts.append(b)
        self.last_at = run_lasts[-1]
        return True


class NotInOrder(Exception):
    """Streamed parts are not grouped by metric id and sorted by time within each id."""


def build_streamed(
    parts: Iterable[pl.DataFrame], names: dict[int, str], *, release: Callable[[], None] | None = None
) -> Readings:
    """The index of ``parts`` (id frames, consumed one at a time, each let go once indexed), which
    together must be grouped by metric id and sorted by time within each id (:class:`NotInOrder`
    otherwise, part way through: load again and use :func:`build_ids`).

    Unlike :func:`build` the key ranges are not known until the last part, but a metric's shift
    is known from its first row on: the spans of the metrics before it (each complete once the
    next one starts, or the parts are out of order) less its first instant. So each batch's keys
    are made as it is indexed (its times are not kept), and made one column at the end. Running
    totals of ``n`` and ``value·n`` are made from the first part with a row that stands for several
    readings (those before counted one each).

    ``release``: called once the last part is indexed (its temporaries freed) and again once the keys are
    one column (the batches' key pieces freed): :func:`kpitui.heap.purge_polars` gives what polars'
    allocator keeps of them back, so that the key's copy and what follows do not come on top of it.
    """
    runs = _Runs()
    keys: list[pl.Series] = []
    values: list[pl.Series] = []
    running: dict[str, list[pl.Series]] = {"total": [], "weighted": [], "count": []}
    runs_of: list[tuple[int, list[int]]] = []  # per batch: its first segment, its runs' lengths
    carry: dict[str, float] | None = None
    plain = True
    for part in parts:
        pieces = batches(part)
        del part  # only the batches hold it now, each let go once indexed
        while pieces:
            batch = pieces.pop(0)
            if batch.height == 0:
                continue
            scanned = _scan(batch)
            if scanned is None:
                raise NotInOrder
            batch_plain, run_ids, run_lengths, run_firsts, run_lasts = scanned
            continues = runs.continues(run_ids[0])
            if not continues:
                carry = None
            first_segment = len(runs.ids) - 1 if continues else len(runs.ids)
            if not runs.add(run_ids, run_lengths, run_firsts, run_lasts):
                raise NotInOrder
            if plain and not batch_plain:  # the rows so far counted one each: their totals follow
                plain = False
                running["weighted"] = list(running["total"])  # value·1 added in the same order
                running["count"] = [_counts(runs, before) for runs, before in _count_starts(runs_of)]
                if carry is not None:
                    carry = {**carry, "weighted": carry["total"], "count": float(_rows_of(runs_of, first_segment))}
            kinds = ["total"] if plain else ["total", "weighted", "count"]
            contributions = _contributions(plain)
            shift = pl.Series([runs.shift(first_segment + k) for k in range(len(run_ids))], dtype=pl.Int64)
            frame = batch.select(
                r=pl.col("metric_id").rle_id(),
                key=pl.col("at") + pl.lit(shift).gather(pl.col("metric_id").rle_id()),
                value="value",
                *contributions,
            )
            del batch
            totals = _running(frame, kinds, carry)
            keys.append(frame["key"])
            values.append(frame["value"])
            for kind in kinds:
                running[kind].append(totals[kind])
            runs_of.append((first_segment, run_lengths))
            carry = {kind: float(totals[kind][-1]) for kind in kinds}
            del frame, totals
    if not runs.ids:
        return Readings.empty()
    segments = _segments(runs.ids, runs.lengths, runs.firsts, runs.lasts, names)
    if release is not None:
        release()
    key = _whole(keys).rechunk().set_sorted().alias("key")  # searched: one chunk (its pieces now freed)
    if release is not None:
        release()
    value = _whole(values)
    total = _whole(running["total"])
    if plain:
        return Readings(segments, key, value, total)
    weighted = _whole(running["weighted"])
    count = _whole(running["count"])
    unweighted = bool((weighted == total).all())
    return Readings(segments, key, value, total, None if unweighted else weighted, count)


def _count_starts(runs_of: list[tuple[int, list[int]]]) -> Iterator[tuple[list[int], int]]:
    """For each batch indexed so far: its runs' lengths and the rows of its first segment in earlier batches."""
    before: dict[int, int] = {}
    for first, runs in runs_of:
        yield runs, before.get(first, 0)
        for k, n in enumerate(runs):
            before[first + k] = before.get(first + k, 0) + n


def _rows_of(runs_of: list[tuple[int, list[int]]], segment: int) -> int:
    """The rows of ``segment`` in the batches indexed so far."""
    return sum(n for first, runs in runs_of for k, n in enumerate(runs) if first + k == segment)


def _counts(runs: list[int], before: int) -> pl.Series:
    """Running counts (every row counting one) of a batch's runs, the first going on from ``before``."""
    pieces = [
        pl.int_range(before + 1 if k == 0 else 1, (before if k == 0 else 0) + n + 1, eager=True, dtype=pl.Int64)
        for k, n in enumerate(runs)
    ]
    return pl.concat(pieces).cast(pl.Float64).alias("count")
