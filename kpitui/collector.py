"""Poll sources and write what they return to the store, each source under its own guard.

A source's ``fetch`` runs in a daemon thread with the source's timeout
(:mod:`kpitui.fetching`: past it the fetch is cancelled): one
that raises, hangs, or returns garbage becomes that source's error (recorded
in the store, so a viewer in another process shows it on that source's
metrics) and never stops the others. Failing sources back off exponentially.

One poll of one source is :class:`kpitui.source_polls.SourcePoller`; this
module adds the rounds: which sources are due, a backlog read on at once,
polling until stopped, compaction and the daily check of the history.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from .epoch import FUTURE_SLACK
from .options import redact
from .source_polls import (
    COMPACT_EVERY,
    EARLIEST,
    HEARTBEAT_EVERY,
    MAX_BACKOFF,
    MAX_CATCH_UP_POLLS,
    MAX_ERROR_CHARS,
    MAX_LEFT_BEHIND,
    Fetched,
    PollResult,
    SourcePoller,
)

__all__ = [
    "COMPACT_EVERY",
    "EARLIEST",
    "FUTURE_SLACK",
    "HEARTBEAT_EVERY",
    "MAX_BACKOFF",
    "MAX_CATCH_UP_POLLS",
    "MAX_ERROR_CHARS",
    "MAX_LEFT_BEHIND",
    "Collector",
    "PollResult",
]


#: a round of polls on their cadence commits this long after its slot, every other round half as long
#: (:meth:`Collector._round_store_at`): longer than a round's fetches take (the sample's: ~0.1 s), short
#: beside any interval
ROUND_STORE_AFTER = 1.0


class Collector(SourcePoller):
    """Owns one instance of each enabled source and polls them into ``store``, each when it is due."""

    #: the store said this role may not compact (:class:`~kpitui.store_common.CompactionNotAllowed`)
    compaction_refused = False
    #: the sources that write files as they run (:meth:`_writers`)
    _writer_ids: set[str] | None = None

    def due(self) -> list[str]:
        now = time.monotonic()
        return [sid for sid, state in self.states.items() if state.next_due <= now]

    def poll_many(
        self, sids: list[str], *, store_at: float | None = None, stop: threading.Event | None = None
    ) -> list[PollResult]:
        """Poll several sources at once (each fetch in its own thread), then store what they brought.

        Sources that write files as they run (:meth:`~kpitui.api.MetricSource.writes`: the demo's site
        log) are fetched first, the others then: a source reading such a file (the sample's ``web``)
        finds this round's lines in this round, and commits with it instead of one interval later
        (one write-back of the history's pages a round, not two: see :meth:`_next_slot`).

        ``store_at`` (monotonic): the fetches' commits wait for that instant if any would commit
        (:meth:`_round_store_at`; ``stop`` ends the wait, and what was fetched is still stored)."""
        if not sids:
            return []
        writers = self._writers()
        first = [sid for sid in sids if sid in writers]
        then = [sid for sid in sids if sid not in writers]
        fetched: list[Fetched | PollResult] = []
        for group in (first, then):
            if group:
                with ThreadPoolExecutor(max_workers=min(8, len(group)), thread_name_prefix="kpitui-poll") as pool:
                    fetched.extend(pool.map(self.fetch, group))
        if store_at is not None and any(isinstance(f, Fetched) and self.writes_anything(f) for f in fetched):
            wait = store_at - time.monotonic()
            if wait > 0:
                (stop or threading.Event()).wait(wait)
        results = [f if isinstance(f, PollResult) else self.store_fetched(f) for f in fetched]
        order = {sid: k for k, sid in enumerate(sids)}
        return sorted(results, key=lambda r: order[r.source])

    def _round_store_at(self, sids: list[str]) -> float | None:
        """When a round of sources due on their cadence commits: :data:`ROUND_STORE_AFTER` after the slot
        they were due at (at most a tenth of their shortest interval), on every other slot of the round's
        longest interval half that; so consecutive rounds commit their interval apart, minus and plus that
        half in turn, however long each round's fetches took. ``None`` (at once) for a
        backlog read on or a source retried after a failure.

        What a collector costs a disk is how often its pages go dirty again after the kernel wrote them
        back: a file's dirty pages are written ``vm.dirty_expire_centisecs`` (30 s by default) after it
        was first dirtied, at the flusher's next tick, and a page written again before that goes to the
        disk once. Rounds 30 s apart (the sample's demo) that commit as their fetches end commit 30 s +-
        their fetches' jitter apart, so whether a round landed before the write-back of the one before
        (and cost nothing) was a race of milliseconds, lost about half the time. On the cadence, a round
        on an odd slot commits 0.5 s less than an interval after the one before it, and so wins that race
        whatever the flusher's phase: two rounds a write-back (issue 18 item 4, benchmarks/NOTES.md)."""
        if not sids:
            return None
        slots = []
        for sid in sids:
            state = self.states[sid]
            if state.pending or state.failures:
                return None
            slots.append(state.next_due)
        intervals = [self.config.sources[sid].interval for sid in sids]
        slot, after = max(slots), min(ROUND_STORE_AFTER, min(intervals) / 10)
        odd = round((slot - self.origin) / max(intervals)) % 2
        return slot + after / (2 if odd else 1)

    def _writers(self) -> set[str]:
        """The sources that write files as they run (computed once)."""
        if self._writer_ids is None:
            from .preflight import written_paths

            self._writer_ids = set(written_paths(self.config, self.context).values()) & set(self.states)
        return self._writer_ids

    def run_once(self, sources: list[str] | None = None) -> list[PollResult]:
        """Poll every source (or ``sources``) once, and a source with a backlog again and again until it is caught up.

        Each chunk is committed with its cursor as it is read; the result per
        source sums its chunks (``polls`` says how many).
        """
        results = {r.source: r for r in self.poll_many(self.sources if sources is None else sources)}
        pending = [sid for sid, r in results.items() if r.more_pending]
        rounds = 0
        while pending and rounds < MAX_CATCH_UP_POLLS:
            rounds += 1
            for r in self.poll_many(pending):
                before = results[r.source]
                results[r.source] = PollResult(
                    r.source,
                    written=before.written + r.written,
                    skipped=before.skipped + r.skipped,
                    error=r.error,
                    seconds=before.seconds + r.seconds,
                    more_pending=r.more_pending,
                    polls=before.polls + 1,
                )
            pending = [sid for sid in pending if results[sid].more_pending]
        return list(results.values())

    def compact(self) -> tuple[bool, str]:
        """Down-sample readings older than the config's retention (:mod:`kpitui.retention`).

        Returns whether anything changed (or failed) and one line saying what happened.
        """
        from .retention import compact, describe
        from .store_common import CompactionNotAllowed

        if self.compaction_refused:
            return False, ""
        now = self.clock()
        try:
            with self.lock:
                result = compact(self.store, self.config, now=now)
        except CompactionNotAllowed as exc:  # a least-privilege role: said once, not every hour
            self.compaction_refused = True
            return True, f"compaction skipped: {exc}"
        except Exception as exc:  # noqa: BLE001 - e.g. disk full: report, keep collecting
            return True, redact(f"compaction failed: {exc}")
        return bool(result and result.replaced), describe(result, self.config, now)

    def keep_snapshot(self) -> None:
        """With nothing left to read, bring the history's columnar snapshot up to date if it keeps
        one that writes only add to while busy (PostgreSQL: ``catch_up``), so that a viewer's next
        full load reads it alone. An optimisation: it says nothing and never fails the collector."""
        catch_up = getattr(self.store, "catch_up", None)
        if catch_up is None:
            return
        try:
            with self.lock:
                catch_up()
        except Exception:  # noqa: BLE001 - the snapshot only costs a viewer speed
            pass

    def check_history(self) -> str | None:
        """The history's daily ``quick_check`` (:meth:`~kpitui.store.Store.check_if_due`): a line for
        the user when the file is damaged (writes are refused from then on) or the check failed."""
        from .maintenance import damaged_message

        try:
            with self.lock:
                damaged = self.store.check_if_due(self.clock())
        except Exception as exc:  # noqa: BLE001 - report, keep collecting
            return redact(f"history check failed: {exc}")
        return None if damaged is None else damaged_message(self.store.path, damaged)

    def run_forever(
        self,
        stop: threading.Event,
        every: float | None = None,
        on_result: Callable[[PollResult], None] | None = None,
        on_compact: Callable[[str], None] | None = None,
        on_round: Callable[[list[PollResult]], None] | None = None,
    ) -> None:
        """Poll each source when due (its own interval, or ``every`` seconds for all) until ``stop`` is set.

        With ``[storage] raw_retention_days`` set, old readings are also
        down-sampled at start and every :data:`COMPACT_EVERY` seconds.
        ``on_round`` gets each round's results (possibly none), after they are stored (alerting).
        """
        next_compaction = next_check = time.monotonic()
        while not stop.is_set():
            if self.config.storage.raw_retention_days is not None and time.monotonic() >= next_compaction:
                next_compaction = time.monotonic() + COMPACT_EVERY
                changed, message = self.compact()
                if on_compact and (changed or message):
                    on_compact(message)
            due = self.due()
            store_at = None if every is not None else self._round_store_at(due)
            results = self.poll_many(due, store_at=store_at, stop=stop)
            for result in results:
                if every is not None and not result.more_pending:  # the user's pace; a backlog is read on at once
                    failures = self.states[
                        result.source
                    ].failures  # a failing source backs off from it, not its interval
                    delay = every if result.error is None else min(every * 2 ** (failures - 1), max(every, MAX_BACKOFF))
                    self.states[result.source].next_due = time.monotonic() + delay
                if on_result:
                    on_result(result)
            if on_round:
                on_round(results)
            if not any(result.more_pending for result in results):
                self.keep_snapshot()
            if time.monotonic() >= next_check:  # after the polls: it reads every page (seconds), once a day
                next_check = time.monotonic() + COMPACT_EVERY
                damaged = self.check_history()
                if damaged and on_compact:
                    on_compact(damaged)
            upcoming = min((s.next_due for s in self.states.values()), default=time.monotonic() + 60)
            stop.wait(max(0.05, min(upcoming - time.monotonic(), 60)))

    def close(self) -> None:
        """Close every source, each ``close()`` bounded (:func:`kpitui.fetching.close_all`): one that hangs is
        named in a warning and left behind, never holding the exit."""
        from .fetching import CLOSE_SECONDS, close_all

        instances = {sid: state.instance for sid, state in self.states.items() if state.instance is not None}
        for sid in close_all(instances):
            owner = self.config.registry.owner("source", self.config.sources[sid].type)
            logging.getLogger("kpitui.collect").warning(
                "source %s (plugin %s) did not close within %g s; left running", sid, owner, CLOSE_SECONDS
            )
