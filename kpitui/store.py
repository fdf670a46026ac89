"""Persistent reading history: one SQLite file in WAL mode, shared by collectors and viewers.

:class:`Store` is the SQLite :class:`~kpitui.history_store.HistoryStore`, a facade composed of
small parts in :mod:`kpitui.sqlite_store`, each readable alone:

- :mod:`~kpitui.sqlite_store.schema`: the file's layout, its forward migrations, opening rules;
- :mod:`~kpitui.sqlite_store.base`: the connection, transactions, errors, concurrency and durability;
- :mod:`~kpitui.sqlite_store.writes`: readings with their cursor in one transaction, source health;
- :mod:`~kpitui.sqlite_store.reads` and :mod:`~kpitui.sqlite_store.snapshot`: loads, and the
  columnar snapshot cache that makes a full load cheap;
- :mod:`~kpitui.sqlite_store.compaction`: retention's down-sampling, deleting a metric;
- :mod:`~kpitui.sqlite_store.upkeep`: quick and integrity checks, online backups;
- :mod:`kpitui.manual_readings`: the readings people typed, by id.

What does not depend on SQLite (errors, frame merging, the snapshot's format, compaction's
tally, source health's rules) is in :mod:`kpitui.store_common`, shared with the PostgreSQL store.
"""

from __future__ import annotations

from .epoch import (
    from_micros as _from_us,  # noqa: F401 - kept for importers of the old names
    micros as _to_us,  # noqa: F401
)
from .manual_readings import ManualReadings
from .sqlite_store.compaction import Compaction
from .sqlite_store.reads import Reads
from .sqlite_store.schema import (
    APPLICATION_ID,
    MIGRATIONS as _MIGRATIONS,  # noqa: F401
    SCHEMA_VERSION,
    connect_readonly,
    unwritable,
)
from .sqlite_store.upkeep import Upkeep
from .sqlite_store.writes import Writes
from .store_common import (
    LOADED_SCHEMA,
    CompactionPlan,
    CompactionResult,
    CursorConflict,
    StoreError,
    covered_rows as _covered_rows,  # noqa: F401
    merge_grouped as _merge_grouped,  # noqa: F401
)

__all__ = [
    "APPLICATION_ID",
    "LOADED_SCHEMA",
    "SCHEMA_VERSION",
    "CompactionPlan",
    "CompactionResult",
    "CursorConflict",
    "Store",
    "StoreError",
    "connect_readonly",
    "unwritable",
]


class Store(Writes, Reads, Compaction, Upkeep, ManualReadings):
    """The reading history in one SQLite file (see the module docstring for its parts).

    Safe to share between threads (calls are serialised) and between
    processes (any number of viewers, several collectors).

    ``snapshot_rows``: a full :meth:`load` that fetched at least this many
    rows from the readings table refreshes the columnar snapshot
    (``None``: never write one; an existing one is still used). ``page_size``:
    the page size of a new file (an existing one keeps its own).
    """
