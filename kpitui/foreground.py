"""A history's foreground: the refreshes and evaluations a background fold waits behind.

A fold (:func:`kpitui.pipeline.fold`, ~0.2-0.3 s of CPU for ten million readings) runs in a thread
beside the refreshes and evaluations that follow it. Beside them it took the cores and polars' shared
thread pool from their small queries: a clock-moved round beside a fold cost 18-23 ms against 14.5
without (benchmarks/NOTES.md, "What is not met, and why"). So the fold is done in steps, and before
each one it waits while the foreground reads the history (:meth:`Foreground.wait`): a round then runs
beside at most the rest of one step. Each wait is capped (:data:`PAUSE_CAP`): a foreground that is
never idle delays a fold by at most the cap per step, never starves it.
"""

from __future__ import annotations

import threading
from types import TracebackType

#: the longest a fold's step waits for the foreground (s): a fold has a few dozen steps
PAUSE_CAP = 0.05


class Foreground:
    """How many refreshes and evaluations are reading a history now (``with foreground:`` around
    each); a background step waits with :meth:`wait` until none is."""

    def __init__(self, cap: float = PAUSE_CAP) -> None:
        self.cap = cap
        self._busy = 0
        self._idle = threading.Condition(threading.Lock())

    def __enter__(self) -> None:
        with self._idle:
            self._busy += 1

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        with self._idle:
            self._busy -= 1
            if not self._busy:
                self._idle.notify_all()

    @property
    def busy(self) -> bool:
        return self._busy > 0

    def wait(self) -> bool:
        """Wait until no refresh or evaluation runs, at most :attr:`cap` seconds; whether none does."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._busy, self.cap)
