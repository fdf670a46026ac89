"""``kpitui history copy FROM TO`` and ``kpitui history init``: move a history between SQLite and PostgreSQL.

FROM and TO are each an SQLite file path or a PostgreSQL URL (``postgresql://``,
or ``${ENV_VAR}`` holding one). Every reading is copied as a viewer sees it
(a PostgreSQL history's instances summed), with ``n`` (how many raw readings a
down-sampled row stands for) and each metric's compacted past, so
``kpitui report --at T`` gives the same figures on either side. Cursors are
copied too (into TO's instance, ``--instance``; from FROM's ``--instance``),
so a collector moved to the new history carries on where it stopped instead
of counting its logs again. TO must hold no readings yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import polars as pl

from .epoch import micros as _to_us
from .history_store import HistoryStore
from .store import Store, StoreError

__all__ = ["copy_history", "is_url", "open_location"]


def is_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://", "${"))


def open_location(location: str, *, readonly: bool, instance: str, side: Path) -> HistoryStore:
    """A store for a path or URL given on the command line (``${VAR}`` expanded like a Secret)."""
    if is_url(location):
        from .options import OptionError, Secret
        from .postgres_store import PostgresStore

        try:
            url = Secret(location).reveal()
        except OptionError as exc:
            raise StoreError(str(exc)) from None
        return PostgresStore(url, readonly=readonly, instance=instance, path=side)
    path = Path(location).expanduser()
    if readonly and not path.is_file():
        raise StoreError(f"no history file at {path}")
    return Store(path, readonly=readonly, snapshot_rows=None)


def _cursors(store: HistoryStore, instance: str) -> list[tuple[str, str | None]]:
    if isinstance(store, Store):
        with store._guard("read cursors from") as con:
            rows: list[tuple[str, str | None]] = con.execute(
                "SELECT source, cursor FROM cursors ORDER BY source"
            ).fetchall()
            return rows
    from .postgres_store import SCHEMA

    with store._guard("read cursors from") as con:  # type: ignore[attr-defined]
        found: list[tuple[str, str | None]] = con.execute(
            f"SELECT source, cursor FROM {SCHEMA}.cursors WHERE instance = %s ORDER BY source", (instance,)
        ).fetchall()
        return found


def _horizons(store: HistoryStore) -> dict[str, int]:
    return {
        name: _to_us(before) for name in store.metric_names() if (before := store.compacted_before(name)) is not None
    }


def copy_history(
    source: HistoryStore,
    target: HistoryStore,
    *,
    chunk: int = 200_000,
    progress: Callable[[float, float | None, str], None] | None = None,
) -> tuple[int, int, int]:
    """Copy every reading, compacted past and cursor of ``source`` into the empty ``target``.

    Returns (readings, metrics, cursors) copied. ``progress(done, total, label)``: readings
    written so far (:mod:`kpitui.progress`), after each chunk of ``chunk`` rows.
    """
    if target.metric_names():
        raise StoreError(f"{target.where} already holds readings; copy into a new, empty history")
    if progress is not None:
        progress(0, None, f"reading {_short(source)}")
    frame, _ = source.load()
    instance = getattr(source, "instance", "")
    cursors = _cursors(source, instance)
    horizons = _horizons(source)
    frame = frame.sort("metric", "at")
    for offset in range(0, frame.height, chunk):
        part = frame.slice(offset, chunk)
        target.write(part.select("metric", "at", "value"), mode="replace")
        _set_n(target, part.filter(pl.col("n") != 1))
        if progress is not None:
            progress(min(offset + chunk, frame.height), frame.height, f"writing {_short(target)}")
    _set_horizons(target, horizons)
    for sid, cursor in cursors:
        target.write(frame.clear().select("metric", "at", "value"), source=sid, cursor=cursor, set_cursor=True)
    return frame.height, frame["metric"].n_unique() if frame.height else 0, len(cursors)


def _short(store: HistoryStore) -> str:
    """A history named for a progress bar: the file's name, or where a PostgreSQL history is."""
    return store.path.name if isinstance(store, Store) else store.where


def _set_n(target: HistoryStore, rows: pl.DataFrame) -> None:
    """Give down-sampled rows their ``n`` (a write stores raw readings, ``n`` = 1)."""
    if rows.height == 0:
        return
    params: list[Any] = list(zip(rows["n"].to_list(), rows["metric"].to_list(), rows["at"].dt.epoch("us").to_list()))
    from .postgres_store import SCHEMA

    _write_many(
        target,
        "UPDATE readings SET n = ? WHERE metric_id = (SELECT id FROM metrics WHERE name = ?) AND at = ?",
        f"UPDATE {SCHEMA}.readings SET n = %s WHERE metric_id = (SELECT id FROM {SCHEMA}.metrics "
        "WHERE name = %s) "
        "AND at = %s AND instance_id = (SELECT id FROM kpitui.instances WHERE name = %s)",
        params,
        instance_last=True,
    )


def _set_horizons(target: HistoryStore, horizons: dict[str, int]) -> None:
    if not horizons:
        return
    from .postgres_store import SCHEMA

    _write_many(
        target,
        "INSERT OR REPLACE INTO compacted (metric_id, before) SELECT id, ? FROM metrics WHERE name = ?",
        f"INSERT INTO {SCHEMA}.compacted (metric_id, before) SELECT id, %s FROM {SCHEMA}.metrics "
        "WHERE name = %s "
        "ON CONFLICT (metric_id) DO UPDATE SET before = excluded.before",
        [(before, name) for name, before in horizons.items()],
    )


def _write_many(
    target: HistoryStore, sqlite_sql: str, postgres_sql: str, params: list[Any], *, instance_last: bool = False
) -> None:
    """Run one statement for each row of parameters, in one write transaction of either kind of history;
    with ``instance_last`` PostgreSQL's rows end with the target's instance name."""
    if isinstance(target, Store):
        with target._guard("write to") as con:
            with target._transaction():
                con.executemany(sqlite_sql, params)
        return
    if instance_last:
        params = [(*p, target.instance) for p in params]  # type: ignore[attr-defined]
    with target._guard("write to") as con:  # type: ignore[attr-defined]
        with con.transaction():
            with con.cursor() as cur:
                cur.executemany(postgres_sql, params)
