"""Run one source fetch in a thread of its own, with a deadline and a cancel event.

The fetch gets ``timeout`` seconds. Past them its :func:`kpitui.api.fetch_cancelled`
event is set: the built-in sources stop at once (a command's process group
is killed, an HTTP socket is shut down, an SQLite query is interrupted, a
PostgreSQL query is cancelled) and their thread ends within
:data:`CANCEL_GRACE` seconds. A third-party fetch that ignores the event then
gets :class:`kpitui.plugins.PluginInterrupted` raised in its thread at its next
Python instruction (a loop ends); one blocked inside a single C call (a read
without a timeout) keeps running until the call returns: the outcome says so,
and the collector leaves that thread behind with its source instance and
polls a new instance next time (see :mod:`kpitui.collector`).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Mapping

from .api import MetricSource, _run_fetch

#: how long a cancelled fetch has to end before its Python code is interrupted
CANCEL_GRACE = 0.25
#: how long an interrupted fetch has to end before it is left behind
INTERRUPT_GRACE = 1.0


@dataclass
class Outcome:
    result: object = None
    error: BaseException | None = None
    timed_out: bool = False
    #: the thread of a fetch that ignored its cancellation and still runs
    left_behind: threading.Thread | None = None
    #: the caller's ``stop`` event ended the wait (the app is quitting), not the fetch
    stopped: bool = False


def run_fetch(
    instance: MetricSource,
    cursor: str | None,
    now: dt.datetime,
    timeout: float,
    name: str,
    stop: threading.Event | None = None,
) -> Outcome:
    """``instance.fetch(cursor, now)`` within ``timeout`` seconds (cancelled past them, or when ``stop`` is set)."""
    outcome = Outcome()
    cancelled = threading.Event()

    def target() -> None:
        try:
            outcome.result = _run_fetch(cancelled, instance.fetch, cursor, now)
        except BaseException as exc:  # noqa: BLE001 - reported as the source's error
            outcome.error = exc

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    _wait(thread, timeout, stop)
    if thread.is_alive():
        outcome.stopped = stop is not None and stop.is_set()
        outcome.timed_out = not outcome.stopped
        cancelled.set()
        thread.join(CANCEL_GRACE)
        if thread.is_alive():  # deaf to the event: Python code in it is stopped from outside (a loop that never
            # ends kept a core busy and its memory growing until the collector died: 6 GB in 24 s, measured)
            from .plugins import PluginInterrupted, stop_plugin_code

            stop_plugin_code([thread], INTERRUPT_GRACE)
            if isinstance(outcome.error, PluginInterrupted):  # ours, not the fetch's: it timed out
                outcome.error = None
        if thread.is_alive():  # blocked inside one C call: it gets the interrupt when that call returns
            outcome.left_behind = thread
    return outcome


def _wait(thread: threading.Thread, timeout: float, stop: threading.Event | None) -> None:
    """Join ``thread`` for up to ``timeout`` seconds, or until ``stop`` is set."""
    if stop is None:
        thread.join(timeout)
        return
    deadline = time.monotonic() + timeout
    while thread.is_alive() and not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        thread.join(min(left, 0.1))  # returns as the fetch ends; looks at ``stop`` every 0.1 s


#: the most time every plugin's ``close()`` gets, all of them together, when kpitui stops
CLOSE_SECONDS = 5.0


def close_all(instances: Mapping[str, object], seconds: float = CLOSE_SECONDS) -> list[str]:
    """Call each instance's ``close()`` in a daemon thread of its own, all at once, and wait for them at most
    ``seconds`` in all: a plugin whose ``close()`` hangs cannot hold kpitui's exit (Python cannot stop the thread;
    it ends with the process). An error in ``close()`` is ignored. The names of those still closing."""
    threads: dict[str, threading.Thread] = {}
    for name, instance in instances.items():
        close = getattr(instance, "close", None)
        if close is None:
            continue
        thread = threading.Thread(target=_quietly, args=(close,), name=f"kpitui-close-{name}", daemon=True)
        thread.start()
        threads[name] = thread
    deadline = time.monotonic() + seconds
    for thread in threads.values():
        thread.join(max(0.0, deadline - time.monotonic()))
    return [name for name, thread in threads.items() if thread.is_alive()]


def _quietly(close: object) -> None:
    try:
        close()  # type: ignore[operator]
    except BaseException:  # noqa: BLE001 - a plugin's close() that fails has nothing left to tell
        pass
