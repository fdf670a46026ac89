"""Digests: the scorecard by e-mail to a real SMTP server, rendered by headless Chromium; once per slot."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import shutil
import subprocess
import textwrap
from zoneinfo import ZoneInfo

import pytest

from .conftest import run

TZ = "Europe/Berlin"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found:
        return found
    message = "headless Chromium is not installed (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so this test must run, not skip)", pytrace=False)
    pytest.skip(message)


def config(tmp_path, port: int, schedule: str) -> str:
    return textwrap.dedent(
        f'''
        [kpitui]
        timezone = "{TZ}"

        [storage]
        path = "{tmp_path / "history.sqlite3"}"

        [metrics.signups]
        name = "Newsletter sign-ups"
        [metrics.cash]
        name = "Cash in bank"
        unit = "currency"
        aggregation = "last"

        [kpis.lead_generation]
        name = "Lead Generation"
        formula = "sum"
        metrics = ["signups"]
        window = "trailing_30d"
        target = 40

        [kpis.cash_position]
        name = "Cash Position"
        formula = "sum"
        metrics = ["cash"]
        unit = "currency"
        window = "trailing_30d"
        target = {{ kind = "above", value = 10000 }}

        [notifiers.mail]
        type = "email"
        host = "127.0.0.1"
        port = {port}
        security = "none"
        sender = "kpitui@example.com"
        to = ["team@example.com"]

        [digests.morning]
        schedule = "{schedule}"
        notify = ["mail"]
        '''
    )


@pytest.mark.slow
def test_daily_digest_arrives_as_html_that_chromium_renders(tmp_path, mailbox):
    browser = chromium()
    now = dt.datetime.now(ZoneInfo(TZ))
    slot = now - dt.timedelta(minutes=1)
    path = tmp_path / "kpitui.toml"
    path.write_text(config(tmp_path, mailbox.port, f"daily {slot:%H:%M}"))
    for day in range(5):
        at = (now - dt.timedelta(days=day)).isoformat(timespec="seconds")
        assert run("record", "signups", "7", "--at", at, "--config", str(path)).returncode == 0
    assert run("record", "cash", "12500", "--config", str(path)).returncode == 0

    first = run("collect", "--once", "--config", str(path))
    assert first.returncode == 0, first.stderr
    assert "digest morning queued" in first.stdout
    (raw,) = mailbox.wait_for(1)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["To"] == "team@example.com"
    assert "KPIs as of" in message["Subject"]
    html = message.get_body(("html",)).get_content()
    plain = message.get_body(("plain",)).get_content()
    assert "| Lead Generation |" in plain  # the Markdown alternative
    assert "<script" not in html.lower() and "<link" not in html.lower() and "src=" not in html.lower()

    page = tmp_path / "digest.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / "digest.png"
    common = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chrome'}",
    ]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for name in ("Lead Generation", "Cash Position", "35", "$12,500", "on track"):
        assert name in dom.stdout, name
    pic = subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1000,600", page.as_uri()], capture_output=True, timeout=120
    )
    assert pic.returncode == 0 and shot.stat().st_size > 5000

    again = run("collect", "--once", "--config", str(path))  # the same slot: no second digest
    assert again.returncode == 0
    assert "digest" not in again.stdout
    assert len(mailbox.messages) == 1
    listing = run("alerts", "--config", str(path))
    assert "digest morning  daily" in listing.stdout and "delivered digest:morning:" in listing.stdout


def test_report_formats_markdown_and_html(tmp_path, mailbox):
    path = tmp_path / "kpitui.toml"
    path.write_text(config(tmp_path, mailbox.port, "weekly monday 08:00"))
    run("record", "signups", "12", "--config", str(path))
    md = run("report", "--format", "markdown", "--config", str(path))
    assert md.returncode == 0, md.stderr
    assert (
        "| Lead Generation | last 30 days | 12 | 40 | partial history |" in md.stdout
    )  # as the table and the TUI say it
    page = run("report", "--format", "html", "--config", str(path))
    assert (
        page.stdout.startswith("<!DOCTYPE html>")
        and "Lead Generation" in page.stdout
        and "Cash Position" in page.stdout
    )


def test_alerts_test_sends_the_digest_now(tmp_path, mailbox):
    path = tmp_path / "kpitui.toml"
    path.write_text(config(tmp_path, mailbox.port, "weekly monday 08:00"))
    result = run("alerts", "test", "morning", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "mail: sent"
    (raw,) = mailbox.wait_for(1)
    assert b"Lead Generation" in raw
    wrong = run("alerts", "test", "mornin", "--config", str(path))
    assert wrong.returncode == 2 and "did you mean 'morning'?" in wrong.stderr
