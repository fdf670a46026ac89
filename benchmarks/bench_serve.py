"""``kpitui serve``: time from opening the printed link in a browser to the dashboard's first values.

A ``kpitui serve --port 0`` runs on the config (its history already filled);
each run opens the link (token, redirect, page, textual.js, websocket, the
session's ``kpitui tui`` process: the one the server keeps warm) in a real headless Chromium and polls
what the page's terminal received (tests/serve/browser.py) until the first KPI
of the first objective shows a number. Then the page is left (the session ends)
before the next run. Without Chromium and its driver the same is measured with
a websocket client (no page rendering) and the figure says so.

    python -m benchmarks.bench_serve [CONFIG]    # prints the times
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: seconds between runs: a user opening the link on a server that has been up a little while (the
#: server keeps one app process warm; it takes a start-up, ~0.7 s idle, to warm the next one)
GAP = 8.0


def first_value_pattern(config_path: Path) -> re.Pattern[str]:
    """The first objective's first KPI, followed by a number (not "—" or "loading…"); where the page is wide
    enough, its Period cell (``Dec 2026 to date``, ``2026-12-04 to date``) comes between them. A number is a
    whole cell (``48``, ``$1,200``, ``4.1%``, ``9d 4h``): a period's ``2026-12-04`` is not one."""
    from kpitui.config import load_config

    config = load_config(config_path)
    objective = next(iter(config.objectives.values()))
    kpi = config.kpis[objective.kpis[0]]
    return re.compile(
        re.escape(kpi.name) + r" +(?:\S.*? to \S+(?: [\d:]+)? +)?[-+]?[$€£¥₹]?\d[\d,.]*(?:%|[a-zµ]+)?(?= |$)"
    )


def browser_available() -> bool:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    has_browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    return bool(has_browser and (shutil.which("chromedriver") or os.path.exists("/usr/bin/chromedriver")))


class Server:
    def __init__(self, config: Path, env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kpitui", "serve", "--config", str(config), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=None if os.environ.get("KPITUI_BENCH_SERVE_LOG") else subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        )
        self.url = ""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("open: "):
                self.url = line.split()[1]
            if line.startswith("Ctrl+C stops"):
                break
        if not self.url:
            self.stop()
            raise RuntimeError("kpitui serve did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _in_browser(
    url: str, pattern: re.Pattern[str], runs: int, timeout: float, flags: tuple[str, ...] = ()
) -> tuple[list[float], str]:
    sys.path.insert(0, str(ROOT))
    from tests.serve.browser import Browser

    browser = Browser(1280, 800, flags)
    times: list[float] = []
    screen = ""
    try:
        for _ in range(runs + 1):  # the first is a warm-up (browser cache, OS file cache), not counted
            browser.driver.get("about:blank")
            time.sleep(GAP)  # the previous session ends; the server warms the next app
            browser.reset()
            start = time.perf_counter()
            browser.driver.get(url)
            while time.perf_counter() - start < timeout:
                screen = browser.screen()
                if pattern.search(screen):
                    break
                time.sleep(0.01)
            else:
                raise RuntimeError(f"no values within {timeout:.0f} s; the screen was:\n{screen}")
            times.append(time.perf_counter() - start)
        browser.driver.get("about:blank")
    finally:
        browser.close()
    return times[1:], screen


def _with_websocket(url: str, pattern: re.Pattern[str], runs: int, timeout: float) -> tuple[list[float], str]:
    import aiohttp

    sys.path.insert(0, str(ROOT))
    from tests.serve.screen import Screen

    base = url.split("?", 1)[0]

    async def once() -> tuple[float, str]:
        screen = Screen(160, 45)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            start = time.perf_counter()
            async with session.get(url) as page:  # follows the redirect to the page
                await page.read()
            async with session.get(base + "static/js/textual.js") as script:
                await script.read()
            async with session.ws_connect(f"{base}ws?width=160&height=45") as websocket:
                while time.perf_counter() - start < timeout:
                    message = await websocket.receive(timeout=timeout)
                    if message.type == aiohttp.WSMsgType.BINARY:
                        screen.feed(message.data)
                        if pattern.search(screen.text()):
                            return time.perf_counter() - start, screen.text()
                    elif message.type != aiohttp.WSMsgType.TEXT:
                        break
        raise RuntimeError(f"no values within {timeout:.0f} s; the screen was:\n{screen.text()}")

    times, shown = [], ""
    for _ in range(runs + 1):
        seconds, shown = asyncio.run(once())
        times.append(seconds)
        time.sleep(GAP)
    return times[1:], shown


#: Headless Chromium here has no GPU: xterm.js's WebGL and canvas renderers then rasterise in software
#: (seconds of main-thread work per frame on a busy 2-core machine). Its DOM renderer (WebGL off) is
#: what stands in for a desktop browser's GPU; the canvas figure is reported beside it.
DOM_RENDERER = ("--disable-webgl",)


def measure(config: Path, env: dict[str, str], runs: int, timeout: float = 60.0) -> dict:
    """{"mode": …, "times": [s, …], "canvas": [s, …] (software canvas renderer), "screen": the last screen}."""
    pattern = first_value_pattern(config)
    server = Server(config, env)
    try:
        if browser_available():
            times, screen = _in_browser(server.url, pattern, runs, timeout, DOM_RENDERER)
            canvas, _ = _in_browser(server.url, pattern, max(2, runs // 2), timeout)
            return {
                "mode": "headless Chromium, xterm.js DOM renderer",
                "times": times,
                "canvas": canvas,
                "screen": screen,
            }
        times, screen = _with_websocket(server.url, pattern, runs, timeout)
        return {"mode": "websocket client (Chromium not installed)", "times": times, "canvas": [], "screen": screen}
    finally:
        server.stop()


if __name__ == "__main__":
    import tempfile

    sample = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "kpitui" / "sample_config.toml"
    env = {"KPITUI_DATA_DIR": tempfile.mkdtemp(prefix="kpitui-serve-bench-")}
    subprocess.run(
        [sys.executable, "-m", "kpitui", "collect", "--once", "--config", str(sample)],
        env={**os.environ, **env},
        capture_output=True,
        check=True,
    )
    result = measure(sample, env, runs=5)
    print(f"{result['mode']}: " + ", ".join(f"{t:.2f} s" for t in result["times"]))
    if result["canvas"]:
        print("canvas renderer (software): " + ", ".join(f"{t:.2f} s" for t in result["canvas"]))
