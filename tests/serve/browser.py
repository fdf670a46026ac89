"""A real headless Chromium (Debian's ``chromium`` + ``chromium-driver``) through Selenium, reading the served terminal.

textual.js draws the terminal with xterm.js on a canvas, so the text is not in
the DOM. A script installed before the page's own wraps ``WebSocket``: it keeps
every byte the page's terminal receives and the size the page reports
(``resize``); :meth:`Browser.screen` replays them through :class:`~.screen.Screen`.
What is read is what xterm.js was given to draw; the screenshots show the drawing.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from .screen import Screen

CAPTURE = r"""
(() => {
  const Native = window.WebSocket;
  const state = { chunks: [], opened: 0, closed: null, size: null, url: null };
  window.__kpitui = state;
  function Wrapped(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    state.opened += 1;
    state.url = String(url);
    const m = /[?&]width=(\d+)&height=(\d+)/.exec(state.url);
    if (m) state.size = { width: +m[1], height: +m[2] };
    ws.addEventListener("message", (e) => {
      if (typeof e.data !== "string") state.chunks.push(new Uint8Array(e.data));
    });
    ws.addEventListener("close", (e) => { state.closed = e.code; });
    const send = ws.send.bind(ws);
    ws.send = (data) => {
      try { const msg = JSON.parse(data); if (msg[0] === "resize") state.size = msg[1]; } catch (err) {}
      return send(data);
    };
    return ws;
  }
  Wrapped.prototype = Native.prototype;
  for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) Wrapped[k] = Native[k];
  window.WebSocket = Wrapped;
})();
"""

TAKE = r"""
const state = window.__kpitui;
if (!state) return null;
const parts = state.chunks.splice(0);
let s = "";
for (const p of parts)
  for (let i = 0; i < p.length; i += 8192) s += String.fromCharCode.apply(null, p.subarray(i, i + 8192));
return { data: btoa(s), size: state.size, opened: state.opened, closed: state.closed };
"""

FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-extensions", "--mute-audio",
)  # fmt: skip


def chromium() -> tuple[str, str]:
    """Paths of Chromium and its driver; skip (fail under CI) when either is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver") or next(
        (p for p in ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver") if os.path.exists(p)), None
    )
    if browser and driver:
        return browser, driver
    message = "headless Chromium and its driver are not installed (apt-get install chromium chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so this test must run, not skip)", pytrace=False)
    pytest.skip(message)


class Browser:
    def __init__(self, width: int = 1280, height: int = 800, flags: tuple[str, ...] = ()):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        binary, driver = chromium()
        self.profile = tempfile.mkdtemp(prefix="kpitui-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for flag in (*FLAGS, *flags, f"--user-data-dir={self.profile}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(driver), options=options)
        self.driver.set_page_load_timeout(60)
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CAPTURE})
        self.reset()

    def reset(self) -> None:
        self.screen_: Screen | None = None
        self.size: tuple[int, int] | None = None
        self.raw = bytearray()
        self.opened = 0
        self.closed: int | None = None

    def open(self, url: str) -> None:
        self.reset()
        self.driver.get(url)

    def take(self) -> None:
        got = self.driver.execute_script(TAKE)
        if not got:
            return
        self.opened, self.closed = got["opened"], got["closed"]
        data = base64.b64decode(got["data"])
        size = got["size"] and (int(got["size"]["width"]), int(got["size"]["height"]))
        if size and size != self.size:
            self.size = size
            if self.screen_ is None:
                self.screen_ = Screen(*size)
            else:
                self.screen_.resize(*size)
        self.raw += data
        if self.screen_ is not None:
            self.screen_.feed(data)

    def screen(self) -> str:
        self.take()
        return self.screen_.text() if self.screen_ is not None else ""

    def wait_for(self, *texts: str | re.Pattern[str], timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if all((t in shown) if isinstance(t, str) else t.search(shown) for t in texts):
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{texts!r} never all appeared (websockets opened: {self.opened}, closed: {self.closed}); "
                    f"the screen was:\n{shown}"
                )
            time.sleep(0.1)

    def wait_gone(self, *texts: str, timeout: float = 60.0) -> str:
        """Until none of ``texts`` is on the screen (a closed overlay: its own words, not the screen under it)."""
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if not any(t in shown for t in texts):
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"{texts!r} still on the screen:\n{shown}")
            time.sleep(0.1)

    def focus(self) -> None:
        """Keyboard focus on the terminal (xterm.js's input element), as a click on the page gives it."""
        self.driver.execute_script("const t = document.querySelector('.xterm-helper-textarea'); if (t) t.focus();")

    def keys(self, *keys: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        self.focus()
        for key in keys:
            ActionChains(self.driver).send_keys(key).perform()
            time.sleep(0.15)

    def chord(self, modifier: str, key: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        self.focus()
        ActionChains(self.driver).key_down(modifier).send_keys(key).key_up(modifier).perform()

    def background_luminance(self, since: int = 0) -> float:
        """Luminance (0 dark .. 1 light) of the most used true-colour background in the bytes received since
        ``since``."""
        text = bytes(self.raw[since:]).decode("utf-8", "replace")
        colours = Counter(re.findall(r"48;2;(\d+);(\d+);(\d+)", text))
        if not colours:
            return -1.0
        r, g, b = (int(x) for x in colours.most_common(1)[0][0])
        return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255

    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.TAG_NAME, "body").text

    def screenshot(self, name: str, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        self.driver.save_screenshot(str(path))
        return path

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
