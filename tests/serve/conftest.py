"""``kpitui serve`` run for real: a subprocess listening on a free port, driven over HTTP and websockets."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .screen import Screen

pytest.importorskip("textual_serve", reason="needs the serve extra (pip install -e '.[test]')")
import aiohttp  # noqa: E402  (comes with textual-serve)

OBJECTIVES = ("Win more Tuesday clients", "Keep the lights on")


def write_config(tmp_path: Path, extra: str = "", history_days: int = 20) -> Path:
    path = tmp_path / "kpitui.toml"
    path.write_text(
        f"""\
[storage]
path = "{(tmp_path / "h.sqlite3").as_posix()}"

[sources.demo]
type = "demo"
interval = 30
history_days = {history_days}

[metrics.signups]
name = "Tuesday sign-ups"
source = "demo"
trigger = "A visitor viewed /tuesday/thanks"
pattern = "count"
base = 18

[metrics.costs]
name = "Electricity bill"
source = "manual"
unit = "currency"

[kpis.monthly_signups]
name = "Tuesday sign-ups per month"
formula = "sum"
metrics = ["signups"]
window = "month_to_date"
target = 600

[kpis.electricity]
name = "Electricity"
formula = "sum"
metrics = ["costs"]
window = "month_to_date"

[objectives.tuesday]
title = "{OBJECTIVES[0]}"
kpis = ["electricity", "monthly_signups"]

[objectives.lights]
title = "{OBJECTIVES[1]}"
kpis = ["electricity"]
{extra}
""",
        encoding="utf-8",
    )
    return path


class Served:
    """``kpitui serve --port 0 …`` in a subprocess; ``url`` is the printed link, ``base`` the server's root."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, wait: bool = True):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kpitui", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self.lines: list[str] = []
        self.log: list[str] = []  # stderr, as it comes
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        self.stdout = self.stderr = ""
        self.url = self.base = ""
        if wait:
            self._started()

    def _read_log(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)

    def wait_log(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.log):
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never logged:\n{''.join(self.log)}")
            time.sleep(0.1)

    def _started(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                self.stop()
                raise AssertionError(f"kpitui serve ended before listening:\n{self.stdout}\n{self.stderr}")
            self.lines.append(line)
            if line.startswith("open: "):
                self.url = line.split()[1]
            if line.startswith("kpitui serve: "):
                self.base = re.search(r" on (http://\S+/) ", line).group(1)
            if line.startswith("Ctrl+C stops"):
                self.base = re.sub(
                    r"^http://[^/:]+", "http://127.0.0.1", self.base
                )  # the host name printed for 0.0.0.0
                return
        raise AssertionError("kpitui serve did not start in time")

    @property
    def token(self) -> str:
        return self.url.split("?token=", 1)[1] if "?token=" in self.url else ""

    def children(self) -> list[tuple[int, str, dict[str, str]]]:
        """(pid, command line, environment) of the kpitui processes under the server (sessions, the collector)."""
        return [
            p for p in _descendants(self.process.pid) if " -m kpitui " in f" {p[1]} " and not p[1].startswith("/bin/sh")
        ]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(10)
        out = self.process.stdout.read() if self.process.stdout else ""
        self.stdout = "".join(self.lines) + (out or "")
        self.stderr = "".join(self.log)
        return self.process.returncode

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _descendants(pid: int) -> list[tuple[int, str, dict[str, str]]]:
    table: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            table.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], list(table.get(pid, []))
    while todo:
        child = todo.pop()
        todo.extend(table.get(child, []))
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            raw = Path(f"/proc/{child}/environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        out.append((child, cmdline, dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)))
    return out


def client() -> aiohttp.ClientSession:
    # unsafe=True: keep cookies set by an IP-address host (127.0.0.1), as browsers do
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sign_in(session: aiohttp.ClientSession, served: Served) -> None:
    async with session.get(f"{served.base}?token={served.token}", allow_redirects=False) as response:
        assert response.status == 303, await response.text()


class Terminal:
    """A websocket session as textual.js drives it: keys in, the app's bytes fed to a :class:`Screen`."""

    def __init__(self, websocket: aiohttp.ClientWebSocketResponse, width: int, height: int):
        self.websocket = websocket
        self.screen = Screen(width, height)
        self.closed: aiohttp.WSMessage | None = None

    async def pump(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.closed is None:
            try:
                message = await self.websocket.receive(timeout=max(0.01, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                return
            if message.type == aiohttp.WSMsgType.BINARY:
                self.screen.feed(message.data)
            elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                self.closed = message

    async def wait_for(self, text: str | re.Pattern[str], timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen.text()
            if (text in shown) if isinstance(text, str) else text.search(shown):
                return shown
            if time.monotonic() > deadline or self.closed is not None:
                raise AssertionError(f"{text!r} never appeared (closed: {self.closed}); the screen was:\n{shown}")
            await self.pump(0.2)

    async def keys(self, *keys: str) -> None:
        for key in keys:
            await self.websocket.send_json(["stdin", key])


async def open_terminal(
    session: aiohttp.ClientSession, served: Served, width: int = 120, height: int = 36, **kwargs
) -> Terminal:
    websocket = await session.ws_connect(f"{served.base}ws?width={width}&height={height}", **kwargs)
    return Terminal(websocket, width, height)


@pytest.fixture
def config(tmp_path) -> Path:
    return write_config(tmp_path)
