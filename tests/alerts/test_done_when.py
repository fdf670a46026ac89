"""The issue's "done when": real `kpitui collect --every` against an access log, a local webhook receiver."""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
import time

import pytest

from .conftest import run, start

TOKEN = "s3cr3t-hook-token-4711"


def log_line(when: dt.datetime, path: str, status: int = 200) -> str:
    return f'203.0.113.9 - - [{when:%d/%b/%Y:%H:%M:%S +0000}] "GET {path} HTTP/1.1" {status} 512 "-" "Mozilla/5.0"\n'


def history(now: dt.datetime, silent_hours: float, days: int = 7, per_day: int = 18) -> str:
    """`per_day` thank-you hits a day, evenly spread, for `days` days, none in the last `silent_hours`; page views until
    now."""
    lines = []
    step = dt.timedelta(days=1) / per_day
    t = now - dt.timedelta(days=days)
    while t < now - dt.timedelta(hours=silent_hours):
        lines.append((t, "/newsletter/thank-you"))
        t += step
    t = now - dt.timedelta(days=days)
    while t < now:
        lines.append((t, "/"))
        t += dt.timedelta(minutes=20)
    return "".join(log_line(at, path) for at, path in sorted(lines))


CONFIG = """
[kpitui]
timezone = "UTC"

[storage]
path = "history.sqlite3"

[sources.web]
type = "access_log"
path = "access.log"
bucket = "hour"
interval = 60

[metrics.newsletter_signups]
name = "Newsletter sign-ups"
source = "web"
trigger = "A visitor viewed the newsletter thank-you page"
condition = 'path == "/newsletter/thank-you" and status < 400'

[metrics.retainer_requests]
name = "Retainer requests"
source = "web"
trigger = "A visitor submitted the retainer form"
condition = 'path == "/retainer/submit" and status < 400'

[kpis.lead_generation]
name = "Lead Generation"
formula = "sum"
metrics = ["newsletter_signups", "retainer_requests"]
window = "trailing_30d"
target = 1

[notifiers.team]
type = "webhook"
url = "${KPITUI_TEST_HOOK}"

[alerts.leads_slipping]
kpi = "lead_generation"
when = "status_worse"
notify = ["team"]

[alerts.signup_trigger_silent]
metric = "newsletter_signups"
when = "silent"
notify = ["team"]
"""


@pytest.mark.slow
def test_a_silent_thank_you_page_fires_once_and_resolves_once(tmp_path, receiver):
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    (tmp_path / "access.log").write_text(history(now, silent_hours=10), encoding="utf-8")
    (tmp_path / "kpitui.toml").write_text(CONFIG, encoding="utf-8")
    env = {"KPITUI_TEST_HOOK": f"{receiver.url}/hook/{TOKEN}"}
    proc = start("collect", "--every", "0.3", "--config", str(tmp_path / "kpitui.toml"), env=env)
    try:
        bodies = receiver.wait_for(lambda b: len(b) >= 1, timeout=60)
        (firing,) = bodies
        assert firing["kind"] == "firing" and firing["alert"] == "signup_trigger_silent"
        # the last hit was 10-11 h 20 m ago (one every 80 min), stored in an hourly bucket:
        # silent for 9-10 h 20 m by what is stored
        assert re.match(
            r"FIRING signup_trigger_silent: no newsletter sign-ups for (9|10)h( \d+m)?, usually 18 a day",
            firing["text"],
        )
        assert "usually 18 a day" in firing["text"] and "/newsletter/thank-you still reached?" in firing["text"]
        assert firing["schema"] == 1 and firing["key"] == "signup_trigger_silent/1/firing/1"
        assert receiver.headers[0]["Idempotency-Key"] == firing["key"]
        # several more polls: still exactly one notification
        time.sleep(2.0)
        assert len(receiver.bodies) == 1
        # hits return
        with open(tmp_path / "access.log", "a", encoding="utf-8") as log:
            log.write(log_line(dt.datetime.now(dt.timezone.utc), "/newsletter/thank-you"))
        bodies = receiver.wait_for(lambda b: len(b) >= 2, timeout=30)
        resolved = bodies[1]
        assert resolved["kind"] == "resolved" and resolved["alert"] == "signup_trigger_silent"
        assert resolved["key"] == "signup_trigger_silent/1/resolved/2"
        time.sleep(2.0)
        assert [b["kind"] for b in receiver.bodies] == ["firing", "resolved"]
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert TOKEN not in out + err
    listing = run("alerts", "--format", "json", "--config", str(tmp_path / "kpitui.toml"), env=env)
    assert listing.returncode == 0, listing.stderr
    assert TOKEN not in listing.stdout + listing.stderr
    data = json.loads(listing.stdout)
    assert data["schema"] == 1
    silent = next(a for a in data["alerts"] if a["id"] == "signup_trigger_silent")
    assert silent["state"] == "ok" and silent["last_fired"] is not None
    assert silent["deliveries"][0]["result"] == "delivered"
    assert silent["deliveries"][0]["key"] == "signup_trigger_silent/1/resolved/2"
    slipping = next(a for a in data["alerts"] if a["id"] == "leads_slipping")
    assert slipping["status"] == "on_track"
