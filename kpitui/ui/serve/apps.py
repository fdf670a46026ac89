"""The app process behind each browser session, and the one kept warm for the next session.

:class:`SessionService` is textual-serve's :class:`~textual_serve.app_service.AppService`
(one ``kpitui tui`` process speaking textual's web-driver protocol) without the
token's environment variables, with a bounded stop, and able to start before
its browser arrives: until :meth:`~SessionService.attach` only the terminal
modes it sets (alternate screen, mouse, bracketed paste, …) are kept and its
frames dropped; on attach those modes go to the browser, and a resize to the
browser's size makes the app paint the whole screen again.

:class:`WarmSpare` keeps one such process started, at a size no browser asks
for, so opening the link costs a page and a repaint instead of a Python
start-up, imports, the config and a first evaluation. The spare becomes that
session's own process (never shared); a new spare starts behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import time
from typing import Any, Callable

from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.download_manager import DownloadManager

log = logging.getLogger("kpitui.serve")
STOP_SECONDS = 10.0
HEAD_LIMIT = 64 * 1024
#: the first cursor move starts the first frame; what comes before it sets the terminal up
FIRST_FRAME = re.compile(rb"\x1b\[\d+;\d+H")
#: what a frame-less head keeps from later output: private modes (``ESC[?…h/l``) and OSC strings
MODES = re.compile(rb"\x1b\[\?[\d;]*[hl]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
#: the spare's terminal size before a browser takes it; a browser of exactly this size gets a fresh process
SPARE_SIZE = (41, 11)
#: a spare that exits sooner than this after starting is not replaced (the app cannot start; sessions say why)
SPARE_MIN_LIFE = 10.0


async def _discard(_data: Any) -> None:
    return None


class SessionService(AppService):
    def __init__(self, command: str, hidden: list[str], downloads: DownloadManager, **kwargs: Any):
        kwargs.setdefault("write_bytes", _discard)
        kwargs.setdefault("write_str", _discard)
        kwargs.setdefault("close", self._closed_before_attach)
        super().__init__(command, download_manager=downloads, **kwargs)
        self._hidden = set(hidden)
        self.attached = "write_bytes" in kwargs and kwargs["write_bytes"] is not _discard
        self.head = bytearray()
        self.framed = False
        self.started = time.monotonic()
        self.exited_early = False

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        return {k: v for k, v in super()._build_environment(width, height).items() if k not in self._hidden}

    async def _closed_before_attach(self) -> None:
        self.exited_early = True

    @property
    def alive(self) -> bool:
        process = self._process
        return process is not None and process.returncode is None and not self.exited_early

    async def on_data(self, payload: bytes) -> None:
        if self.attached:
            self.framed = True
            await self.remote_write_bytes(payload)
            return
        if len(self.head) >= HEAD_LIMIT:
            return
        if not self.framed:
            frame = FIRST_FRAME.search(payload)
            if frame is None:
                self.head += payload
                return
            self.framed = True
            log.info("an app process is warm for the next session")
            self.head += payload[: frame.start()]
            payload = payload[frame.start() :]
        self.head += b"".join(MODES.findall(payload))

    async def on_meta(self, data: bytes) -> None:
        if self.attached:
            await super().on_meta(data)
        elif b'"exit"' in data:
            self.exited_early = True

    async def attach(self, websocket: web.WebSocketResponse, width: int, height: int) -> None:
        """Hand this running app to ``websocket``: what it has set up so far, then a repaint at the browser's size."""
        self.remote_write_bytes = websocket.send_bytes
        self.remote_write_str = websocket.send_str
        self.remote_close = websocket.close
        head, self.head = bytes(self.head) + b"\x1b[H\x1b[2J", bytearray()
        self.attached = True
        await websocket.send_bytes(head)
        await self.set_terminal_size(width, height)
        await self.focus()

    async def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Ask the app to quit; kill it after ``timeout`` seconds.

        An app that has not painted yet is still starting (imports, config): it has nothing to
        save and cannot hear the request yet, so it is ended at once.
        """
        process = self._process
        if not self.framed and process is not None and process.returncode is None:
            signal_child(process, signal.SIGTERM)
            timeout = min(timeout, 2.0)
        try:
            await asyncio.wait_for(super().stop(), timeout)
        except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - a hung or dead app: end it
            pass
        process = self._process
        if process is not None and process.returncode is None:
            signal_child(process, signal.SIGKILL)
            try:
                await asyncio.wait_for(process.wait(), STOP_SECONDS)
            except asyncio.TimeoutError:
                pass


def signal_child(process: Any, sig: int) -> None:
    """Send ``sig`` to an app process that has not exited, without reaping it.

    asyncio's ``kill()`` and ``terminate()`` call ``Popen.poll()`` first, and that reaps a child which has
    just exited before asyncio's child-watcher thread (blocked in ``waitpid``) gets to it; that thread then
    logs "Unknown child process pid N, will report returncode 255" and the app's exit code is lost (CPython
    gh-86276). Here the child is only looked at (``waitid`` with ``WNOWAIT``): one that has exited, or that
    the watcher has reaped already, is left to the watcher."""
    waitid = getattr(os, "waitid", None)
    if waitid is None:  # no waitid (not Linux or BSD): asyncio's own, with its race
        process.send_signal(sig)
        return
    try:
        exited = waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return  # reaped by the watcher already
    if exited is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, sig)


class WarmSpare:
    """At most one started, unattached app process, replaced each time a session takes it."""

    def __init__(self, make: Callable[[], SessionService], enabled: bool = True):
        self.make = make
        self.enabled = enabled
        self.spare: SessionService | None = None
        self._starting: asyncio.Task | None = None
        self.closed = False

    def refill(self) -> None:
        if (
            self.enabled
            and not self.closed
            and self.spare is None
            and (self._starting is None or self._starting.done())
        ):
            self._starting = asyncio.create_task(self._start())

    async def _start(self) -> None:
        service = self.make()
        try:
            await service.start(*SPARE_SIZE)
        except Exception as exc:  # noqa: BLE001 - then sessions start their own
            log.error("could not start a spare app process: %s", exc)
            return
        if self.closed:
            await service.stop()
            return
        self.spare = service

    async def take(self, width: int, height: int) -> SessionService | None:
        """The warm process for a browser of this size, or None (start a fresh one)."""
        service, self.spare = self.spare, None
        if service is None:
            self.refill()
            return None
        if not service.alive:
            lived = time.monotonic() - service.started
            asyncio.create_task(service.stop())
            if lived >= SPARE_MIN_LIFE:
                self.refill()
            else:
                log.error("the app exited %.1f s after starting; not keeping a spare (sessions start their own)", lived)
                self.enabled = False
            return None
        if (width, height) == SPARE_SIZE or not service.framed:
            self.spare = service  # still starting (a resize now could be lost to its own start-up), or this exact size
            return None
        self.refill()
        return service

    async def close(self) -> None:
        self.closed = True
        if self._starting is not None:
            await asyncio.gather(self._starting, return_exceptions=True)
        if self.spare is not None:
            spare, self.spare = self.spare, None
            await spare.stop(timeout=1.0)
