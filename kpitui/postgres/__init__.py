"""A reading history in PostgreSQL, shared by collectors on several hosts and any number of viewers.

The same contract as the SQLite :class:`~kpitui.store.Store`
(:class:`~kpitui.history_store.HistoryStore`, proven by
``tests/test_store_contract.py``), with one addition: **instances**. Each
collector writes under its instance name (``[storage] instance``, default the
host name), so

- ``add``-mode counts from two hosts for the same metric and time add up, and
  ``replace``-mode values from different hosts never overwrite each other;
- each instance keeps its own cursors and source health;
- viewers see the sum over instances (one row per metric and time; ``n``, the raw
  readings it stands for, summed too), or one instance (``instance_filter``,
  ``kpitui report --instance NAME``).

Layout, in the schema ``kpitui`` (version in ``meta.schema_version``, migrated
forward by a writer that may create tables; refused when newer than this code):

``meta(key, value)``
    ``seq``: the write sequence counter. A writer's first statement advances it
    (``UPDATE ... RETURNING``), which holds that row's lock until commit, so
    writers are serialised and a transaction that commits later always holds
    higher numbers: a viewer that has seen ``seq`` *s* has seen every row
    numbered below it. ``generation``: bumped when rows are deleted or compacted.
``metrics(id, name)``, ``instances(id, name)``
``readings(metric_id, instance_id, at, value, seq, n)``, primary key ``(metric_id, at, instance_id)``
    ``seq``: a BRIN index (schema 8) finds the rows written since a sequence number.
    ``at``: microseconds since the epoch, UTC, as in SQLite.
``cursors(instance, source, cursor, updated)``, ``source_health(instance, source, ...)``
``compacted(metric_id, before)``
``manual_readings(id, metric_id, instance_id, at, recorded)`` (schema 5)
``snapshot_parts(part, data, through, lo, rows, last_id, last_at)`` (schema 3, 6)
    a columnar copy (Arrow IPC) of every reading summed over instances, as of
    ``meta.snapshot_seq`` (and ``meta.snapshot_generation``: a snapshot taken before rows
    were deleted or compacted is ignored): parts below ``meta.snapshot_parts`` by key range,
    each current through its own ``through``, and delta parts (numbered below 0) that carry
    them the rows written since; writers add a delta part and bring a few parts up to date,
    never rewriting the whole snapshot in one write (:mod:`.snapshot`). A collector needs
    INSERT/UPDATE on it, no DELETE.

Fast paths: a write ``COPY``-s the rows of metrics that cannot meet a stored key straight
into ``readings`` and upserts the others (``INSERT ... SELECT ... ON CONFLICT`` from a
staging table) (:mod:`.writes`). A full load (no instance filter) reads the snapshot
(:mod:`.snapshot`) plus the rows written since it, summed; rows are fetched as one
``bytea`` per column, decoded by polars (:mod:`.reads`).

The parts: :mod:`.connection` (connecting, reconnecting, errors), :mod:`.schema`
(tables and migrations), :mod:`.writes`, :mod:`.reads`, :mod:`.snapshot`, :mod:`.upkeep`
(deletes, compaction, source health), :mod:`.manual` (manual readings by id), put
together in :mod:`.store`.

Connections: one per store. A dropped connection (server restart,
``pg_terminate_backend``) rolls back the transaction it was in -- readings and
cursor together, so nothing is lost or counted twice -- and the next call
reconnects, backing off (0.1 s doubling to 5 s) for up to ``reconnect_seconds``;
:attr:`PostgresStore.reconnects` counts it and :attr:`PostgresStore.notice`
says so once.
"""

from __future__ import annotations

from .connection import display_url, missing_extra
from .schema import _MIGRATIONS, SCHEMA, SCHEMA_VERSION
from .store import PostgresStore

__all__ = ["SCHEMA", "SCHEMA_VERSION", "_MIGRATIONS", "PostgresStore", "display_url", "missing_extra"]
