"""Alert state and the durable outbox, kept in the history file.

Tables (created on first use beside the store's own, in the same SQLite
file; they are kpitui's alerting tables, not part of the reading schema):

``alert_state(alert, firing, token, baseline, episode, seq, since, last_fired, last_sent, text, updated)``
    one row per ``[alerts.ID]``: whether it fires, since when, the KPI
    status last seen (status rules), and counters that make idempotency keys.
``alert_outbox(id, key, alert, notifier, payload, created, attempts, next_attempt, lease, delivered, ...)``
    (then ``last_error, last_attempt``): one row per notification and notifier; ``key`` is the idempotency key.
``digest_state(digest, last_slot, updated)``
    the last scheduled slot each digest was queued for.

A state change and the notifications it causes are written in one
``BEGIN IMMEDIATE`` transaction, so a crash (SIGKILL included) either keeps
both or neither: nothing is lost, and a restart does not notify again.
Delivery is at least once: an item is marked delivered after the notifier
returns, so a crash in between sends it again, with the same key. Two
processes (a TUI and ``kpitui collect``) share the tables safely: a send
takes a lease on its item first.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from ..api import Notification
from ..epoch import from_micros, micros

SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_state (
    alert TEXT PRIMARY KEY,
    firing INTEGER NOT NULL DEFAULT 0,
    token TEXT,
    baseline TEXT,
    episode INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL DEFAULT 0,
    since INTEGER,
    last_fired INTEGER,
    last_sent INTEGER,
    text TEXT,
    updated INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alert_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    alert TEXT NOT NULL,
    notifier TEXT NOT NULL,
    payload TEXT NOT NULL,
    created INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    lease INTEGER,
    owner TEXT,
    delivered INTEGER,
    last_error TEXT,
    last_attempt INTEGER,
    UNIQUE (key, notifier)
);
CREATE INDEX IF NOT EXISTS alert_outbox_pending ON alert_outbox (notifier, id) WHERE delivered IS NULL;
CREATE TABLE IF NOT EXISTS digest_state (digest TEXT PRIMARY KEY, last_slot INTEGER NOT NULL, \
updated INTEGER NOT NULL) WITHOUT ROWID;
"""


#: who holds a lease: this host and process (a lease whose process is gone on this host is free at once)
OWNER = f"{socket.gethostname()}:{os.getpid()}"


def _owner_gone(owner: str | None) -> bool:
    if not owner or owner.rsplit(":", 1)[0] != socket.gethostname():
        return False
    try:
        pid = int(owner.rsplit(":", 1)[1])
        if pid == os.getpid():
            return False
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (ValueError, PermissionError, OSError):
        return False
    return False


@dataclass(frozen=True)
class AlertState:
    alert: str
    firing: bool = False
    token: str | None = None
    baseline: str | None = None
    episode: int = 0
    seq: int = 0
    since: dt.datetime | None = None
    last_fired: dt.datetime | None = None
    last_sent: dt.datetime | None = None
    text: str | None = None


@dataclass(frozen=True)
class OutboxItem:
    id: int
    key: str
    alert: str
    notifier: str
    notification: Notification
    attempts: int
    next_attempt: dt.datetime
    delivered: dt.datetime | None
    last_error: str | None
    last_attempt: dt.datetime | None


def notification_to_json(n: Notification) -> str:
    return json.dumps({**n.as_dict(), "markdown": n.markdown, "html": n.html}, ensure_ascii=False, default=str)


def notification_from_json(text: str) -> Notification:
    d = json.loads(text)
    return Notification(
        key=d["key"],
        kind=d["kind"],
        name=d["alert"],
        title=d["title"],
        text=d["text"],
        at=dt.datetime.fromisoformat(d["at"]),
        subject=d.get("subject"),
        fields=d.get("fields") or {},
        markdown=d.get("markdown"),
        html=d.get("html"),
    )


class AlertStore:
    """The alerting tables of one history file, on a connection of their own."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0):
        self.path = Path(path)
        self._lock = threading.RLock()
        self._con = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        self._con.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        self._con.execute("PRAGMA synchronous = NORMAL")
        with self._transaction() as con:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    con.execute(statement)
            columns = {row[1] for row in con.execute("PRAGMA table_info(alert_outbox)")}
            if "owner" not in columns:  # outboxes made before leases named their holder
                con.execute("ALTER TABLE alert_outbox ADD COLUMN owner TEXT")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            con = self._con
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._con.close()

    # -- state --------------------------------------------------------------------------

    @staticmethod
    def _state(row: tuple[Any, ...]) -> AlertState:
        alert, firing, token, baseline, episode, seq, since, last_fired, last_sent, text = row
        return AlertState(
            alert,
            bool(firing),
            token,
            baseline,
            episode,
            seq,
            from_micros(since),
            from_micros(last_fired),
            from_micros(last_sent),
            text,
        )

    _STATE_COLUMNS = "alert, firing, token, baseline, episode, seq, since, last_fired, last_sent, text"

    def states(self) -> dict[str, AlertState]:
        with self._lock:
            rows = self._con.execute(f"SELECT {self._STATE_COLUMNS} FROM alert_state").fetchall()
        return {row[0]: self._state(row) for row in rows}

    def update(
        self,
        decide: Callable[[dict[str, AlertState]], list[tuple[AlertState, list[tuple[Notification, tuple[str, ...]]]]]],
        now: dt.datetime,
    ) -> list[Notification]:
        """Read every state, let ``decide`` compute new states and notifications, and write both at once."""
        sent: list[Notification] = []
        with self._transaction() as con:
            rows = con.execute(f"SELECT {self._STATE_COLUMNS} FROM alert_state").fetchall()
            states = {row[0]: self._state(row) for row in rows}
            for new, notifications in decide(states):
                con.execute(
                    f"INSERT OR REPLACE INTO alert_state ({self._STATE_COLUMNS}, updated) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        new.alert,
                        int(new.firing),
                        new.token,
                        new.baseline,
                        new.episode,
                        new.seq,
                        None if new.since is None else micros(new.since),
                        None if new.last_fired is None else micros(new.last_fired),
                        None if new.last_sent is None else micros(new.last_sent),
                        new.text,
                        micros(now),
                    ),
                )
                for notification, notifiers in notifications:
                    self._enqueue(con, notification, notifiers, now)
                    sent.append(notification)
        return sent

    def _enqueue(self, con: sqlite3.Connection, n: Notification, notifiers: tuple[str, ...], now: dt.datetime) -> None:
        payload = notification_to_json(n)
        for notifier in notifiers:
            con.execute(
                "INSERT OR IGNORE INTO alert_outbox (key, alert, notifier, payload, created, next_attempt) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (n.key, n.name, notifier, payload, micros(now), micros(now)),
            )

    def enqueue(self, n: Notification, notifiers: tuple[str, ...], now: dt.datetime) -> None:
        with self._transaction() as con:
            self._enqueue(con, n, notifiers, now)

    # -- digests ------------------------------------------------------------------------

    def digest_slots(self) -> dict[str, dt.datetime]:
        with self._lock:
            rows = self._con.execute("SELECT digest, last_slot FROM digest_state").fetchall()
        return {d: from_micros(s) for d, s in rows}

    def queue_digest(
        self,
        digest: str,
        slot: dt.datetime,
        build: Callable[[], Notification | None],
        notifiers: tuple[str, ...],
        now: dt.datetime,
    ) -> Notification | None:
        """Queue ``build()`` for ``slot`` unless that slot (or a later one) was queued already: once per slot, across
        restarts."""
        with self._transaction() as con:
            row = con.execute("SELECT last_slot FROM digest_state WHERE digest = ?", (digest,)).fetchone()
            if row is not None and row[0] >= micros(slot):
                return None
            n = build()
            con.execute(
                "INSERT OR REPLACE INTO digest_state (digest, last_slot, updated) VALUES (?, ?, ?)",
                (digest, micros(slot), micros(now)),
            )
            if n is not None:
                self._enqueue(con, n, notifiers, now)
            return n

    # -- outbox -------------------------------------------------------------------------

    def _item(self, row: tuple[Any, ...]) -> OutboxItem:
        id_, key, alert, notifier, payload, attempts, next_attempt, delivered, error, last_attempt = row
        return OutboxItem(
            id_,
            key,
            alert,
            notifier,
            notification_from_json(payload),
            attempts,
            from_micros(next_attempt),
            from_micros(delivered),
            error,
            from_micros(last_attempt),
        )

    _ITEM_COLUMNS = "id, key, alert, notifier, payload, attempts, next_attempt, delivered, last_error, last_attempt"

    def claim(self, notifier: str, now: dt.datetime, lease: float) -> OutboxItem | dt.datetime | None:
        """The oldest undelivered item of ``notifier``, leased for ``lease`` seconds.

        Returns the time to try again when that item is waiting (back-off, or
        another process holds it), ``None`` when nothing is pending. Items go
        out in order: a later one never overtakes one still being retried.
        """
        with self._transaction() as con:
            row = con.execute(
                f"SELECT {self._ITEM_COLUMNS}, lease, owner FROM alert_outbox "
                "WHERE notifier = ? AND delivered IS NULL ORDER BY id LIMIT 1",
                (notifier,),
            ).fetchone()
            if row is None:
                return None
            leased = row[10] or 0
            if leased > micros(now) and _owner_gone(row[11]):
                leased = 0  # the process sending it died (killed mid-send): send again, same key
            wait = max(row[6], leased)
            if wait > micros(now):
                return from_micros(int(wait))
            con.execute(
                "UPDATE alert_outbox SET lease = ?, owner = ? WHERE id = ?",
                (micros(now) + int(lease * 1_000_000), OWNER, row[0]),
            )
            return self._item(row[:10])

    def delivered(self, item_id: int, now: dt.datetime) -> None:
        with self._transaction() as con:
            con.execute(
                "UPDATE alert_outbox SET delivered = ?, last_attempt = ?, attempts = attempts + 1, "
                "last_error = NULL, lease = NULL WHERE id = ?",
                (micros(now), micros(now), item_id),
            )

    def failed(self, item_id: int, error: str, now: dt.datetime, retry_at: dt.datetime) -> None:
        with self._transaction() as con:
            con.execute(
                "UPDATE alert_outbox SET last_error = ?, last_attempt = ?, attempts = attempts + 1, "
                "next_attempt = ?, lease = NULL WHERE id = ?",
                (error, micros(now), micros(retry_at), item_id),
            )

    def defer(self, item_id: int, until: dt.datetime) -> None:
        with self._transaction() as con:
            con.execute("UPDATE alert_outbox SET next_attempt = ?, lease = NULL WHERE id = ?", (micros(until), item_id))

    def pending(self, notifier: str | None = None) -> int:
        with self._lock:
            if notifier is None:
                return int(self._con.execute("SELECT count(*) FROM alert_outbox WHERE delivered IS NULL").fetchone()[0])
            return int(
                self._con.execute(
                    "SELECT count(*) FROM alert_outbox WHERE delivered IS NULL AND notifier = ?", (notifier,)
                ).fetchone()[0]
            )

    def due(self, now: dt.datetime) -> int:
        """How many undelivered items may be sent now."""
        with self._lock:
            return int(
                self._con.execute(
                    "SELECT count(*) FROM alert_outbox WHERE delivered IS NULL AND next_attempt <= ?", (micros(now),)
                ).fetchone()[0]
            )

    def recent(self, alert: str | None = None, limit: int = 50) -> list[OutboxItem]:
        """The newest outbox items (of one alert), newest first."""
        with self._lock:
            if alert is None:
                rows = self._con.execute(
                    f"SELECT {self._ITEM_COLUMNS} FROM alert_outbox ORDER BY id DESC LIMIT ?", (limit,)
                ).fetchall()
            else:
                rows = self._con.execute(
                    f"SELECT {self._ITEM_COLUMNS} FROM alert_outbox WHERE alert = ? ORDER BY id DESC LIMIT ?",
                    (alert, limit),
                ).fetchall()
        return [self._item(r) for r in rows]


def transition(state: AlertState, rule: Any, obs: Any, now: dt.datetime) -> tuple[AlertState, list[tuple[str, str]]]:
    """The rule's next state and the notifications (kind, text) that change causes.

    Level rules notify when they start firing (``firing``), when they stop
    (``resolved``) and, with ``repeat``, every ``repeat`` seconds while firing.
    ``status_worse`` fires when the status gets worse than the one before,
    again if it worsens further, and resolves when it is back there or better;
    ``status_better`` and ``status_change`` notify each change (``changed``).
    """
    from ..config.alerting import STATUS_RULES
    from .rules import STATUS_RANK

    out: list[tuple[str, str]] = []
    if rule.when in STATUS_RULES:
        token = obs.token
        if token is None or state.token is None or token == state.token:
            return replace(state, token=token or state.token, text=obs.text), out
        old, new = STATUS_RANK[state.token], STATUS_RANK[token]
        change = f"{obs.text} (was {state.token.replace('_', ' ')})"
        if rule.when == "status_change" or (rule.when == "status_better" and new < old):
            out.append(("changed", change))
            return replace(state, token=token, text=obs.text, last_sent=now, seq=state.seq + 1), out
        if rule.when == "status_worse":
            if new > old:
                episode = state.episode if state.firing else state.episode + 1
                baseline = state.baseline if state.firing else state.token
                out.append(("firing", change))
                return AlertState(
                    state.alert,
                    True,
                    token,
                    baseline,
                    episode,
                    state.seq + 1,
                    state.since if state.firing else now,
                    now,
                    now,
                    obs.text,
                ), out
            if state.firing and state.baseline is not None and new <= STATUS_RANK[state.baseline]:
                out.append(("resolved", change))
                return replace(
                    state,
                    firing=False,
                    token=token,
                    baseline=None,
                    seq=state.seq + 1,
                    since=now,
                    last_sent=now,
                    text=obs.text,
                ), out
        return replace(state, token=token, text=obs.text), out
    if obs.firing is None:  # cannot tell now (no value yet, a partial comparison): the state stays, the text says why
        return replace(state, text=obs.text), out
    if obs.firing and not state.firing:
        out.append(("firing", obs.text))
        return AlertState(state.alert, True, None, None, state.episode + 1, state.seq + 1, now, now, now, obs.text), out
    if not obs.firing and state.firing:
        out.append(("resolved", obs.text))
        return replace(state, firing=False, seq=state.seq + 1, since=now, last_sent=now, text=obs.text), out
    if obs.firing and rule.repeat and state.last_sent and (now - state.last_sent).total_seconds() >= rule.repeat:
        out.append(("repeat", obs.text))
        return replace(state, seq=state.seq + 1, last_sent=now, text=obs.text), out
    if state.since is None:  # first observation of a rule that is not firing
        return replace(state, since=now, text=obs.text), out
    return replace(state, text=obs.text), out
