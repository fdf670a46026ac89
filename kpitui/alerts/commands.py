"""The CLI's side of alerting: ``kpitui alerts [--format json]``, ``kpitui alerts test ID``,
and evaluation after each round of ``kpitui collect``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from ..options import did_you_mean, redact

JSON_SCHEMA = 1


def _stamp() -> str:
    return dt.datetime.now().strftime("%H:%M:%S")


class CollectAlerts:
    """Evaluates rules and digests after each round of ``kpitui collect`` and prints what happens."""

    def __init__(self, config: Any, store: Any, *, quiet: bool = False):
        from .service import AlertService

        self.quiet = quiet
        self.service = AlertService(config, store, on_result=self._delivered).start()
        self.last = 0.0

    def _delivered(self, notifier: str, item: Any, error: str | None) -> None:
        if error is None:
            print(f"{_stamp()} notify {notifier}: delivered {item.key}", flush=True)
        else:
            print(
                f"{_stamp()} notify {notifier}: {item.key} failed (attempt {item.attempts + 1}): {error}",
                file=sys.stderr,
                flush=True,
            )

    def __call__(self, results: list[Any]) -> None:
        import time

        if not results and time.monotonic() - self.last < 30:
            return  # nothing new; look at least every 30 s (stale rules, digests)
        self.last = time.monotonic()
        try:
            sent = self.service.evaluate()
        except Exception as exc:  # noqa: BLE001 - alerting must never stop collecting
            print(f"{_stamp()} alerts: evaluation failed: {redact(str(exc))}", file=sys.stderr, flush=True)
            return
        for n in sent:
            print(
                f"{_stamp()} {redact(n.text.splitlines()[0] if n.kind != 'digest' else f'digest {n.name} queued')}",
                flush=True,
            )

    def close(self, drain: float = 0.0) -> None:
        self.service.close(drain=drain)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def describe(config: Any, store_path: Any) -> dict[str, Any]:
    """Rules, state, last fired and the last delivery per notifier (``kpitui alerts --format json``)."""
    from .state import AlertStore

    states: dict[str, Any] = {}
    recent: list[Any] = []
    digests: dict[str, Any] = {}
    if store_path.exists():
        alert_store = AlertStore(store_path)
        try:
            states = alert_store.states()
            recent = alert_store.recent(limit=1000)
            digests = alert_store.digest_slots()
        finally:
            alert_store.close()

    def deliveries(name: str, notify: tuple[str, ...]) -> list[dict[str, Any]]:
        out = []
        for nid in notify:
            mine = [i for i in recent if i.alert == name and i.notifier == nid]
            last = mine[0] if mine else None
            out.append(
                {
                    "notifier": nid,
                    "type": config.notifiers[nid].type,
                    "key": last.key if last else None,
                    "result": None
                    if last is None
                    else ("delivered" if last.delivered else ("failing" if last.last_error else "pending")),
                    "delivered": _iso(last.delivered) if last else None,
                    "attempts": last.attempts if last else 0,
                    "error": redact(last.last_error) if last and last.last_error else None,
                    "next_attempt": _iso(last.next_attempt) if last and not last.delivered else None,
                    "pending": sum(1 for i in mine if i.delivered is None),
                }
            )
        return out

    alerts = []
    for aid, rule in config.alerts.items():
        state = states.get(aid)
        alerts.append(
            {
                "id": aid,
                "watches": {"kind": rule.subject_kind, "id": rule.subject},
                "when": rule.condition or rule.when,
                "notify": list(rule.notify),
                "repeat_seconds": rule.repeat,
                "state": "unknown" if state is None else ("firing" if state.firing else "ok"),
                "since": _iso(state.since) if state else None,
                "last_fired": _iso(state.last_fired) if state else None,
                "status": state.token if state else None,
                "text": redact(state.text) if state and state.text else None,
                "deliveries": deliveries(aid, rule.notify),
            }
        )
    return {
        "schema": JSON_SCHEMA,
        "alerts": alerts,
        "digests": [
            {
                "id": did,
                "schedule": d.schedule.text,
                "notify": list(d.notify),
                "format": d.format,
                "last_slot": _iso(digests.get(did)),
                "deliveries": deliveries(did, d.notify),
            }
            for did, d in config.digests.items()
        ],
        "notifiers": [
            {
                "id": nid,
                "type": n.type,
                "timeout": n.timeout,
                "quiet_hours": None if n.quiet_hours is None else f"{n.quiet_hours[0]:%H:%M}-{n.quiet_hours[1]:%H:%M}",
            }
            for nid, n in config.notifiers.items()
        ],
    }


def _table(data: dict[str, Any]) -> str:
    lines = []
    if not data["alerts"] and not data["digests"]:
        return "no alerts or digests are configured (see the README's Alerts section)\n"
    for a in data["alerts"]:
        mark = {"firing": "✖ FIRING", "ok": "● ok", "unknown": "○ not evaluated yet"}[a["state"]]
        lines.append(f"{a['id']}  {mark}  — {a['when']} on {a['watches']['kind']} {a['watches']['id']}")
        if a["text"]:
            lines.append(f"    now: {a['text']}")
        if a["last_fired"]:
            lines.append(f"    last fired: {a['last_fired']}")
        for d in a["deliveries"]:
            lines.append(f"    → {d['notifier']} ({d['type']}): {_delivery(d)}")
    for g in data["digests"]:
        lines.append(f"digest {g['id']}  {g['schedule']} ({g['format']}), last slot {g['last_slot'] or 'none yet'}")
        for d in g["deliveries"]:
            lines.append(f"    → {d['notifier']} ({d['type']}): {_delivery(d)}")
    return "\n".join(lines) + "\n"


def _delivery(d: dict[str, Any]) -> str:
    if d["result"] is None:
        return "nothing sent yet"
    if d["result"] == "delivered":
        return f"delivered {d['key']} at {d['delivered']}"
    if d["result"] == "failing":
        return f"FAILING {d['key']} after {d['attempts']} attempts: {d['error']} (next try {d['next_attempt']})"
    return f"pending {d['key']}"


def cmd_alerts(args: argparse.Namespace, load: Any, usage_error: type[Exception], failure: type[Exception]) -> int:
    config = load(args)
    if args.action == "test":
        if not args.id:
            raise usage_error("alerts test needs an alert, digest or notifier id")
        known = [*config.alerts, *config.digests, *config.notifiers]
        if args.id not in known:
            otherwise = f"; known: {', '.join(known)}" if known else "; none are configured"
            raise usage_error(
                f"unknown alert, digest or notifier {args.id!r}" + did_you_mean(args.id, known, otherwise)
            )
        from ..history_store import open_history
        from ..store import StoreError

        try:
            store = open_history(config)
        except StoreError as exc:
            raise failure(str(exc)) from None
        from .service import AlertService

        service = AlertService(config, store, deliver=False)
        try:
            results = service.test(args.id)
        finally:
            service.close()
            store.close()
        for nid, error in results:
            print(f"{nid}: {'sent' if error is None else 'FAILED: ' + error}")
        return 0 if all(e is None for _, e in results) else 1
    if args.id:
        raise usage_error("alerts list takes no id (did you mean `kpitui alerts test ID`?)")
    data = describe(config, config.storage.path)
    if args.format == "json":
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(_table(data))
    return 0
