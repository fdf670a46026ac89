"""Alerts in the TUI: evaluated when the TUI collects, firing ones in the header, a toast when one fires.

The app makes a :class:`TuiAlerts` when it collects and the config has
``[alerts]`` or ``[digests]``; after each evaluation (in the evaluation
worker, never on the main thread) :meth:`TuiAlerts.after_evaluate` runs the
rules like ``kpitui collect`` does and posts :class:`AlertsChanged`. Delivery
runs in the alerting's own threads from the durable outbox.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from textual.message import Message

from ..api import Notification


class AlertsChanged(Message):
    """New notifications (to toast) and the alerts firing now (for the header)."""

    def __init__(self, fired: list[Notification], firing: list[tuple[str, str]]):
        super().__init__()
        self.fired = fired
        self.firing = firing


class TuiAlerts:
    def __init__(self, config: Any, store: Any, clock: Callable[[], dt.datetime]):
        from ..alerts.service import AlertService

        self.config = config
        self.service = AlertService(config, store, clock=clock).start()
        self.firing: list[tuple[str, str]] = []

    def after_evaluate(self, snapshot: Any, default_view: bool) -> AlertsChanged | None:
        """Run the rules (with ``snapshot`` when it shows each KPI's own window now); the change to show, if any."""
        try:
            fired = self.service.evaluate(snapshot=snapshot if default_view else None)
        except Exception:  # noqa: BLE001 - alerting must never break the dashboard; `kpitui alerts` shows state
            return None
        states = self.service.alerts.states()
        firing = [(aid, states[aid].text or "") for aid in self.config.alerts if aid in states and states[aid].firing]
        if not fired and firing == self.firing:
            return None
        return AlertsChanged(fired, firing)

    def header(self) -> str:
        if not self.firing:
            return ""
        names = ", ".join(aid for aid, _ in self.firing[:3]) + (" …" if len(self.firing) > 3 else "")
        return f"⚠ {len(self.firing)} alert{'s' if len(self.firing) > 1 else ''} firing: {names}"

    def close(self) -> None:
        self.service.close()


def start(app: Any, runtime: Any) -> TuiAlerts | None:
    """Alerting for this runtime, when the app collects and the config has rules or digests."""
    config = runtime.config
    if not runtime.collects or not (config.alerts or config.digests):
        return None
    try:
        return TuiAlerts(config, runtime.reader, app.now)
    except Exception:  # noqa: BLE001 - e.g. the history file is read-only: the dashboard still works
        return None
