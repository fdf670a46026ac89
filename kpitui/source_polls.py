"""One poll of one source: fetch it under its guard, check what it returns, and store it with its cursor and health.

:class:`SourcePoller` is the part of :class:`kpitui.collector.Collector` that
polls a single source; the collector adds the rounds (which sources are due,
catching up a backlog, running until stopped, compaction and the daily check).

A source's ``fetch`` runs in a daemon thread with the source's timeout
(:mod:`kpitui.fetching`: past it the fetch is cancelled): one
that raises, hangs, or returns garbage becomes that source's error (recorded
in the store, so a viewer in another process shows it on that source's
metrics) and never stops the others. Failing sources back off exponentially.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import polars as pl

from .api import FetchResult, MetricSource, SourceContext, SourceError, normalise_readings
from .config import Config
from .epoch import EPOCH, FUTURE_SLACK
from .fetching import run_fetch
from .history_store import HistoryStore
from .options import exc_text, redact
from .store import CursorConflict

EARLIEST = EPOCH
MAX_BACKOFF = 3600.0
#: an error message longer than this is cut (a plugin may put a whole HTTP body in one)
MAX_ERROR_CHARS = 4000
#: how often ``run_forever`` down-samples old readings (when ``[storage] raw_retention_days`` is set)
COMPACT_EVERY = 3600.0
#: fetches that ignore their cancellation and may still run per source before it is skipped
MAX_LEFT_BEHIND = 2
#: a poll that brings nothing new (no readings, the same cursor, and this collector already recorded
#: the source healthy) commits its success time at most this often, as a heartbeat. Each commit costs
#: a disk whole pages of the WAL and its -shm index however little it holds (~9 KB), and most polls of
#: a log find nothing new: committing each made the sample's collector write ~100 MB a day (issue 18
#: item 4). 60 s keeps the stored last success within one step of what viewers show ("Updated" and
#: "last polled" count in minutes past "just now"); readings, a new cursor and any change in health
#: (a failure, a recovery, a new error) still commit at once.
HEARTBEAT_EVERY = 60.0


@dataclass(frozen=True)
class PollResult:
    source: str
    written: int = 0
    skipped: int = 0
    error: str | None = None
    seconds: float = 0.0
    #: the source has more to read now (a backlog); it is due again at once
    more_pending: bool = False
    #: how many fetches this result sums up (a backlog taken in chunk by chunk)
    polls: int = 1


@dataclass(frozen=True)
class Fetched:
    """A successful fetch not yet stored (:meth:`SourcePoller.fetch`, then :meth:`SourcePoller.store_fetched`)."""

    source: str
    result: FetchResult
    #: the readings kept after the checks, and how many were dropped
    readings: pl.DataFrame
    skipped: int
    #: the cursor the fetch started from (stored only if it is still the stored one)
    read: str | None
    #: the poll's clock instant
    now: dt.datetime
    #: how long the fetch took
    seconds: float


#: a source that keeps saying "more is pending" is polled at most this often in one catch-up
MAX_CATCH_UP_POLLS = 100_000


@dataclass
class _State:
    instance: MetricSource | None
    failures: int = 0
    next_due: float = 0.0  # monotonic seconds
    init_error: str | None = None
    #: fetches that ignored their cancellation and still run (each on an instance of its own)
    left_behind: list[threading.Thread] = field(default_factory=list)
    pending: bool = False  # the last fetch said more is pending: due again at once
    #: when this collector last committed a success for the source (``None``: not yet, or it failed since)
    recorded_success: dt.datetime | None = None
    #: the time of the source's last successful poll, committed or not (viewers in this process show it)
    last_success: dt.datetime | None = None


def _one_line(message: str) -> str:
    """An error for a log line, the store and a status bar: one line, bounded, without polars' expression dump."""
    message = message.split("\n\nThis error occurred in the following expression", 1)[0]
    message = " ".join(message.split())
    message = "".join(
        ch if ch.isprintable() else repr(ch)[1:-1] for ch in message
    )  # no terminal escapes from an error body
    return message if len(message) <= MAX_ERROR_CHARS else message[: MAX_ERROR_CHARS - 1] + "…"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class SourcePoller:
    """Owns one instance of each enabled source and polls one of them at a time into ``store``."""

    def __init__(self, config: Config, store: HistoryStore, *, clock: Callable[[], dt.datetime] = _utcnow):
        self.config = config
        self.store = store
        self.clock = clock
        self.lock = threading.Lock()  # one write at a time from this process
        self.context = SourceContext(
            config_dir=config.files_dir, timezone=config.settings.timezone, history_path=config.storage.path
        )
        #: ``on_progress(source, done, total, label)``: where sources' :meth:`SourceContext.progress` goes
        self.on_progress: Callable[[str, float, float | None, str], None] | None = None
        #: the cadence's origin: a source polled every ``interval`` seconds is due at ``origin + k * interval``
        #: (:meth:`_next_slot`), so sources whose intervals divide each other are polled in one round
        self.origin = time.monotonic()
        self.states: dict[str, _State] = {}
        for sid, spec in config.sources.items():
            if not spec.enabled:
                continue
            cls = config.registry.sources[spec.type]
            metrics = config.metrics_of(sid)
            if not metrics or cls.passive:
                continue
            try:
                self.states[sid] = _State(self._construct(sid, cls, metrics))
            except Exception as exc:  # noqa: BLE001 - a plugin's constructor must not stop the collector
                self.states[sid] = _State(None, init_error=self._describe(sid, "failed to start", exc))

    def _construct(self, sid: str, cls: type[MetricSource], metrics: Any) -> MetricSource:
        """A source instance; a third-party constructor under the plugins' time limit (``KPITUI_PLUGIN_TIMEOUT``):
        one that hangs is that source's error ("failed to start"), not a collector that never starts."""
        spec = self.config.sources[sid]
        owner = self.config.registry.owner("source", spec.type)
        if owner is None or owner.startswith("builtin:"):
            return cls(spec, metrics, self._context_of(sid))
        from .plugins import bounded, plugin_timeout

        instance: MetricSource = bounded(lambda: cls(spec, metrics, self._context_of(sid)), plugin_timeout())
        return instance

    def _context_of(self, sid: str) -> SourceContext:
        """The context handed to ``sid``'s instance: its progress reports are tagged with its id."""

        def report(done: float, total: float | None, label: str) -> None:
            if self.on_progress is not None:
                self.on_progress(sid, done, total, label)

        return dataclasses.replace(self.context, on_progress=report)

    def _describe(self, sid: str, what: str, exc: BaseException) -> str:
        spec = self.config.sources[sid]
        owner = self.config.registry.owner("source", spec.type) or "?"
        text = exc_text(exc)
        detail = (
            text if isinstance(exc, SourceError) else f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        )
        plugin = "" if owner.startswith("builtin:") else f" (plugin {owner})"
        return redact(f"{what}{plugin}: {detail}")

    @property
    def sources(self) -> list[str]:
        return list(self.states)

    # -- one poll ------------------------------------------------------------

    def poll(self, sid: str, stop: threading.Event | None = None) -> PollResult:
        """Fetch once from ``sid`` and store the result in one transaction.

        ``stop`` (a TUI quitting) cancels the fetch in progress: nothing is stored or recorded."""
        fetched = self.fetch(sid, stop)
        return fetched if isinstance(fetched, PollResult) else self.store_fetched(fetched)

    def fetch(self, sid: str, stop: threading.Event | None = None) -> Fetched | PollResult:
        """The first half of :meth:`poll`: fetch from ``sid`` under its guard and check what it returned.

        A failure is already recorded and comes back as its :class:`PollResult`; a success is a
        :class:`Fetched` for :meth:`store_fetched` (the collector stores a round's fetches together)."""
        state = self.states[sid]
        spec = self.config.sources[sid]
        started = time.monotonic()
        if state.instance is None:
            return self._failed(sid, state.init_error or "not started", started)
        if state.left_behind:
            problem = self._after_left_behind(sid, state)
            if problem:
                return self._failed(sid, problem, started)
        try:
            cursor = self.store.cursor(sid)
        except Exception as exc:  # noqa: BLE001
            return self._failed(sid, f"cannot read cursor: {exc}", started)
        now = self.clock()
        outcome = run_fetch(state.instance, cursor, now, spec.timeout, f"kpitui-fetch-{sid}", stop)
        if outcome.left_behind is not None:
            state.left_behind.append(outcome.left_behind)
        if outcome.stopped or (stop is not None and stop.is_set()):
            return PollResult(sid, error="stopped", seconds=time.monotonic() - started)
        if outcome.error is not None:  # a cancelled built-in says what it stopped
            return self._failed(sid, self._describe(sid, "fetch failed", outcome.error), started)
        if outcome.timed_out:
            still = "; it ignored the cancellation and still runs" if outcome.left_behind else ""
            return self._failed(sid, f"timed out after {spec.timeout:g}s{still}", started)
        try:
            readings, skipped = self._validate(sid, outcome.result, now)
        except ValueError as exc:
            return self._failed(sid, self._describe(sid, "returned bad data", exc), started)
        result = outcome.result
        assert isinstance(result, FetchResult)
        return Fetched(sid, result, readings, skipped, cursor, now, time.monotonic() - started)

    def writes_anything(self, fetched: Fetched) -> bool:
        """Whether storing ``fetched`` commits (readings, a moved cursor, a change in health, a heartbeat due)."""
        state = self.states[fetched.source]
        interval = self.config.sources[fetched.source].interval
        return not self._nothing_new(
            state, fetched.readings, fetched.result.cursor, fetched.read, fetched.now, interval
        )

    def store_fetched(self, fetched: Fetched) -> PollResult:
        """The second half of :meth:`poll`: store a fetch's readings with its cursor and health in one
        transaction (or nothing, when it brings nothing new and no heartbeat is due)."""
        sid, result, readings = fetched.source, fetched.result, fetched.readings
        state = self.states[sid]
        spec = self.config.sources[sid]
        resumed = time.monotonic()
        started = resumed - fetched.seconds  # the poll's time: the fetch and the store, not a wait between
        assert state.instance is not None  # it fetched
        mode = type(state.instance).mode
        try:
            with self.lock:
                if not self.writes_anything(fetched):
                    written = 0  # the stored health already says healthy; its time is at most a heartbeat old
                else:
                    written = self._store_poll(sid, readings, mode, result.cursor, fetched.read, fetched.now)
                    state.recorded_success = fetched.now
                notice = getattr(self.store, "notice", None)  # a PostgreSQL history reconnected
                if notice:
                    self.store.notice = None  # type: ignore[attr-defined]
                    logging.getLogger("kpitui.collect").warning("%s", notice)
        except CursorConflict:
            # another collector stored this source's readings first; ours would count them twice
            state.next_due = time.monotonic() + spec.interval
            return PollResult(sid, seconds=time.monotonic() - started)
        except Exception as exc:  # noqa: BLE001 - e.g. disk full: report, keep going
            from .failures import explain  # a full disk or a read-only history: what to do about it

            return self._failed(sid, f"could not store readings: {redact(explain(exc, self.store.path))}", started)
        state.failures = 0
        state.last_success = fetched.now
        more = bool(result.more_pending) and result.cursor != fetched.read  # no progress: not worth polling again now
        state.pending = more
        state.next_due = time.monotonic() if more else self._next_slot(spec.interval)
        return PollResult(
            sid,
            written=written,
            skipped=fetched.skipped + result.skipped,
            seconds=time.monotonic() - started,
            more_pending=more,
        )

    def _next_slot(self, interval: float) -> float:
        """The next instant after now on the grid ``origin + k * interval`` (a slot a slow poll overran is
        skipped, not made up for).

        A source keeps to its cadence however long its polls take, so the sample's demo (every 30 s)
        and web (every 10 s) stay polled in the same round every 30 s instead of drifting apart by their
        poll times. What a collector costs a disk is how often the pages it writes go dirty again after
        the kernel wrote them back (``vm.dirty_expire_centisecs``, 30 s by default: a page written again
        before then is written to disk once), not how many commits it makes: commits in one round
        share one write-back (issue 18 item 4, benchmarks/NOTES.md)."""
        now = time.monotonic()
        if interval <= 0:
            return now
        return self.origin + (math.floor((now - self.origin) / interval) + 1) * interval

    @staticmethod
    def _nothing_new(
        state: _State,
        readings: pl.DataFrame,
        cursor: str | None,
        read: str | None,
        now: dt.datetime,
        interval: float = 0.0,
    ) -> bool:
        """Whether this successful poll may go uncommitted: no readings, the cursor as stored, the source
        recorded healthy by this collector less than :data:`HEARTBEAT_EVERY` ago, less half an
        ``interval``: the heartbeat is the poll nearest that age, so a poll that starts a moment
        early (its round's other polls were quicker) does not put it one slot later, out of its round
        (a commit of its own, a write-back of its own: :meth:`_next_slot`)."""
        if readings.height or cursor != read or state.recorded_success is None:
            return False
        due = max(0.0, HEARTBEAT_EVERY - interval / 2)
        return dt.timedelta(0) <= now - state.recorded_success < dt.timedelta(seconds=due)

    def last_successes(self) -> dict[str, dt.datetime]:
        """Each source's last successful poll in this process, including those not yet committed
        (:data:`HEARTBEAT_EVERY`): what a viewer running this collector shows as the source's last poll."""
        return {sid: state.last_success for sid, state in self.states.items() if state.last_success is not None}

    def _store_poll(
        self,
        sid: str,
        readings: pl.DataFrame,
        mode: Literal["replace", "add"],
        cursor: str | None,
        read: str | None,
        now: dt.datetime,
    ) -> int:
        """A successful poll's readings, cursor and health: in one transaction where the history can
        (``records_poll_health``: one commit, fewer pages written a poll), else the write, then the health."""
        if getattr(self.store, "records_poll_health", False):
            return self.store.write(  # type: ignore[call-arg]
                readings, mode=mode, source=sid, cursor=cursor, set_cursor=True, expect_cursor=read, polled_at=now
            )
        written = self.store.write(readings, mode=mode, source=sid, cursor=cursor, set_cursor=True, expect_cursor=read)
        self.store.record_health(sid, ok=True, at=now)
        return written

    def _after_left_behind(self, sid: str, state: _State) -> str | None:
        """After a fetch ignored its cancellation: a new instance, or why the source is skipped."""
        state.left_behind = [thread for thread in state.left_behind if thread.is_alive()]
        if len(state.left_behind) >= MAX_LEFT_BEHIND:
            timeout = self.config.sources[sid].timeout
            ran = f"{len(state.left_behind)} earlier fetches ignored the {timeout:g}s timeout and still run"
            return self._describe(sid, "skipped", SourceError(ran))
        spec = self.config.sources[sid]
        try:  # the old instance may still be busy in the left-behind thread
            state.instance = self._construct(sid, self.config.registry.sources[spec.type], self.config.metrics_of(sid))
        except Exception as exc:  # noqa: BLE001
            return self._describe(sid, "failed to restart", exc)
        return None

    def _validate(self, sid: str, result: object, now: dt.datetime) -> tuple[pl.DataFrame, int]:
        if not isinstance(result, FetchResult):
            raise ValueError(f"fetch must return a FetchResult, not {type(result).__name__}")
        if not isinstance(result.readings, pl.DataFrame):
            raise ValueError(f"FetchResult.readings must be a polars DataFrame, not {type(result.readings).__name__}")
        if result.cursor is not None and not isinstance(result.cursor, str):
            raise ValueError(f"FetchResult.cursor must be a string or None, not {type(result.cursor).__name__}")
        if result.cursor is not None and not result.cursor.isascii():
            try:  # the history stores it as UTF-8: a lone surrogate (bytes decoded with surrogateescape) cannot be
                result.cursor.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(
                    f"FetchResult.cursor must be text UTF-8 can hold: {exc.reason} at character {exc.start} "
                    "(encode raw bytes, e.g. as hex or base64)"
                ) from None
        missing = {"metric", "at", "value"} - set(result.readings.columns)
        if missing:
            raise ValueError(f"readings lack column(s) {', '.join(sorted(missing))}")
        try:
            frame = normalise_readings(result.readings)
        except Exception as exc:  # noqa: BLE001 - polars cast errors
            raise ValueError(f"readings have the wrong types: {exc}") from None
        mine = {m.id for m in self.config.metrics_of(sid)}
        good = (
            pl.col("metric").is_in(sorted(mine))
            & pl.col("at").is_not_null()
            & (pl.col("at") >= EARLIEST)
            & (pl.col("at") <= now + FUTURE_SLACK)
            & pl.col("value").is_finite()
        )
        kept = frame.filter(good.fill_null(False))
        return kept, frame.height - kept.height

    def _failed(self, sid: str, message: str, started: float) -> PollResult:
        state = self.states[sid]
        state.failures += 1
        state.pending = False
        state.recorded_success = None  # the next success is a recovery: committed at once
        interval = self.config.sources[sid].interval
        delay = min(interval * 2 ** (state.failures - 1), max(interval, MAX_BACKOFF))
        state.next_due = time.monotonic() + delay
        message = _one_line(redact(message))
        try:
            with self.lock:
                self.store.record_health(
                    sid,
                    ok=False,
                    error=message,
                    at=self.clock(),
                    next_attempt=self.clock() + dt.timedelta(seconds=delay),
                )
        except Exception:  # noqa: BLE001 - the store itself is failing; the result still says so
            pass
        return PollResult(sid, error=message, seconds=time.monotonic() - started)

    # -- many polls ----------------------------------------------------------
