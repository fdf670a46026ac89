"""``kpitui history copy FROM TO`` and ``kpitui history init``: move a history between SQLite and PostgreSQL.

FROM and TO are each an SQLite file path or a PostgreSQL URL (``postgresql://``,
or ``${ENV_VAR}`` holding one). Every reading is copied as a viewer sees it
(a PostgreSQL history's instances summed), with ``n`` (how many raw readings a
down-sampled row stands for) and each metric's compacted past, so
``kpitui report --at T`` gives the same figures on either side. Manual readings
keep their ids, so ``kpitui readings edit ID`` means the same reading on either
side, and new ones get new ids (:mod:`kpitui.history_tables`). Cursors and source
health are copied too (into TO's instance, ``--instance``; from FROM's ``--instance``),
so a collector moved to the new history carries on where it stopped instead
of counting its logs again. Annotations move from FROM's file to TO's (a
PostgreSQL history keeps them in ``[storage] path``, :mod:`kpitui.annotations`).

TO is empty, or holds an earlier copy of FROM: running the same copy again
(after one that was cut short, or to take in what FROM gained since) writes
what is missing and changes nothing else; a TO holding readings FROM lacks is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import polars as pl

from .history_store import HistoryStore
from .history_tables import clear_horizons, other_instances, read_extras, set_n, write_extras
from .store import Store, StoreError

__all__ = ["Copied", "copy_history", "is_url", "open_location"]


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


@dataclass(frozen=True)
class Copied:
    """What :func:`copy_history` copied."""

    readings: int
    metrics: int
    cursors: int
    manual: int  # manual readings, with their ids
    manual_merged: int = 0  # manual readings of several instances at one time: one reading (and id) in TO
    unchanged: int = 0  # readings TO already held as they are in FROM (not written again)


def _extra_rows(source: pl.DataFrame, target: pl.DataFrame) -> pl.DataFrame:
    """``target``'s readings at a metric and time that ``source`` has no reading at."""
    keys = ["metric", "at"]
    return target.select(keys).join(source.select(keys), on=keys, how="anti")


def copy_history(
    source: HistoryStore,
    target: HistoryStore,
    *,
    chunk: int = 200_000,
    progress: Callable[[float, float | None, str], None] | None = None,
) -> Copied:
    """Copy every reading, manual-reading id, compacted past, cursor and source health of ``source`` into
    ``target``, which is empty or holds an earlier copy of ``source`` (a copy run again, or one that was
    cut short, is finished: what is copied again overwrites itself, so nothing is counted twice).

    ``progress(done, total, label)``: readings written so far (:mod:`kpitui.progress`), after each
    chunk of ``chunk`` rows.
    """
    if progress is not None:
        progress(0, None, f"reading {_short(source)}")
    frame, _ = source.load()
    todo = frame
    if target.metric_names():
        held = target.load()[0]
        extra = _extra_rows(frame, held)
        others = other_instances(target)
        if extra.height or others:
            example = ""
            if extra.height:
                metric, at = extra.row(0)
                example = f" ({extra.height:,} readings, e.g. {metric} at {at:%Y-%m-%d %H:%M} UTC)"
            elif others:
                example = f" ({others:,} readings of other instances than {getattr(target, 'instance', '')})"
            raise StoreError(
                f"{target.where} already holds readings that {source.where} does not{example}; copy into a new, "
                "empty history (copying the same history again finishes or repeats a copy and adds nothing)"
            )
        same = ["metric", "at", "value", "n"]  # only what differs is written again: the rest keeps its seq
        todo = frame.join(held.select(same).with_columns(pl.col("n").cast(frame["n"].dtype)), on=same, how="anti")
    extras = read_extras(source, getattr(source, "instance", ""))
    if todo.height:
        clear_horizons(target)  # until the readings are in, so that none is refused as compacted
    todo = todo.sort("metric", "at")
    for offset in range(0, todo.height, chunk):
        part = todo.slice(offset, chunk)
        target.write(part.select("metric", "at", "value"), mode="replace")
        set_n(target, part.filter(pl.col("n") != 1))
        if progress is not None:
            progress(min(offset + chunk, todo.height), todo.height, f"writing {_short(target)}")
    merged = write_extras(target, extras)
    return Copied(
        readings=frame.height,
        metrics=frame["metric"].n_unique() if frame.height else 0,
        cursors=len(extras.cursors),
        manual=len(extras.manual) - merged,
        manual_merged=merged,
        unchanged=frame.height - todo.height,
    )


def _short(store: HistoryStore) -> str:
    """A history named for a progress bar: the file's name, or where a PostgreSQL history is."""
    return store.path.name if isinstance(store, Store) else store.where
