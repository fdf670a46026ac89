"""Polling the sources from the TUI: one Textual thread worker per poll.

Each source is polled at its own interval; its timer is re-armed only when its
previous poll has finished (a slow source never piles up), at once while it
has a backlog (``more_pending``). The worker calls the collector directly and
hands it the worker's cancel event, so quitting stops a fetch in progress
instead of waiting for its timeout (:func:`kpitui.fetching.run_fetch`).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.timer import Timer
from textual.worker import get_current_worker

from ..progress import Tracker
from .messages import Polled, SourceProgress
from .workers import run_thread

if TYPE_CHECKING:
    from ..collector import PollResult
    from .app import KpiApp
    from .runtime import Runtime


class Poller:
    """The app's polls: which source is being polled, its last result and the backlog progress."""

    def __init__(self, app: KpiApp) -> None:
        self.app = app
        self.timers: dict[str, Timer] = {}
        self.polling: set[str] = set()
        self.last: dict[str, PollResult] = {}
        self.progress = Tracker()  # sources' long work (a backlog), in words for the status line

    def attach(self, runtime: Runtime, generation: int) -> None:
        """A new runtime: forget the old progress, hear the new collector's, poll every source."""
        self.progress.forget()
        if runtime.collector is not None:  # from fetch threads: note it, then tell the main thread

            def report(source: str, done: float, total: float | None, label: str) -> None:
                self.progress.update(source, done, total, label)
                self.app.post_message(SourceProgress(source, generation))

            runtime.collector.on_progress = report
        for source in runtime.sources:
            self.start(source)

    def start(self, source: str) -> None:
        """Poll ``source`` now (unless it is being polled)."""
        app, runtime = self.app, self.app.runtime
        if not app.collect or runtime is None or source in self.polling or source not in runtime.sources:
            return
        timer = self.timers.pop(source, None)
        if timer is not None:
            timer.stop()
        self.polling.add(source)
        work = partial(self._poll, runtime, source, app.generation)
        run_thread(app, work, f"poll {source}", "poll")

    def _poll(self, runtime: Runtime, source: str, generation: int) -> None:
        """In the worker's thread: one poll, posted back unless the app is closing."""
        from ..collector import PollResult

        worker = get_current_worker()
        try:
            result = runtime.poll(source, cancel=worker.cancelled_event)
        except Exception as exc:  # noqa: BLE001 - the collector guards fetches; this guards the rest
            result = PollResult(source, error=f"{type(exc).__name__}: {exc}")
        if not worker.is_cancelled:
            self.app.post_message(Polled(source, result, generation))

    def finished(self, message: Polled) -> None:
        """A poll came back: note it and arm the source's next poll (at once with a backlog)."""
        runtime = self.app.runtime
        if message.generation != self.app.generation or runtime is None:
            return
        self.polling.discard(message.source)
        self.last[message.source] = message.result
        delay = runtime.seconds_until_due(message.source)
        self.timers[message.source] = self.app.set_timer(delay, partial(self.start, message.source))

    def stop(self) -> None:
        """The runtime is being replaced: no more timers; polls in flight are ignored when they return."""
        for timer in self.timers.values():
            timer.stop()
        self.timers.clear()
        self.polling.clear()
