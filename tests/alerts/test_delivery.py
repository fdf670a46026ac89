"""Delivery against real receivers: a command writing files, retries with back-off, hangs, SIGKILL, secrets."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import sys
import textwrap
import time

import pytest

from kpitui.alerts.service import AlertService
from kpitui.api import readings_frame
from kpitui.config import load_config
from kpitui.store import Store

from .conftest import run, start

TOKEN = "hook-secret-8817"


def _wait(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def manual_config(tmp_path, notifiers: str, notify: str) -> str:
    return textwrap.dedent(
        f'''
        [storage]
        path = "{tmp_path / "history.sqlite3"}"

        [metrics.cash]
        name = "Cash in bank"
        unit = "currency"
        aggregation = "last"

        [alerts.low_cash]
        metric = "cash"
        when = "value < 100"
        notify = {notify}
        '''
    ) + textwrap.dedent(notifiers)


def test_a_command_notifier_gets_json_on_stdin_and_variables(tmp_path):
    script = tmp_path / "note.py"
    script.write_text(
        "import json, os, sys\n"
        "data = json.load(sys.stdin)\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith('KPITUI_')}\n"
        "final = os.path.join(sys.argv[1], data['key'].replace('/', '_') + '.json')\n"
        "open(final + '.tmp', 'w').write(json.dumps({'stdin': data, 'env': env}))\n"
        "os.replace(final + '.tmp', final)  # the test polls for *.json: never let it see a half-written file\n"
    )
    out = tmp_path / "out"
    out.mkdir()
    path = tmp_path / "kpitui.toml"
    path.write_text(
        manual_config(
            tmp_path,
            f'[notifiers.script]\ntype = "command"\nargv = ["{sys.executable}", "{script}", "{out}"]\n',
            '["script"]',
        )
    )
    config = load_config(path)
    store = Store(config.storage.path)
    service = AlertService(config, store).start()
    try:
        store.write(readings_frame([("cash", dt.datetime.now(dt.timezone.utc), 50.0)]), mode="replace")
        (fired,) = service.evaluate()
        assert fired.text == "FIRING low_cash: Cash in bank: value < 100 — latest $50.00"
        written = _wait(lambda: list(out.glob("*.json")), what="the command's file")
        data = json.loads(written[0].read_text())
        assert data["stdin"]["key"] == "low_cash/1/firing/1" and data["stdin"]["kind"] == "firing"
        assert data["env"]["KPITUI_ALERT"] == "low_cash" and data["env"]["KPITUI_KEY"] == "low_cash/1/firing/1"
        assert data["env"]["KPITUI_TEXT"] == fired.text
        assert service.evaluate() == []  # still firing: nothing new
        store.write(
            readings_frame([("cash", dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1), 500.0)]),
            mode="replace",
        )
        (resolved,) = service.evaluate()
        assert resolved.kind == "resolved" and resolved.key == "low_cash/1/resolved/2"
        _wait(lambda: len(list(out.glob("*.json"))) == 2, what="the resolved file")
    finally:
        service.close()
        store.close()


@pytest.mark.slow
def test_a_failing_notifier_is_retried_with_back_off_and_does_not_hold_up_the_others(tmp_path, receiver):
    receiver.status = 500
    out = tmp_path / "sent.txt"
    path = tmp_path / "kpitui.toml"
    path.write_text(
        manual_config(
            tmp_path,
            f"""
            [notifiers.hook]
            type = "webhook"
            url = "${{HOOK_URL}}"

            [notifiers.file]
            type = "command"
            command = "cat >> '{out}'; echo >> '{out}'"
            """,
            '["hook", "file"]',
        )
    )
    os.environ["HOOK_URL"] = f"{receiver.url}/{TOKEN}"
    try:
        config = load_config(path)
        store = Store(config.storage.path)
        service = AlertService(config, store, retry_base=0.3).start()
        try:
            store.write(readings_frame([("cash", dt.datetime.now(dt.timezone.utc), 5.0)]), mode="replace")
            service.evaluate()
            _wait(lambda: out.exists() and out.read_text().strip(), what="the command notifier")
            _wait(lambda: len(receiver.arrivals) >= 3, what="three attempts at the failing webhook")

            states = service.alerts.recent("low_cash")
            hook = next(i for i in states if i.notifier == "hook")
            assert hook.delivered is None and hook.attempts >= 2
            assert hook.last_error.startswith("HTTP 500")
            assert TOKEN not in hook.last_error and "***" in hook.last_error  # the receiver echoed the secret path
            listing = run("alerts", "--config", str(path))
            assert "FAILING low_cash/1/firing/1" in listing.stdout and TOKEN not in listing.stdout
            receiver.status = 200
            _wait(lambda: receiver.bodies, timeout=10, what="the retry to succeed")
            keys = {b["key"] for b in receiver.arrivals}
            assert keys == {"low_cash/1/firing/1"}  # retries carry the same idempotency key

        finally:
            service.close()
            store.close()
    finally:
        del os.environ["HOOK_URL"]


def _access_config(tmp_path, notifier: str) -> str:
    return textwrap.dedent(
        """
        [storage]
        path = "history.sqlite3"

        [sources.web]
        type = "access_log"
        path = "access.log"
        bucket = "minute"

        [metrics.page_views]
        source = "web"
        condition = 'path == "/"'
        trigger = "a visitor opened the home page"

        [alerts.busy]
        metric = "page_views"
        when = "value >= 1"
        notify = ["slow"]
        """
    ) + textwrap.dedent(notifier)


def _log(tmp_path, n: int = 3) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    with open(tmp_path / "access.log", "a") as log:
        for _ in range(n):
            log.write(f'198.51.100.7 - - [{now:%d/%b/%Y:%H:%M:%S +0000}] "GET / HTTP/1.1" 200 10 "-" "x"\n')


@pytest.mark.slow
def test_a_hanging_notifier_does_not_slow_polling(tmp_path):
    _log(tmp_path)
    (tmp_path / "kpitui.toml").write_text(
        _access_config(tmp_path, '[notifiers.slow]\ntype = "command"\ncommand = "sleep 60"\ntimeout = 30\n')
    )
    proc = start("collect", "-v", "--every", "0.2", "--config", str(tmp_path / "kpitui.toml"), cwd=tmp_path)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("FIRING busy" in line for line in lines):
            lines.append(proc.stdout.readline())
        assert any("FIRING busy" in line for line in lines), lines
        # the notifier hangs for its whole 30 s timeout: six polls well inside it mean polling went on
        hung_until = time.monotonic() + 20
        polls = 0
        while polls < 6 and time.monotonic() < hung_until:
            if " web: " in proc.stdout.readline():
                polls += 1
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert polls >= 6, polls


@pytest.mark.slow
def test_sigkill_during_delivery_loses_nothing_and_repeats_only_the_same_key(tmp_path, receiver):
    _log(tmp_path)
    (tmp_path / "kpitui.toml").write_text(
        _access_config(tmp_path, '[notifiers.slow]\ntype = "webhook"\nurl = "${HOOK_URL}"\n')
    )
    env = {"HOOK_URL": f"{receiver.url}/{TOKEN}"}
    receiver.delay = 3.0  # the first delivery is in flight when the collector dies
    proc = start("collect", "--every", "0.2", "--config", str(tmp_path / "kpitui.toml"), env=env, cwd=tmp_path)
    try:
        _wait(lambda: receiver.arrivals, timeout=30, what="the first delivery to start")
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    receiver.delay = 0.0
    mid = run("alerts", "--format", "json", "--config", str(tmp_path / "kpitui.toml"), env=env)
    state = json.loads(mid.stdout)["alerts"][0]
    assert state["state"] == "firing" and state["deliveries"][0]["result"] == "pending"
    proc = start("collect", "--every", "0.2", "--config", str(tmp_path / "kpitui.toml"), env=env, cwd=tmp_path)
    try:
        _wait(lambda: len(receiver.arrivals) >= 2, timeout=30, what="the delivery after the restart")
        time.sleep(1.5)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    keys = [b["key"] for b in receiver.arrivals]
    assert set(keys) == {"busy/1/firing/1"}, keys  # the restart did not fire again; the resend has the same key
    assert len(keys) == 2
    assert TOKEN not in out + err
    after = json.loads(run("alerts", "--format", "json", "--config", str(tmp_path / "kpitui.toml"), env=env).stdout)
    assert after["alerts"][0]["deliveries"][0]["result"] == "delivered"
    assert re.match(r"\d{4}-", after["alerts"][0]["last_fired"])
