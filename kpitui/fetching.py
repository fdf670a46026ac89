"""Run one source fetch in a thread of its own, with a deadline and a cancel event.

The fetch gets ``timeout`` seconds. Past them its :func:`kpitui.api.fetch_cancelled`
event is set: the built-in sources stop at once (a command's process group
is killed, an HTTP socket is shut down, an SQLite query is interrupted, a
PostgreSQL query is cancelled) and their thread ends within
:data:`CANCEL_GRACE` seconds. Python cannot stop a thread from outside, so a
third-party fetch that ignores the event keeps running: the outcome says so,
and the collector leaves that thread behind with its source instance and
polls a new instance next time (see :mod:`kpitui.collector`).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

from .api import MetricSource, _run_fetch

#: how long a cancelled fetch has to end before it is left behind
CANCEL_GRACE = 0.25


@dataclass
class Outcome:
    result: object = None
    error: BaseException | None = None
    timed_out: bool = False
    #: the thread of a fetch that ignored its cancellation and still runs
    left_behind: threading.Thread | None = None


def run_fetch(instance: MetricSource, cursor: str | None, now: dt.datetime, timeout: float, name: str) -> Outcome:
    """``instance.fetch(cursor, now)`` within ``timeout`` seconds (cancelled past them)."""
    outcome = Outcome()
    cancelled = threading.Event()

    def target() -> None:
        try:
            outcome.result = _run_fetch(cancelled, instance.fetch, cursor, now)
        except BaseException as exc:  # noqa: BLE001 - reported as the source's error
            outcome.error = exc

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        outcome.timed_out = True
        cancelled.set()
        thread.join(CANCEL_GRACE)
        if thread.is_alive():
            outcome.left_behind = thread
    return outcome
