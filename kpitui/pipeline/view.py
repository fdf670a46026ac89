"""Base + delta: a :class:`View` (what the engine reads), writing rows over it, folding the delta into a new base."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Mapping

import polars as pl

from ..epoch import micros
from .frames import _SEGMENTS_SCHEMA, collect
from .index import Readings, _check_span_total, _check_spans, _with_totals
from .peaks import WHOLE
from .refold import TOUCHED_SHARE, fold_touched

#: the delta's rows (:attr:`View.changes`), in the delta index's order: ``m`` is the row's segment
#: in the delta; ``pos``, ``was_value``, ``was_n`` the base row it rewrites (null for a new row)
CHANGES_SCHEMA = {
    "m": pl.Int64,
    "at": pl.Int64,
    "value": pl.Float64,
    "n": pl.Int64,
    "pos": pl.Int64,
    "was_value": pl.Float64,
    "was_n": pl.Int64,
}
#: a delta row's contributions to the running totals: what it adds to the base's
_DELTA_CONTRIBUTIONS = (
    (pl.col("value") - pl.col("was_value").fill_null(0.0)).alias("total"),
    (pl.col("value") * pl.col("n") - (pl.col("was_value") * pl.col("was_n")).fill_null(0.0)).alias("weighted"),
    (pl.col("n") - pl.col("was_n").fill_null(0)).cast(pl.Float64).alias("count"),
)

#: the largest |running total| of a delta row, for its segment's block maximum (:mod:`.peaks`: NaN left out)
_LARGEST = pl.max_horizontal(pl.col("total").abs(), pl.col("weighted").abs())

_serials = itertools.count(1)


@dataclass(frozen=True)
class View:
    """What the engine reads: a base index, a delta of rows written since, the base rows the delta rewrites.

    ``changes``: the delta's rows (:data:`CHANGES_SCHEMA`), one per (metric,
    at), in the order of ``delta`` (their index), each with the base row it
    rewrites. Immutable.

    Lineage, for the engine to re-evaluate only what changed: ``serial`` is
    unique to this view; a view made by :meth:`write` records the serial of
    the view it was written over (``after``) and the metrics whose readings
    differ from that view's (``written``). :func:`fold` keeps both (same
    readings). A view indexed from scratch has no ``after``.
    """

    base: Readings
    delta: Readings
    changes: pl.DataFrame
    after: int | None = None
    written: frozenset[str] = frozenset()
    serial: int = field(default_factory=lambda: next(_serials))
    #: each ``written`` metric's earliest instant written (µs): readings before it are ``after``'s
    #: (``None``: not known, as after a fold or another way of building the view)
    written_from: dict[str, int] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, base: Readings, *, after: int | None = None, written: frozenset[str] = frozenset()) -> View:
        """``base`` with an empty delta."""
        return cls(base, Readings.empty(), pl.DataFrame(schema=CHANGES_SCHEMA), after, written)

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> View:
        return cls.of(Readings.build(frame))

    @cached_property
    def hidden(self) -> pl.Series:
        """The base positions the delta rewrites."""
        return self.changes["pos"].drop_nulls()

    @cached_property
    def firsts(self) -> dict[str, int]:
        """Each metric's first reading (µs), in the base or the delta (do not change it). The
        base's when the delta starts no metric earlier, so views written over the same base
        mostly hand back the same dict."""
        base = self.base.firsts
        earlier = {m: first for m, (first, _, _) in self.delta.bounds.items() if first < base.get(m, first + 1)}
        return {**base, **earlier} if earlier else base

    @property
    def height(self) -> int:
        """How many readings the view holds."""
        return self.base.height - self.hidden.len() + self.changes.height

    def write(self, new: pl.DataFrame) -> View:
        """This view with ``new`` rows (:data:`ROWS_SCHEMA`, unique (metric, at)) written over it.

        The delta's segments grow to hold the new rows (a metric new to the
        delta gets one after the others); then one query looks the new rows
        up in the base (the row each one rewrites), keys them, sorts them in
        with the delta's rows (a new row takes the place of a delta row at
        the same instant) and sums the running totals again. The base is not
        touched.
        """
        bounds = self.delta.bounds  # the delta's segments, in order (handed over by the write that made it)
        grown = _instants(new)
        had = list(bounds)
        first = {metric: a for metric, (a, _, _) in bounds.items()}
        last = {metric: b for metric, (_, b, _) in bounds.items()}
        added = sorted(set(grown).difference(first))
        # each segment's rows when known without the query: every row written after its metric's last
        # row in the delta (none replaces one), so a segment's length grows by the rows written to it
        grows = _after_the_delta(last, grown)
        for metric, (a, b, _) in grown.items():
            first[metric], last[metric] = min(first.get(metric, a), a), max(last.get(metric, b), b)
        # the segments' bounds and shifts in Python: a few entries (the metrics written since the
        # base), where each polars call would cost more than the arithmetic
        names = [*had, *added]
        firsts, lasts = [first[m] for m in names], [last[m] for m in names]
        shifts, taken = [], 0
        for a, b in zip(firsts, lasts):
            shifts.append(taken - a)
            taken += b - a + 1
        _check_span_total(taken)
        ids = pl.LazyFrame({"metric": names, "m": range(len(names))}, schema={"metric": pl.String, "m": pl.Int64})
        appended = _after_the_base(self.base.bounds, grown)
        if appended:  # a collector's appends: no base row to look up
            located = new.lazy().join(ids, on="metric").select("m", "at", "value", "n", *_NOTHING_REWRITTEN)
        else:
            located = (
                self.base.locate(new.lazy(), "was_")
                .join(ids, on="metric")
                .select("m", "at", "value", "n", pos="was_pos", was_value="was_value", was_n="was_n")
            )
        keyed = pl.lit(pl.Series(shifts, dtype=pl.Int64)).gather(pl.col("m")) + pl.col("at")
        peaks: list[float] | None = None
        if grows and _totals_kept(self.delta):
            done, peaks = _appended(self, located, keyed, names, len(had))
        else:
            rows = (
                pl.concat([self.changes.lazy(), located])
                .with_columns(key=keyed)
                .sort("key", maintain_order=True)  # stable: a delta row, then the new row that rewrites it
                .filter(pl.col("key") != pl.col("key").shift(-1).fill_null(-1))
                .with_columns(*(c.cum_sum().over(pl.col("m").set_sorted()) for c in _DELTA_CONTRIBUTIONS))
                .with_columns(
                    _peak=_LARGEST.max().over(pl.col("m").set_sorted()).fill_nan(0.0)
                )  # one block a segment (.peaks)
            )
            (done,) = collect(rows, optimizations=WRITE_OPTIMIZATIONS)
        if grows:
            held = self.delta.places  # the delta's segments' offsets, in order
            starts = [offset for offset, _, _, _ in held.values()]
            lengths = [b - a for a, b in zip(starts, [*starts[1:], self.delta.height])]
            lengths += [0] * len(added)
            lengths = [length + grown[m][2] if m in grown else length for m, length in zip(names, lengths)]
            offsets = [0, *itertools.accumulate(lengths)][:-1]
        else:
            # every segment has rows, in order: each starts where its number first appears (one search for
            # all, the lengths in Python: a few entries, where unique_counts and cum_sum were 4 polars calls)
            offsets = done["m"].search_sorted(pl.Series(range(len(names)), dtype=pl.Int64), side="left").to_list()
            lengths = [b - a for a, b in zip(offsets, [*offsets[1:], done.height])]
        segments = pl.DataFrame(
            {"metric": names, "offset": offsets, "length": lengths, "first": firsts, "last": lasts, "shift": shifts},
            schema=_SEGMENTS_SCHEMA,
        )
        delta = Readings(
            segments,
            done["key"].set_sorted(),
            done["value"],
            done["total"],
            done["weighted"],
            done["count"],
            block_maxima=(
                done["_peak"].gather(offsets).alias("maxima")
                if peaks is None
                else pl.Series("maxima", peaks, dtype=pl.Float64)
            ),
            block=WHOLE,
        )
        # the segments' bounds as the index's cached dicts, from the Python lists they were made of
        # (an evaluation reads them: :meth:`metrics_since`, :attr:`firsts`, the eager answers)
        known = delta.__dict__
        known["bounds"] = dict(zip(names, zip(firsts, lasts, shifts)))
        known["places"] = dict(zip(names, zip(offsets, firsts, lasts, shifts)))
        known["firsts"] = dict(zip(names, firsts))
        written = View(
            self.base,
            delta,
            pl.DataFrame([done.get_column(name) for name in CHANGES_SCHEMA]),
            after=self.serial,
            written=frozenset(grown),
            written_from={metric: a for metric, (a, _, _) in grown.items()},
        )
        hidden = self.__dict__.get("hidden")
        if appended and hidden is not None:
            # rows after every base row of their metric hide none, nor do the delta rows they replace (at
            # the same instants): the same base rows hidden, in the same order (the delta's kept rows keep
            # theirs), so this view's is the one worked out for ``self``
            written.__dict__["hidden"] = hidden
        return written

    def frame(self) -> pl.DataFrame:
        """Every reading: ``metric, at, value`` (and ``n`` when some row stands for several)."""
        return fold(self).base.frame()

    def metrics_since(self, at: dt.datetime) -> frozenset[str]:
        """The metrics with a reading at or after ``at`` (or that had one before the delta rewrote it)."""
        t = micros(at)  # over each index's segment bounds (kept per index), not a filter of its segments:
        # a clock-moved evaluation asks this each time, and polars' calls cost more than the ~1,000 metrics
        return frozenset(
            [m for index in (self.base, self.delta) for m, (_, last, _) in index.bounds.items() if last >= t]
        )

    def derived_from(self, previous: View, written: frozenset[str], written_from: dict[str, int] | None = None) -> View:
        """This view, labelled as ``previous`` with the readings of ``written`` metrics changed
        (``written_from``: at or after these instants only, when known).

        For a view built another way than by writing over ``previous`` (over a
        folded base, say) that holds exactly ``previous``'s readings but those
        of the ``written`` metrics: the engine trusts this lineage.
        """
        derived = dataclasses.replace(
            self, after=previous.serial, written=written, serial=next(_serials), written_from=written_from
        )
        for name in _WORKED_OUT:  # the same readings: what was worked out of them holds
            if name in self.__dict__:
                derived.__dict__[name] = self.__dict__[name]
        return derived


#: How :meth:`View.write`'s query is collected: as written, without plan optimizations (type coercion
#: and checks kept). Building and optimizing its plan was about half of the write's main-thread CPU
#: over a delta of 25,000 rows (1.25 -> 0.58 ms for the collect); the rows are the same
#: (tests/test_view_write.py compares them with the optimized plan's).
WRITE_OPTIMIZATIONS = pl.QueryOptFlags.none()

#: what a view works out of its readings when first asked (cached properties), kept by :meth:`View.derived_from`
_WORKED_OUT = ("hidden", "firsts")

#: the base row a new row rewrites, for rows after every base row of their metric: none
_NOTHING_REWRITTEN = (
    pl.lit(None, pl.Int64).alias("pos"),
    pl.lit(None, pl.Float64).alias("was_value"),
    pl.lit(None, pl.Int64).alias("was_n"),
)


def _totals_kept(delta: Readings) -> bool:
    """Whether ``delta`` keeps what :func:`_appended` carries over: running totals of every kind and one
    block maximum a segment (a delta :meth:`View.write` made), or has no rows."""
    if delta.height == 0:
        return True
    return (
        delta.weighted is not None
        and delta.count is not None
        and delta.block == WHOLE
        and delta.block_maxima is not None
        and delta.block_maxima.len() == delta.segments.height
    )


def _appended(
    view: View, located: pl.LazyFrame, keyed: pl.Expr, names: list[str], had: int
) -> tuple[pl.DataFrame, list[float]]:
    """:meth:`View.write`'s rows when every new row comes after its metric's last delta row (none replaces
    one, ``located``: the new rows, ``m`` numbering ``names``, the first ``had`` of them the delta's
    segments), and each segment's block maximum.

    The delta's rows keep their running totals (a segment's new rows come after them) and only move
    key; the new rows' running totals are summed on from their segment's last one, by the same
    additions in the same order as the whole write's ``cum_sum`` (each segment's last total is put in
    front of its new rows' contributions: ``t, t + c1, (t + c1) + c2, ...``); a segment's maximum
    |running total| is the larger of its maximum so far and its new rows' (both ≥ 0, NaN left out as
    the whole write leaves it out, 0.0 when there is none). So the delta's sort and its three running
    sums over every row (~3 ms of polars' pool for 24,000 rows) are the new rows' only."""
    delta, changes = view.delta, view.changes
    old_peaks = delta.block_maxima.to_list() if delta.height and delta.block_maxima is not None else []
    new = located.with_columns(key=keyed).sort("key").with_columns(*_DELTA_CONTRIBUTIONS)
    running_names = ("total", "weighted", "count")
    seeds: dict[str, list[float]] = {name: [] for name in running_names}
    if delta.height:
        # each segment's last running totals, read one by one (a few cells: eager polars calls here would
        # each be a query of their own on the streaming engine)
        places = delta.places
        lengths = delta.segments["length"].to_list()
        lasts = [places[m][0] + length - 1 for m, length in zip(names[:had], lengths)]
        for name in running_names:
            column = getattr(delta, name)
            seeds[name] = [column[row] for row in lasts]
    seeded = pl.LazyFrame(
        {"m": range(len(seeds["total"])), **seeds, "_seed": [True] * len(seeds["total"])},
        schema={"m": pl.Int64, "total": pl.Float64, "weighted": pl.Float64, "count": pl.Float64, "_seed": pl.Boolean},
    )
    columns = ["m", "at", "value", "n", "pos", "was_value", "was_n", "key", *running_names]
    running = (
        pl.concat([seeded, new.with_columns(_seed=pl.lit(False))], how="diagonal")
        .sort("m", maintain_order=True)  # stable: a segment's last totals, then its new rows in key order
        .with_columns(pl.col(name).cum_sum().over(pl.col("m").set_sorted()) for name in running_names)
        .filter(~pl.col("_seed"))
        .select(*columns, _peak=_LARGEST.max().over(pl.col("m").set_sorted()).fill_nan(0.0))
    )
    (added,) = collect(running, optimizations=WRITE_OPTIMIZATIONS)
    peaks = old_peaks + [0.0] * (len(names) - len(old_peaks))
    top: dict[int, float] = dict(zip(added["m"].to_list(), added["_peak"].to_list()))  # (one per segment)
    for m, peak in top.items():
        peaks[m] = max(peaks[m], peak) if m < len(old_peaks) else peak
    if not delta.height:
        return added.select(columns), peaks
    kept = changes.lazy().with_columns(
        key=keyed, total=pl.lit(delta.total), weighted=pl.lit(delta.weighted), count=pl.lit(delta.count)
    )
    # the new rows sorted in among the delta's (no two at one key); polars' merge_sorted took 2-3x longer
    (done,) = collect(
        pl.concat([kept.select(columns), added.lazy().select(columns)]).sort("key"), optimizations=WRITE_OPTIMIZATIONS
    )
    return done, peaks


def _after_the_base(bounds: dict[str, tuple[int, int, int]], grown: Mapping[str, tuple[int, ...]]) -> bool:
    """Whether every row written (``grown``: each metric's first instant written, ...) comes after
    the base's last reading of its metric (or the base has none): then it rewrites no base row."""
    for metric, written in grown.items():
        held = bounds.get(metric)
        if held is not None and written[0] <= held[1]:
            return False
    return True


def _after_the_delta(last: dict[str, int], grown: Mapping[str, tuple[int, ...]]) -> bool:
    """Whether every row written (``grown``: each metric's first instant written, ...) comes after its
    metric's ``last`` instant in the delta (or the delta has none): then it replaces no delta row."""
    for metric, written in grown.items():
        at = last.get(metric)
        if at is not None and written[0] <= at:
            return False
    return True


#: rows written up to which :func:`_instants` works in Python (above: one polars ``group_by``)
_INSTANTS_IN_PYTHON = 4096


def _instants(new: pl.DataFrame) -> dict[str, tuple[int, int, int]]:
    """Each metric of ``new`` (``metric``, ``at``): its first and last instant written, and how many rows.

    A refresh's thousand rows in ~10 metrics: in Python (0.16-0.24 ms of the calling thread's CPU
    against 0.27 (0.43 of the process) for a polars ``group_by``). A start's 150,000 rows since the
    index cache: one ``group_by`` (~1.5 ms of the thread's CPU, ~4-5 ms of the process's, against
    45-55 ms of Python holding the GIL beside the UI's first frame); the two cross near 3,000 rows."""
    if new.height <= _INSTANTS_IN_PYTHON:
        instants: dict[str, list[int]] = {}
        for metric, at in zip(new["metric"].to_list(), new["at"].to_list()):
            if (seen := instants.get(metric)) is None:
                instants[metric] = [at]
            else:
                seen.append(at)
        return {metric: (min(ats), max(ats), len(ats)) for metric, ats in instants.items()}
    bounds = new.group_by("metric").agg(first=pl.col("at").min(), last=pl.col("at").max(), rows=pl.len())
    columns = (bounds[name].to_list() for name in ("first", "last", "rows"))
    return dict(zip(bounds["metric"].to_list(), zip(*columns)))


def _merge(
    segments: pl.DataFrame, old: pl.DataFrame, new: pl.DataFrame, columns: list[str | pl.Expr]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """An index's rows with more merged in, without sorting the index: the new segments and rows.

    ``segments``: the index's; ``old``: the rows of it kept, in index order
    (``m``: segment number, ``at``, …); ``new``: rows to merge in
    (``metric``, ``at``, ``added``: false when the row takes the place of one
    left out of ``old``, …), none at the (metric, at) of a row of ``old``.
    Returns the rows (``m``, ``key`` and ``columns``) in key order: each
    metric keeps its segment number (metrics new to the index come after the
    others), ``old``'s rows keep their order, their keys move by their
    metric's new shift; ``new``'s rows are sorted and merged in.
    """
    names = pl.concat([segments["metric"], new["metric"]]).unique(maintain_order=True)
    ids = pl.DataFrame({"metric": names, "m": pl.int_range(len(names), eager=True, dtype=pl.Int64)})
    new = new.join(ids, on="metric", how="left")
    grown = new.group_by("m").agg(
        new_first=pl.col("at").min(), new_last=pl.col("at").max(), added=pl.col("added").sum().cast(pl.Int64)
    )
    old_stats = segments.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("m"), "first", "last", "length")
    stats = (
        ids.join(old_stats, on="m", how="left")
        .join(grown, on="m", how="left")
        .select(
            "metric",
            "m",
            first=pl.min_horizontal("first", "new_first"),
            last=pl.max_horizontal("last", "new_last"),
            length=pl.col("length").fill_null(0) + pl.col("added").fill_null(0),  # a rewrite takes a row's place
        )
        .sort("m")
        .with_columns(span=pl.col("last") - pl.col("first") + 1)
    )
    _check_spans(stats)
    segments = stats.select(
        "metric",
        offset=pl.col("length").cum_sum() - pl.col("length"),
        length="length",
        first="first",
        last="last",
        shift=pl.col("span").cum_sum() - pl.col("span") - pl.col("first"),
    )
    shift = pl.lit(segments["shift"])

    def keyed(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.select("m", *columns, key=shift.gather(pl.col("m")) + pl.col("at"))

    merged = (
        keyed(old)
        .with_columns(pl.col("key").set_sorted())
        .merge_sorted(keyed(new).sort("key").with_columns(pl.col("key").set_sorted()), key="key")
    )
    return segments, merged


def fold(
    view: View,
    *,
    share: float = TOUCHED_SHARE,
    release: Callable[[], None] | None = None,
    pause: Callable[[], object] | None = None,
) -> View:
    """The same readings as ``view``, with the delta merged into a new base.

    When the delta's segments hold at most ``share`` of the rows, only they
    are indexed again (:func:`~kpitui.pipeline.refold.fold_touched`, the same
    index); otherwise linear in the history, no sort of it (see
    :func:`_merge`). The result has ``view``'s lineage: it differs from the view ``view`` was written
    over exactly as ``view`` does.

    ``release``: called whenever the fold has done reading a part of the base's columns (a base
    read from mapped files gives their pages back: :func:`kpitui.mapped_columns.drop_pages`).
    ``pause``: called between the fold's steps (a background fold waits there while a refresh or an
    evaluation runs: :mod:`kpitui.foreground`).
    """
    if view.changes.height == 0:
        return view
    base, changes = view.base, view.changes
    refolded = fold_touched(base, view.delta, changes, view.hidden, share=share, release=release, pause=pause)
    if refolded is not None:  # only the segments the delta touched re-indexed
        return View.of(refolded, after=view.after, written=view.written)
    old = base.rows()
    if view.hidden.len():
        old = old.filter(pl.repeat(True, old.height, eager=True).scatter(view.hidden, False))
    if release is not None:
        release()  # the base's key and value columns are read into ``old``
    if pause is not None:
        pause()
    new = changes.select(
        metric=pl.lit(view.delta.segments["metric"]).gather(pl.col("m")),
        at="at",
        value="value",
        n="n",
        added=pl.col("pos").is_null(),
    )
    plain = base.count is None and base.weighted is None and changes.select((pl.col("n") == 1).all()).item()
    contributions = [] if plain else [
        pl.col("value").alias("c_total"),
        (pl.col("value") * pl.col("n")).alias("c_weighted"),
        pl.col("n").cast(pl.Float64).alias("c_count"),
    ]  # fmt: skip
    segments, merged = _merge(base.segments, old, new, ["value", *contributions])
    if pause is not None:
        pause()
    return View.of(_with_totals(segments, merged), after=view.after, written=view.written)
