"""The ``HistoryStore`` protocol: what collectors, viewers and retention need from a reading history.

:class:`kpitui.store.Store` (one SQLite file) implements it; a PostgreSQL store
for several collectors on several hosts (issue "Team scale") is to implement
the same protocol and pass the same contract tests
(``tests/test_store_contract.py``, parametrised by implementation). The
semantics every implementation must keep:

- **ingest is idempotent**: ``mode="replace"`` sets the value of each
  (metric, at), ``mode="add"`` adds to it; rewriting a stored value changes
  nothing and is not counted;
- **a cursor commits with its readings** (one transaction), and
  ``expect_cursor`` makes a write conditional on the stored cursor, so two
  collectors never count the same events twice (:class:`~kpitui.store.CursorConflict`);
- **incremental loads**: every row a write inserts or changes gets a new,
  higher sequence number; ``load(since)`` returns the rows written after
  ``since`` and the highest number seen; :meth:`generation` moves on when
  rows are deleted or compacted (incremental readers then load from 0);
- **compaction** replaces old rows by the rows a plan makes of them, in a
  transaction, and closes each compacted metric's past to replace-mode writes;
- **source health** is shared between processes;
- failures are :class:`~kpitui.store.StoreError` with a message for the user.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import polars as pl

    from .model import SourceHealth
    from .store import CompactionPlan, CompactionResult

__all__ = ["HistoryStore"]


@runtime_checkable
class HistoryStore(Protocol):
    """A reading history shared by collectors (writers) and viewers (readers)."""

    #: opened for viewing only: every write raises StoreError
    readonly: bool
    #: rows the last :meth:`write` dropped (null metric/time, null/NaN/inf value)
    last_dropped: int
    #: rows the last replace-mode :meth:`write` left out because their metric's past is compacted there
    last_compacted: int

    def write(
        self,
        readings: pl.DataFrame,
        *,
        mode: Literal["replace", "add"] = "replace",
        source: str | None = None,
        cursor: str | None = None,
        set_cursor: bool = False,
        expect_cursor: str | None = ...,
    ) -> int:
        """Store ``readings`` (metric, at, value) and ``source``'s ``cursor`` in one transaction;
        return how many rows were inserted or changed."""
        ...

    def load(self, since: int = 0, *, metrics: Iterable[str] | None = None) -> tuple[pl.DataFrame, int]:
        """Rows written after sequence number ``since`` (metric, at, value, n) and the highest number seen."""
        ...

    def cursor(self, source: str) -> str | None:
        """``source``'s last committed cursor."""
        ...

    def record_health(
        self,
        source: str,
        *,
        ok: bool,
        error: str | None = None,
        at: dt.datetime | None = None,
        next_attempt: dt.datetime | None = None,
    ) -> None:
        """Record one poll of ``source``: success clears the error and failure count, failure adds one."""
        ...

    def health(self) -> dict[str, SourceHealth]:
        """What collectors last recorded about each source."""
        ...

    def generation(self) -> int:
        """A number that changes whenever rows are deleted or compacted."""
        ...

    def compact(
        self,
        before: dt.datetime,
        plan: CompactionPlan,
        *,
        metrics: Iterable[str] | None = None,
        dry_run: bool = False,
        max_rows_per_transaction: int = ...,
    ) -> CompactionResult:
        """Replace groups of rows older than ``before`` by the rows ``plan`` makes of them."""
        ...

    def metric_names(self) -> list[str]:
        """Every metric name with stored readings, sorted."""
        ...

    def close(self) -> None:
        """Release the connection; later calls raise StoreError."""
        ...
