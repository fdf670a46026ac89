"""Delivery: one thread per notifier drains the durable outbox, never the collecting thread.

Each notifier's items go out oldest first. A send runs in a thread of its
own, bounded by the notifier's ``timeout``: one that raises or hangs is
recorded on its item (shown by ``kpitui alerts``) and retried with
exponential back-off (``retry_base`` seconds, doubling, at most
:data:`MAX_BACKOFF`), while the other notifiers and collecting go on.
During a notifier's quiet hours its items wait until the hours end.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any, Callable

from ..api import Notification, Notifier, NotifierError, SourceContext
from ..options import exc_text, redact
from .safe_text import safe
from .state import AlertStore, OutboxItem

MAX_BACKOFF = 3600.0
MAX_ERROR_CHARS = 500


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def describe_error(exc: BaseException, owner: str | None = None) -> str:
    text = exc_text(exc)
    detail = (
        text if isinstance(exc, NotifierError) else (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
    )
    if owner and not owner.startswith("builtin:"):
        detail = f"(plugin {owner}) {detail}"
    detail = " ".join(redact(detail).split())
    detail = "".join(ch if ch.isprintable() else "?" for ch in detail)
    return detail if len(detail) <= MAX_ERROR_CHARS else detail[: MAX_ERROR_CHARS - 1] + "…"


def make_notifier(config: Any, notifier_id: str) -> Notifier:
    """The notifier's instance; a third-party constructor under the plugins' time limit (``KPITUI_PLUGIN_TIMEOUT``):
    one that hangs is a failed delivery (retried), not a lane or an ``alerts test`` that never ends."""
    spec = config.notifiers[notifier_id]
    cls = config.registry.notifiers[spec.type]
    context = SourceContext(config_dir=config.files_dir, timezone=config.settings.timezone)
    owner = config.registry.owner("notifier", spec.type)
    if owner is None or owner.startswith("builtin:"):
        notifier: Notifier = cls(notifier_id, spec.options, context, spec.timeout)
        return notifier
    from ..plugins import bounded, plugin_timeout

    made: Notifier = bounded(lambda: cls(notifier_id, spec.options, context, spec.timeout), plugin_timeout())
    return made


def send_once(
    config: Any, notifier_id: str, notification: Notification, notifier: Notifier | None = None
) -> str | None:
    """Send now, bounded by the notifier's timeout, in a thread of its own; the error text, or ``None``."""
    owner = config.registry.owner("notifier", config.notifiers[notifier_id].type)
    try:
        instance = notifier or make_notifier(config, notifier_id)
    except Exception as exc:  # noqa: BLE001 - a plugin's constructor
        return describe_error(exc, owner)
    return _send_bounded(instance, notifier_id, notification, owner)[0]


def _send_bounded(
    instance: Notifier, notifier_id: str, notification: Notification, owner: str | None
) -> tuple[str | None, threading.Thread | None]:
    """Send in a thread of its own and wait at most the notifier's timeout: the error text (or ``None``),
    and the thread still running the send when it timed out (else ``None``)."""
    box: dict[str, BaseException] = {}
    notification = safe(notification)  # every channel, built-in or a plugin's, gets safe text

    def target() -> None:
        try:
            instance.send(notification)
        except BaseException as exc:  # noqa: BLE001
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"kpitui-send-{notifier_id}", daemon=True)
    thread.start()
    thread.join(instance.timeout)
    if thread.is_alive():  # Python code still running in it is stopped (a send looping for good kept a core
        # busy and, since a lane waits for its hung send, held every later alert of that notifier for good)
        from ..plugins import stop_plugin_code

        stop_plugin_code([thread])
        return f"timed out after {instance.timeout:g}s", thread if thread.is_alive() else None
    return (describe_error(box["error"], owner) if "error" in box else None), None


class Dispatcher:
    """Delivers what :class:`~kpitui.alerts.state.AlertStore` holds, one lane (thread) per notifier."""

    def __init__(
        self,
        config: Any,
        store: AlertStore,
        *,
        retry_base: float = 30.0,
        clock: Callable[[], dt.datetime] = _utcnow,
        on_result: Callable[[str, OutboxItem, str | None], None] | None = None,
    ):
        self.config = config
        self.store = store
        self.retry_base = retry_base
        self.clock = clock
        self.on_result = on_result
        self.stop_event = threading.Event()
        self.wake = {nid: threading.Event() for nid in config.notifiers}
        self.threads: list[threading.Thread] = []
        self.busy: dict[str, threading.Thread] = {}
        self.instances: dict[str, Notifier] = {}

    def start(self) -> None:
        for nid in self.config.notifiers:
            thread = threading.Thread(target=self._lane, args=(nid,), name=f"kpitui-notify-{nid}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def poke(self) -> None:
        """Something was queued: look now instead of at the next timeout."""
        for event in self.wake.values():
            event.set()

    def stop(self, timeout: float = 2.0) -> None:
        self.stop_event.set()
        self.poke()
        for thread in self.threads:
            thread.join(timeout)
        from ..fetching import CLOSE_SECONDS, close_all

        for nid in close_all(dict(self.instances)):  # a close() that hangs cannot hold the exit
            owner = self.config.registry.owner("notifier", self.config.notifiers[nid].type)
            logging.getLogger("kpitui.collect").warning(
                "notifier %s (plugin %s) did not close within %g s; left running", nid, owner, CLOSE_SECONDS
            )

    def idle(self) -> bool:
        """Nothing is due now (all delivered, or waiting for a retry or quiet hours to end)."""
        return self.store.due(self.clock()) == 0

    def _lane(self, nid: str) -> None:
        spec = self.config.notifiers[nid]
        wake = self.wake[nid]
        while not self.stop_event.is_set():
            wait = 1.0
            try:
                wait = self._step(nid, spec)
            except Exception:  # noqa: BLE001 - e.g. the history file is locked for long: try again
                wait = 1.0
            wake.wait(max(0.02, min(wait, 1.0)))
            wake.clear()

    def _step(self, nid: str, spec: Any) -> float:
        """Try the notifier's next item; seconds until it is worth looking again (0: at once)."""
        now = self.clock()
        running = self.busy.get(nid)
        if running is not None and running.is_alive():
            return 0.5  # a send that timed out is still hanging: do not pile up threads
        claimed = self.store.claim(nid, now, lease=spec.timeout + 5)
        if claimed is None:
            return 1.0
        if isinstance(claimed, dt.datetime):
            return (claimed - now).total_seconds()
        item = claimed
        quiet = spec.quiet_until(now, self.config.settings.timezone)
        if quiet is not None and item.notification.kind != "test":
            self.store.defer(item.id, quiet)
            return float((quiet - now).total_seconds())
        error = self._send(nid, item.notification)
        done = self.clock()
        if error is None:
            self.store.delivered(item.id, done)
        else:
            delay = min(self.retry_base * 2**item.attempts, MAX_BACKOFF)
            self.store.failed(item.id, error, done, done + dt.timedelta(seconds=delay))
        if self.on_result is not None:
            try:
                self.on_result(nid, item, error)
            except Exception:  # noqa: BLE001
                pass
        return 0.0

    def _send(self, nid: str, notification: Notification) -> str | None:
        owner = self.config.registry.owner("notifier", self.config.notifiers[nid].type)
        if nid not in self.instances:
            try:
                self.instances[nid] = make_notifier(self.config, nid)
            except Exception as exc:  # noqa: BLE001
                return describe_error(exc, owner)
        error, hung = _send_bounded(self.instances[nid], nid, notification, owner)
        if hung is not None:
            self.busy[nid] = hung
        return error

    def drain(self, timeout: float) -> bool:
        """Wait until nothing is due (or ``timeout`` passes); whether everything due went out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.idle():
                return True
            self.poke()
            time.sleep(0.05)
        return self.idle()
