"""The viewer's copy of the reading history: an index loaded once, then refreshed incrementally by sequence.

The engine does not re-aggregate the history per evaluation: it queries a
:class:`~kpitui.pipeline.View` (readings sorted by metric and time with
running totals). Keeping it current costs little:

- the first :meth:`History.refresh` loads every reading and builds the base
  index (one sort, none when the store hands rows over grouped by metric:
  then batch by batch as the loaded frame is let go, :mod:`kpitui.pipeline.load`);
- later refreshes read only the rows written or rewritten since (by the
  store's sequence number) and add them to a small *delta*, each new row
  carrying the base row it rewrites, so that re-sorting or re-summing the
  base is never needed: evaluation reads base plus delta;
- when the delta reaches ``fold_rows`` rows it is folded into a new base in
  a background thread (only the segments the delta touched are indexed
  again; the others' values and running totals are kept as they are and
  their keys copied once: ~0.1-0.2 s of CPU for ten million readings and a
  delta in ten metrics; a delta over most metrics re-indexes every row,
  ~0.6-0.9 s); refreshes go on adding to the delta meanwhile, and
  the first refresh after the fold finished adopts the new base and writes
  what arrived since over it;
- when rows were deleted (the store's generation moved on) everything is read
  again: an incremental load cannot see deletions;
- with ``index_cache``, a fold's new base is saved as the index cache once
  :data:`FOLD_SAVE_ROWS` rows or more were read since the cache it started
  from (or last saved), or half the index when that is fewer (a small
  history, :func:`_worth_saving`): a viewer opened later finds a cache close to the
  store, where it used to find the one of the last full load, more than
  :data:`kpitui.index_cache.REUSE_ROWS` rows behind a store fed by a
  collector, and paid a full load.

Views are immutable: an evaluation running in another thread keeps the view it
started with while a refresh builds the next one, and a fold works on a view
nobody changes. Every view a refresh makes records what changed since the one
before (:meth:`~kpitui.pipeline.View.derived_from`), so the engine
re-evaluates only the KPIs that read those metrics.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

import polars as pl

from . import heap, mapped_columns
from .foreground import Foreground
from .history_store import HistoryStore
from .index_cache import (
    REUSE_ROWS,
    load as load_cached,
    save as save_cache,
    save_later,
    supported as index_cache_supported,
)
from .pipeline import ROWS_SCHEMA, Readings, View, as_rows, fold
from .pipeline.load import build_ids, build_streamed

#: fold the delta into the base once it holds this many rows (see benchmarks/RESULTS.md)
FOLD_ROWS = 50_000
#: with ``index_cache``, a fold's base is saved as the cache when at least this many rows were read since the
#: cache (a new cache is the whole index written again: ~240 MB for ten million readings, so not every fold)
FOLD_SAVE_ROWS = REUSE_ROWS // 2
#: the fold thread's nice value (its own: polars' pool threads keep theirs)
FOLD_NICE = 10


class History:
    """Readings from ``store``, indexed for the engine and kept current with :meth:`refresh`.

    Only rows written (or rewritten) since the last refresh are read, so a
    viewer picks up what a separate ``kpitui collect`` process wrote without
    reloading everything. Pass :meth:`view` (or the history itself) to
    :meth:`kpitui.engine.Engine.evaluate`.

    ``background``: fold the delta in a worker thread (``False``: in
    :meth:`refresh`, which then takes that long).

    ``index_cache``: start from the index cached beside the store when there is
    a valid one (:mod:`kpitui.index_cache`; the rows written since go into the
    delta), and cache the index after a full load (in a background thread:
    :attr:`saving`) and after a fold once :data:`FOLD_SAVE_ROWS` rows were read
    since the cache (after the fold, in its thread: :attr:`saving_fold`). For a
    long-running viewer (the TUI).

    ``save_cache=False`` (with ``index_cache``): start from the cache but never write one (a one-shot
    command, ``kpitui report``: it reads the cache's mapped columns instead of decoding the snapshot,
    a fraction of the memory and time, and writes nothing beside the store).
    """

    def __init__(
        self,
        store: HistoryStore,
        *,
        fold_rows: int = FOLD_ROWS,
        background: bool = True,
        index_cache: bool = False,
        save_cache: bool = True,
    ):
        self.store = store
        self.index_cache = index_cache and index_cache_supported(store)
        self.save_cache = self.index_cache and save_cache
        #: the cache being written after a full load (``None``: none)
        self.saving: threading.Thread | None = None
        #: the first load started from the cache, which held every row through ``cached_seq``
        self.from_cache = False
        self.cached_seq: int | None = None
        #: the last fold's base being saved as the cache (its result: whether it was saved; ``None``: none)
        self.saving_fold: Future[bool] | None = None
        self._since_cache = 0  # rows read since the cache this history started from or saved (full load: 0)
        self.fold_rows = fold_rows
        self.seq = 0
        self.generation: int | None = None
        self._view = View.of(Readings.empty())
        self._executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="kpitui-fold", initializer=_behind_the_foreground)
            if background
            else None
        )
        self._folding: Future[View] | None = None
        self._written: list[pl.DataFrame] = []  # rows written while the fold runs, in order
        #: the refreshes and evaluations reading this history now: a background fold's steps wait behind them
        self.foreground = Foreground()

    def view(self) -> View:
        """The index as of the last refresh (immutable)."""
        return self._view

    @property
    def frame(self) -> pl.DataFrame:
        """Every reading as a frame (``metric, at, value``, and ``n`` when some row was down-sampled).

        Built on each access, in time linear in the history: for export and
        tests. Evaluate over the history itself, not over this frame.
        """
        return self._view.frame()

    @property
    def height(self) -> int:
        return self._view.height

    @property
    def folding(self) -> bool:
        """A fold is running (or finished and not yet adopted)."""
        return self._folding is not None

    def wait(self) -> None:
        """Let a running fold finish (it is adopted by the next refresh)."""
        if self._folding is not None:
            self._folding.exception()

    def refresh(self, *, fold: bool = True) -> int:
        """Read what is new in the store; return how many rows changed.

        ``fold=False``: start no fold here, even when the delta is due one; the caller starts it
        with :meth:`fold_due` once it has used this view (a fold beside an evaluation slows it: the
        TUI evaluates first, then folds)."""
        with self.foreground:
            return self._refresh(fold)

    def _refresh(self, fold: bool) -> int:
        generation = self.store.generation()
        if generation != self.generation:
            self._view = View.of(Readings.empty())
            self._folding, self._written = None, []  # a running fold's result is of no use now
            self.seq = 0
            self.generation = generation
            self.from_cache, self.cached_seq = False, None
            self._since_cache = 0
        load_ids = getattr(self.store, "load_ids", None)  # a first load by metric id (no string per row)
        cached = self._cached(generation)
        if cached is not None:
            self._view, self.seq = View.of(cached[0]), cached[1]  # the rows since are read below
            self.from_cache, self.cached_seq = True, cached[1]
        if self.seq == 0 and self._view.height == 0 and load_ids is not None:
            built, seq = self._first_load(load_ids)
            new = None
        else:
            # the rows with ``at`` in µs, as the index takes them (no datetimes made, then turned back)
            load_rows = getattr(self.store, "load_rows", None)
            new, seq = self.store.load(since=self.seq) if load_rows is None else load_rows(self.seq)
        if self.store.generation() != generation:
            # Rows were deleted or compacted while we loaded: `new` may hold the new rows beside
            # old ones it cannot remove (a double count). Read everything again.
            self.generation = None
            return self._refresh(fold)
        current = self._view
        if new is None:
            self._view, self.seq = View.of(built), seq
            self._since_cache = 0
            # an empty history saves no cache: the full load that finds its first rows does (a save thread
            # that is done, even one that saved nothing, no longer stands in the way of the next full load's)
            if self.save_cache and built.height and (self.saving is None or not self.saving.is_alive()):
                self.saving = save_later(self.store, built, seq, generation)  # type: ignore[arg-type]
            return built.height
        if new.height and current.height == 0 and self.seq == 0:
            self._view = View.from_frame(new)
        else:
            self._since_cache += new.height
            rows = (new if new.schema == ROWS_SCHEMA else as_rows(new)) if new.height else None
            start = self._adopt() or current  # the same readings as `current`
            view = start.write(rows) if rows is not None else start
            if view is not current:
                # ``start`` holds ``current``'s readings: the rows written are the difference
                if rows is None:
                    view = view.derived_from(current, frozenset())
                else:
                    view = view.derived_from(current, view.written, view.written_from)
            if self._folding is not None and rows is not None:
                self._written.append(rows)
            elif fold and self._folding is None and view.changes.height >= self.fold_rows:
                view = self._fold(view, seq, generation)
            self._view = view
        self.seq = seq
        return new.height

    def fold_due(self) -> bool:
        """Start the fold :meth:`refresh` would have started (``fold=False``) if the delta is due one
        and none is running; whether one started (or ran, without ``background``)."""
        view = self._view
        if self._folding is not None or view.changes.height < self.fold_rows:
            return False
        # in the background: ``view`` itself, adopted by a later refresh
        folded = self._fold(view, self.seq, self.generation)
        self._view = folded if folded is view else folded.derived_from(view, frozenset())  # the same readings
        return True

    def _cached(self, generation: int) -> tuple[Readings, int] | None:
        """The cached index to start from (first refresh only), or ``None``."""
        if not self.index_cache or self.seq != 0 or self._view.height != 0:
            return None
        return load_cached(self.store, generation)  # type: ignore[arg-type]

    def _first_load(self, load_ids: Callable[[], tuple[pl.DataFrame, dict[int, str], int]]) -> tuple[Readings, int]:
        """The base index of every reading: from the store's snapshot parts one at a time when it
        offers them (the loaded frame is never held whole), else from one loaded frame."""
        load_parts = getattr(self.store, "load_id_parts", None)
        streamed = load_parts() if load_parts is not None else None
        if streamed is not None:
            parts, names, seq = streamed
            try:
                return build_streamed(parts, names, release=_purge), seq
            except Exception:  # noqa: BLE001 - NotInOrder, or a blob polars cannot decode
                pass  # a snapshot written out of order (or damaged): the frame's load sorts (or reads the table)
        return build_ids(load_ids)

    def _fold(self, view: View, seq: int, generation: int | None) -> View:
        """``view`` folded (``view`` itself while the fold runs in the background); ``seq``, ``generation``:
        the store's rows ``view`` holds (every row through ``seq``), for the cache saved after the fold."""
        save = self.save_cache and not self.store.readonly and _worth_saving(self._since_cache, view.height)
        if save:
            self._since_cache = 0  # a failed save is not tried again before as many rows more
        if self._executor is None:
            folded = _released(_fold(view))
            if save and generation is not None:
                self.saving_fold = Future()
                self.saving_fold.set_result(_save_folded(self.store, folded, seq, generation))
            return folded
        self._folding, self._written = self._executor.submit(_fold, view, self.foreground.wait), []
        if save and generation is not None:  # the executor's one thread: after the fold, which is adopted meanwhile
            self.saving_fold = self._executor.submit(_save_when_folded, self.store, self._folding, seq, generation)
        return view

    def _adopt(self) -> View | None:
        """A finished fold's view, with what was written since over it; ``None`` while none is ready."""
        if self._folding is None or not self._folding.done():
            return None
        folded = self._folding.result()  # a fold that failed raises here, in the refresh
        written, self._folding, self._written = self._written, None, []
        if written:
            # later batches win, as they did in the delta
            rows = pl.concat(written).unique(subset=["metric", "at"], keep="last", maintain_order=True)
            folded = folded.write(rows)
        return _released(folded)


def _behind_the_foreground() -> None:
    """The fold thread's priority below the refreshes' and evaluations' (Linux: a thread's own nice value)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), FOLD_NICE)
    except (AttributeError, OSError):  # no per-thread priorities here: the fold runs as it did
        pass


def one_shot(store: HistoryStore) -> History:
    """The history of ``store`` loaded once, for a command that evaluates it and exits (``kpitui report``,
    ``kpitui series``): from the index cache when there is a usable one, with the rows written since in
    the delta (the same answers as a full load: :mod:`kpitui.index_cache`), else a full load. It writes no
    cache (a one-shot command leaves nothing beside the store) and starts no fold (nobody would adopt it).

    The cache's columns are mapped, not decoded: over ten million readings with 150,000 since, the peak
    resident memory ~530 -> ~390 MB and the CPU ~3.3 -> ~1.2 s (benchmarks/NOTES.md, helper ``mem13``)."""
    history = History(store, index_cache=True, save_cache=False)
    history.refresh(fold=False)
    return history


def _worth_saving(since: int, height: int) -> bool:
    """Whether a fold's base is saved as the index cache, ``since`` rows having been read since the cache (or
    the full load) into an index of ``height`` rows. A cache is the whole index written again: for a large one,
    every :data:`FOLD_SAVE_ROWS` rows; for a small one, once half its rows came since. The bundled sample's
    first session caches the few thousand readings of the first poll that finds any, then its demo source
    back-fills ~87,000 more: under :data:`FOLD_SAVE_ROWS` nothing was saved after the fold, and every later
    start read those rows one by one into its delta before the first values."""
    return since > 0 and since >= min(FOLD_SAVE_ROWS, height // 2)


def _fold(view: View, pause: Callable[[], object] | None = None) -> View:
    """:func:`~kpitui.pipeline.fold`, giving back the pages of a cache's mapped columns as it goes
    (the keys are read again from the file as the fold copies them, then let go; the values and
    running totals it keeps are not copied): the copies do not come on top of the whole mapped base
    (benchmarks/NOTES.md, "Memory: a TUI start's fold"); and what polars' allocator keeps of what was
    freed before the fold and at each of its steps (the touched rows' temporaries, the moved keys'
    pieces once the key is one chunk) is given back there too
    (:func:`kpitui.heap.purge_polars`; NOTES, helper ``mem13``).
    ``pause``: called between the fold's steps (in the background: wait behind the foreground); a
    background fold's base then works out what evaluations read first (:meth:`~kpitui.pipeline.Readings.warm`)."""
    _purge()
    folded = fold(view, release=_let_go, pause=pause)
    if pause is not None and folded is not view:  # in the background: not in the refresh that adopts it
        pause()
        folded.base.warm()
    return folded


def _let_go() -> None:
    mapped_columns.drop_pages()
    _purge()


def _purge() -> None:
    """What polars' allocator keeps of what was freed, given back when it is worth it (:mod:`kpitui.heap`)."""
    heap.purge_polars(at_least=heap.WORTH_PURGING)


def _save_folded(store: HistoryStore, folded: View, seq: int, generation: int) -> bool:
    """Save the base of ``folded`` (a fold's result: every row through ``seq``, its delta empty) as the
    index cache of ``store`` (:func:`kpitui.index_cache.save`); whether it was saved."""
    if folded.changes.height:  # a delta left (not a fold's result): the base alone is not every row
        return False
    return save_cache(store, folded.base, seq, generation)  # type: ignore[arg-type]


def _save_when_folded(store: HistoryStore, folding: Future[View], seq: int, generation: int) -> bool:
    """:func:`_save_folded` of the fold ``folding`` (done: it ran before in the same thread)."""
    try:
        folded = folding.result()
    except Exception:  # noqa: BLE001 - the fold's error is raised where it is adopted
        return False
    return _save_folded(store, folded, seq, generation)


def _released(folded: View) -> View:
    """``folded``, once the base it replaces is no longer read: the pages of a cache's mapped columns
    go back to the page cache (the fold built its own; any still read are read again from the file)."""
    mapped_columns.drop_pages()
    return folded
