"""The kpitui terminal app: drives the headless core and shows what it computes.

Threads: the store is opened, sources are polled and KPIs are evaluated in
thread workers that post messages back (:mod:`kpitui.ui.messages`); only the
main thread touches widgets. Each source is polled at its own interval and
its timer is re-armed only when its previous poll has finished, so a slow
source never piles up. A periodic light check reads what a separate
``kpitui collect`` process wrote, and the config file is watched for edits.

Start-up: the dashboard (with "loading…" in its panes and its keys in the
footer) is painted first; the runtime (:mod:`kpitui.ui.runtime`: engine,
store, history) is imported and opened in a worker once that frame is on
screen (``on_ready``), and the screens and the palette provider the first
frame does not show are imported when they are first opened.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import warnings
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import on, work
from textual.app import App
from textual.command import Provider
from textual.content import Content
from textual.screen import ModalScreen, Screen, SystemModalScreen
from textual.timer import Timer
from textual.worker import Worker, WorkerState, get_current_worker

from ..config import Config, ConfigError, load_config
from ..formatting import format_value
from ..model import Snapshot
from ..options import nearest
from . import bindings, remembered
from .messages import ConfigFailed, ConfigReloaded, Evaluated, Polled, ReadingSaved, RuntimeFailed, RuntimeReady, SourceProgress
from .legibility import legible_variables
from .palette import palette_of
from .screens.base import SnapshotScreen
from .screens.dashboard import DashboardScreen

if TYPE_CHECKING:
    from ..collector import PollResult
    from .runtime import Clock, Runtime, StoreFactory
    from .screens.add_reading import NewReading

CONFIG_CHECK_SECONDS = 2.0
#: app actions that must not fire behind a form or the help (their keys are typed or close the modal there)
BLOCKED_IN_MODALS = frozenset({"quit", "help", "refresh", "add_reading", "set_window", "step_period"})
DARK, LIGHT = "textual-dark", "textual-light"
READ_ONLY_NOTE = "This session is read-only: adding readings or annotations is off (`kpitui serve --allow-write` turns it on)."


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _actions_provider() -> type[Provider]:
    """The palette's kpitui actions, imported when the palette first opens."""
    from .commands import ActionsProvider

    return ActionsProvider


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class KpiApp(App[int]):
    """Objectives, KPIs and metrics in panes.

    ``now``: the clock (tests pass a fixed one). ``store_factory``: how the
    history is opened (default :func:`kpitui.ui.runtime.open_store`).
    ``watch_config``: reload the config file when it changes. ``read_only``:
    refuse adding readings and remember nothing (a browser session of
    ``kpitui serve`` without ``--allow-write``).
    """

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "kpitui"
    BINDINGS = bindings.APP
    COMMANDS = App.COMMANDS | {_actions_provider}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (150, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]

    def __init__(
        self,
        config: Config,
        *,
        collect: bool = True,
        now: Clock | None = None,
        store_factory: StoreFactory | None = None,
        watch_config: bool = True,
        refresh_seconds: float | None = None,
        config_check_seconds: float = CONFIG_CHECK_SECONDS,
        read_only: bool = False,
    ) -> None:
        super().__init__()
        self.config = config
        self.collect = collect
        self.read_only = read_only
        self.now: Clock = now or utcnow
        self.store_factory = store_factory
        self.watch_config = watch_config
        self.config_check_seconds = config_check_seconds
        self.refresh_seconds = float(refresh_seconds or config.ui.get("refresh_seconds", 5) or 5)
        self.runtime: Runtime | None = None
        self.generation = 0
        self.snapshot: Snapshot | None = None
        self.loading_message = "loading…"  # in the panes until the first snapshot (see _loading_tick)
        self.loading_phase = "opening"  # then "loading" (the runtime is open, the history is being read)
        self.loading_since = time.monotonic()
        self._loading_timer: Timer | None = None
        self.window = ""  # "" = each KPI's own window
        self.offset = 0
        self.request = 0
        self.applied_request = 0
        self.forced_request = 0
        self.eval_seconds: float | None = None
        self.problems: dict[str, str] = {}
        self.keymap: dict[str, str] = {}
        self.poll_timers: dict[str, Timer] = {}
        self.polling: set[str] = set()
        self.last_poll: dict[str, PollResult] = {}
        from ..progress import Tracker

        self.progress = Tracker()  # sources' long work (a backlog), in words for the status line
        self.config_stamp = _stamp(config.path)
        self._eval_timer: Timer | None = None
        self._compact_timer: Timer | None = None
        self._dark_theme, self._light_theme = DARK, LIGHT
        self.title = "kpitui"
        self.alerting = None  # kpitui.ui.alerting.TuiAlerts while collecting with [alerts]/[digests]

    def get_css_variables(self) -> dict[str, str]:
        """The theme's variables made legible on this terminal (kpitui.ui.legibility): 4.5:1 for every text."""
        variables = super().get_css_variables()
        variables.update(legible_variables(variables, self.current_theme.dark, self.console.color_system or "truecolor"))
        return variables

    def format_title(self, title: str, sub_title: str) -> Content:
        """The header: the title, then the sub-title in the legible muted colour (Textual dims it below 4.5:1)."""
        if not sub_title:
            return Content(title)
        return Content.assemble((title, "bold"), (f" — {sub_title}", palette_of(self).muted))

    def get_default_screen(self) -> Screen:
        return DashboardScreen()

    # -- start-up ------------------------------------------------------------------

    def on_mount(self) -> None:
        self._apply_theme(self.config)
        remembered.restore_theme(self, save=not self.read_only)
        self.apply_keymap(self.config.keymap)
        if self.config.registry.errors:  # a plugin that failed to load: its types are missing (`kpitui plugins` says more)
            self.problems["plugins"] = self.config.registry.failure_note()
        self.theme_changed_signal.subscribe(self, lambda _theme: self.refresh_views())
        self.generation += 1
        self._loading_tick(refresh=False)
        self._loading_timer = self.set_interval(1.0, self._loading_tick, name="loading")
        self.set_interval(self.refresh_seconds, self.light_check, name="light-check")
        if self.watch_config:
            self.set_interval(self.config_check_seconds, self.check_config, name="config-watch")
        self.refresh_views()
        if self.config.history_notice:  # printed before the TUI took the screen: say it here too
            self.notify(self.config.history_notice, title="History", timeout=20)

    def on_ready(self) -> None:
        """The first frame is on screen: now open the store (its imports and reads would have held the frame back)."""
        self.open_runtime(self.config, self.generation, None)

    def history_words(self) -> str:
        """``h.sqlite3, 412.3 MB`` (the history file and its size) or ``PostgreSQL``: what is being opened or read."""
        storage = self.config.storage
        if storage.url is not None:
            return "PostgreSQL"
        try:
            size = storage.path.stat().st_size
        except OSError:
            return storage.path.name
        from rich.filesize import decimal

        return f"{storage.path.name}, {decimal(size)}"

    def _loading_tick(self, refresh: bool = True) -> None:
        """Until the first values: what is being done with the history and for how long (``loading the history (…)… 4s``)."""
        if self.snapshot is not None or "store" in self.problems:
            if self._loading_timer is not None:
                self._loading_timer.stop()
                self._loading_timer = None
            return
        elapsed = int(time.monotonic() - self.loading_since)
        self.loading_message = f"{self.loading_phase} the history ({self.history_words()})…" + (f" {elapsed}s" if elapsed >= 1 else "")
        if refresh:
            self.refresh_views()

    def _apply_theme(self, config: Config) -> None:
        name = config.ui.get("theme")
        if not name:
            return
        theme = self.get_theme(name)
        if theme is None:
            hint = nearest(name, self.available_themes)
            self.problems["theme"] = f"[ui] theme: unknown theme {name!r}" + (f" (did you mean {hint!r}?)" if hint else "")
            return
        self.problems.pop("theme", None)
        self.theme = theme.name
        if theme.dark:
            self._dark_theme = theme.name
        else:
            self._light_theme = theme.name

    def apply_keymap(self, keymap: dict[str, str]) -> None:
        """Apply ``[keymap]``; unknown binding ids are reported, not fatal."""
        known = bindings.all_ids()
        unknown = [k for k in keymap if k not in known]
        good = {k: v for k, v in keymap.items() if k in known}
        self.keymap = good
        try:
            self.set_keymap(good)
        except Exception as exc:  # noqa: BLE001 - a key string Textual rejects
            self.keymap = {}
            self.set_keymap({})
            self.problems["keymap"] = f"[keymap] could not be applied: {exc}"
            return
        if unknown:
            described = []
            for key in unknown:
                hint = nearest(key, known)
                described.append(f"{key!r}" + (f" (did you mean {hint!r}?)" if hint else ""))
            self.problems["keymap"] = f"[keymap] unknown binding id {', '.join(described)}; press ? for the ids"
            self.notify(self.problems["keymap"], severity="warning", timeout=8)
        else:
            self.problems.pop("keymap", None)

    @work(thread=True, exclusive=True, group="runtime", exit_on_error=False)
    def open_runtime(self, config: Config, generation: int, previous: Runtime | None) -> None:
        try:
            from .runtime import Runtime, open_store

            runtime = Runtime.open(
                config, collect=self.collect, clock=self.now, store_factory=self.store_factory or open_store, previous=previous
            )
        except Exception as exc:  # noqa: BLE001 - e.g. StoreError: shown in the banner
            self.post_message(RuntimeFailed(str(exc) or type(exc).__name__, generation))
            return
        self.post_message(RuntimeReady(runtime, generation))

    @on(RuntimeReady)
    def _runtime_ready(self, message: RuntimeReady) -> None:
        if message.generation != self.generation:
            self._retire(message.runtime)
            return
        old, self.runtime = self.runtime, message.runtime
        self.problems.pop("store", None)
        if old is not None:
            self._retire(old)
        self.progress.forget()
        if self.snapshot is None:  # the store is open; the first evaluation reads the whole history
            self.loading_phase = "loading"
            self._loading_tick()
        if self.runtime.collector is not None:  # from fetch threads: note it, then tell the main thread
            generation = message.generation

            def report(source: str, done: float, total: float | None, label: str) -> None:
                self.progress.update(source, done, total, label)
                self.post_message(SourceProgress(source, generation))

            self.runtime.collector.on_progress = report
        from . import alerting

        if self.alerting is not None:
            self.alerting.close()
        self.alerting = alerting.start(self, self.runtime)
        self.request_evaluate(force=True)
        for source in self.runtime.sources:
            self.start_poll(source)
        if self.runtime.collector is not None and self.config.storage.raw_retention_days and self._compact_timer is None:
            from ..collector import COMPACT_EVERY

            self.compact(self.runtime)  # like `kpitui collect`: at start, then hourly
            self._compact_timer = self.set_interval(COMPACT_EVERY, lambda: self.runtime and self.compact(self.runtime))

    @work(thread=True, exclusive=True, group="compact", exit_on_error=False)
    def compact(self, runtime: Runtime) -> None:
        """Down-sample readings older than ``[storage] raw_retention_days`` (kpitui.retention)."""
        if runtime.collector is not None:
            changed, _ = runtime.collector.compact()
            if changed:
                self.call_from_thread(self.request_evaluate, True)

    @on(RuntimeFailed)
    def _runtime_failed(self, message: RuntimeFailed) -> None:
        if message.generation == self.generation:
            self.problems["store"] = message.error
            if self.runtime is None:
                self.loading_message = "cannot open the history (see above)"
            self.refresh_views()

    def _retire(self, runtime: Runtime) -> None:
        """Close a replaced (or stale) runtime off the main thread (a source's close may block).

        Its store connections are closed only when the runtime in use does not share them.
        """
        current = self.runtime
        shared = current is not None and current is not runtime and current.reader is runtime.reader
        threading.Thread(target=runtime.close, kwargs={"stores": not shared}, name="kpitui-retire", daemon=True).start()

    # -- evaluation ------------------------------------------------------------------

    def request_evaluate(self, force: bool = True) -> None:
        """Evaluate in a worker; a forced request stays forced until its result is shown."""
        if self.runtime is None:
            return
        self.request += 1
        if force:
            self.forced_request = self.request
        force = force or self.forced_request > self.applied_request
        self.evaluate(self.runtime, self.window, self.offset, force, self.request)

    @work(thread=True, exclusive=True, group="evaluate", exit_on_error=False)
    def evaluate(self, runtime: Runtime, window: str, offset: int, force: bool, request: int) -> None:
        worker = get_current_worker()
        started = time.perf_counter()
        snapshot = runtime.evaluate(window=window, offset=offset, force=force)
        if snapshot is not None and not worker.is_cancelled:
            self.post_message(Evaluated(snapshot, request, time.perf_counter() - started))
            alerting = self.alerting
            if alerting is not None and alerting.config is runtime.config:
                change = alerting.after_evaluate(snapshot, default_view=not window and not offset)
                if change is not None:
                    self.post_message(change)

    @on(Evaluated)
    def _evaluated(self, message: Evaluated) -> None:
        if message.request < self.applied_request:
            return
        self.applied_request = message.request
        if message.request < self.forced_request:
            return  # the view changed since this was asked for; the forced one is on its way
        self.snapshot = message.snapshot
        self.eval_seconds = message.seconds
        if self._loading_timer is not None:  # the first values: the loading clock stops
            self._loading_tick(refresh=False)
        self.problems.pop("evaluate", None)
        self.refresh_views()

    def on_alerts_changed(self, message) -> None:
        """kpitui.ui.alerting: a toast per new notification, firing alerts in the header."""
        if self.alerting is None:
            return
        self.alerting.firing = message.firing
        for n in message.fired:
            self.notify(n.text, title=n.title, severity="error" if n.kind in ("firing", "repeat") else "information", timeout=10)
        self._subtitle()

    def evaluate_soon(self) -> None:
        """Coalesce bursts (several polls finishing together) into one evaluation."""
        if self._eval_timer is None:
            self._eval_timer = self.set_timer(0.25, self._evaluate_now)

    def _evaluate_now(self) -> None:
        self._eval_timer = None
        self.request_evaluate(force=False)

    def light_check(self) -> None:
        """Periodic: pick up readings written by another process, let ages move on."""
        if any(w.group == "evaluate" and w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in self.workers):
            return
        self.request_evaluate(force=False)

    # -- collecting ------------------------------------------------------------------

    def start_poll(self, source: str) -> None:
        if not self.collect or self.runtime is None or source in self.polling or source not in self.runtime.sources:
            return
        timer = self.poll_timers.pop(source, None)
        if timer is not None:
            timer.stop()
        self.polling.add(source)
        self.poll_source(self.runtime, source, self.generation)

    @work(thread=True, group="poll", exit_on_error=False)
    def poll_source(self, runtime: Runtime, source: str, generation: int) -> None:
        """Poll in a daemon thread and wait for it, giving up at once if the app is closing."""
        from ..collector import PollResult

        worker = get_current_worker()
        box: dict[str, PollResult] = {}

        def target() -> None:
            try:
                box["result"] = runtime.poll(source)
            except BaseException as exc:  # noqa: BLE001 - the collector guards fetches; this guards the rest
                box["result"] = PollResult(source, error=f"{type(exc).__name__}: {exc}")

        thread = threading.Thread(target=target, name=f"kpitui-poll-{source}", daemon=True)
        thread.start()
        while thread.is_alive():
            if worker.is_cancelled:
                return
            thread.join(0.1)
        self.post_message(Polled(source, box["result"], generation))

    @on(SourceProgress)
    def _source_progress(self, message: SourceProgress) -> None:
        if message.generation == self.generation:
            self._subtitle()
            for screen in self.screen_stack:
                if isinstance(screen, SnapshotScreen) and screen.ready:
                    screen.refresh_status()

    @on(Polled)
    def _polled(self, message: Polled) -> None:
        if message.generation != self.generation or self.runtime is None:
            return
        self.polling.discard(message.source)
        self.last_poll[message.source] = message.result
        delay = self.runtime.seconds_until_due(message.source)
        self.poll_timers[message.source] = self.set_timer(delay, partial(self.start_poll, message.source))
        self.evaluate_soon()

    # -- config reload -----------------------------------------------------------------

    def check_config(self) -> None:
        stamp = _stamp(self.config.path)
        if stamp != self.config_stamp and stamp is not None:
            self.config_stamp = stamp
            self.reload_config(self.config)

    @work(thread=True, exclusive=True, group="config", exit_on_error=False)
    def reload_config(self, current: Config) -> None:
        try:
            config = load_config(current.path, origin=current.origin, registry=current.registry)
        except ConfigError as exc:
            self.post_message(ConfigFailed(str(exc)))
        except Exception as exc:  # noqa: BLE001 - a plugin raising while checking its options
            self.post_message(ConfigFailed(f"{current.path}: {type(exc).__name__}: {exc}"))
        else:
            self.post_message(ConfigReloaded(config))

    @on(ConfigFailed)
    def _config_failed(self, message: ConfigFailed) -> None:
        self.problems["config"] = f"config not reloaded, still using the last good one: {message.error}"
        self.notify(message.error, title="Config error", severity="error", timeout=10)
        self.refresh_views()

    @on(ConfigReloaded)
    def _config_reloaded(self, message: ConfigReloaded) -> None:
        self.problems.pop("config", None)
        self.config = message.config
        self._apply_theme(message.config)
        self.apply_keymap(message.config.keymap)
        self.generation += 1
        for timer in self.poll_timers.values():
            timer.stop()
        self.poll_timers.clear()
        self.polling.clear()
        self.open_runtime(message.config, self.generation, self.runtime)
        self.notify(f"reloaded {message.config.path.name}", timeout=3)
        self.refresh_views()

    # -- errors from workers --------------------------------------------------------------

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state != WorkerState.ERROR:
            return
        error = worker.error
        text = f"{type(error).__name__}: {error}" if error else "unknown error"
        if worker.group == "evaluate":
            self.problems["evaluate"] = f"evaluation failed: {text}"
        elif worker.group == "runtime":
            self.problems["store"] = text
        else:
            self.problems[f"worker:{worker.group}"] = f"{worker.group} failed: {text}"
        self.refresh_views()

    # -- what the screens show --------------------------------------------------------------

    def refresh_views(self) -> None:
        self._subtitle()
        for screen in self.screen_stack:
            if isinstance(screen, SnapshotScreen) and screen.ready:
                screen.refresh_view()

    def _subtitle(self) -> None:
        parts = [self.config.path.name]
        parts.append(bindings.WINDOWS.get(self.window, self.window.replace("_", " ")) if self.window else "own windows")
        if self.offset:
            parts.append(f"{self.offset} period{'s' if self.offset > 1 else ''} back")
        if self.snapshot is not None:
            local = self.snapshot.at.astimezone(ZoneInfo(self.config.settings.timezone))
            parts.append(f"as of {local:%H:%M}")
        if self.alerting is not None and self.alerting.firing:
            parts.append(self.alerting.header())
        self.sub_title = " · ".join(parts)

    def status_text(self) -> Text:
        colours = palette_of(self)
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.read_only:
            text.append("read-only ", style=colours.muted)
        if not self.collect:
            text.append("viewing only (not collecting) ", style=colours.muted)
        elif self.runtime is not None:
            for source in self.runtime.sources:
                result = self.last_poll.get(source)
                doing = self.progress.text(source)
                if doing is not None:  # a backlog: "web: importing access.log.3.gz, 41%, 1m 10s left"
                    text.append(f"◌ {source}: {doing} ", style=colours.muted)
                elif source in self.polling and result is None:
                    text.append(f"◌ {source} ", style=colours.muted)
                elif result is None:
                    text.append(f"· {source} ", style=colours.muted)
                elif result.error:
                    text.append(f"✖ {source} ", style=colours.bad)
                else:
                    text.append(f"● {source} ", style=colours.good)
        text.append(f"· {self.window_hint()}", style=colours.muted)
        return text

    def window_hint(self) -> str:
        """``w m u y t 0 window  [ ] period``, with the user's keys."""

        def keys(category: str) -> str:
            out = []
            for binding in bindings.APP:
                if bindings.CATEGORY.get(binding.id or "") == category:
                    key = bindings.effective_keys(binding, self.keymap).split(",")[0]
                    out.append(binding.key_display if binding.key_display and key == binding.key.split(",")[0] else self.get_key_display(binding.with_key(key)))
            return " ".join(out)

        return f"{keys('window')} window  {keys('period')} period"

    # -- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in BLOCKED_IN_MODALS and self._in_modal():
            return False
        return True

    def _in_modal(self) -> bool:
        """A form or the help is on top (kpitui's modal screens, not Textual's command palette)."""
        return isinstance(self.screen, ModalScreen) and not isinstance(self.screen, SystemModalScreen)

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_alerts(self) -> None:
        from .screens.alerts import AlertsScreen

        if not isinstance(self.screen, AlertsScreen):
            self.push_screen(AlertsScreen())

    def action_refresh(self) -> None:
        if self.runtime is None:
            return
        for source in self.runtime.sources:
            self.start_poll(source)
        self.request_evaluate(force=True)
        self.notify("refreshing…" if self.collect and self.runtime.sources else "re-reading the history…", timeout=2)

    def action_set_window(self, window: str) -> None:
        if window == self.window and self.offset == 0:
            return
        self.window, self.offset = window, 0
        self.snapshot_stale()

    def action_step_period(self, step: int) -> None:
        offset = max(0, self.offset + step)
        if offset == self.offset:
            self.notify("already at the current period", timeout=2)
            return
        self.offset = offset
        self.snapshot_stale()

    def snapshot_stale(self) -> None:
        from .screens.detail import DetailScreen

        self._subtitle()
        self.request_evaluate(force=True)
        for screen in self.screen_stack:
            if isinstance(screen, DetailScreen) and screen.ready:
                screen.refresh_view()

    def action_toggle_theme(self) -> None:
        self.theme = self._light_theme if self.current_theme.dark else self._dark_theme

    def action_add_reading(self) -> None:
        from .screens.add_reading import AddReadingScreen
        from .screens.detail import DetailScreen

        if self.read_only:
            self.notify(READ_ONLY_NOTE, title="Read-only", severity="warning", timeout=6)
            return
        if isinstance(self.screen, AddReadingScreen):
            return
        metric = None
        if isinstance(self.screen, DetailScreen):
            metric = self.screen.metric_id
            if metric is None and self.runtime is not None:
                behind = sorted(self.runtime.engine.metrics_of(self.screen.kpi_id))
                manual = [m for m in behind if m in self.config.metrics and self.config.metrics[m].source == "manual"]
                metric = (manual or behind or [None])[0]
        elif isinstance(self.screen, DashboardScreen):
            metric = self.screen.metric_id
        self.push_screen(AddReadingScreen(self.config, metric), self._reading_added)

    def action_annotate(self) -> None:
        """The annotate form, about the KPI or metric on screen (else everything)."""
        from .screens.annotate import AnnotateScreen
        from .screens.detail import DetailScreen

        if self.read_only:
            self.notify(READ_ONLY_NOTE, title="Read-only", severity="warning", timeout=6)
            return
        if isinstance(self.screen, AnnotateScreen):
            return
        kpi = metric = None
        if isinstance(self.screen, DetailScreen):
            kpi, metric = self.screen.kpi_id, self.screen.metric_id
        self.push_screen(AnnotateScreen(self.config, kpi, metric, now=self.now()), self._annotated)

    def _annotated(self, note) -> None:
        from .screens.detail import DetailScreen

        if note is None:
            return
        self.notify(f"annotation {note.id}: {note.text}", timeout=3)
        for screen in self.screen_stack:
            if isinstance(screen, DetailScreen) and screen.ready:
                screen.load()

    def _reading_added(self, reading: NewReading | None) -> None:
        if reading is None:
            return
        metric = self.config.metrics.get(reading.metric)
        name = metric.name if metric else reading.metric
        shown = format_value(reading.value, metric.unit, metric.decimals, self.config.settings.currency) if metric else f"{reading.value:g}"
        self.post_message(ReadingSaved(reading.metric, reading.at, reading.value))
        self.notify(f"{reading.action} {name} = {shown}" + (f" (reading {reading.id})" if reading.id else ""), timeout=3)
        self.request_evaluate(force=True)

    def open_detail(self, kpi_id: str | None, metric_id: str | None = None) -> None:
        """A KPI's detail, or a metric's (behind ``kpi_id``, or behind no KPI)."""
        from .screens.detail import DetailScreen

        if kpi_id in self.config.kpis or (kpi_id is None and metric_id in self.config.metrics):
            self.push_screen(DetailScreen(kpi_id, metric_id))

    def show_objective(self, objective_id: str) -> None:
        screen = self.screen
        if isinstance(screen, DashboardScreen):
            screen.objective_id = objective_id
            screen.kpi_id = None
            screen.refresh_view()
            screen.set_focus(screen.query_one("#kpis"))

    async def action_quit(self) -> None:
        self.exit(0)


def run(config: Config, collect: bool = True, read_only: bool = False) -> int:
    """Run the TUI on ``config`` until the user quits; the process exit code."""
    warnings.filterwarnings("ignore", category=UserWarning, module="polars")
    app = KpiApp(config, collect=collect, read_only=read_only)
    try:
        app.run()
    finally:
        if app.runtime is not None:
            try:
                app.runtime.close()
            except Exception:  # noqa: BLE001 - on the way out
                pass
    return app.return_code or 0
