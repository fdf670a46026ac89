"""Progress of long work: bars on stderr for the CLI (``kpitui collect`` taking in a backlog), words for the TUI.

Sources report through :meth:`kpitui.api.SourceContext.progress`; the
collector tags each report with the source's id and hands it to
:meth:`ProgressBars.update`. A bar appears only when stderr is a terminal,
``--quiet`` is not given, and a job is still running :data:`SHOW_AFTER`
seconds after its first report; it shows what is being done, how much of
how much, the rate and the time left. Rich (a Textual dependency) is
imported only then, so short and piped runs pay nothing for it. The bar goes
to stderr and disappears when done, so stdout stays clean. :class:`Tracker`
puts the same reports into words for the TUI's status line.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any, Callable, Iterator, TextIO

#: a job shows a bar only if it is still running this long after its first report (seconds)
SHOW_AFTER = 0.5


def wanted(stream: TextIO, quiet: int = 0) -> bool:
    """Whether to show bars on ``stream``: a terminal (not ``TERM=dumb``), and not ``--quiet``."""
    try:
        return not quiet and stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # a closed or odd stream
        return False


def _amount(done: float, total: float | None, unit: str = "bytes") -> str:
    """``1.2 MB/4.5 MB`` for bytes, ``200,000/1,000,000 readings`` for anything else."""
    if unit != "bytes":
        return f"{int(done):,}" + ("" if total is None else f"/{int(total):,}") + f" {unit}"
    from rich.filesize import decimal

    return f"{decimal(int(done))}" + ("" if total is None else f"/{decimal(int(total))}")


Report = Callable[[float, "float | None", str], None]


@contextlib.contextmanager
def command_bar(
    what: str, quiet: int = 0, unit: str = "bytes", stream: TextIO | None = None
) -> Iterator[Report | None]:
    """A one-off command's bar (``kpitui compact``, ``history copy``, ``history backup``): yields
    ``report(done, total, label)``, or ``None`` when no bar is wanted (not a terminal, ``--quiet``)."""
    import sys

    stream = stream or sys.stderr
    if not wanted(stream, quiet):
        yield None
        return
    bars = ProgressBars(stream, unit=unit)
    try:
        yield lambda done, total, label: bars.update(what, done, total, label)
    finally:
        bars.close()


class ProgressBars:
    """One bar per source with work in progress, drawn by Rich on ``stream``."""

    def __init__(self, stream: TextIO, unit: str = "bytes"):
        self.stream = stream
        self.unit = unit  # "bytes", or what is counted ("readings", "metrics")
        self.lock = threading.Lock()
        self.jobs: dict[str, tuple[float, float | None, str]] = {}
        self.progress: Any = None  # rich.progress.Progress once shown
        self.tasks: dict[str, Any] = {}
        self.timer: threading.Timer | None = None
        self.closed = False

    def update(self, source: str, done: float, total: float | None, label: str) -> None:
        """A source's report (from its fetch thread): ``done`` of ``total`` bytes; finished when they are equal."""
        with self.lock:
            if self.closed:
                return
            finished = total is not None and done >= total
            if finished:
                self.jobs.pop(source, None)
            else:
                self.jobs[source] = (done, total, label)
            if self.progress is not None:
                self._render(source, done, total, label, finished)
            elif not finished and self.timer is None:
                self.timer = threading.Timer(SHOW_AFTER, self._show)
                self.timer.daemon = True
                self.timer.start()

    def _show(self) -> None:
        with self.lock:
            self.timer = None
            if self.closed or not self.jobs or self.progress is not None:
                return
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[amount]}", markup=False),
                TransferSpeedColumn() if self.unit == "bytes" else TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                console=Console(file=getattr(self.stream, "raw", self.stream)),
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self.progress.start()
            for source, (done, total, label) in self.jobs.items():
                self._render(source, done, total, label, False)

    def _render(self, source: str, done: float, total: float | None, label: str, finished: bool) -> None:
        task = self.tasks.get(source)
        description = f"{source}: {label}" if label else source
        if task is None:
            if finished:
                return
            self.tasks[source] = task = self.progress.add_task(description, total=total, amount="", rate="")
        self.progress.update(
            task, completed=done, total=total, description=description, amount=_amount(done, total, self.unit)
        )
        if self.unit != "bytes":
            speed = next((t.speed for t in self.progress.tasks if t.id == task), None)
            self.progress.update(task, rate=f"{speed:,.0f} {self.unit}/s" if speed else "")
        if finished:
            self.progress.remove_task(task)
            del self.tasks[source]

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Take the bars off the screen while something else prints (a poll's line on stdout)."""
        with self.lock:
            shown = self.progress is not None and not self.closed
            if shown:
                self.progress.stop()
        try:
            yield
        finally:
            with self.lock:
                if shown and not self.closed:
                    self.progress.start()

    def close(self) -> None:
        """Remove the bars (before the results are printed)."""
        with self.lock:
            self.closed = True
            if self.timer is not None:
                self.timer.cancel()
            if self.progress is not None:
                self.progress.stop()
        time.sleep(0)  # let a timer that already fired see ``closed``


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


class Tracker:
    """What each source is doing, in words, for a status line: ``importing access.log.3.gz, 41%, 1m 10s left``.

    Thread-safe: ``update`` comes from fetch threads, ``text`` from the UI.
    The time left is the remaining amount at the rate seen since the job's
    first report.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.jobs: dict[
            str, tuple[float, float, float, float | None, str]
        ] = {}  # first time, first done, done, total, label

    def update(self, source: str, done: float, total: float | None, label: str) -> None:
        with self.lock:
            if total is not None and done >= total:
                self.jobs.pop(source, None)
                return
            first = self.jobs.get(source)
            start, start_done = (first[0], first[1]) if first else (self.clock(), done)
            self.jobs[source] = (start, start_done, done, total, label)

    def forget(self, source: str | None = None) -> None:
        with self.lock:
            if source is None:
                self.jobs.clear()
            else:
                self.jobs.pop(source, None)

    def parts(self, source: str) -> list[str] | None:
        """``["importing access.log.3.gz", "41%", "1m 10s left"]`` (what, then how far when known); ``None`` when
        idle."""
        with self.lock:
            job = self.jobs.get(source)
        if job is None:
            return None
        start, start_done, done, total, label = job
        parts = [label or "working"]
        if total:
            parts.append(f"{100 * done / total:.0f}%")
            elapsed = self.clock() - start
            if elapsed > 0 and done > start_done:
                rate = (done - start_done) / elapsed
                parts.append(f"{_duration((total - done) / rate)} left")
        return parts

    def text(self, source: str) -> str | None:
        """``None`` when ``source`` has no work in progress."""
        parts = self.parts(source)
        return None if parts is None else ", ".join(parts)
