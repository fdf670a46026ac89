"""Annotations: dated notes that explain the numbers ("launched the webinar ads", "site down").

Kept in the history file, in a table of their own, on a connection of their
own (as :mod:`kpitui.alerts.state` keeps alert state), so the reading schema
and its version (:mod:`kpitui.store`) are untouched. With a PostgreSQL
history (``[storage] url``) they are kept in ``[storage] path``, the local
side file that also holds alert state.

Table (created on first write; it is kpitui's annotation table, not part of the reading schema):

``annotations(id, at, text, kpi, metric, created, updated)``
    ``at``, ``created`` and ``updated`` in µs since the epoch (UTC). An
    annotation with neither ``kpi`` nor ``metric`` is about everything; one
    with ``kpi`` about that KPI; one with ``metric`` about that metric and
    every KPI that reads it.

Annotation sources (the ``register_annotation_sources`` hook) add
annotations that are read, never stored: deploys from a command's output, a
CSV of campaigns. They have no id and cannot be edited here.
"""

from __future__ import annotations

import builtins
import datetime as dt
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .console import escape_controls

SCHEMA = """
CREATE TABLE IF NOT EXISTS annotations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    text TEXT NOT NULL,
    kpi TEXT,
    metric TEXT,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS annotations_at ON annotations (at);
"""

_COLUMNS = "id, at, text, kpi, metric"


def _us(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _dt(value: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(value / 1_000_000, dt.timezone.utc)


class AnnotationError(Exception):
    """A mistake the user can fix (an unknown id, empty text): one line."""


@dataclass(frozen=True)
class Annotation:
    """A dated note. ``id`` is ``None`` for one supplied by an annotation source (``source`` names it)."""

    id: int | None
    at: dt.datetime
    text: str
    kpi: str | None = None
    metric: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        # typed by anyone, or from a campaign calendar: shown on terminals, an escape sequence in it is written out
        object.__setattr__(self, "text", escape_controls(self.text))

    @property
    def scope(self) -> str:
        """``all``, ``kpi ID`` or ``metric ID``."""
        if self.kpi:
            return f"kpi {self.kpi}"
        if self.metric:
            return f"metric {self.metric}"
        return "all"

    def about(self, kpi: str | None, metrics: Iterable[str] = ()) -> bool:
        """Is this about ``kpi`` (whose metrics, through other KPIs too, are ``metrics``), or about metric
        ``kpi=None, metrics=[id]``?"""
        if not self.kpi and not self.metric:
            return True
        if self.kpi:
            return self.kpi == kpi
        return self.metric in set(metrics)


class AnnotationStore:
    """The annotation table of one history file, on a connection of its own."""

    def __init__(self, path: str | Path, *, readonly: bool = False, busy_timeout: float = 30.0):
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.RLock()
        if readonly:
            from .store import connect_readonly  # immutable on a read-only file system

            self._con, _ = connect_readonly(self.path, timeout=busy_timeout, check_same_thread=False)
        else:
            self._con = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
            self._con.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            with self._lock:
                self._con.execute("BEGIN IMMEDIATE")
                try:
                    for statement in SCHEMA.split(";"):
                        if statement.strip():
                            self._con.execute(statement)
                    self._con.execute("COMMIT")
                except BaseException:
                    if self._con.in_transaction:
                        self._con.execute("ROLLBACK")
                    raise

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> AnnotationStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _has_table(self) -> bool:
        row = self._con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'annotations'").fetchone()
        return row is not None

    def list(self, start: dt.datetime | None = None, end: dt.datetime | None = None) -> list[Annotation]:
        """Annotations with ``start <= at <= end`` (either open), oldest first."""
        with self._lock:
            if self.readonly and not self._has_table():
                return []
            rows = self._con.execute(
                f"SELECT {_COLUMNS} FROM annotations WHERE at >= ? AND at <= ? ORDER BY at, id",
                (-(2**62) if start is None else _us(start), 2**62 if end is None else _us(end)),
            ).fetchall()
        return [Annotation(row[0], _dt(row[1]), row[2], row[3], row[4]) for row in rows]

    def get(self, ident: int) -> Annotation:
        with self._lock:
            row = (
                None
                if self.readonly and not self._has_table()
                else self._con.execute(f"SELECT {_COLUMNS} FROM annotations WHERE id = ?", (ident,)).fetchone()
            )
        if row is None:
            raise AnnotationError(f"there is no annotation {ident} (see `kpitui annotations list`)")
        return Annotation(row[0], _dt(row[1]), row[2], row[3], row[4])

    def add(
        self,
        text: str,
        at: dt.datetime,
        *,
        kpi: str | None = None,
        metric: str | None = None,
        now: dt.datetime | None = None,
    ) -> Annotation:
        text = _checked(text)
        stamp = _us(now or dt.datetime.now(dt.timezone.utc))
        with self._lock:
            cursor = self._con.execute(
                "INSERT INTO annotations (at, text, kpi, metric, created, updated) VALUES (?, ?, ?, ?, ?, ?)",
                (_us(at), text, kpi, metric, stamp, stamp),
            )
            ident = int(cursor.lastrowid or 0)
        return self.get(ident)

    _KEEP: Any = object()

    def edit(
        self,
        ident: int,
        *,
        text: str | None = None,
        at: dt.datetime | None = None,
        kpi: Any = _KEEP,
        metric: Any = _KEEP,
    ) -> Annotation:
        """Change an annotation's text, time and/or subject (``kpi``/``metric``: pass ``None`` for "all")."""
        old = self.get(ident)
        new_kpi = old.kpi if kpi is self._KEEP else kpi
        new_metric = old.metric if metric is self._KEEP else metric
        with self._lock:
            self._con.execute(
                "UPDATE annotations SET at = ?, text = ?, kpi = ?, metric = ?, updated = ? WHERE id = ?",
                (
                    _us(at or old.at),
                    _checked(text) if text is not None else old.text,
                    new_kpi,
                    new_metric,
                    _us(dt.datetime.now(dt.timezone.utc)),
                    ident,
                ),
            )
        return self.get(ident)

    def delete(self, idents: Iterable[int]) -> builtins.list[Annotation]:
        """Delete annotations; the ones deleted. An unknown id deletes nothing (an error naming it)."""
        found = [self.get(ident) for ident in idents]
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                self._con.executemany("DELETE FROM annotations WHERE id = ?", [(a.id,) for a in found])
                self._con.execute("COMMIT")
            except BaseException:
                if self._con.in_transaction:
                    self._con.execute("ROLLBACK")
                raise
        return found


def copy_annotations(source: Path, target: Path) -> int:
    """Copy the annotations stored in ``source`` into ``target`` with their ids and times (``kpitui history
    copy``); how many. One already in ``target`` is left as it is when identical; a different one under
    the same id is refused before anything is copied (:class:`AnnotationError`)."""
    if not source.exists():
        return 0
    if source.resolve() == target.resolve():  # FROM's annotations are already where TO's are read from
        return len(read(source))
    with AnnotationStore(source, readonly=True) as found:
        if not found._has_table():
            return 0
        rows = found._con.execute(f"SELECT {_COLUMNS}, created, updated FROM annotations ORDER BY id").fetchall()
        top = found._con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'annotations'").fetchone()
    if not rows and top is None:
        return 0
    with AnnotationStore(target) as there:
        with there._lock:
            con = there._con
            con.execute("BEGIN IMMEDIATE")
            try:
                for row in rows:
                    held = con.execute(f"SELECT {_COLUMNS} FROM annotations WHERE id = ?", (row[0],)).fetchone()
                    if held is not None and tuple(held) != tuple(row[:5]):
                        raise AnnotationError(
                            f"{target} already has an annotation {row[0]} that is not {source}'s; nothing was copied"
                        )
                con.executemany(
                    "INSERT OR IGNORE INTO annotations (id, at, text, kpi, metric, created, updated) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                if top is not None:  # ids deleted in source are not handed out again in target
                    con.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'annotations'", (top[0],))
                    con.execute(
                        "INSERT INTO sqlite_sequence (name, seq) SELECT 'annotations', ? WHERE NOT EXISTS "
                        "(SELECT 1 FROM sqlite_sequence WHERE name = 'annotations')",
                        (top[0],),
                    )
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
    return len(rows)


def _checked(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        raise AnnotationError('an annotation needs some text, e.g. "Launched the webinar ads"')
    if len(text) > 500:
        raise AnnotationError(f"an annotation is at most 500 characters, not {len(text)}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # bytes that are not UTF-8 on the command line (a Latin-1 terminal, a file)
        raw = text[exc.start : exc.end].encode("utf-8", "surrogateescape")
        raise AnnotationError(
            f"an annotation must be UTF-8 text; it holds the bytes {raw!r} at character {exc.start + 1} "
            "(set your terminal or file to UTF-8)"
        ) from None
    return text


def read(path: Path, start: dt.datetime | None = None, end: dt.datetime | None = None) -> list[Annotation]:
    """The stored annotations in ``[start, end]``, read-only; none when the history does not exist yet."""
    if not Path(path).exists():
        return []
    with AnnotationStore(path, readonly=True) as store:
        return store.list(start, end)


def as_dict(annotation: Annotation, timezone: str | None = None, kpis: list[str] | None = None) -> dict[str, Any]:
    """An annotation in JSON (docs/json.md): ``at`` on the config's clock when ``timezone`` is given."""
    at = annotation.at
    if timezone:
        from zoneinfo import ZoneInfo

        at = at.astimezone(ZoneInfo(timezone))
    out: dict[str, Any] = {
        "id": annotation.id,
        "at": at.isoformat(),
        "text": annotation.text,
        "kpi": annotation.kpi,
        "metric": annotation.metric,
        "source": annotation.source,
    }
    if kpis is not None:
        out["kpis"] = kpis
    return out


def kpis_about(annotation: Annotation, metrics_of: dict[str, set[str]]) -> list[str]:
    """The KPIs an annotation is about (``metrics_of``: each KPI's metrics, through other KPIs too)."""
    return [kid for kid, metrics in metrics_of.items() if annotation.about(kid, metrics)]


# -- annotation sources (the ``register_annotation_sources`` hook) -------------------------------


@dataclass(frozen=True)
class AnnotationSourceSpec:
    """An ``[annotation_sources.ID]`` table: ``type`` and the type's validated options."""

    id: str
    type: str
    options: Any


def load_sources(loader: Any, data: dict[str, Any], timezone: str) -> dict[str, AnnotationSourceSpec]:
    """Parse ``[annotation_sources.ID]`` tables with the config loader (its errors name file, table and key)."""
    from . import options as opts
    from .api import SourceContext
    from .config_tables import AnnotationSourceTable

    out: dict[str, AnnotationSourceSpec] = {}
    registry = loader.registry
    context = SourceContext(config_dir=loader.files_dir, timezone=timezone)
    for sid, where, table in loader.entries("annotation_sources", data):
        type_name, cls = loader.plugin_type(where, table, "type", registry.annotation_sources, "annotation source type")
        options = loader.plugin_options(
            where, cls.Options, table, opts.field_names(AnnotationSourceTable), ("annotation source", type_name)
        )
        try:
            cls.check(options, context)
        except opts.OptionError as exc:
            raise loader.error(where, exc.message) from None
        except Exception as exc:  # noqa: BLE001 - a plugin's check() crashed
            owner = registry.owner("annotation source", type_name)
            raise loader.error(
                where,
                f"the {type_name!r} annotation source (plugin {owner}) failed to check its options: "
                f"{type(exc).__name__}: {exc}",
            ) from None
        out[sid] = AnnotationSourceSpec(sid, type_name, options)
    return out


#: the most annotations one source may give for a period: an endless iterator is listed this far, not until memory
#: ends (``list()`` of an iterator written in C holds the GIL throughout, so no time limit could stop it)
MAX_SUPPLIED = 100_000


class TooMany(Exception):
    """An annotation source gave more than :data:`MAX_SUPPLIED` annotations for one period."""


def _at_most(items: Any, limit: int) -> list[Any]:
    """``items`` as a list, or :class:`TooMany` past ``limit`` (read one past it, no further)."""
    import itertools

    listed = list(itertools.islice(items, limit + 1))
    if len(listed) > limit:
        raise TooMany(f"it gave more than {limit:,} annotations for one period (an endless list?); none shown")
    return listed


def supplied(config: Any, start: dt.datetime, end: dt.datetime) -> list[Annotation]:
    """What each ``[annotation_sources.ID]`` says for ``[start, end]``; a source that fails is logged and skipped."""
    import logging

    from .api import SourceContext

    out: list[Annotation] = []
    context = SourceContext(
        config_dir=config.files_dir, timezone=config.settings.timezone, history_path=config.storage.path
    )
    from .plugins import bounded, plugin_timeout

    for sid, spec in getattr(config, "annotation_sources", {}).items():

        def read(sid: str = sid, spec: Any = spec) -> list[Any]:
            source = config.registry.annotation_sources[spec.type](sid, spec.options, context)
            return _at_most(source.annotations(start, end) or (), MAX_SUPPLIED)

        try:
            # a plugin's under the plugins' time limit: one that hangs held `kpitui report` for good, and its
            # KeyboardInterrupt or SystemExit ended it with no output (now BaseExceptionRaised, logged)
            owner = config.registry.owner("annotation source", spec.type)
            builtin = owner is None or owner.startswith("builtin:")  # as config.checks.plugin_call decides
            for note in read() if builtin else bounded(read, plugin_timeout()):
                at = note.at
                if at.tzinfo is None:
                    from zoneinfo import ZoneInfo

                    at = at.replace(tzinfo=ZoneInfo(config.settings.timezone))
                at = at.astimezone(dt.timezone.utc)
                if start <= at <= end:
                    out.append(Annotation(None, at, str(note.text), note.kpi, note.metric, source=sid))
        except Exception as exc:  # noqa: BLE001 - a plugin's annotations must not take the view down
            logging.getLogger("kpitui.annotations").warning(
                "annotation source %s: %s: %s", sid, type(exc).__name__, exc
            )
    return out


def marked_buckets(notes: Iterable[Annotation], starts: list[dt.datetime], end: dt.datetime) -> frozenset[int]:
    """The indexes of the buckets starting at ``starts`` (ascending; the last one ends at ``end``) that hold a note."""
    import bisect

    marked = set()
    for note in notes:
        if starts and starts[0] <= note.at <= end:
            marked.add(bisect.bisect_right(starts, note.at) - 1)
    return frozenset(marked)


def trend_marks(config: Any, snapshot: Any, metrics_of: Any) -> dict[str, frozenset[int]]:
    """Per KPI of ``snapshot``, its trend buckets holding an annotation about it (``metrics_of(kpi)``: its metrics)."""
    spans = {kid: [at for at, _ in r.series] for kid, r in snapshot.kpis.items() if r.series}
    if not spans:
        return {}
    notes = gather(config, min(starts[0] for starts in spans.values()), snapshot.at)
    out = {}
    for kid, starts in spans.items():
        about = [n for n in notes if n.about(kid, metrics_of(kid))]
        marked = marked_buckets(about, starts, snapshot.at) if about else frozenset()
        if marked:
            out[kid] = marked
    return out


def gather(config: Any, start: dt.datetime | None = None, end: dt.datetime | None = None) -> list[Annotation]:
    """Stored annotations and those the annotation sources supply, in ``[start, end]``, oldest first."""
    notes = read(config.storage.path, start, end)
    if getattr(config, "annotation_sources", None):
        lo = start or dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        hi = end or dt.datetime.now(dt.timezone.utc)
        notes = sorted([*notes, *supplied(config, lo, hi)], key=lambda n: (n.at, n.id or 0))
    return notes
