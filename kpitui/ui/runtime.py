"""The core objects the UI drives for one config, used from worker threads only.

A :class:`Runtime` holds the engine, the viewer's history and two store
connections: ``reader`` (history loads, source health) and ``writer`` (the
collector's polls and manual readings). :class:`~kpitui.store.Store` is safe
to share between threads (calls are serialised by its lock); two connections
let a viewer read while a long poll writes (SQLite WAL). Nothing here touches
a widget.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from ..config import Config
from ..engine import Engine
from ..history import History
from ..history_store import HistoryStore, open_history
from ..model import Snapshot, SourceHealth
from ..store import unwritable

if TYPE_CHECKING:  # the collector's modules (its sources' polling) load when the sources start, after the first values
    from ..collector import Collector, PollResult

Clock = Callable[[], dt.datetime]
StoreFactory = Callable[[Config], HistoryStore]

#: the delay before the next chunk of a backlog (at once, but a Textual timer must wait more than 0 s)
PENDING_DELAY = 0.01

#: re-evaluate at least this often even when nothing new arrived (ages and periods move on)
STALE_AFTER = 60.0

#: the sources start after the first evaluation, or after this many seconds if it takes longer
SOURCES_WAIT = 5.0


def open_store(config: Config) -> HistoryStore:
    # a history that cannot be written (read-only file system or folder) is viewed read-only
    if config.storage.url is not None:
        return open_history(config)
    return open_history(config, readonly=unwritable(config.storage.path) is not None and config.storage.path.exists())


@dataclass
class Runtime:
    config: Config
    engine: Engine
    history: History
    reader: HistoryStore
    writer: HistoryStore
    collector: Collector | None
    clock: Clock
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_health: dict[str, SourceHealth] | None = None
    last_evaluated: float = 0.0
    #: the collector instances that wrote to a shared (PostgreSQL) history, sorted; empty for an SQLite file
    instances: list[str] = field(default_factory=list)
    #: one viewer per instance filter: its store (``instance_filter``) and history, opened when first shown
    views: dict[str, tuple[HistoryStore, History]] = field(default_factory=dict)
    #: the sources are polled from here (``collector`` is built by :meth:`start_collector`)
    collects: bool = False
    #: set once an evaluation has finished (or failed): the first values no longer wait
    evaluated: threading.Event = field(default_factory=threading.Event)
    _collector_lock: threading.Lock = field(default_factory=threading.Lock)
    _closed: bool = False

    @classmethod
    def open(
        cls,
        config: Config,
        *,
        collect: bool,
        clock: Clock,
        store_factory: StoreFactory = open_store,
        previous: Runtime | None = None,
        sources_later: bool = False,
        preloaded: tuple[HistoryStore, History] | None = None,
    ) -> Runtime:
        """Build the runtime for ``config``; keep ``previous``'s history when the store is the same file.

        ``sources_later``: do not build the collector (its sources) yet, :meth:`start_collector` does:
        a source's constructor may do real work (the demo source brings its access log up to date),
        which the first values need not wait for. ``preloaded``: the reader store and its history,
        already loaded (:mod:`kpitui.ui.preload`)."""
        engine = Engine(config, keep_program=True)  # a large config's compile kept between starts
        lock = threading.Lock()
        views: dict[str, tuple[HistoryStore, History]] = {}
        if previous is not None and previous.config.storage.path == config.storage.path:
            reader, writer, history, lock = previous.reader, previous.writer, previous.history, previous.lock
            views = previous.views
        else:
            reader, history = preloaded if preloaded is not None else (store_factory(config), None)
            try:
                writer = store_factory(config)
            except BaseException:
                reader.close()
                raise
            history = history or History(reader, index_cache=True)
        collector = None
        if collect and not sources_later:
            from ..collector import Collector

            collector = Collector(config, writer, clock=clock)
        runtime = cls(
            config, engine, history, reader, writer, collector, clock, lock=lock, views=views, collects=collect
        )
        runtime.instances = runtime.list_instances()
        return runtime

    # -- instances (a shared PostgreSQL history) --------------------------------

    def list_instances(self) -> list[str]:
        """The instances that wrote readings (``[]`` when the history keeps none apart: an SQLite file)."""
        listing = getattr(self.reader, "instances", None)
        return list(listing()) if callable(listing) else []

    def _view(self, instance: str | None) -> tuple[HistoryStore, History]:
        """The store and history showing ``instance``'s readings (``None``: every instance's, summed).

        Opened as ``kpitui report --instance NAME`` opens it: read-only, with ``instance_filter``."""
        if instance is None:
            return self.reader, self.history
        if instance not in self.views:
            store = open_history(self.config, readonly=True, instance_filter=instance)
            self.views[instance] = (store, History(store))
        return self.views[instance]

    # -- evaluation ------------------------------------------------------------

    def evaluate(self, *, window: str | None, offset: int, force: bool, instance: str | None = None) -> Snapshot | None:
        """Read what is new and evaluate (``instance``'s readings only, when given);
        ``None`` when nothing changed and ``force`` is false.

        Starts no fold of the history's delta (it would slow this evaluation down, and the
        first values wait for it): :meth:`fold_due` does, once the snapshot is on its way."""
        try:
            return self._evaluate(window=window, offset=offset, force=force, instance=instance)
        finally:
            self.evaluated.set()

    def _evaluate(self, *, window: str | None, offset: int, force: bool, instance: str | None) -> Snapshot | None:
        with self.lock:
            reader, history = self._view(instance)
            changed = history.refresh(fold=False)
            health = reader.health() if instance is not None else self._with_own_polls(reader.health())
            stale = time.monotonic() - self.last_evaluated >= STALE_AFTER
            if not (force or changed or stale or health != self.last_health):
                return None
            if force or stale:
                self.instances = self.list_instances()  # a collector on another host may have joined
            snapshot = self.engine.evaluate(history, self.clock(), window=window or None, offset=offset, health=health)
            self.last_health = health
            self.last_evaluated = time.monotonic()
            return self._with_marks(snapshot)

    def fold_due(self, instance: str | None = None) -> None:
        """Start folding the delta of ``instance``'s history into its base in the background, when it
        has grown enough (:meth:`kpitui.history.History.fold_due`)."""
        with self.lock:
            self._view(instance)[1].fold_due()

    def _with_own_polls(self, health: dict[str, SourceHealth]) -> dict[str, SourceHealth]:
        """The stored health with this process's own later successful polls: the collector commits a poll
        that finds nothing new only as a heartbeat (:data:`~kpitui.collector.HEARTBEAT_EVERY`)."""
        if self.collector is None:
            return health
        from dataclasses import replace

        out = dict(health)
        for sid, at in self.collector.last_successes().items():
            stored = out.get(sid)
            newer = stored is not None and (stored.last_success is None or at > stored.last_success)
            if stored is not None and stored.error is None and newer:
                out[sid] = replace(stored, last_success=at)
        return out

    def _with_marks(self, snapshot: Snapshot) -> Snapshot:
        """The snapshot with each KPI's annotated trend buckets (annotations are extra: none when they fail)."""
        from dataclasses import replace

        from ..annotations import trend_marks

        try:
            return replace(snapshot, annotated=trend_marks(self.config, snapshot, self.engine.metrics_of))
        except Exception:  # noqa: BLE001 - a damaged annotation table or a failing source must not stop the view
            return snapshot

    def series(
        self,
        kpi_id: str,
        *,
        grain: str,
        window: str | None,
        offset: int,
        points: int,
        compare: str = "previous",
        instance: str | None = None,
    ) -> list[tuple[dt.datetime, float | None, float | None]]:
        return self.engine.series(
            self._view(instance)[1],
            kpi_id,
            now=self.clock(),
            grain=grain,
            window=window or None,
            offset=offset,
            points=points,
            compare=compare,
        )

    def metric_series(
        self,
        metric_id: str,
        *,
        grain: str,
        window: str,
        offset: int,
        points: int,
        compare: str = "previous",
        instance: str | None = None,
    ) -> list[tuple[dt.datetime, float | None, float | None]]:
        """A metric's own series (by its aggregation rule), exactly as ``kpitui series <metric>`` gives it."""
        return self.engine.metric_series(
            self._view(instance)[1],
            metric_id,
            now=self.clock(),
            grain=grain,
            window=window,
            offset=offset,
            points=points,
            compare=compare,
        )

    def explain(self, snapshot: Snapshot, kpi_id: str, *, window: str | None, offset: int, instance: str | None = None):
        """Why ``kpi_id`` moved in ``snapshot``: its change split by input (:mod:`kpitui.explain`)."""
        from ..explain import explain

        with self.lock:
            return explain(
                self.engine, self._view(instance)[1], snapshot, [kpi_id], window=window or None, offset=offset
            ).get(kpi_id)

    def annotations(self, kpi_id: str | None, metric_id: str | None, start: dt.datetime, end: dt.datetime) -> list:
        """The annotations about a metric (``metric_id``) or a KPI (its metrics too) between ``start`` and ``end``."""
        from ..annotations import gather

        notes = gather(self.config, start, end)
        if metric_id is not None:
            return [n for n in notes if n.about(None, [metric_id])]
        return [n for n in notes if n.about(kpi_id, self.engine.metrics_of(kpi_id) if kpi_id else ())]

    # -- collecting and recording ----------------------------------------------

    def start_collector(
        self, wait: float = SOURCES_WAIT, cancel: threading.Event | None = None, after: threading.Event | None = None
    ) -> Collector | None:
        """Build the collector (once), after the first evaluation (at most ``wait`` seconds later):
        the sources' constructors and first polls would otherwise compete with the history's first
        load for the CPU. ``after``: wait for this event instead of the first evaluation (the app's:
        its first values are painted, so the sources do not compete with that either). ``None`` when
        this runtime does not collect, was closed meanwhile or ``cancel`` (the worker's: the app is
        quitting) was set while waiting."""
        deadline = time.monotonic() + wait
        ready = after if after is not None else self.evaluated
        while not ready.wait(0.05) and time.monotonic() < deadline:
            if cancel is not None and cancel.is_set():
                return None
        with self._collector_lock:
            if self.collects and self.collector is None and not self._closed:
                from ..collector import Collector

                self.collector = Collector(self.config, self.writer, clock=self.clock)
            return self.collector

    @property
    def sources(self) -> list[str]:
        return self.collector.sources if self.collector else []

    def poll(self, source: str, cancel: threading.Event | None = None) -> PollResult:
        """Poll ``source`` once; ``cancel`` (the worker's) stops a fetch in progress when the app quits."""
        assert self.collector is not None
        return self.collector.poll(source, cancel)

    def seconds_until_due(self, source: str) -> float:
        """When the collector wants ``source`` polled again (it backs off failing sources)."""
        if self.collector is None or source not in self.collector.states:
            return 60.0
        state = self.collector.states[source]
        if state.pending:  # a backlog: read the next chunk at once (a Textual timer needs a delay above 0)
            return PENDING_DELAY
        return max(0.5, state.next_due - time.monotonic())

    def record(self, metric: str, at: dt.datetime, value: float) -> int | None:
        """A manual reading; its id (``None`` when ``at`` is in the metric's compacted past)."""
        reading, _ = self.writer.record_manual(metric, at, value)
        return None if reading is None else reading.id

    def close(self, stores: bool = True) -> None:
        """Stop the sources; close the store connections too unless another runtime shares them."""
        with self._collector_lock:
            self._closed = True
        if self.collector is not None:
            self.collector.close()
        if stores:
            with self.lock:
                for store in (self.reader, self.writer, *(view[0] for view in self.views.values())):
                    try:
                        store.close()
                    except Exception:  # noqa: BLE001 - closing on the way out
                        pass
