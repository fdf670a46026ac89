"""``kpitui serve`` in a real headless Chromium: the printed link opens the dashboard, the keyboard drives it
(j, Enter, help, palette, theme), the layout follows the window, and without the token there is no session.

Screenshots go to a temporary folder, or to ``$KPITUI_SCREENSHOTS`` (the README's come from
``KPITUI_SCREENSHOTS=docs/images pytest tests/serve/test_browser.py``).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

import pytest

from .browser import Browser, chromium
from .conftest import OBJECTIVES, Served, client, open_terminal, sign_in

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def browser():
    chromium()
    browser = Browser()
    yield browser
    browser.close()


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = os.environ.get("KPITUI_SCREENSHOTS")
    return (REPO / folder if not Path(folder).is_absolute() else Path(folder)) if folder else tmp_path


@pytest.mark.slow
def test_the_printed_link_opens_the_dashboard_and_the_keyboard_drives_it(browser, config, shots):
    browser.driver.set_window_size(1280, 800)
    with Served("--config", str(config), "--collect") as served:
        browser.open(served.url)
        assert "token" not in browser.driver.current_url, "the token left the address bar"
        assert browser.driver.title.startswith("kpitui")
        screen = browser.wait_for(*OBJECTIVES, "Tuesday sign-ups per month", "Quit")
        assert "Objectives" in screen and "read-only" in screen
        browser.wait_for(
            re.compile(r"Tuesday sign-ups per month +(?:\S+(?: \S+)*  +)?[\d,]+ "), timeout=90
        )  # values from the one collector (after the row's Period, where the page is wide enough for it)
        browser.screenshot("serve-dashboard.png", shots)

        browser.keys("j", "\ue007")  # j, then Enter (selenium's Keys.ENTER)
        screen = browser.wait_for("esc Back", "grain")
        detail = screen.splitlines()[1]  # under the header: the KPI j moved to, its period and value
        assert "Tuesday sign-ups per month" in detail
        browser.screenshot("serve-detail.png", shots)

        browser.keys("?")
        browser.wait_for("Everywhere", "esc closes")  # the help screen
        browser.keys("\ue00c")  # Escape
        # the help screen gone, not "esc Back" (the detail's footer shows it under the help too): a ctrl+p sent
        # while the escape is still on its way reads as alt+ctrl+p on a loaded machine
        browser.wait_gone("Everywhere", "esc closes")
        browser.wait_for("esc Back")

        browser.chord("\ue009", "p")  # ctrl+p: the command palette
        browser.wait_for("Search for commands")
        browser.keys("\ue00c")
        browser.keys("\ue00c")  # back to the dashboard
        browser.wait_for("Objectives")

        mark = len(browser.raw)
        before = browser.background_luminance()
        browser.chord("\ue009", "t")  # ctrl+t: light/dark theme
        deadline = time.monotonic() + 20
        after = -1.0
        while time.monotonic() < deadline:
            browser.take()
            after = browser.background_luminance(mark)
            if after > 0.5:
                break
            time.sleep(0.2)
        assert before < 0.5 < after, (before, after)
        browser.screenshot("serve-light.png", shots)

        browser.keys("a")
        browser.wait_for("session is read-only")
    assert served.stdout.count(served.token) == 1 and served.token not in served.stderr


@pytest.mark.slow
def test_the_layout_follows_the_browser_window(browser, config):
    with Served("--config", str(config)) as served:
        browser.driver.set_window_size(1900, 1000)
        browser.open(served.url)
        screen = browser.wait_for(OBJECTIVES[0], "Quit")
        wide = browser.size
        assert wide[0] >= 150
        assert any("Objectives" in line and "KPIs" in line for line in screen.splitlines()), "side by side when wide"

        browser.driver.set_window_size(860, 640)
        deadline = time.monotonic() + 30
        while browser.size == wide and time.monotonic() < deadline:
            browser.take()
            time.sleep(0.1)
        narrow = browser.size
        assert narrow[0] < 100 and narrow[1] < wide[1]
        time.sleep(1.0)  # let the app repaint at the new size
        screen = browser.wait_for(OBJECTIVES[0], "Quit")
        assert not any("Objectives" in line and "KPIs" in line for line in screen.splitlines()), "stacked when narrow"
    browser.driver.set_window_size(1280, 800)


def test_without_the_token_the_browser_gets_no_session(browser, config):
    with Served("--config", str(config)) as served:
        browser.open(served.base)
        assert "Sign-in needed" in browser.text()
        browser.open(served.base + "?token=not-the-token-at-all")
        assert "Wrong token" in browser.text()
        time.sleep(1.0)
        browser.take()
        assert browser.opened == 0, "the page never opened a websocket"
    assert "session 1 opened" not in served.stderr


def test_a_ninth_session_gets_the_limit_page(browser, config, shots):
    with Served("--config", str(config)) as served:

        async def eight_then_browser() -> str:
            async with client() as session:
                await sign_in(session, served)
                terminals = [await open_terminal(session, served, width=80, height=24) for _ in range(8)]
                try:
                    browser.open(served.url)  # the ninth
                    text = browser.text()
                    browser.screenshot("serve-limit.png", shots)
                    time.sleep(0.5)
                    browser.take()
                    assert browser.opened == 0
                    return text
                finally:
                    await asyncio.gather(*(terminal.websocket.close() for terminal in terminals))

        text = asyncio.run(eight_then_browser())
    assert "All sessions are in use" in text and "at most 8 browser sessions" in text
