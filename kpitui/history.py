"""The viewer's copy of the reading history: loaded once, then refreshed incrementally by sequence."""

from __future__ import annotations

import polars as pl

from .api import READINGS_SCHEMA
from .store import Store


class History:
    """Readings from ``store`` as one polars frame, kept current with :meth:`refresh`.

    Only rows written (or rewritten) since the last refresh are read, so a
    viewer picks up what a separate ``kpitui collect`` process wrote without
    reloading everything.
    """

    def __init__(self, store: Store):
        self.store = store
        self.frame = pl.DataFrame(schema=READINGS_SCHEMA)
        self.seq = 0
        self.generation: int | None = None

    def refresh(self) -> int:
        """Read what is new in the store; return how many rows changed.

        When rows were deleted (the store's generation moved on), everything
        is read again: an incremental load cannot see deletions.
        """
        generation = self.store.generation()
        if generation != self.generation:
            self.frame = pl.DataFrame(schema=READINGS_SCHEMA)
            self.seq = 0
            self.generation = generation
        new, seq = self.store.load(since=self.seq)
        if self.store.generation() != generation:
            # Rows were deleted or compacted while we loaded: `new` may hold the new rows beside
            # old ones it cannot remove (a double count). Read everything again.
            self.generation = None
            return self.refresh()
        if new.height:
            self.frame = new if self.seq == 0 and self.frame.height == 0 else Store.merge(self.frame, new)
        self.seq = seq
        return new.height
