"""Evaluating the KPIs for the app's view settings, in one exclusive thread worker.

Requests are numbered: a forced request (the view changed, a reading was
added) stays forced until its result is shown, and results asked for before it
are dropped. Polls finishing together are coalesced into one evaluation, and
a periodic light check picks up what another process (``kpitui collect``) wrote.
"""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING

from textual.timer import Timer
from textual.worker import WorkerState, get_current_worker

from .messages import Evaluated
from .state import ViewSettings
from .workers import run_thread

if TYPE_CHECKING:
    from ..model import Snapshot
    from .app import KpiApp
    from .runtime import Runtime


class Evaluations:
    def __init__(self, app: KpiApp) -> None:
        self.app = app
        self.request = 0
        self.applied = 0
        self.forced = 0
        self.seconds: float | None = None  # how long the last evaluation shown took
        self._timer: Timer | None = None

    def start(self, force: bool = True) -> None:
        """Evaluate in a worker; a forced request stays forced until its result is shown."""
        app = self.app
        if app.runtime is None:
            return
        self.request += 1
        if force:
            self.forced = self.request
        force = force or self.forced > self.applied
        work = partial(self._evaluate, app.runtime, app.view, force, self.request)
        run_thread(app, work, "evaluate", "evaluate", exclusive=True)

    def _evaluate(self, runtime: Runtime, view: ViewSettings, force: bool, request: int) -> None:
        """In the worker's thread: evaluate, post the snapshot, run the alert rules on the default view."""
        worker = get_current_worker()
        started = time.perf_counter()
        snapshot = runtime.evaluate(window=view.window, offset=view.offset, force=force, instance=view.instance)
        if snapshot is None or worker.is_cancelled:
            return
        self.app.post_message(Evaluated(snapshot, request, time.perf_counter() - started))
        if self.app.lifecycle.values_shown.is_set():
            runtime.fold_due(view.instance)  # after the evaluation, not beside it
        # else the first values are being painted: the fold (polars on every core) would slow the main thread's
        # drawing of them; Lifecycle.first_values_shown starts it once they are on screen
        alerting = self.app.alerting
        if alerting is not None and alerting.config is runtime.config:
            change = alerting.after_evaluate(snapshot, default_view=view == ViewSettings())
            if change is not None:
                self.app.post_message(change)

    def arrived(self, message: Evaluated) -> Snapshot | None:
        """The snapshot to show from ``message``, or ``None`` when a newer (or forced) one supersedes it."""
        if message.request < self.applied:
            return None
        self.applied = message.request
        if message.request < self.forced:
            return None  # the view changed since this was asked for; the forced one is on its way
        self.seconds = message.seconds
        return message.snapshot

    def soon(self) -> None:
        """Coalesce bursts (several polls finishing together) into one evaluation."""
        if self._timer is None:
            self._timer = self.app.set_timer(0.25, self._now)

    def _now(self) -> None:
        self._timer = None
        self.start(force=False)

    def light_check(self) -> None:
        """Periodic: pick up readings written by another process, let ages move on."""
        if any(
            w.group == "evaluate" and w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in self.app.workers
        ):
            return
        self.start(force=False)
