"""The viewer's index cache: the base index of a history as uncompressed Arrow files beside the store.

Building the index of ten million readings from the store's snapshot takes
over a second (decode, key, running totals); reading it back takes a few
milliseconds, because each column is mapped into memory, not copied
(:mod:`kpitui.mapped_columns`: its pages are read when touched, and the
checks below touch each once). :class:`~kpitui.history.History`
(with ``index_cache=True``: the TUI) loads the cache on its first refresh and
takes the rows written since through the delta machinery (a
:class:`~kpitui.pipeline.View`), as any refresh does; after a full load it
saves the index it built.

The cache lives in ``<store file>-index/`` (mode 0700, files 0600): a header
``<token>.json`` and one file per column, ``<token>.<column>.col``: the
values buffer of an Arrow array, raw (``Int64`` or ``Float64``, no nulls, the
machine's byte order, named in the header)
It is used only when

- the store names it: the store's ``meta`` row ``index_cache`` holds the
  cache's random ``token`` (set by :func:`save` after the files are written,
  in the store's own transaction, so a copy of the store or a backup restored
  from before the cache was made names another or none);
- rows were not deleted or compacted since (the store's generation is the
  header's): rows written since its sequence number are then exactly what
  changed, and are read incrementally;
- fewer than :data:`REUSE_ROWS` rows were written since (then a full load,
  which also brings the store's columnar snapshot up to date, and a new cache);
- its files are whole: each column's length and check sum (its 64-bit values
  summed as integers), the key sorted, the segments adding up, a block maximum
  (:mod:`~kpitui.pipeline.peaks`) for each block of them (a truncated or
  damaged file, another format, byte order or polars version: the cache is
  ignored, the history loaded in full).

Anything unexpected means the cache is not used: it only ever saves time.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
import threading
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from . import mapped_columns
from .pipeline import Readings, peaks

#: 4: the header holds the block maxima of |running total| (:mod:`kpitui.pipeline.peaks`; a format 3 cache has
#: none: it is not read, the history is loaded in full and cached anew). 3: the columns' check sums are of their
#: bits as integers (2: a float sum, which depends on the chunks)
FORMAT = 4
#: rows written since the cache above which a full load is cheaper than the delta (and refreshes the snapshot)
REUSE_ROWS = 200_000
_COLUMNS = ("key", "value", "total", "weighted", "count")
_SEGMENTS = {"metric": pl.String, "offset": pl.Int64, "length": pl.Int64, "first": pl.Int64, "last": pl.Int64,
             "shift": pl.Int64}  # fmt: skip


class IndexedStore(Protocol):
    """What a store offers for a cache beside it (:class:`kpitui.store.Store`)."""

    path: Path
    readonly: bool

    def index_stamp(self) -> tuple[int, int | None, int]: ...

    def rows_since(self, seq: int) -> int:
        """How many rows were written since ``seq``: at most the highest sequence number less ``seq``."""
        ...

    def claim_index(self, token: int, generation: int) -> bool: ...


def folder(store: IndexedStore) -> Path:
    """Where the cache of ``store`` lives."""
    return store.path.with_name(store.path.name + "-index")


#: the files :func:`save` writes (and nothing else in the folder is removed by :func:`discard`)
_FILE = re.compile(r"[0-9a-f]{16}\.(json|[a-z]+\.(col|arrow))")  # .arrow: format 1's columns


def discard(store_path: Path) -> None:
    """Remove the cache beside the history file ``store_path`` when that file is new or gone under this name (a
    new store made where a deleted one was, a history adopted under another name): no store there names its
    token, so it could never be used, only left behind. Files that are not a cache's stay, and then the folder."""
    where = store_path.with_name(store_path.name + "-index")
    try:
        names = list(where.iterdir())
    except OSError:
        return
    for path in names:
        if _FILE.fullmatch(path.name):
            path.unlink(missing_ok=True)
    try:
        where.rmdir()
    except OSError:
        pass


def supported(store: object) -> bool:
    return all(callable(getattr(store, name, None)) for name in ("index_stamp", "rows_since", "claim_index"))


def load(store: IndexedStore, generation: int) -> tuple[Readings, int] | None:
    """The cached base index of ``store`` and the sequence number it holds every row through, or
    ``None`` when there is no usable cache (see the module's docstring)."""
    try:
        stored_generation, token, top = store.index_stamp()
        if token is None or stored_generation != generation:
            return None
        where = folder(store)
        header = json.loads((where / f"{_name(token)}.json").read_text(encoding="utf-8"))
        if not _header_ok(header, token, generation, top):
            return None
        seq = int(header["seq"])
        # every row (and staged reading) has a sequence number of its own, so at most ``top - seq`` came
        # since: counted only when that many could be too many (the count walked the 150,000 rows since a
        # 10M start's cache, in a transaction of its own beside the UI's start)
        if top - seq >= REUSE_ROWS and store.rows_since(seq) >= REUSE_ROWS:
            return None
        readings = _read(where, token, header)
        return None if readings is None else (readings, seq)
    except Exception:  # noqa: BLE001 - a missing, partial or foreign cache only costs time
        return None


def _header_ok(header: Any, token: int, generation: int, top: int) -> bool:
    return (
        isinstance(header, dict)
        and header.get("format") == FORMAT
        and header.get("polars") == pl.__version__
        and header.get("byteorder") == sys.byteorder
        and header.get("token") == token
        and header.get("generation") == generation
        and isinstance(header.get("seq"), int)
        and 0 < header["seq"] <= top
    )


def _read(where: Path, token: int, header: dict[str, Any]) -> Readings | None:
    rows = int(header["rows"])
    segments = pl.DataFrame(header["segments"], schema=_SEGMENTS)
    lengths = segments["length"]
    if (
        segments.height
        and (
            int(lengths.sum()) != rows
            or not (segments["offset"] == lengths.cum_sum() - lengths).all()
            or not (segments["first"] <= segments["last"]).all()
        )
    ) or (segments.height == 0 and rows):
        return None
    columns: dict[str, pl.Series] = {}
    for name in header["columns"]:
        if name not in _COLUMNS:
            return None
        wanted = pl.Int64 if name == "key" else pl.Float64
        series = mapped_columns.read(where / f"{_name(token)}.{name}.col", name, wanted, rows)
        if series is None:
            return None
        columns[name] = series
    if not {"key", "value", "total"} <= columns.keys() or not _same_sums(columns, header["sums"]):
        return None
    key = columns["key"]
    if not key.is_sorted():
        return None
    maxima = header["maxima"]
    if (
        header["block"] != peaks.BLOCK
        or not isinstance(maxima, list)
        or len(maxima) != peaks.count(lengths.to_list(), peaks.BLOCK)
        or not all(isinstance(m, float) and m >= 0.0 for m in maxima)
    ):
        return None
    return Readings(
        segments,
        key.set_sorted(),
        columns["value"],
        columns["total"],
        columns.get("weighted"),
        columns.get("count"),
        block_maxima=pl.Series("maxima", maxima, pl.Float64),
    )


def _sum(series: pl.Series) -> int:
    """A check sum of a column: the wrapping sum of its values' 64 bits as integers (a float column's
    bits reinterpreted, not converted). Exact whatever the chunks: a column in several chunks (a fold's
    base) is summed as written, without the copy into one chunk that a float sum needed to match the
    file's (80 MB a column at ten million readings, on top of the viewer's peak after a fold)."""
    if series.dtype != pl.Int64:
        series = series.reinterpret(dtype=pl.Int64)
    return int(series.sum())


def _same_sums(columns: dict[str, pl.Series], expected: Any) -> bool:
    """Whether each of ``columns`` has the check sum ``expected`` names for it (:func:`_sum`'s, each column
    summed as integers). All in one query: the columns are summed on polars' threads side by side, and the
    thread reading the cache (beside the UI's start) waits for the GIL once, not once a column."""
    if not isinstance(expected, dict):
        return False
    wanted = [expected.get(name) for name in columns]
    if not all(isinstance(w, int) and not isinstance(w, bool) for w in wanted):
        return False
    bits = pl.DataFrame([s if s.dtype == pl.Int64 else s.reinterpret(dtype=pl.Int64) for s in columns.values()])
    return [int(total) for total in bits.select(pl.all().sum()).row(0)] == wanted


def _name(token: int) -> str:
    return f"{token:016x}"


def save(store: IndexedStore, readings: Readings, seq: int, generation: int) -> bool:
    """Write ``readings`` (the index of every reading through ``seq`` in ``generation``) as the
    cache of ``store``; ``False`` when it could not be (a read-only store or file system, no space,
    the store busy or rows deleted since: nothing is left half-done)."""
    if store.readonly or seq <= 0 or readings.height == 0:
        return False
    token = secrets.randbits(63)
    where = folder(store)
    written: list[Path] = []
    try:
        where.mkdir(mode=0o700, exist_ok=True)
        columns = {
            name: series
            for name, series in zip(
                _COLUMNS, (readings.key, readings.value, readings.total, readings.weighted, readings.count)
            )
            if series is not None
        }
        sums: dict[str, int] = {}
        header: dict[str, Any] = {
            "format": FORMAT,
            "polars": pl.__version__,
            "byteorder": sys.byteorder,
            "token": token,
            "generation": generation,
            "seq": seq,
            "rows": readings.height,
            "columns": list(columns),
            "sums": sums,
            "segments": readings.segments.select(list(_SEGMENTS)).to_dict(as_series=False),
            "block": readings.block,
            "maxima": readings.maxima.to_list(),
        }
        for name, series in columns.items():
            sums[name] = _sum(series)
            path = where / f"{_name(token)}.{name}.col"
            written.append(path)
            with _private(path) as out:
                if not mapped_columns.write(out, series):
                    raise ValueError(f"column {name} cannot be cached: {series.dtype}, {series.null_count()} nulls")
        path = where / f"{_name(token)}.json"
        written.append(path)
        with _private(path) as out:
            out.write(json.dumps(header).encode("utf-8"))
        if not store.claim_index(token, generation):
            raise OSError("the store did not take the cache")
    except Exception:  # noqa: BLE001 - read-only file system, no space, busy store: only time is lost
        for path in written:
            path.unlink(missing_ok=True)
        return False
    _prune(where, _name(token))
    return True


class _private:
    """A new file only its owner can read and write, synced before it is closed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Any:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self.file = os.fdopen(fd, "wb")
        return self.file

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.file.flush()
                os.fsync(self.file.fileno())
        finally:
            self.file.close()


def _prune(where: Path, keep: str) -> None:
    """Remove the files of earlier caches (a viewer still reading one keeps its mapping)."""
    try:
        for path in where.iterdir():
            if not path.name.startswith(keep + "."):
                path.unlink(missing_ok=True)
    except OSError:
        pass


def save_later(store: IndexedStore, readings: Readings, seq: int, generation: int) -> threading.Thread:
    """:func:`save` in a background thread (the first values are not held back by it)."""
    thread = threading.Thread(
        target=save, args=(store, readings, seq, generation), name="kpitui-index-cache", daemon=True
    )
    thread.start()
    return thread
