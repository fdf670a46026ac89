"""State flows down, events flow up: the screens watch the app's reactives, a reading added
by hand is shown at once, a poll is one worker that stops when the app quits, and the
instance filter on a history shared by several collectors."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import time
from pathlib import Path

import pytest
from textual.widgets import Static
from ui_helpers import NOW, make_app, wait_for, wait_ready

from kpitui.api import readings_frame
from kpitui.config import load_config
from kpitui.store import Store
from kpitui.ui.messages import ReadingSaved
from kpitui.ui.screens.detail import DetailScreen
from kpitui.ui.state import ViewSettings

UI = Path(__file__).resolve().parents[2] / "kpitui" / "ui"


def banner(app) -> str:
    return str(app.screen.query_one("#banner", Static).render())


async def test_the_banner_follows_the_apps_problems(config):
    """A problem set on the app reaches the dashboard's banner with no call into the screen."""
    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        assert not app.screen.query_one("#banner").display
        app.set_problem("store", "disk on fire")
        await pilot.pause()
        assert app.screen.query_one("#banner").display and "disk on fire" in banner(app)
        app.clear_problem("store")
        await pilot.pause()
        assert not app.screen.query_one("#banner").display


@pytest.mark.slow
async def test_an_open_detail_follows_the_view_settings(config):
    """The detail screen watches the view: a new window redraws its controls and chart before the new snapshot."""
    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        app.open_detail("leads")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.shown is not None)
        app.view = ViewSettings("year_to_date", 1)
        await wait_for(pilot, lambda: app.screen.shown[1:] == ("year_to_date", 1))
        assert "window year_to_date (1 back)" in str(app.screen.query_one("#detail-summary", Static).render())
        assert app.window == "year_to_date" and app.offset == 1
        assert "year to date · 1 period back" in app.sub_title


async def test_a_saved_reading_is_shown_at_once(config):
    """ReadingSaved (what the add-reading form posts) re-evaluates now, not at the next light check."""
    app = make_app(config, refresh_seconds=3600)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        before = app.snapshot.kpis["leads"].value
        with Store(config.storage.path) as store:  # as the form's worker writes it
            store.record_manual("signups", NOW - dt.timedelta(hours=1), 40.0)
        app.post_message(ReadingSaved("signups", NOW - dt.timedelta(hours=1), 40.0))
        await wait_for(pilot, lambda: app.snapshot.kpis["leads"].value == before + 40)


def test_no_screen_reaches_the_app_untyped():
    """Screens and panes see ``self.app`` as KpiApp (kpitui.ui.state.KpiNode): no ``type: ignore[attr-defined]``."""
    found = [
        f"{p.relative_to(UI)}:{n}"
        for p in UI.rglob("*.py")
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if "type: ignore[attr-defined]" in line
    ]
    assert found == []


# -- a poll is one worker; quitting stops it ------------------------------------------------


@pytest.mark.slow
def test_quitting_stops_a_poll_in_progress(tmp_path):
    """``q`` during a 40 s fetch: the app exits at once and the source's command is killed."""
    from test_e2e_tmux import Terminal, kpitui_command

    marker = f"{time.time_ns() % 10**9}"
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f"""\
[storage]
path = "{(tmp_path / "h.sqlite3").as_posix()}"

[sources.slow]
type = "command"
timeout = 60
interval = 600

[metrics.members]
name = "Members"
source = "slow"
command = "sleep 40.{marker}; echo 1"
""",
        encoding="utf-8",
    )
    env = {
        "KPITUI_DATA_DIR": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "TERM": "xterm-256color",
    }
    term = Terminal(f"{kpitui_command()} --config {config}", 100, 30, env)

    def sleeping() -> bool:
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        return f"sleep 40.{marker}" in ps

    try:
        term.wait_for("◌ slow")
        deadline = time.monotonic() + 10
        while not sleeping() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sleeping(), "the source's command never started"
        started = time.monotonic()
        term.keys("q")
        screen = term.wait_for("KPITUI-EXITED-", timeout=15)
        took = time.monotonic() - started
        assert re.search(r"KPITUI-EXITED-0\b", screen), screen
        assert took < 5, f"quitting took {took:.1f}s: it waited for the fetch"
        deadline = time.monotonic() + 5
        while sleeping() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not sleeping(), "the fetch's command outlived the app"
    finally:
        term.close()


# -- the instance filter: one history on PostgreSQL, two collector instances --------------------


@pytest.fixture
def shared_history(tmp_path):
    """A PostgreSQL history written by instances web1 and web2 (their signups add up), and a viewer's config."""
    from kpitui.postgres_store import PostgresStore
    from tests.store_contract.conftest import admin_execute, admin_url, with_database

    admin = admin_url()
    name = f"kpitui_t_{time.time_ns() % 10**12}"
    admin_execute(admin, f"CREATE DATABASE {name}")
    url = with_database(admin, name)
    at = NOW - dt.timedelta(hours=3)
    counts = {"web1": 7.0, "web2": 5.0}
    try:
        for instance, count in counts.items():
            store = PostgresStore(url, instance=instance, path=tmp_path / f"{instance}.sqlite3")
            try:
                store.write(readings_frame([("signups", at, count), ("requests", at, 1.0)]), mode="add", source="web")
            finally:
                store.close()
        path = tmp_path / "viewer.toml"
        path.write_text(
            f"""\
[kpitui]
timezone = "UTC"

[storage]
url = "{url}"
instance = "laptop"
path = "{(tmp_path / "viewer.sqlite3").as_posix()}"

[metrics.signups]
name = "Newsletter sign-ups"
aggregation = "sum"

[metrics.requests]
name = "Retainer requests"
aggregation = "sum"

[kpis.leads]
name = "Lead generation"
formula = "sum"
metrics = ["signups", "requests"]
window = "month_to_date"
""",
            encoding="utf-8",
        )
        yield load_config(path), counts
    finally:
        admin_execute(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def test_the_instance_key_shows_one_collectors_readings(shared_history):
    """``i`` cycles all instances / web1 / web2; the header says which, and every figure is that instance's."""
    config, counts = shared_history
    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        assert app.runtime.instances == ["web1", "web2"]
        assert app.snapshot.kpis["leads"].value == counts["web1"] + counts["web2"] + 2
        assert "all instances" in app.sub_title
        assert "i instance" in app.status_text().plain
        for instance in ("web1", "web2"):
            await pilot.press("i")
            assert app.instance == instance and f"instance {instance}" in app.sub_title
            await wait_for(pilot, lambda: app.snapshot.kpis["leads"].value == counts[instance] + 1)
            assert app.snapshot.metrics["signups"].latest == counts[instance]
        await pilot.press("i")
        assert app.instance is None and "all instances" in app.sub_title
        await wait_for(pilot, lambda: app.snapshot.kpis["leads"].value == counts["web1"] + counts["web2"] + 2)
        # the metric's chart follows the instance too
        await pilot.press("i")
        app.open_detail("leads", "signups")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.points is not None)
        assert sum(p[1] or 0 for p in app.screen.points) == counts["web1"]


async def test_the_instance_key_on_an_sqlite_history_says_why_not(config):
    app = make_app(config)
    async with app.run_test() as pilot:
        await wait_ready(pilot)
        await pilot.press("i")
        await pilot.pause()
        assert app.instance is None
        assert any("SQLite file written by one collector" in n.message for n in app._notifications)
        assert "instance" not in app.sub_title


async def test_the_instance_key_before_the_history_is_open_says_it_is_loading(shared_history):
    """Pressed while a shared history is still being opened, ``i`` says so (not that the history is an SQLite file)."""
    import threading

    from kpitui.ui.runtime import open_store

    config, _ = shared_history
    release = threading.Event()

    def slow_store(config):
        release.wait(30)
        return open_store(config)

    app = make_app(config, store_factory=slow_store)
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.press("i")
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        release.set()
        assert any("still loading" in m for m in messages), messages
        assert not any("SQLite" in m for m in messages)
        await wait_ready(pilot)
        await pilot.press("i")
        await wait_for(pilot, lambda: app.instance == "web1")


async def test_what_the_condition_matched_says_whose_log_it_reads_and_follows_the_instance(shared_history):
    """The log is on the collector's machine: with the filter on this config's own instance the matches are
    labelled as its log's; on all instances, as this machine's only; on another instance, not shown."""
    config, _ = shared_history
    path = config.path
    (path.parent / "access.log").write_text(
        '1.1.1.1 - - [10/Mar/2026:10:00:00 +0000] "GET /thank-you HTTP/1.1" 200 12 "-" "Mozilla/5.0"\n'
        '1.1.1.1 - - [11/Mar/2026:10:00:00 +0000] "GET /thank-you HTTP/1.1" 200 12 "-" "Mozilla/5.0"\n',
        encoding="utf-8",
    )
    text = path.read_text(encoding="utf-8").replace('instance = "laptop"', 'instance = "web1"')
    text = text.replace(
        '[metrics.signups]\nname = "Newsletter sign-ups"\n',
        '[sources.web]\ntype = "access_log"\npath = "access.log"\n\n'
        '[metrics.signups]\nname = "Newsletter sign-ups"\nsource = "web"\n'
        'trigger = "A visitor viewed the thank-you page"\ncondition = "path == \'/thank-you\'"\n',
    )
    path.write_text(text, encoding="utf-8")
    app = make_app(load_config(path))
    async with app.run_test(size=(110, 40)) as pilot:
        await wait_ready(pilot)
        app.open_detail("leads", "signups")

        def matches() -> str:
            found = app.screen.query("#detail-matches") if isinstance(app.screen, DetailScreen) else []
            return str(found[0].render()) if found else ""

        await wait_for(pilot, lambda: "lines" in matches())
        assert "matched in Mar 2026 to date, this machine's log only (instance web1), not all instances: 2 lines" in (
            matches()
        )
        await pilot.press("i")  # web1: this config's own instance
        await wait_for(pilot, lambda: "log (instance web1): 2 lines" in matches())
        await pilot.press("i")  # web2: its log is on its own machine
        await wait_for(pilot, lambda: "not shown for instance web2" in matches())
        assert "lines" not in matches()
