"""Base classes for plugin authors: metric sources and KPI formula types.

A plugin returns subclasses of these from the hooks in :mod:`kpitui.hookspecs`.
Built-in sources and formulas (``kpitui.builtin``) use exactly this API.

Options are plain dataclasses (see :mod:`kpitui.options`): kpitui validates
the TOML against them before anything runs, so ``__init__`` and ``fetch``
receive checked, typed values.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal, Sequence

import polars as pl

from .model import Metric, SourceSpec
from .options import NoOptions, OptionError, Secret, nearest

__all__ = [
    "READINGS_SCHEMA",
    "AnnotationSource",
    "Note",
    "CannotDecompose",
    "FetchResult",
    "FormulaType",
    "Input",
    "MetricSource",
    "NoOptions",
    "Notification",
    "Notifier",
    "NotifierError",
    "OptionError",
    "Secret",
    "SourceContext",
    "SourceError",
    "fetch_cancelled",
    "path_warning",
    "readings_frame",
    "safe_div",
    "shapley_split",
]

#: The frame every source returns from :meth:`MetricSource.fetch`.
READINGS_SCHEMA: dict[str, pl.DataType] = {
    "metric": pl.String(),
    "at": pl.Datetime("us", "UTC"),
    "value": pl.Float64(),
}


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


def readings_frame(rows: Sequence[tuple[str, dt.datetime, float]] | None = None, **columns: Any) -> pl.DataFrame:
    """Build a readings frame from ``(metric, at, value)`` rows or from columns.

    Naive datetimes are taken as UTC.
    """
    if rows is not None:
        metric, at, value = (list(c) for c in zip(*rows)) if rows else ([], [], [])
        columns = {"metric": metric, "at": at, "value": value}
    frame = pl.DataFrame(
        {
            "metric": pl.Series(columns.get("metric", []), dtype=pl.String),
            "at": pl.Series(columns.get("at", [])),
            "value": pl.Series(columns.get("value", []), dtype=pl.Float64, strict=False),
        }
    )
    return normalise_readings(frame)


def normalise_readings(frame: pl.DataFrame) -> pl.DataFrame:
    """Coerce a frame to :data:`READINGS_SCHEMA` (naive times are UTC)."""
    at = frame.schema.get("at")
    if at is None or at == pl.Null:
        at_expr = pl.col("at").cast(pl.Datetime("us", "UTC"))
    elif isinstance(at, pl.Datetime) and at.time_zone is None:
        at_expr = pl.col("at").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    elif isinstance(at, pl.Datetime):
        at_expr = pl.col("at").dt.convert_time_zone("UTC").cast(pl.Datetime("us", "UTC"))
    else:
        at_expr = pl.col("at").cast(pl.Datetime("us", "UTC"))
    return frame.select(
        pl.col("metric").cast(pl.String),
        at_expr.alias("at"),
        pl.col("value").cast(pl.Float64, strict=False),
    )


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

    def top_matches(self, metric_id: str, start: dt.datetime, end: dt.datetime, limit: int = 10) -> dict[str, list[tuple[str, int]]]:
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
    if kind == "folder" and not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a folder"
    if not os.access(path, os.R_OK | (os.X_OK if kind == "folder" else 0)):
        return f"{path} cannot be read: permission denied"
    return None


@dataclass(frozen=True)
class Input:
    """One value a formula needs, aggregated over the period being evaluated.

    ``ref``: a metric id (or another KPI's id). ``agg``: override the metric's
    time aggregation (``sum``, ``last``, ``mean``, ``min``, ``max``, ``count``,
    ``first``, or a quantile such as ``p90``). ``offset``: how many periods
    back (``1`` is the previous period).
    """

    name: str
    ref: str
    agg: str | None = None
    offset: int = 0


def safe_div(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """``numerator / denominator``, null (no data) where the denominator is zero or missing."""
    return pl.when(denominator != 0).then(numerator / denominator).otherwise(None)


class FormulaType:
    """A way of computing a KPI from its inputs, such as ``sum`` or ``ratio``.

    An instance is made per KPI with its validated ``Options``. kpitui
    aggregates each :class:`Input` over each period and calls
    :meth:`expression` with one polars expression per input name; the result
    is evaluated for the current period, the previous one, the same period last
    year and every sparkline bucket, in one pass.
    """

    type_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions
    default_unit: ClassVar[str | None] = None
    #: additive: the value over a period is the sum of its values over the period's parts (linear in
    #: its inputs: sums, differences, weighted sums). When its inputs are additive too (``sum`` or
    #: ``count`` metrics, additive KPIs, read over the same period), a to-date value can be
    #: projected to the period's end (pace) and a target prorated to another window's length.
    #: May be set per instance (``expression`` does, from its formula).
    additive: ClassVar[bool] = False
    #: the earlier name of ``additive`` (either one makes a formula additive)
    projectable: ClassVar[bool] = False
    #: each sparkline point covers the window's period up to the end of its bucket
    #: (a running total that restarts with the period), not the bucket alone
    to_date_series: ClassVar[bool] = False
    #: the value depends on individual raw readings, not only on per-hour or per-day totals (a
    #: percentile): retention keeps the raw readings of every metric it reads, unless the config
    #: lists the metric in ``[storage] downsample_anyway``. Inputs whose ``agg`` cannot be rebuilt
    #: from down-sampled rows (a quantile, ``first``, ``min`` of a ``sum`` metric) count too.
    needs_raw_readings: ClassVar[bool] = False

    def __init__(self, options: Any):
        self.options = options

    def inputs(self) -> list[Input]:
        """The metrics (or KPIs) this formula reads."""
        raise NotImplementedError

    def expression(self, inputs: dict[str, pl.Expr]) -> pl.Expr:
        """Combine the aggregated inputs into the KPI's value."""
        raise NotImplementedError

    def parts(self, inputs: dict[str, pl.Expr]) -> dict[str, pl.Expr]:
        """Named sub-values shown beside the KPI (for example each funnel step)."""
        return {}

    def series(self, value: pl.Expr) -> pl.Expr:
        """Transform the bucket series of values (for example a running total)."""
        return value

    def decompose(self, current: dict[str, float | None], previous: dict[str, float | None]) -> dict[str, float]:
        """How much of the change against the previous period comes from each input ("why it moved").

        ``current`` and ``previous``: each :class:`Input`'s value (by its
        ``name``) over the current and the previous period (``None``: no data).
        Return ``{label: amount}`` whose amounts add up, exactly (up to float
        rounding), to the KPI's value over the current period minus its value
        over the previous one. A label is an input's ``name`` (``kpitui``
        links it to that input's metric for drill-down) or a label of your own
        (``funnel`` uses its steps, ``a→b``). kpitui checks the sum and shows
        nothing rather than amounts that do not add up.

        Raise :class:`CannotDecompose` with a short reason when this change
        cannot be split (an input without data, a zero denominator). The
        default raises it: a formula type without this method "cannot be
        decomposed". :func:`shapley_split` splits any function of a few factors
        exactly.
        """
        raise CannotDecompose(f"formula type {self.type_name!r} does not say how to split a change by input")

    @classmethod
    def example(cls) -> dict[str, Any]:
        """Example KPI keys for ``kpitui init``."""
        return {}


class CannotDecompose(Exception):
    """A KPI's change cannot be split by input (see :meth:`FormulaType.decompose`); the message says why."""


def shapley_split(
    value: Callable[[dict[str, float]], float], previous: dict[str, float], current: dict[str, float]
) -> dict[str, float]:
    """Split ``value(current) - value(previous)`` between the factors (the keys) exactly: the Shapley split.

    Each factor's share is the change it makes when it moves from its previous
    to its current value, averaged over every order in which the factors can
    be moved (the others at their previous value before it moves, at their
    current one after). The shares always add up to the whole change, and a
    factor that did not change gets 0. For two factors of a product or a
    ratio ``N / D`` this is the symmetric shift-share split:
    ``ΔN · (1/D₀ + 1/D₁) / 2`` and ``(1/D₁ - 1/D₀) · (N₀ + N₁) / 2``.
    ``value`` is called 2ⁿ times for n factors: keep n small (at most 12).
    """
    import math

    names = list(previous)
    n = len(names)
    if n > 12:
        raise CannotDecompose(f"{n} factors are too many to split (at most 12)")
    cache: dict[int, float] = {}

    def at(mask: int) -> float:  # factors whose bit is set are at their current value
        if mask not in cache:
            cache[mask] = value({name: (current if mask >> i & 1 else previous)[name] for i, name in enumerate(names)})
        return cache[mask]

    weights = [math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n) for k in range(n)]
    shares: dict[str, float] = {}
    for i, name in enumerate(names):
        bit = 1 << i
        total = 0.0
        for mask in range(1 << n):
            if not mask & bit:
                total += weights[bin(mask).count("1")] * (at(mask | bit) - at(mask))
        shares[name] = total
    return shares


# -- annotation sources (the ``register_annotation_sources`` hook) -------------------------


@dataclass(frozen=True)
class Note:
    """One annotation an :class:`AnnotationSource` supplies: ``at`` (naive: the config's time zone),
    ``text``, and what it is about: a ``kpi`` id, a ``metric`` id, or neither (everything)."""

    at: dt.datetime
    text: str
    kpi: str | None = None
    metric: str | None = None


class AnnotationSource:
    """Supplies annotations read when they are shown, never stored: deploys from a command's
    output, a CSV of campaigns.

    Subclasses set the class attributes and implement :meth:`annotations`. One
    instance serves one ``[annotation_sources.ID]`` table (``self.options``
    holds its validated ``Options``). kpitui calls :meth:`annotations` for the
    span it shows (a report, a series, a detail chart), guarded: a source that
    raises is logged and skipped, and the others are shown.
    """

    type_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions

    def __init__(self, source_id: str, options: Any, context: SourceContext):
        self.id = source_id
        self.options: Any = options
        self.context = context

    @classmethod
    def check(cls, options: Any, context: SourceContext) -> None:
        """Cross-check the options when the config loads; raise :class:`OptionError` to reject them."""

    @classmethod
    def example(cls) -> dict[str, Any]:
        """Example ``[annotation_sources.ID]`` keys (besides ``type``) for ``kpitui init``."""
        return {}

    def annotations(self, start: dt.datetime, end: dt.datetime) -> list[Note]:
        """The annotations with ``start <= at <= end`` (aware UTC datetimes); keep it quick and local."""
        raise NotImplementedError


# -- notifiers (the ``register_notifiers`` hook) ---------------------------------------


class NotifierError(Exception):
    """A delivery failed in a way the user can act on; the message is shown as is (secrets masked)."""


@dataclass(frozen=True)
class Notification:
    """One message for a notifier: an alert that fired or resolved, a digest, or a test.

    ``key`` is the idempotency key: kpitui delivers at least once, and a
    notification sent again (after a crash between sending and recording the
    delivery) carries the same key, so a receiver can drop the duplicate.
    ``kind``: ``firing``, ``resolved``, ``changed`` (a status change rule),
    ``repeat`` (still firing), ``digest`` or ``test``. ``text`` is one plain
    paragraph; a digest also carries ``markdown`` and ``html`` renderings.
    """

    key: str
    kind: str
    name: str  # the alert's or digest's id
    title: str
    text: str
    at: dt.datetime
    subject: str | None = None  # the KPI, metric or source the alert is about
    fields: dict[str, Any] = field(default_factory=dict)
    markdown: str | None = None
    html: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON payload (``schema`` 1) that the webhook and command notifiers send."""
        return {
            "schema": 1,
            "key": self.key,
            "kind": self.kind,
            "alert": self.name,
            "title": self.title,
            "text": self.text,
            "at": self.at.isoformat(),
            "subject": self.subject,
            "fields": self.fields,
        }


class Notifier:
    """A way of telling people about alerts and digests: a chat webhook, a program, e-mail.

    Subclasses set the class attributes and implement :meth:`send`. One
    instance serves one ``[notifiers.ID]`` table (``self.options`` holds its
    validated ``Options``). ``send`` runs in kpitui's delivery thread with
    ``timeout`` seconds (``timeout = ...`` in the table, default
    ``default_timeout``); raising retries it later with back-off, isolated
    from other notifiers and from collecting.
    """

    type_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions
    default_timeout: ClassVar[float] = 15.0

    def __init__(self, notifier_id: str, options: Any, context: SourceContext, timeout: float | None = None):
        self.id = notifier_id
        self.options: Any = options
        self.context = context
        self.timeout = timeout if timeout is not None else self.default_timeout

    @classmethod
    def check(cls, options: Any, context: SourceContext) -> None:
        """Cross-check the options when the config loads; raise :class:`OptionError` to reject them."""

    @classmethod
    def example(cls) -> dict[str, Any]:
        """Example ``[notifiers.ID]`` keys (besides ``type``) for ``kpitui init``."""
        return {}

    def send(self, notification: Notification) -> None:
        """Deliver one notification; raise (ideally :class:`NotifierError`) when it did not arrive."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""
