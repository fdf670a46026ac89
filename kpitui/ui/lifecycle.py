"""The runtime's life in the app: opened off the main thread, adopted, compacted hourly,
retired when replaced; the config file watched and reloaded when it changes.

Each config load is a *generation*: results of an older generation (a runtime
opened for a config since replaced, a poll of its sources) are dropped.
"""

from __future__ import annotations

import threading
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual.timer import Timer
from textual.worker import get_current_worker

from .. import kept_code
from ..config import Config, ConfigError, load_config
from . import gc_pause
from .messages import CollectorReady, ConfigFailed, ConfigReloaded, RuntimeFailed, RuntimeReady
from .state import ViewSettings
from .workers import run_thread

if TYPE_CHECKING:
    from .app import KpiApp
    from .runtime import Runtime


#: seconds after the runtime is open before the panes say "loading the history" (they said "opening" until then)
LOADING_SAID_AFTER = 0.3


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class Lifecycle:
    def __init__(self, app: KpiApp) -> None:
        self.app = app
        self.config_stamp = _stamp(app.config.path)
        self._compact_timer: Timer | None = None
        #: set once the first values are painted (or their evaluation failed): the sources wait for it
        self.values_shown = threading.Event()

    # -- the runtime ------------------------------------------------------------------

    def open(self, config: Config, previous: Runtime | None = None) -> None:
        """Open the runtime for ``config`` in a worker (reusing ``previous``'s store when it is the same)."""
        work = partial(self._open, config, self.app.generation, previous)
        run_thread(self.app, work, "open runtime", "runtime", exclusive=True)

    def _open(self, config: Config, generation: int, previous: Runtime | None) -> None:
        app = self.app
        try:
            from .runtime import Runtime, open_store

            preload, app.preload = app.preload, None  # the history loaded while the UI started (kpitui.ui.preload)
            preloaded = preload.take(config) if preload is not None and previous is None else None
            runtime = Runtime.open(
                config,
                collect=app.collect,
                clock=app.now,
                store_factory=app.store_factory or open_store,
                previous=previous,
                sources_later=True,
                preloaded=preloaded,
            )
        except Exception as exc:  # noqa: BLE001 - e.g. StoreError: shown in the banner
            from ..failures import explain, handles

            # a full disk, a read-only or damaged history: what to do, as every command says it
            said = explain(exc, config.storage.path) if handles(exc) else str(exc) or type(exc).__name__
            app.post_message(RuntimeFailed(said, generation))
            return
        app.post_message(RuntimeReady(runtime, generation))

    def adopt(self, message: RuntimeReady) -> None:
        """Use the new runtime: retire the old one, start alerts, evaluate, poll, compact."""
        app = self.app
        if message.generation != app.generation:
            self.retire(message.runtime)
            return
        old, app.runtime = app.runtime, message.runtime
        runtime = message.runtime
        app.clear_problem("store")
        if old is not None:
            self.retire(old)
        if app.snapshot is None:  # the store is open; the first evaluation reads the whole history
            app.loading_phase = "loading"
            # said a moment later, unless the values are on screen by then: repainting the panes for a load that
            # takes a few milliseconds (a small history) only held the main thread beside the evaluation
            app.set_timer(LOADING_SAID_AFTER, app.loading_tick, name="loading-phase")
        if app.view.instance is not None and app.view.instance not in runtime.instances:
            app.view = ViewSettings(app.view.window, app.view.offset)  # the new history has no such instance
        from . import alerting

        if app.alerting is not None:
            app.alerting.close()
        app.alerting = alerting.start(app, runtime)
        app.request_evaluate(force=True)
        app.update_status()
        if runtime.collects:  # the sources start once the first values are on screen (Runtime.start_collector)
            work = partial(self._start_collector, runtime, message.generation, self.values_shown)
            run_thread(app, work, "start sources", "sources")

    def _start_collector(self, runtime: Runtime, generation: int, shown: threading.Event) -> None:
        if runtime.start_collector(cancel=get_current_worker().cancelled_event, after=shown) is not None:
            self.app.post_message(CollectorReady(runtime, generation))

    def first_values_shown(self) -> None:
        """The first values are painted, or their evaluation failed: the sources may start (building them
        brings the demo source's log up to date, a polars query that would compete with the painting), the fold
        of the rows read since the index cache starts (the first evaluation leaves it to this, for the same
        reason: :meth:`kpitui.ui.evaluating.Evaluations._evaluate`); the dataclasses' methods this start compiled are
        kept for the next start (kpitui.kept_code, in a worker); the
        garbage collector paused for the start resumes a moment later (kpitui.ui.gc_pause: its first
        collection walks everything the start made, and would hold the GIL while the values are written out)."""
        self.values_shown.set()
        runtime, app = self.app.runtime, self.app
        if kept_code.installed():  # what this start compiled, kept for the next one (kpitui.kept_code)
            run_thread(app, kept_code.finish, "keep code", "kept-code")
        if runtime is not None and app.snapshot is not None:  # the fold the first evaluation left due (Evaluations)
            work = partial(runtime.fold_due, app.view.instance)
            run_thread(app, work, "fold", "fold")
        if gc_pause.paused():
            self.app.set_timer(gc_pause.RESUME_DELAY, gc_pause.resume, name="gc-resume")

    def collecting(self, message: CollectorReady) -> None:
        """The runtime's sources are built: poll them, and compact like ``kpitui collect``."""
        app, runtime = self.app, message.runtime
        if message.generation != app.generation or app.runtime is not runtime:
            return
        app.poller.attach(runtime, message.generation)
        app.update_status()
        if runtime.collector is not None and app.config.storage.raw_retention_days and self._compact_timer is None:
            from ..collector import COMPACT_EVERY

            self.compact()  # like `kpitui collect`: at start, then hourly
            self._compact_timer = app.set_interval(COMPACT_EVERY, self.compact)

    def failed(self, message: RuntimeFailed) -> None:
        app = self.app
        if message.generation == app.generation:
            if app.runtime is None:
                app.loading_message = "cannot open the history (see above)"
                gc_pause.resume()  # no first values to wait for
            app.set_problem("store", message.error)

    def compact(self) -> None:
        """Down-sample readings older than ``[storage] raw_retention_days`` (kpitui.retention), in a worker."""
        runtime = self.app.runtime
        if runtime is not None and runtime.collector is not None:
            work = partial(self._compact, runtime)
            run_thread(self.app, work, "compact", "compact", exclusive=True)

    def _compact(self, runtime: Runtime) -> None:
        if runtime.collector is not None:
            changed, _ = runtime.collector.compact()
            if changed:
                self.app.call_from_thread(self.app.request_evaluate, True)

    def retire(self, runtime: Runtime) -> None:
        """Close a replaced (or stale) runtime off the main thread (a source's close may block).

        Its store connections are closed only when the runtime in use does not share them.
        """
        current = self.app.runtime
        shared = current is not None and current is not runtime and current.reader is runtime.reader
        threading.Thread(target=runtime.close, kwargs={"stores": not shared}, name="kpitui-retire", daemon=True).start()

    # -- the config file --------------------------------------------------------------

    def check_config(self) -> None:
        """Periodic: reload the config (in a worker) when its file changed."""
        stamp = _stamp(self.app.config.path)
        if stamp != self.config_stamp and stamp is not None:
            self.config_stamp = stamp
            work = partial(self._reload, self.app.config)
            run_thread(self.app, work, "reload config", "config", exclusive=True)

    def _reload(self, current: Config) -> None:
        try:
            config = load_config(current.path, origin=current.origin, registry=current.registry)
        except ConfigError as exc:
            self.app.post_message(ConfigFailed(str(exc)))
        except Exception as exc:  # noqa: BLE001 - a plugin raising while checking its options
            self.app.post_message(ConfigFailed(f"{current.path}: {type(exc).__name__}: {exc}"))
        else:
            self.app.post_message(ConfigReloaded(config))
