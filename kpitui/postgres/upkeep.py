"""Deleting, compacting and source health in the PostgreSQL history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import polars as pl

from ..epoch import micros
from ..model import SourceHealth
from ..store_common import (
    CompactionNotAllowed,
    CompactionPlan,
    CompactionResult,
    CompactionTally,
    covered_rows,
    health_record,
    health_update,
    plan_input,
    run_plan,
)
from .connection import PostgresBase
from .schema import SCHEMA


class Upkeep(PostgresBase):
    """delete_metric, compact, record_health, health (mixed into :class:`~kpitui.postgres.PostgresStore`)."""

    def _bump_generation(self, con: Any) -> None:
        con.execute(f"UPDATE {SCHEMA}.meta SET value = value + 1 WHERE key = 'generation'")

    def delete_metric(self, metric: str) -> int:
        with self._guard("delete from") as con:
            self._writable()
            with con.transaction():
                self._take_seq(con, 0)
                row = con.execute(f"SELECT id FROM {SCHEMA}.metrics WHERE name = %s", (metric,)).fetchone()
                if row is None:
                    return 0
                deleted = con.execute(f"DELETE FROM {SCHEMA}.readings WHERE metric_id = %s", (row[0],)).rowcount
                con.execute(f"DELETE FROM {SCHEMA}.manual_readings WHERE metric_id = %s", (row[0],))
                con.execute(f"DELETE FROM {SCHEMA}.compacted WHERE metric_id = %s", (row[0],))
                con.execute(f"DELETE FROM {SCHEMA}.metrics WHERE id = %s", (row[0],))
                self._bump_generation(con)
                return int(deleted)

    def compact(
        self,
        before: dt.datetime,
        plan: CompactionPlan,
        *,
        metrics: Iterable[str] | None = None,
        dry_run: bool = False,
        max_rows_per_transaction: int = 500_000,
    ) -> CompactionResult:
        """As :meth:`kpitui.store.Store.compact`, each instance's rows compacted on their own
        (one transaction per metric; ``max_rows_per_transaction`` is not needed to bound it here)."""
        if not dry_run:
            self._writable()
        cutoff = micros(before)
        with self._guard("read") as con:
            names = dict(con.execute(f"SELECT id, name FROM {SCHEMA}.metrics").fetchall())
            instances = [r[0] for r in con.execute(f"SELECT id FROM {SCHEMA}.instances ORDER BY id")]
            allowed = dry_run or self._may_compact(con)
        wanted = None if metrics is None else set(metrics)
        tally = CompactionTally()
        for metric_id, name in sorted(names.items()):
            if wanted is not None and name not in wanted:
                continue
            with self._guard("compact") as con:
                with con.transaction():
                    if not dry_run and allowed:
                        self._take_seq(con, 0)  # hold off writers while the range is replaced
                    changed = False
                    for instance_id in instances:
                        rows = self._rows_before(con, metric_id, instance_id, cutoff)
                        out = run_plan(plan, name, rows)
                        if out is None:
                            continue
                        if not allowed:  # said only when there is something to compact
                            raise CompactionNotAllowed(
                                f"the PostgreSQL role {self._role()} may not compact the history {self.where}: "
                                "compaction deletes old readings (DELETE on kpitui.readings, INSERT and UPDATE on "
                                "kpitui.compacted), which a collector role does not have; run `kpitui compact` as "
                                "the database's owner (its URL in [storage] url), e.g. daily from cron"
                            )
                        gone = covered_rows(rows, out) if dry_run else self._replace(con, metric_id, instance_id, out)
                        tally.add(name, gone, out.height)
                        changed = True
                    if changed and not dry_run:
                        con.execute(
                            f"INSERT INTO {SCHEMA}.compacted (metric_id, before) VALUES (%s, %s) "
                            "ON CONFLICT (metric_id) DO UPDATE SET before = greatest(compacted.before, "
                            "excluded.before)",
                            (metric_id, cutoff),
                        )
                        self._bump_generation(con)
                        tally.transactions += 1
        return tally.result(dry_run)

    def _may_compact(self, con: Any) -> bool:
        """May this role delete and rewrite old readings (and take the writers' lock)?"""
        return bool(
            con.execute(
                "SELECT has_table_privilege(%s, 'DELETE') AND has_table_privilege(%s, 'INSERT, UPDATE') "
                "AND has_table_privilege(%s, 'UPDATE')",
                (f"{SCHEMA}.readings", f"{SCHEMA}.compacted", f"{SCHEMA}.meta"),
            ).fetchone()[0]
        )

    def _replace(self, con: Any, metric_id: int, instance_id: int, out: pl.DataFrame) -> int:
        gone = 0
        for first, last in out.select("first", "last").iter_rows():
            gone += con.execute(
                f"DELETE FROM {SCHEMA}.readings WHERE metric_id = %s AND instance_id = %s AND at >= %s AND at <= %s",
                (metric_id, instance_id, first, last),
            ).rowcount
        first_seq = self._take_seq(con, out.height)
        with con.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {SCHEMA}.readings (metric_id, instance_id, at, value, seq, n) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                list(
                    zip(
                        [metric_id] * out.height,
                        [instance_id] * out.height,
                        out["at"].to_list(),
                        out["value"].to_list(),
                        range(first_seq, first_seq + out.height),
                        out["n"].to_list(),
                    )
                ),
            )
        return gone

    def _rows_before(self, con: Any, metric_id: int, instance_id: int, cutoff: int) -> pl.DataFrame:
        rows = con.execute(
            f"SELECT at, value, n FROM {SCHEMA}.readings WHERE metric_id = %s AND instance_id = %s AND at < %s "
            "ORDER BY at",
            (metric_id, instance_id, cutoff),
        ).fetchall()
        return plan_input(rows)

    def record_health(
        self,
        source: str,
        *,
        ok: bool,
        error: str | None = None,
        at: dt.datetime | None = None,
        next_attempt: dt.datetime | None = None,
    ) -> None:
        update = health_update(ok, error, at, next_attempt)
        table = f"{SCHEMA}.source_health"
        with self._guard("record source health in") as con:
            self._writable()
            if update.ok:
                con.execute(
                    f"INSERT INTO {table} AS h (instance, source, last_success, failures, next_attempt) "
                    "VALUES (%s, %s, %s, 0, %s) ON CONFLICT (instance, source) DO UPDATE SET "
                    "last_success = excluded.last_success, error = NULL, failures = 0, next_attempt = "
                    "excluded.next_attempt",
                    (self.instance, source, update.at, update.next_attempt),
                )
            else:
                con.execute(
                    f"INSERT INTO {table} AS h (instance, source, last_error, error, failures, next_attempt) "
                    "VALUES (%s, %s, %s, %s, 1, %s) ON CONFLICT (instance, source) DO UPDATE SET "
                    "last_error = excluded.last_error, error = excluded.error, failures = h.failures + 1, "
                    "next_attempt = excluded.next_attempt",
                    (self.instance, source, update.at, update.error, update.next_attempt),
                )

    def health(self) -> dict[str, SourceHealth]:
        """Per source: this instance's record; else (a viewer) a failing instance's, else the latest success."""
        rows = self._read(
            "read source health from",
            lambda con: con.execute(
                "SELECT instance, source, last_success, last_error, error, failures, next_attempt FROM "
                f"{SCHEMA}.source_health"
            ).fetchall(),
        )
        chosen: dict[str, tuple[Any, ...]] = {}
        mine = self.instance_filter or self.instance

        def rank(row: tuple[Any, ...]) -> tuple[bool, bool, int]:
            return (row[0] == mine, row[5] > 0, row[2] or 0)

        for row in rows:
            if self.instance_filter is not None and row[0] != self.instance_filter:
                continue
            if row[1] not in chosen or rank(row) > rank(chosen[row[1]]):
                chosen[row[1]] = row
        return {row[1]: health_record(*row[1:]) for row in chosen.values()}

    def check_if_due(self, now: dt.datetime | None = None) -> str | None:
        """The server looks after its own pages (checksums, backups): nothing to check here."""
        return None
