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
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import App
from textual.command import Provider
from textual.content import Content
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen, SystemModalScreen
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from ..config import Config, ConfigError, load_config
from ..model import Snapshot
from . import bindings, navigation, remembered
from .appearance import apply_keymap, apply_theme
from .evaluating import Evaluations
from .legibility import legible_variables
from .messages import ConfigFailed, ConfigReloaded, Evaluated, Polled, ReadingSaved, RuntimeFailed, RuntimeReady, SourceProgress
from .navigation import reading_saved_note
from .palette import palette_of
from .polling import Poller
from .screens.dashboard import DashboardScreen
from .state import ViewSettings
from .status import history_words, instance_words, status_text, subtitle

if TYPE_CHECKING:
    from .runtime import Clock, Runtime, StoreFactory

CONFIG_CHECK_SECONDS = 2.0
#: app actions that must not fire behind a form or the help (their keys are typed or close the modal there)
BLOCKED_IN_MODALS = frozenset({"quit", "help", "refresh", "add_reading", "set_window", "step_period", "cycle_instance"})
DARK, LIGHT = "textual-dark", "textual-light"
NO_INSTANCES = (
    "This history has one instance: it is an SQLite file written by one collector. "
    "Several collectors' readings are kept apart in a PostgreSQL history ([storage] url, [storage] instance)."
)


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

    State flows down: the screens watch the reactives below (never poll the app).
    """

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "kpitui"
    BINDINGS = bindings.APP
    COMMANDS = App.COMMANDS | {_actions_provider}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (150, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]

    #: the latest evaluation (``None`` until the first); a new object each time, so never compared
    snapshot: reactive[Snapshot | None] = reactive(None, init=False, always_update=True, repaint=False)
    #: window, periods back, collector instance: what the snapshot is asked for
    view: reactive[ViewSettings] = reactive(ViewSettings, init=False, repaint=False)
    #: what is wrong (store, config, keymap, plugins…), by kind: the dashboard's banner
    problems: reactive[dict[str, str]] = reactive(dict, init=False, repaint=False)
    #: in the panes until the first snapshot (see _loading_tick)
    loading_message: reactive[str] = reactive("loading…", init=False, repaint=False)
    #: the status line: each source's last poll, its backlog, the window keys
    status: reactive[Text] = reactive(Text, init=False, repaint=False)

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
        self.loading_phase = "opening"  # then "loading" (the runtime is open, the history is being read)
        self.loading_since = time.monotonic()
        self._loading_timer: Timer | None = None
        self.evaluations = Evaluations(self)
        self.keymap: dict[str, str] = {}
        self.poller = Poller(self)
        self.config_stamp = _stamp(config.path)
        self._compact_timer: Timer | None = None
        self.dark_theme, self.light_theme = DARK, LIGHT  # what ctrl+t toggles between
        self.title = "kpitui"
        self.alerting = None  # kpitui.ui.alerting.TuiAlerts while collecting with [alerts]/[digests]

    @property
    def window(self) -> str:
        return self.view.window

    @property
    def offset(self) -> int:
        return self.view.offset

    @property
    def instance(self) -> str | None:
        return self.view.instance

    def set_problem(self, kind: str, text: str) -> None:
        if self.problems.get(kind) != text:
            self.problems = {**self.problems, kind: text}

    def clear_problem(self, kind: str) -> None:
        if kind in self.problems:
            self.problems = {k: v for k, v in self.problems.items() if k != kind}

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
        apply_theme(self, self.config)
        remembered.restore_theme(self, save=not self.read_only)
        apply_keymap(self, self.config.keymap)
        if self.config.registry.errors:  # a plugin that failed to load: its types are missing (`kpitui plugins` says more)
            self.set_problem("plugins", self.config.registry.failure_note())
        self.theme_changed_signal.subscribe(self, lambda _theme: self.update_status())
        self.generation += 1
        self._loading_tick()
        self._loading_timer = self.set_interval(1.0, self._loading_tick, name="loading")
        self.set_interval(self.refresh_seconds, self.evaluations.light_check, name="light-check")
        if self.watch_config:
            self.set_interval(self.config_check_seconds, self.check_config, name="config-watch")
        self.update_status()
        if self.config.history_notice:  # printed before the TUI took the screen: say it here too
            self.notify(self.config.history_notice, title="History", timeout=20)

    def on_ready(self) -> None:
        """The first frame is on screen: now open the store (its imports and reads would have held the frame back)."""
        self.open_runtime(self.config, self.generation, None)

    def _loading_tick(self) -> None:
        """Until the first values: what is being done with the history and for how long (``loading the history (…)… 4s``)."""
        if self.snapshot is not None or "store" in self.problems:
            if self._loading_timer is not None:
                self._loading_timer.stop()
                self._loading_timer = None
            return
        elapsed = int(time.monotonic() - self.loading_since)
        words = history_words(self.config)
        self.loading_message = f"{self.loading_phase} the history ({words})…" + (f" {elapsed}s" if elapsed >= 1 else "")

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
        self.clear_problem("store")
        if old is not None:
            self._retire(old)
        if self.snapshot is None:  # the store is open; the first evaluation reads the whole history
            self.loading_phase = "loading"
            self._loading_tick()
        if self.view.instance is not None and self.view.instance not in self.runtime.instances:
            self.view = ViewSettings(self.view.window, self.view.offset)  # the new history has no such instance
        from . import alerting

        if self.alerting is not None:
            self.alerting.close()
        self.alerting = alerting.start(self, self.runtime)
        self.request_evaluate(force=True)
        self.poller.attach(self.runtime, message.generation)
        self.update_status()
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
            if self.runtime is None:
                self.loading_message = "cannot open the history (see above)"
            self.set_problem("store", message.error)

    def _retire(self, runtime: Runtime) -> None:
        """Close a replaced (or stale) runtime off the main thread (a source's close may block).

        Its store connections are closed only when the runtime in use does not share them.
        """
        current = self.runtime
        shared = current is not None and current is not runtime and current.reader is runtime.reader
        threading.Thread(target=runtime.close, kwargs={"stores": not shared}, name="kpitui-retire", daemon=True).start()

    # -- evaluation ------------------------------------------------------------------

    def request_evaluate(self, force: bool = True) -> None:
        """Evaluate for the current view in a worker (:mod:`kpitui.ui.evaluating`)."""
        self.evaluations.start(force)

    @on(Evaluated)
    def _evaluated(self, message: Evaluated) -> None:
        snapshot = self.evaluations.arrived(message)
        if snapshot is not None:
            self.clear_problem("evaluate")
            self.snapshot = snapshot
            self._loading_tick()  # the first values: the loading clock stops

    def on_alerts_changed(self, message) -> None:
        """kpitui.ui.alerting: a toast per new notification, firing alerts in the header."""
        if self.alerting is None:
            return
        self.alerting.firing = message.firing
        for n in message.fired:
            self.notify(n.text, title=n.title, severity="error" if n.kind in ("firing", "repeat") else "information", timeout=10)
        self.sub_title = subtitle(self)

    @on(ReadingSaved)
    def _reading_saved(self, message: ReadingSaved) -> None:
        """A reading added, corrected or deleted by hand: say so and show it at once (every screen watches the snapshot)."""
        self.notify(reading_saved_note(self, message), timeout=3)
        self.request_evaluate(force=True)

    # -- collecting ------------------------------------------------------------------

    @on(SourceProgress)
    def _source_progress(self, message: SourceProgress) -> None:
        if message.generation == self.generation:
            self.update_status()

    @on(Polled)
    def _polled(self, message: Polled) -> None:
        if message.generation == self.generation and self.runtime is not None:
            self.poller.finished(message)
            self.update_status()
            self.evaluations.soon()

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
        self.set_problem("config", f"config not reloaded, still using the last good one: {message.error}")
        self.notify(message.error, title="Config error", severity="error", timeout=10)

    @on(ConfigReloaded)
    def _config_reloaded(self, message: ConfigReloaded) -> None:
        self.clear_problem("config")
        self.config = message.config
        apply_theme(self, message.config)
        apply_keymap(self, message.config.keymap)
        self.generation += 1
        self.poller.stop()
        self.open_runtime(message.config, self.generation, self.runtime)
        self.notify(f"reloaded {message.config.path.name}", timeout=3)
        self.sub_title = subtitle(self)
        if self.snapshot is not None:
            self.snapshot = self.snapshot  # the screens redraw with the new names (always_update)

    # -- errors from workers --------------------------------------------------------------

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state != WorkerState.ERROR:
            return
        error = worker.error
        text = f"{type(error).__name__}: {error}" if error else "unknown error"
        if worker.group == "evaluate":
            self.set_problem("evaluate", f"evaluation failed: {text}")
        elif worker.group == "runtime":
            self.set_problem("store", text)
        else:
            self.set_problem(f"worker:{worker.group}", f"{worker.group} failed: {text}")

    # -- what the screens show --------------------------------------------------------------

    def watch_view(self) -> None:
        """New view settings: say them in the header and evaluate for them (the detail screens watch too)."""
        self.sub_title = subtitle(self)
        self.update_status()
        self.request_evaluate(force=True)

    def watch_snapshot(self) -> None:
        self.sub_title = subtitle(self)

    def update_status(self) -> None:
        self.status = status_text(self)

    def status_text(self) -> Text:
        return status_text(self)

    # -- actions ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in BLOCKED_IN_MODALS and self._in_modal():
            return False
        return True

    def _in_modal(self) -> bool:
        """A form or the help is on top (kpitui's modal screens, not Textual's command palette)."""
        return isinstance(self.screen, ModalScreen) and not isinstance(self.screen, SystemModalScreen)

    def action_help(self) -> None:
        navigation.open_help(self)

    def action_alerts(self) -> None:
        navigation.open_alerts(self)

    def action_refresh(self) -> None:
        if self.runtime is None:
            return
        for source in self.runtime.sources:
            self.poller.start(source)
        self.update_status()
        self.request_evaluate(force=True)
        self.notify("refreshing…" if self.collect and self.runtime.sources else "re-reading the history…", timeout=2)

    def action_set_window(self, window: str) -> None:
        self.view = ViewSettings(window, 0, self.view.instance)

    def action_step_period(self, step: int) -> None:
        offset = max(0, self.view.offset + step)
        if offset == self.view.offset:
            self.notify("already at the current period", timeout=2)
            return
        self.view = ViewSettings(self.view.window, offset, self.view.instance)

    def action_cycle_instance(self) -> None:
        """All instances, then each collector instance of a shared history in turn."""
        names = self.runtime.instances if self.runtime is not None else []
        if not names:
            self.notify(NO_INSTANCES, title="Instances", timeout=6, markup=False)
            return
        choices: list[str | None] = [None, *names]
        at = choices.index(self.view.instance) if self.view.instance in choices else 0
        instance = choices[(at + 1) % len(choices)]
        self.view = ViewSettings(self.view.window, self.view.offset, instance)
        self.notify(f"showing {instance_words(self)}", timeout=2)

    def action_toggle_theme(self) -> None:
        self.theme = self.light_theme if self.current_theme.dark else self.dark_theme

    def action_add_reading(self) -> None:
        navigation.open_add_reading(self)

    def action_annotate(self) -> None:
        navigation.open_annotate(self)

    def open_detail(self, kpi_id: str | None, metric_id: str | None = None) -> None:
        navigation.open_detail(self, kpi_id, metric_id)

    def show_objective(self, objective_id: str) -> None:
        if isinstance(self.screen, DashboardScreen):
            self.screen.show_objective(objective_id)

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
