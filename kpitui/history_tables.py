"""What ``kpitui history copy`` carries beside the readings, read from and written to either kind of history.

Manual readings keep their ids (and when they were typed), and the id counter its high-water mark, so
``kpitui readings edit 7`` finds the same reading after a move and the next reading typed gets a new id;
cursors and source health are those of one instance (an SQLite history has one); compacted pasts and
down-sampled rows' ``n`` keep ``report --at T`` unchanged. Every write is an upsert keyed as the source
is, so copying the same history again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from .history_store import HistoryStore
from .store import Store

__all__ = ["Extras", "read_extras", "set_n", "write_extras", "clear_horizons", "other_instances"]

SCHEMA = "kpitui"  # kpitui.postgres.schema.SCHEMA, not imported so that SQLite copies need no psycopg

_HEALTH = "source, last_success, last_error, error, failures, next_attempt"


@dataclass(frozen=True)
class Extras:
    """A history's tables beside its readings (times in µs since the epoch, UTC)."""

    manual: list[tuple[int, str, int, int | None]]  # id, metric, at, recorded
    manual_top: int  # the highest manual-reading id ever handed out
    cursors: list[tuple[str, str | None, int]]  # source, cursor, updated
    health: list[tuple[str, int | None, int | None, str | None, int, int | None]]
    horizons: dict[str, int]  # metric: compacted before


def _is_sqlite(store: HistoryStore) -> bool:
    return isinstance(store, Store)


def _rows(store: HistoryStore, sqlite_sql: str, postgres_sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    if isinstance(store, Store):
        with store._guard("read from") as con:
            return list(con.execute(sqlite_sql).fetchall())
    with store._guard("read from") as con:  # type: ignore[attr-defined]
        return list(con.execute(postgres_sql, params).fetchall())


def _sequence_top(con: Any) -> int:
    """The last manual-reading id a PostgreSQL history handed out (0: none, or a role that may not read the
    counter: a viewer copying the history then carries its highest id)."""
    name, allowed = con.execute(
        f"SELECT s, has_sequence_privilege(s, 'SELECT') FROM pg_get_serial_sequence('{SCHEMA}.manual_readings', 'id') s"
    ).fetchone()
    if not allowed:
        return 0
    last, called = con.execute(f"SELECT last_value, is_called FROM {name}").fetchone()
    return int(last) if called else 0


def read_extras(store: HistoryStore, instance: str) -> Extras:
    """``store``'s manual readings (of every instance), and ``instance``'s cursors and health."""
    manual = _rows(
        store,
        "SELECT e.id, m.name, e.at, e.recorded FROM manual_readings e JOIN metrics m ON m.id = e.metric_id "
        "ORDER BY e.id",
        f"SELECT e.id, m.name, e.at, e.recorded FROM {SCHEMA}.manual_readings e "
        f"JOIN {SCHEMA}.metrics m ON m.id = e.metric_id ORDER BY e.id",
    )
    if isinstance(store, Store):
        with store._guard("read from") as con:
            found = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'manual_readings'").fetchone()
        top = 0 if found is None else int(found[0])
    else:
        with store._guard("read from") as con:  # type: ignore[attr-defined]
            top = _sequence_top(con)
    cursors = _rows(
        store,
        "SELECT source, cursor, updated FROM cursors ORDER BY source",
        f"SELECT source, cursor, updated FROM {SCHEMA}.cursors WHERE instance = %s ORDER BY source",
        (instance,),
    )
    health = _rows(
        store,
        f"SELECT {_HEALTH} FROM source_health ORDER BY source",
        f"SELECT {_HEALTH} FROM {SCHEMA}.source_health WHERE instance = %s ORDER BY source",
        (instance,),
    )
    horizons = _rows(
        store,
        "SELECT m.name, c.before FROM compacted c JOIN metrics m ON m.id = c.metric_id",
        f"SELECT m.name, c.before FROM {SCHEMA}.compacted c JOIN {SCHEMA}.metrics m ON m.id = c.metric_id",
    )
    ids = [row[0] for row in manual]
    return Extras(
        manual=[tuple(row) for row in manual],
        manual_top=max([top, *ids]),
        cursors=[tuple(row) for row in cursors],
        health=[tuple(row) for row in health],
        horizons=dict(horizons),
    )


def other_instances(target: HistoryStore) -> int:
    """How many readings of a PostgreSQL ``target`` belong to another instance than its own (0 for SQLite)."""
    if _is_sqlite(target):
        return 0
    rows = _rows(
        target,
        "",
        f"SELECT count(*) FROM {SCHEMA}.readings WHERE instance_id IS DISTINCT FROM "
        f"(SELECT id FROM {SCHEMA}.instances WHERE name = %s)",
        (target.instance,),  # type: ignore[attr-defined]
    )
    return int(rows[0][0])


def clear_horizons(target: HistoryStore) -> None:
    """Forget ``target``'s compacted pasts (a copy run again rewrites those readings, then sets them back)."""
    if not _rows(target, "SELECT 1 FROM compacted LIMIT 1", f"SELECT 1 FROM {SCHEMA}.compacted LIMIT 1"):
        return
    _write(target, lambda con: con.execute("DELETE FROM compacted"), f"DELETE FROM {SCHEMA}.compacted", [])


def set_n(target: HistoryStore, rows: pl.DataFrame) -> None:
    """Give down-sampled rows their ``n`` (a write stores raw readings, ``n`` = 1)."""
    if rows.height == 0:
        return
    params: list[Any] = list(zip(rows["n"].to_list(), rows["metric"].to_list(), rows["at"].dt.epoch("us").to_list()))
    if isinstance(target, Store):
        sql = "UPDATE readings SET n = ? WHERE metric_id = (SELECT id FROM metrics WHERE name = ?) AND at = ?"
        _write(target, lambda con: con.executemany(sql, params), "", [])
        return
    _write(
        target,
        lambda con: None,
        f"UPDATE {SCHEMA}.readings SET n = %s WHERE metric_id = (SELECT id FROM {SCHEMA}.metrics WHERE name = %s) "
        f"AND at = %s AND instance_id = (SELECT id FROM {SCHEMA}.instances WHERE name = %s)",
        [(*p, target.instance) for p in params],  # type: ignore[attr-defined]
    )


def write_extras(target: HistoryStore, extras: Extras) -> int:
    """Write ``extras`` into ``target`` (its own instance); returns the manual readings not kept (two
    instances' readings typed for the same time are one reading in ``target``: the lower id is kept)."""
    manual, seen = [], set[tuple[str, int]]()
    for ident, metric, at, recorded in extras.manual:
        if (metric, at) not in seen:
            seen.add((metric, at))
            manual.append((ident, metric, at, recorded))
    if isinstance(target, Store):
        _write_sqlite(target, extras, manual)
    else:
        _write_postgres(target, extras, manual)
    return len(extras.manual) - len(manual)


def _write_sqlite(target: Store, extras: Extras, manual: list[tuple[int, str, int, int | None]]) -> None:
    def write(con: Any) -> None:
        # OR REPLACE: a row of the same id, or of the same metric and time, is this reading's older copy
        con.executemany(
            "INSERT OR REPLACE INTO manual_readings (id, metric_id, at, recorded) "
            "SELECT ?, id, ?, ? FROM metrics WHERE name = ?",
            [(ident, at, recorded, metric) for ident, metric, at, recorded in manual],
        )
        if (
            extras.manual_top
            and not con.execute(
                "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'manual_readings'", (extras.manual_top,)
            ).rowcount
        ):
            con.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('manual_readings', ?)", (extras.manual_top,))
        con.executemany(
            "INSERT INTO meta (key, value, cursor, updated) VALUES ('source:' || ?, 0, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET cursor = excluded.cursor, updated = excluded.updated",
            extras.cursors,
        )
        con.executemany(
            "INSERT INTO meta (key, value, last_success, last_error, error, failures, next_attempt) "
            "VALUES ('source:' || ?, 0, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
            "last_success = excluded.last_success, last_error = excluded.last_error, error = excluded.error, "
            "failures = excluded.failures, next_attempt = excluded.next_attempt",
            extras.health,
        )
        con.executemany(
            "INSERT OR REPLACE INTO compacted (metric_id, before) SELECT id, ? FROM metrics WHERE name = ?",
            [(before, name) for name, before in extras.horizons.items()],
        )

    _write(target, write, "", [])


def _write_postgres(target: HistoryStore, extras: Extras, manual: list[tuple[int, str, int, int | None]]) -> None:
    instance: str = target.instance  # type: ignore[attr-defined]
    metric = f"(SELECT id FROM {SCHEMA}.metrics WHERE name = %s)"
    mine = f"(SELECT id FROM {SCHEMA}.instances WHERE name = %s)"
    with target._guard("write to") as con:  # type: ignore[attr-defined]
        with con.transaction():
            target._take_seq(con, 0)  # type: ignore[attr-defined]  # writers wait: ids, cursors and health at once
            target._my_instance(con)  # type: ignore[attr-defined]
            with con.cursor() as cur:
                if manual:
                    # a row of the same metric, time and instance under another id is this reading's older copy
                    cur.executemany(
                        f"DELETE FROM {SCHEMA}.manual_readings WHERE metric_id = {metric} AND at = %s "
                        f"AND instance_id = {mine} AND id <> %s",
                        [(name, at, instance, ident) for ident, name, at, _ in manual],
                    )
                    cur.executemany(
                        f"INSERT INTO {SCHEMA}.manual_readings (id, metric_id, instance_id, at, recorded) "
                        f"SELECT %s, m.id, i.id, %s, %s FROM {SCHEMA}.metrics m, {SCHEMA}.instances i "
                        "WHERE m.name = %s AND i.name = %s ON CONFLICT (id) DO UPDATE SET metric_id = "
                        "excluded.metric_id, instance_id = excluded.instance_id, at = excluded.at, "
                        "recorded = excluded.recorded",
                        [(ident, at, recorded, name, instance) for ident, name, at, recorded in manual],
                    )
                if extras.manual_top > _sequence_top(con):
                    cur.execute(
                        f"SELECT setval(pg_get_serial_sequence('{SCHEMA}.manual_readings', 'id'), %s)",
                        (extras.manual_top,),
                    )
                cur.executemany(
                    f"INSERT INTO {SCHEMA}.cursors (instance, source, cursor, updated) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (instance, source) DO UPDATE SET cursor = excluded.cursor, updated = excluded.updated",
                    [(instance, *row) for row in extras.cursors],
                )
                cur.executemany(
                    f"INSERT INTO {SCHEMA}.source_health (instance, {_HEALTH}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (instance, source) DO UPDATE SET last_success = excluded.last_success, "
                    "last_error = excluded.last_error, error = excluded.error, failures = excluded.failures, "
                    "next_attempt = excluded.next_attempt",
                    [(instance, *row) for row in extras.health],
                )
                cur.executemany(
                    f"INSERT INTO {SCHEMA}.compacted (metric_id, before) SELECT id, %s FROM {SCHEMA}.metrics "
                    "WHERE name = %s ON CONFLICT (metric_id) DO UPDATE SET before = excluded.before",
                    [(before, name) for name, before in extras.horizons.items()],
                )


def _write(target: HistoryStore, sqlite_write: Any, postgres_sql: str, params: list[Any]) -> None:
    """One write transaction of either kind: ``sqlite_write(connection)``, or ``postgres_sql`` for each row of
    ``params`` (once when it has no parameters)."""
    if isinstance(target, Store):
        with target._guard("write to") as con:
            with target._transaction():
                sqlite_write(con)
        return
    with target._guard("write to") as con:  # type: ignore[attr-defined]
        with con.transaction():
            with con.cursor() as cur:
                if params:
                    cur.executemany(postgres_sql, params)
                else:
                    cur.execute(postgres_sql)
