"""Removing rows from the SQLite history: compaction (retention's down-sampling) and deleting a metric."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import NamedTuple

import polars as pl

from ..epoch import micros
from ..store_common import (
    CompactionPlan,
    CompactionResult,
    CompactionTally,
    batches,
    covered_rows,
    plan_input,
    run_plan,
)
from .staging import Staging


class _Pending(NamedTuple):
    """A metric with rows to compact: where its first bucket starts and how many rows it covers."""

    metric_id: int
    name: str
    start: int
    rows: int


class Compaction(Staging):
    """Compaction and deletion (a part of :class:`~kpitui.store.Store`)."""

    def compact(
        self,
        before: dt.datetime,
        plan: CompactionPlan,
        *,
        metrics: Iterable[str] | None = None,
        dry_run: bool = False,
        max_rows_per_transaction: int = 500_000,
    ) -> CompactionResult:
        """Replace groups of readings older than ``before`` by the rows ``plan`` makes of them.

        :mod:`kpitui.retention` supplies ``plan`` (one row per time bucket,
        aggregated by the metric's rule). Each metric's rows before ``before``
        are read without blocking anyone to find what would change; then, in
        one ``BEGIN IMMEDIATE`` transaction, the affected range is read again
        (a collector may have added to it meanwhile), planned again, and the
        replaced rows are deleted and their replacements inserted with new
        sequence numbers. The generation moves on (incremental viewers reload)
        and the columnar snapshot is dropped -- only when something changed,
        so compacting again is a no-op. A backlog of more than
        ``max_rows_per_transaction`` rows is split into several transactions,
        whole metrics each; every one leaves a consistent history.
        """
        if not dry_run:
            self._writable()
        cutoff = micros(before)
        tally = CompactionTally()
        pending = self._pending(cutoff, plan, metrics, tally if dry_run else None)
        if dry_run or not pending:
            return tally.result(dry_run)
        for batch in batches(pending, lambda item: item.rows, max_rows_per_transaction):
            with self._guard("compact"):
                with self._transaction():
                    if self._replace_batch(batch, cutoff, plan, tally):
                        self._forget_snapshot()
                        tally.transactions += 1
        return tally.result(False)

    def _pending(
        self, cutoff: int, plan: CompactionPlan, metrics: Iterable[str] | None, dry_run: CompactionTally | None
    ) -> list[_Pending]:
        """The metrics ``plan`` would change, read without a write lock (``dry_run``: tallied there)."""
        with self._guard("read") as con:
            names = dict(con.execute("SELECT id, name FROM metrics").fetchall())
        wanted = None if metrics is None else set(metrics)
        pending = []
        for metric_id, name in sorted(names.items()):
            if wanted is not None and name not in wanted:
                continue
            with self._guard("read"):
                rows = self._rows_before(metric_id, None, cutoff)
            out = run_plan(plan, name, rows)
            if out is None:
                continue
            start = int(out["at"].min())  # type: ignore[arg-type]  # the earliest bucket's start
            pending.append(_Pending(metric_id, name, start, rows.filter(pl.col("at") >= start).height))
            if dry_run is not None:
                dry_run.add(name, covered_rows(rows, out), out.height)
        return pending

    def _replace_batch(self, batch: list[_Pending], cutoff: int, plan: CompactionPlan, tally: CompactionTally) -> bool:
        """Inside the write transaction: plan each metric again and replace its rows; whether any changed."""
        con = self._conn
        changed = False
        for item in batch:
            out = run_plan(plan, item.name, self._rows_before(item.metric_id, item.start, cutoff))
            if out is None:
                continue
            gone = 0
            for first, last in out.select("first", "last").iter_rows():
                gone += con.execute(
                    "DELETE FROM readings WHERE metric_id = ? AND at >= ? AND at <= ?", (item.metric_id, first, last)
                ).rowcount
            first_seq = self._meta("seq") + 1
            con.executemany(
                "INSERT INTO readings (metric_id, at, value, seq, n) VALUES (?, ?, ?, ?, ?)",
                zip(
                    [item.metric_id] * out.height,
                    out["at"].to_list(),
                    out["value"].to_list(),
                    range(first_seq, first_seq + out.height),
                    out["n"].to_list(),
                ),
            )
            self._set_meta("seq", first_seq + out.height - 1)
            con.execute(
                "INSERT INTO compacted (metric_id, before) VALUES (?, ?) "
                "ON CONFLICT (metric_id) DO UPDATE SET before = max(before, excluded.before)",
                (item.metric_id, cutoff),
            )
            tally.add(item.name, gone, out.height)
            changed = True
        return changed

    def _rows_before(self, metric_id: int, start: int | None, cutoff: int) -> pl.DataFrame:
        """One metric's rows with ``start <= at < cutoff``, oldest first: (at, value, n), with its staged
        readings over them (none inside a write transaction: it folded them)."""
        low = -(2**63) if start is None else start
        rows = self._conn.execute(
            "SELECT at, value, n FROM readings WHERE metric_id = ? AND at >= ? AND at < ? ORDER BY at",
            (metric_id, low, cutoff),
        ).fetchall()
        staged = {at: value for (m, at), (value, _) in self._staged().items() if m == metric_id and low <= at < cutoff}
        if staged:
            rows = sorted([row for row in rows if row[0] not in staged] + [(at, v, 1) for at, v in staged.items()])
        return plan_input(rows)

    def delete_metric(self, metric: str) -> int:
        """Delete every reading of ``metric``; returns how many there were."""
        with self._guard("delete from") as con:
            self._writable()
            with self._transaction():
                row = con.execute("SELECT id FROM metrics WHERE name = ?", (metric,)).fetchone()
                if row is None:
                    return 0
                deleted = con.execute("DELETE FROM readings WHERE metric_id = ?", (row[0],)).rowcount
                con.execute("DELETE FROM metrics WHERE id = ?", (row[0],))
                con.execute("DELETE FROM compacted WHERE metric_id = ?", (row[0],))
                self._forget_snapshot()
                return deleted
