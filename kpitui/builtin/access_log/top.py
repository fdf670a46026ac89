"""What an access-log metric's condition matched: the most frequent paths, referrers and agents
among the matching lines of a period (drill-down from a metric), in one polars collect."""

from __future__ import annotations

import datetime as dt
import logging
import zlib
from pathlib import Path
from typing import Any

import polars as pl

from .formats import parse_lines, time_utc
from .tail import _open_any, _rotated

#: the fields listed, in order, when the log format records them
FIELDS = ("path", "referrer", "agent")
#: read at most this many bytes of log (newest files first): a drill-down, not an import
MAX_BYTES = 256 * 1024 * 1024


def _files(path: Path, start: dt.datetime) -> list[Path]:
    """The log and its rotated files (newest first) that may hold lines after ``start``."""
    files = [path] if path.exists() else []
    for _, rotated in _rotated(path):
        files.append(rotated)
        try:
            if dt.datetime.fromtimestamp(rotated.stat().st_mtime, dt.timezone.utc) < start:
                break  # written to last before the period: older ones are older still
        except OSError:
            break
    return files


def _read(path: Path, budget: int) -> bytes:
    with _open_any(path) as handle:  # a FIFO is refused, not waited on
        data: bytes = handle.read(budget)
    return data[: data.rfind(b"\n") + 1]  # complete lines only


def top_matches(
    log: Path,
    options: Any,
    condition: pl.Expr,
    start: dt.datetime,
    end: dt.datetime,
    limit: int = 10,
    fields: tuple[str, ...] = FIELDS,
) -> tuple[dict[str, list[tuple[str, int]]], int]:
    """Per field, the ``limit`` most frequent values among the lines matching ``condition`` with
    ``start <= time < end``, and how many lines matched."""
    need = set(condition.meta.root_names()) | set(fields) | {"time"}
    budget, frames = MAX_BYTES, []
    for path in _files(log, start):
        if budget <= 0:
            break
        try:
            data = _read(path, budget)
        except (OSError, EOFError, zlib.error) as exc:
            if path == log:
                raise  # the log itself: that is the answer's error (a FIFO, a folder, no permission)
            # a rotated file cut short (being compressed, a full disk) or damaged: the others may hold the answer
            logging.getLogger("kpitui.matches").warning(
                "%s skipped: it cannot be read (%s); what it holds is not in these counts", path.name, exc
            )
            continue
        budget -= len(data)
        if data:
            frames.append(parse_lines(data, options, need, encoding="utf8-lossy"))
    if not frames:
        return {field: [] for field in fields}, 0
    lo, hi = pl.lit(start).cast(time_utc()), pl.lit(end).cast(time_utc())
    matching = pl.concat(frames).filter(
        pl.col("__valid") & condition.fill_null(False) & (pl.col("time") >= lo) & (pl.col("time") < hi)
    )
    queries = [matching.select(pl.len().alias("n"))] + [
        matching.group_by(field)
        .agg(pl.len().alias("n"))
        .filter(pl.col(field).is_not_null())
        .sort(["n", field], descending=[True, False])
        .head(limit)
        for field in fields
    ]
    total, *tops = pl.collect_all(queries)
    return {field: [(str(v), int(n)) for v, n in top.iter_rows()] for field, top in zip(fields, tops)}, int(
        total["n"][0]
    )
