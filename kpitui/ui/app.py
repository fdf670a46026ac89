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
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import App
from textual.command import Provider
from textual.content import Content
from textual.reactive import Reactive, reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from ..config import Config
from ..console import escape_controls
from ..model import Snapshot
from . import bindings, gc_pause, remembered
from .actions import AppActions
from .appearance import apply_keymap, apply_theme
from .evaluating import Evaluations
from .legibility import legible_variables
from .lifecycle import Lifecycle
from .messages import (
    CollectorReady,
    ConfigFailed,
    ConfigReloaded,
    Evaluated,
    Polled,
    ReadingSaved,
    RuntimeFailed,
    RuntimeReady,
    SourceProgress,
)
from .navigation import reading_saved_note
from .palette import palette_of
from .polling import Poller
from .screens.dashboard import DashboardScreen
from .state import ViewSettings
from .status import history_words, status_text, subtitle

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

    from .preload import Preload
    from .runtime import Clock, Runtime, StoreFactory

CONFIG_CHECK_SECONDS = 2.0
DARK, LIGHT = "textual-dark", "textual-light"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _actions_provider() -> type[Provider]:
    """The palette's kpitui actions, imported when the palette first opens."""
    from .commands import ActionsProvider

    return ActionsProvider


class KpiApp(AppActions, App[int]):
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

    #: Textual's, without the whole screen repainted when it changes (the first values' "as of 14:05", each minute's):
    #: the header watches it and redraws its title
    sub_title: Reactive[str] = Reactive("", compute=False, repaint=False)
    #: the latest evaluation (``None`` until the first); a new object each time, so never compared
    snapshot: reactive[Snapshot | None] = reactive(None, init=False, always_update=True, repaint=False)
    #: window, periods back, collector instance: what the snapshot is asked for
    view: reactive[ViewSettings] = reactive(ViewSettings, init=False, repaint=False)
    #: what is wrong (store, config, keymap, plugins…), by kind: the dashboard's banner
    problems: reactive[dict[str, str]] = reactive(dict, init=False, repaint=False)
    #: in the panes until the first snapshot (see loading_tick)
    loading_message: reactive[str] = reactive("loading…", init=False, repaint=False)
    #: the status line: each source's last poll, its backlog, the window keys
    status: reactive[Text] = reactive(Text, init=False, repaint=False)

    #: why the dashboard was not run: neither stdout nor stderr is a terminal (:func:`kpitui.ui.drawn_on.no_terminal`)
    blind: str | None = None

    def run(self, *args: Any, headless: bool = False, **kwargs: Any) -> int | None:
        """Textual's ``run``; not at all when the dashboard would be drawn into a redirect and wait there for keys,
        unseen (``blind`` says why; a headless run, as tests make, needs no terminal)."""
        if not headless:
            from .drawn_on import no_terminal

            self.blind = no_terminal()
            if self.blind:
                return None
        return super().run(*args, headless=headless, **kwargs)

    def get_driver_class(self) -> type:
        """Textual's driver, on whichever of stderr and stdout is the terminal when one is redirected (drawn_on)."""
        from .drawn_on import driver_for

        return driver_for(super().get_driver_class())

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
        preload: Preload | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.collect = collect
        self.read_only = read_only
        #: the history's first load, started once the UI was imported (kpitui.ui.preload); taken by the runtime
        self.preload = preload
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
        self.lifecycle = Lifecycle(self)
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
        variables.update(
            legible_variables(variables, self.current_theme.dark, self.console.color_system or "truecolor")
        )
        return variables

    def format_title(self, title: str, sub_title: str) -> Content:
        """The header: the title, then the sub-title in the legible muted colour (Textual dims it below 4.5:1)."""
        if not sub_title:
            return Content(title)
        return Content.assemble((title, "bold"), (f" — {sub_title}", palette_of(self).muted))

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every toast is plain text: it carries alert texts, annotations, names and config errors (``[kpis.x]``),
        which as markup would crash the app (``[/x]``) or become an action (``[@click=app.quit]``)."""
        super().notify(
            escape_controls(message), title=escape_controls(title), severity=severity, timeout=timeout, markup=False
        )

    def _fatal_error(self) -> None:
        """A crash's traceback without local variables (Textual shows them: a revealed secret, a password typed
        into a form), and with every secret masked; printed when the app has closed, as Textual does."""
        import rich
        from rich.segment import Segment, Segments
        from rich.traceback import Traceback

        from ..secrets import redact

        self.bell()
        traceback = Traceback(show_locals=False, width=None, suppress=[rich])
        rendered = self.console.render(traceback, self.console.options)
        self._exit_renderables.append(Segments([Segment(redact(s.text), s.style, s.control) for s in rendered]))
        self._close_messages_no_wait()

    def get_default_screen(self) -> Screen:
        return DashboardScreen()

    # -- start-up ------------------------------------------------------------------

    def on_mount(self) -> None:
        apply_theme(self, self.config)
        remembered.restore_theme(self, save=not self.read_only)
        apply_keymap(self, self.config.keymap)
        if (
            self.config.registry.errors
        ):  # a plugin that failed to load: its types are missing (`kpitui plugins` says more)
            self.set_problem("plugins", self.config.registry.failure_note())
        self.theme_changed_signal.subscribe(self, lambda _theme: self.update_status())
        self.generation += 1
        self.loading_tick()
        self._loading_timer = self.set_interval(1.0, self.loading_tick, name="loading")
        self.set_interval(self.refresh_seconds, self.evaluations.light_check, name="light-check")
        self.set_timer(gc_pause.RESUME_AFTER, gc_pause.resume, name="gc-resume")  # first values or not
        if self.watch_config:
            self.set_interval(self.config_check_seconds, self.lifecycle.check_config, name="config-watch")
        self.update_status()
        if self.config.history_notice:  # printed before the TUI took the screen: say it here too
            self.notify(self.config.history_notice, title="History", timeout=20)

    def on_ready(self) -> None:
        """The first frame is on screen: now open the store (its imports and reads would have held the frame back)."""
        self.lifecycle.open(self.config)

    def loading_tick(self) -> None:
        """Until the first values: what is being done with the history and for how long
        (``loading the history (…)… 4s``)."""
        if self.snapshot is not None or "store" in self.problems:
            if self._loading_timer is not None:
                self._loading_timer.stop()
                self._loading_timer = None
            return
        elapsed = int(time.monotonic() - self.loading_since)
        words = history_words(self.config)
        self.loading_message = f"{self.loading_phase} the history ({words})…" + (f" {elapsed}s" if elapsed >= 1 else "")

    @on(RuntimeReady)
    def _runtime_ready(self, message: RuntimeReady) -> None:
        self.lifecycle.adopt(message)

    @on(CollectorReady)
    def _collector_ready(self, message: CollectorReady) -> None:
        self.lifecycle.collecting(message)

    @on(RuntimeFailed)
    def _runtime_failed(self, message: RuntimeFailed) -> None:
        self.lifecycle.failed(message)

    # -- evaluation ------------------------------------------------------------------

    def request_evaluate(self, force: bool = True) -> None:
        """Evaluate for the current view in a worker (:mod:`kpitui.ui.evaluating`)."""
        self.evaluations.start(force)

    @on(Evaluated)
    def _evaluated(self, message: Evaluated) -> None:
        snapshot = self.evaluations.arrived(message)
        if snapshot is not None:
            self.clear_problem("evaluate")
            first = self.snapshot is None
            self.snapshot = snapshot
            self.loading_tick()  # the first values: the loading clock stops
            if first:  # once they are painted, the sources start (Lifecycle.adopt)
                self.call_after_refresh(self.lifecycle.first_values_shown)

    def on_alerts_changed(self, message) -> None:
        """kpitui.ui.alerting: a toast per new notification, firing alerts in the header."""
        if self.alerting is None:
            return
        self.alerting.firing = message.firing
        for n in message.fired:
            self.notify(
                n.text, title=n.title, severity="error" if n.kind in ("firing", "repeat") else "information", timeout=10
            )
        self.sub_title = subtitle(self)

    @on(ReadingSaved)
    def _reading_saved(self, message: ReadingSaved) -> None:
        """A reading added, corrected or deleted by hand: say so and show it at once (every screen watches the
        snapshot)."""
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
        self.lifecycle.open(message.config, self.runtime)
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
            self.lifecycle.first_values_shown()  # no values to wait for: the sources start
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


def run(config: Config, collect: bool = True, read_only: bool = False, preload: Preload | None = None) -> int:
    """Run the TUI on ``config`` until the user quits; the process exit code."""
    warnings.filterwarnings("ignore", category=UserWarning, module="polars")
    app = KpiApp(config, collect=collect, read_only=read_only, preload=preload)
    try:
        app.run()
        if app.blind:
            print(app.blind)  # one line on stdout, where a script running kpitui reads; exit 2 (a usage mistake)
            return 2
    finally:
        if app.runtime is not None:
            try:
                app.runtime.close()
            except Exception:  # noqa: BLE001 - on the way out
                pass
    return app.return_code or 0
