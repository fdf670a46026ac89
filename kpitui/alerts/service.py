"""Alerting for a collector: evaluate rules and digests after polls, deliver from the outbox.

``kpitui collect`` and the TUI's collector make one :class:`AlertService`,
call :meth:`AlertService.evaluate` after polling (it reads the history,
decides, and queues notifications in one transaction) and let its
:class:`~.deliver.Dispatcher` threads send them.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from typing import Any, Callable

import polars as pl

from ..api import Notification
from ..config.alerting import AlertRule, DigestSpec
from ..options import redact
from .deliver import Dispatcher, describe_error, send_once
from .rules import Facts, Observation, observe
from .state import AlertState, AlertStore, transition

LABEL = {"firing": "FIRING", "resolved": "RESOLVED", "repeat": "STILL FIRING", "changed": "CHANGED", "test": "TEST"}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class AlertService:
    """Rules, digests and delivery for one config and history file."""

    def __init__(
        self,
        config: Any,
        store: Any,
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
        retry_base: float = 30.0,
        deliver: bool = True,
        on_result: Callable[[str, Any, str | None], None] | None = None,
    ):
        self.config = config
        self.store = store
        self.clock = clock
        self.alerts = AlertStore(store.path)
        self.dispatcher = (
            Dispatcher(config, self.alerts, retry_base=retry_base, clock=clock, on_result=on_result)
            if deliver
            else None
        )
        self._history: Any = None
        self._engine: Any = None

    @property
    def active(self) -> bool:
        return bool(self.config.alerts or self.config.digests)

    def start(self) -> AlertService:
        if self.dispatcher is not None:
            self.dispatcher.start()
        return self

    def close(self, drain: float = 0.0) -> None:
        if self.dispatcher is not None:
            if drain:
                self.dispatcher.drain(drain)
            self.dispatcher.stop()
        self.alerts.close()

    # -- evaluating -------------------------------------------------------------------

    def snapshot(self, now: dt.datetime) -> Any:
        from ..engine import Engine
        from ..history import History

        if self._history is None:
            self._history, self._engine = History(self.store), Engine(self.config)
        self._history.refresh()
        return self._engine.evaluate(self._history, now, health=self.store.health())

    def _readings(self, metric: str) -> pl.DataFrame:
        frame, _ = self.store.load(metrics=[metric])
        readings: pl.DataFrame = frame.select("at", "value")
        return readings

    def evaluate(self, now: dt.datetime | None = None, snapshot: Any = None) -> list[Notification]:
        """Observe every rule and due digest now; queue and return the notifications this causes."""
        now = now or self.clock()
        if not self.active:
            return []
        needs_snapshot = any(r.subject_kind == "kpi" for r in self.config.alerts.values())
        if snapshot is None and needs_snapshot:
            snapshot = self.snapshot(now)
        facts = Facts(self.config, now, self.store.health(), self._readings, snapshot)
        observations: dict[str, Observation] = {}
        for aid, rule in self.config.alerts.items():
            try:
                observations[aid] = observe(rule, facts)
            except Exception as exc:  # noqa: BLE001 - one broken rule must not stop the others
                observations[aid] = Observation(None, f"cannot evaluate: {describe_error(exc)}", rule.subject)

        def decide(
            states: dict[str, AlertState],
        ) -> Iterator[tuple[AlertState, list[tuple[Notification, tuple[str, ...]]]]]:
            for aid, rule in self.config.alerts.items():
                obs = observations[aid]
                new, events = transition(states.get(aid) or AlertState(aid), rule, obs, now)
                yield new, [(self._notification(rule, new, kind, text, obs, now), rule.notify) for kind, text in events]

        sent = self.alerts.update(lambda states: list(decide(states)), now)
        sent += self._digests(now, snapshot)
        if sent and self.dispatcher is not None:
            self.dispatcher.poke()
        return sent

    def _notification(
        self, rule: AlertRule, state: AlertState, kind: str, text: str, obs: Observation, now: dt.datetime
    ) -> Notification:
        line = redact(f"{LABEL[kind]} {rule.id}: {text}")
        return Notification(
            key=f"{rule.id}/{state.episode}/{kind}/{state.seq}",
            kind=kind,
            name=rule.id,
            title=f"{LABEL[kind].capitalize()}: {rule.id}",
            text=line,
            at=now,
            subject=rule.subject,
            fields={
                **obs.fields,
                "rule": rule.when if rule.condition is None else rule.condition,
                "description": rule.description,
            },
        )

    # -- digests ----------------------------------------------------------------------

    def _digests(self, now: dt.datetime, snapshot: Any) -> list[Notification]:
        out: list[Notification] = []
        if not self.config.digests:
            return out
        done = self.alerts.digest_slots()
        for did, spec in self.config.digests.items():
            slot = spec.schedule.last_slot(now, self.config.settings.timezone)
            if did in done and done[did] >= slot:
                continue
            late = (now - slot).total_seconds() > spec.catch_up
            build = functools.partial(self._digest_unless_late, late, spec, now, snapshot, slot)
            n = self.alerts.queue_digest(did, slot, build, spec.notify, now)
            if n is not None:
                out.append(n)
        return out

    def _digest_unless_late(
        self, late: bool, spec: DigestSpec, now: dt.datetime, snapshot: Any, slot: dt.datetime
    ) -> Notification | None:
        """The digest for ``slot``, or ``None`` for a slot missed by more than its catch-up (skipped, not sent late)."""
        return None if late else self.digest(spec, now, snapshot, slot)

    def digest(
        self,
        spec: DigestSpec,
        now: dt.datetime,
        snapshot: Any = None,
        slot: dt.datetime | None = None,
        kind: str = "digest",
    ) -> Notification:
        from ..scorecard import title_of, to_html, to_markdown

        if snapshot is None or spec.window is not None:
            snapshot = self._window_snapshot(now, spec.window)
        currency = self.config.settings.currency
        title = spec.title or title_of(
            snapshot, self.config.path.stem if not self.config.is_sample else "kpitui", self.config.settings.timezone
        )
        markdown = to_markdown(snapshot, currency, title)
        when = (slot or now).isoformat()
        return Notification(
            key=f"digest:{spec.id}:{when}" if kind == "digest" else f"test:{spec.id}:{now.isoformat()}",
            kind=kind,
            name=spec.id,
            title=title,
            text=markdown if spec.format != "html" else f"{title}: {len(snapshot.kpis)} KPIs",
            at=now,
            fields={"schedule": spec.schedule.text, "kpis": {k: r.status.value for k, r in snapshot.kpis.items()}},
            markdown=markdown,
            html=to_html(snapshot, currency, title) if spec.format == "html" else None,
        )

    def _window_snapshot(self, now: dt.datetime, window: str | None) -> Any:
        from ..engine import Engine
        from ..history import History

        if self._history is None:
            self._history, self._engine = History(self.store), Engine(self.config)
        self._history.refresh()
        return self._engine.evaluate(self._history, now, window=window, health=self.store.health())

    # -- testing and listing ------------------------------------------------------------

    def test(self, ident: str, now: dt.datetime | None = None) -> list[tuple[str, str | None]]:
        """Send a test notification for an alert, a digest or a notifier now; (notifier, error or None) each."""
        now = now or self.clock()
        if ident in self.config.digests:
            spec = self.config.digests[ident]
            n = self.digest(spec, now, kind="test")
            targets = spec.notify
        else:
            if ident in self.config.alerts:
                rule = self.config.alerts[ident]
                targets, subject = rule.notify, rule.subject
                what = f"alert {ident} ({rule.condition or rule.when} on {rule.subject_kind} {rule.subject})"
            else:
                targets, subject, what = (ident,), None, f"notifier {ident}"
            n = Notification(
                key=f"test:{ident}:{now.isoformat()}",
                kind="test",
                name=ident,
                title=f"Test: {ident}",
                text=f"TEST {ident}: a test notification from kpitui for {what}",
                at=now,
                subject=subject,
            )
        return [(nid, send_once(self.config, nid, n)) for nid in targets]
