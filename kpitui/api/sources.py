"""Metric sources: :class:`MetricSource`, what a fetch returns and knows, and how it fails."""

from __future__ import annotations

import datetime as dt
import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal, Sequence

from ..model import Metric, SourceSpec
from ..options import NoOptions, nearest

if TYPE_CHECKING:
    import polars as pl
else:
    from kpitui.lazy import polars as pl


class SourceError(Exception):
    """A fetch failed in a way the user can act on; the message is shown as is."""


_fetch = threading.local()


def fetch_cancelled() -> threading.Event:
    """The event kpitui sets when it gives up on the fetch running in this thread.

    kpitui runs each ``fetch`` in a thread of its own and sets this event when
    the source's ``timeout`` has passed. A fetch
    that can take long should wait on it, or check it between steps, and
    return or raise: kpitui cannot stop a Python thread. One that ignores it
    is left behind; the next poll uses a new instance of the source, and after
    a few such fetches still run, the source is skipped until they end.
    Outside a collector's fetch this is an event that is never set.
    """
    return getattr(_fetch, "cancelled", None) or threading.Event()


def _run_fetch(cancelled: threading.Event, fetch: Any, *args: Any) -> Any:
    """Call ``fetch(*args)`` with ``cancelled`` as this thread's :func:`fetch_cancelled` (the collector's use)."""
    _fetch.cancelled = cancelled
    try:
        return fetch(*args)
    finally:
        _fetch.cancelled = None


@dataclass(frozen=True)
class FetchResult:
    """What one poll of a source produced.

    ``readings``: a frame with :data:`READINGS_SCHEMA`. ``cursor``: the
    source's new position (for example a file offset), committed in the same
    transaction as the readings, and handed back to the next ``fetch``.
    ``more_pending``: the source stopped at its per-poll budget with more to
    read right now (a backlog); kpitui stores this chunk with its cursor and
    polls again at once, until a fetch says it is caught up. Only set it when
    the cursor moved on: a fetch that makes no progress ends the catch-up.
    """

    readings: pl.DataFrame
    cursor: str | None = None
    skipped: int = 0  # malformed inputs counted and skipped (shown to the user)
    more_pending: bool = False  # more to read now: poll again at once (a backlog read in chunks)


@dataclass(frozen=True)
class SourceContext:
    """What kpitui tells a source about where it runs, and how it reports progress."""

    config_dir: Path
    timezone: str = "UTC"
    #: kpitui's own history file: no source may read it (see :meth:`is_history`)
    history_path: Path | None = None
    #: set by kpitui: where :meth:`progress` goes (a bar on a terminal, the TUI); ``None``: nowhere
    on_progress: Callable[[float, float | None, str], None] | None = field(default=None, compare=False, repr=False)

    def path(self, value: str | Path) -> Path:
        """Resolve a path option relative to the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.config_dir / p)

    def is_history(self, path: str | Path) -> bool:
        """Whether ``path`` is kpitui's history file or one of its ``-wal``/``-shm``/``-journal`` files
        (by identity: a symlink or a hard link to it counts)."""
        if self.history_path is None:
            return False
        for suffix in ("", "-wal", "-shm", "-journal"):
            own = Path(f"{self.history_path}{suffix}")
            try:
                if os.path.samefile(path, own):
                    return True
            except OSError:  # one of them does not exist
                if Path(path).resolve() == own.resolve():
                    return True
        return False

    def progress(self, done: float, total: float | None = None, label: str = "") -> None:
        """Say how far long work has got: ``done`` of ``total`` (same unit: bytes, rows, files; ``None``: unknown).

        Optional, and cheap to call often (from ``fetch``'s thread). ``label``
        says what is being done (``"importing access.log.3.gz"``). kpitui
        shows it as a progress bar with rate and time left when ``kpitui
        collect`` runs on a terminal, and nowhere otherwise; a failure to show
        it never reaches the source. Report ``done == total`` when finished.
        """
        if self.on_progress is None:
            return
        try:
            self.on_progress(done, total, label)
        except Exception:  # noqa: BLE001 - showing progress must never break a fetch
            pass


class MetricSource:
    """A data source that supplies readings for one or more metrics.

    Subclasses set the class attributes and implement :meth:`fetch`.
    One instance serves every metric configured with ``source = "<id>"``;
    it receives those metrics (with their parsed ``MetricOptions`` in
    ``metric.options``) in ``self.metrics``.

    ``mode`` says how kpitui stores what ``fetch`` returns:

    - ``"replace"``: each reading is the value of (metric, time); fetching it
      again overwrites it (an SQL query re-run, a gauge, a daily export).
    - ``"add"``: readings are increments counted since ``cursor``; they are
      added to what is stored, and the new cursor is committed in the same
      transaction, so a crash neither loses nor double-counts (a log tail).
    """

    type_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions
    MetricOptions: ClassVar[type] = NoOptions
    mode: ClassVar[Literal["replace", "add"]] = "replace"
    default_interval: ClassVar[float] = 60.0
    default_timeout: ClassVar[float] = 30.0
    #: whether this source evaluates a trigger's ``condition`` over its events
    uses_condition: ClassVar[bool] = False
    #: readings arrive by other means (``kpitui record``); the collector never polls it
    passive: ClassVar[bool] = False
    #: the unit of this source's metrics when their table names none (``count`` if None): one of
    #: ``count``, ``currency``, ``percent``, ``ratio``, ``duration`` (seconds), ``number``
    default_unit: ClassVar[str | None] = None

    @classmethod
    def metric_unit(cls, options: Any, metric_options: Any) -> str | None:
        """The default unit of one metric, from the source's and the metric's options.

        Override when it depends on what the metric reads (a ``revenue``
        column is ``currency``, a ``visitors`` one ``count``); the metric's own
        ``unit`` key always wins. Default: :attr:`default_unit`.
        """
        return cls.default_unit

    def __init__(self, spec: SourceSpec, metrics: Sequence[Metric], context: SourceContext):
        self.spec = spec
        self.options: Any = spec.options
        self.metrics = list(metrics)
        self.context = context

    @classmethod
    def check(cls, options: Any, metrics: Sequence[Metric], context: SourceContext) -> None:
        """Cross-check the source's options against its metrics when the config loads.

        Raise :class:`OptionError` to reject the config with a clear message.
        """

    @classmethod
    def preflight(cls, options: Any, metrics: Sequence[Metric], context: SourceContext) -> list[str]:
        """Problems outside the config that would make a fetch fail, for ``kpitui check`` to warn about.

        For example a path that does not exist or cannot be read (see
        :func:`path_warning`). Return one line per problem (an empty list when
        all is well); kpitui prints each as a warning naming the source and its
        metrics (``check --strict`` makes them an error). Unlike :meth:`check`,
        nothing here refuses the config: a log may appear later. Keep it quick
        and local (no network); it runs on every ``kpitui check``.
        """
        return []

    @classmethod
    def writes(cls, options: Any, context: SourceContext) -> list[Path]:
        """Files this source creates as it runs (the demo's made-up access log). ``kpitui check`` does not
        warn that another source's file is missing when this source will write it: it says so in a note."""
        return []

    @classmethod
    def example(cls) -> dict[str, Any]:
        """Example ``{"source": {...}, "metric": {...}}`` tables for ``kpitui init``."""
        return {"source": {}, "metric": {}}

    def fetch(self, cursor: str | None, now: dt.datetime) -> FetchResult:
        """Return readings produced since ``cursor``. Called from a worker thread.

        It should finish within ``self.spec.timeout`` seconds, and stop soon
        after :attr:`cancelled` is set.
        """
        raise NotImplementedError

    @property
    def cancelled(self) -> threading.Event:
        """Set when kpitui gives up on the current fetch (see :func:`fetch_cancelled`)."""
        return fetch_cancelled()

    def top_matches(
        self, metric_id: str, start: dt.datetime, end: dt.datetime, limit: int = 10
    ) -> dict[str, list[tuple[str, int]]]:
        """What a metric's condition actually matched in ``[start, end)`` (optional; drill-down).

        For an event source that evaluates a trigger's condition: per field
        (``path``, ``referrer``, ``agent``), the ``limit`` most frequent values
        among the matching events, most frequent first, as ``(value, count)``.
        The default raises ``NotImplementedError``: the source cannot say.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release connections and files."""


def path_warning(path: Path, kind: Literal["file", "folder"] = "file") -> str | None:
    """Why ``path`` cannot be read now, in one line, or ``None`` when it can (for :meth:`MetricSource.preflight`).

    A missing path says so and suggests the nearest name in its folder
    (``/var/log/nginx/acess.log does not exist (did you mean access.log?)``).
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        folder = path.parent
        if not folder.is_dir():
            return f"{path} does not exist (nor does its folder {folder})"
        try:
            with os.scandir(folder) as entries:
                names = [entry.name for _, entry in zip(range(10_000), entries)]
        except OSError:
            names = []
        hint = nearest(path.name, names)
        return f"{path} does not exist" + (f" (did you mean {hint}?)" if hint else "")
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror or exc}"
    if kind == "file" and stat.S_ISDIR(st.st_mode):
        return f"{path} is a folder, not a file"
    if kind == "file" and not stat.S_ISREG(st.st_mode):  # a FIFO would block whoever opens it
        return f"{path} is a FIFO, socket or device, not a file"
    if kind == "folder" and not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a folder"
    if not os.access(path, os.R_OK | (os.X_OK if kind == "folder" else 0)):
        return f"{path} cannot be read: permission denied"
    return None
