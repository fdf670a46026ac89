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

Implementations: :class:`kpitui.store.Store` (SQLite, the embedded default) and
:class:`kpitui.postgres_store.PostgresStore` (``[storage] url``: one history shared
by collectors on several hosts). :func:`open_history` chooses between them from
the config; nothing else constructs a store for a config.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, Self, runtime_checkable

if TYPE_CHECKING:
    import polars as pl

    from .config import Config
    from .model import SourceHealth
    from .store import CompactionPlan, CompactionResult

__all__ = ["HistoryStore", "describe_history", "open_history"]


@runtime_checkable
class HistoryStore(Protocol):
    """A reading history shared by collectors (writers) and viewers (readers).

    ``path``: the SQLite file, or (PostgreSQL) the local path beside which side
    files such as alert state live; :attr:`where` names the history in messages.
    """

    path: Path
    #: why the history is known to be damaged (writes are then refused), else ``None``
    damaged: str | None

    #: opened for viewing only: every write raises StoreError
    readonly: bool
    #: rows the last :meth:`write` dropped (null metric/time, null/NaN/inf value)
    last_dropped: int
    #: rows the last replace-mode :meth:`write` left out because their metric's past is compacted there
    last_compacted: int

    @property
    def where(self) -> str:
        """The history in one phrase for messages (a file path, or a URL without its password)."""
        ...

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

    def delete_metric(self, metric: str) -> int:
        """Delete every reading of ``metric``; how many there were (the generation moves on)."""
        ...

    def compacted_before(self, metric: str) -> dt.datetime | None:
        """The instant before which ``metric`` is compacted (closed to replace-mode writes), or ``None``."""
        ...

    def check_if_due(self, now: dt.datetime | None = None) -> str | None:
        """A periodic integrity check for long-running writers: why the history is damaged, else ``None``."""
        ...

    def close(self) -> None:
        """Release the connection; later calls raise StoreError."""
        ...

    def __enter__(self) -> Self:
        """``with open_history(config) as store:`` closes it at the end."""
        ...

    def __exit__(self, *exc: object) -> None: ...


def describe_history(config: Config) -> str:
    """Where ``config`` keeps its history, for messages: the file, or the URL without its password."""
    url = config.storage.url
    if url is None:
        return str(config.storage.path)
    from .postgres_store import display_url

    return display_url(url.template if "${" in url.template else url.reveal())


def open_history(config: Config, *, readonly: bool = False, instance_filter: str | None = None) -> HistoryStore:
    """The history ``config`` names: PostgreSQL when ``[storage] url`` is set, else its SQLite file.

    ``instance_filter``: a viewer that wants one collector instance's readings
    only (PostgreSQL; an SQLite history has one instance, so it is refused there).
    """
    storage = config.storage
    from .store import StoreError

    if storage.url is not None:
        from .options import OptionError
        from .postgres_store import PostgresStore

        try:
            revealed = storage.url.reveal()
        except OptionError as exc:
            raise StoreError(f"[storage] url: {exc}") from None
        return PostgresStore(
            revealed, readonly=readonly, instance=storage.instance, instance_filter=instance_filter, path=storage.path
        )
    from .store import Store

    if instance_filter is not None:
        raise StoreError(
            f"--instance {instance_filter}: the history {storage.path} is an SQLite file written by one instance; "
            "instances are kept apart in a PostgreSQL history ([storage] url)"
        )
    try:
        return Store(storage.path, readonly=readonly)
    except OSError as exc:
        raise StoreError(f"cannot open the history at {storage.path}: {exc}") from exc
