"""The viewer's copy of the reading history: an index loaded once, then refreshed incrementally by sequence.

The engine does not re-aggregate the history per evaluation: it queries a
:class:`~kpitui.pipeline.View` (readings sorted by metric and time with
running totals). Keeping it current costs little:

- the first :meth:`History.refresh` loads every reading and builds the base
  index (one sort);
- later refreshes read only the rows written or rewritten since (by the
  store's sequence number) and add them to a small *delta*, each new row
  carrying the base row it rewrites, so that re-sorting or re-summing the
  base is never needed: evaluation reads base plus delta;
- when the delta reaches ``fold_rows`` rows it is folded into a new base
  (a linear merge of two sorted runs, no full sort);
- when rows were deleted (the store's generation moved on) everything is read
  again: an incremental load cannot see deletions.

Views are immutable: an evaluation running in another thread keeps the view it
started with while a refresh builds the next one.
"""

from __future__ import annotations

import polars as pl

from .pipeline import Readings, View, as_rows, fold
from .store import Store

#: fold the delta into the base once it holds this many rows (see benchmarks/RESULTS.md)
FOLD_ROWS = 50_000


class History:
    """Readings from ``store``, indexed for the engine and kept current with :meth:`refresh`.

    Only rows written (or rewritten) since the last refresh are read, so a
    viewer picks up what a separate ``kpitui collect`` process wrote without
    reloading everything. Pass :meth:`view` (or the history itself) to
    :meth:`kpitui.engine.Engine.evaluate`.
    """

    def __init__(self, store: Store, *, fold_rows: int = FOLD_ROWS):
        self.store = store
        self.fold_rows = fold_rows
        self.seq = 0
        self.generation: int | None = None
        self._view = View.of(Readings.empty())

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

    def refresh(self) -> int:
        """Read what is new in the store; return how many rows changed."""
        generation = self.store.generation()
        if generation != self.generation:
            self._view = View.of(Readings.empty())
            self.seq = 0
            self.generation = generation
        new, seq = self.store.load(since=self.seq)
        if self.store.generation() != generation:
            # Rows were deleted or compacted while we loaded: `new` may hold the new rows beside
            # old ones it cannot remove (a double count). Read everything again.
            self.generation = None
            return self.refresh()
        if new.height:
            if self._view.height == 0 and self.seq == 0:
                self._view = View.from_frame(new)
            else:
                view = self._view.write(as_rows(new))
                self._view = fold(view) if view.changes.height >= self.fold_rows else view
        self.seq = seq
        return new.height
