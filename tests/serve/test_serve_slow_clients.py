"""``kpitui serve`` against clients that send a request a byte at a time (slowloris). Real server, real sockets.

Before the fix: aiohttp has no header-read timeout, and its keep-alive (which also closes a connection that has
sent no complete request) is an hour, so each slow client held a file descriptor for an hour. With the usual soft
limit of 1,024 descriptors, 1,100 such clients (measured) and no one else could connect for as long as they
kept on, and asyncio logged a traceback for each refused accept (117,445 tracebacks, 47 MB, in 30 s). A sign-in
form sent a byte at a time held its connection with no limit at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import resource
import subprocess
import time
from collections.abc import Iterator

import pytest

from kpitui.serve_auth import hash_password
from kpitui.ui.serve.server import REQUEST_SECONDS

from .conftest import Served, client, sign_in, write_config

# Each test waits out the server's real request deadline (REQUEST_SECONDS, 20 s) and more: in the slow set.
pytestmark = pytest.mark.slow


@contextlib.contextmanager
def soft_open_files_limit(limit: int) -> Iterator[None]:
    """Processes started meanwhile get this soft descriptor limit, as on systems that give 1,024 (set in the
    child before it runs: the test process keeps its own, whatever it has open)."""
    real = subprocess.Popen

    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    subprocess.Popen = functools.partial(real, preexec_fn=lower)  # type: ignore[misc]
    try:
        yield
    finally:
        subprocess.Popen = real  # type: ignore[misc]


async def slow_client(host: str, port: int, closed: list[float], stop: asyncio.Event) -> None:
    """Send a request's first line, then one header byte a second, until the server closes or ``stop`` is set."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        while not stop.is_set():
            writer.write(b"a")
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1), 1.0) == b"":
                    closed.append(time.monotonic() - started)
                    return
            except asyncio.TimeoutError:
                pass
    except (ConnectionError, OSError):
        closed.append(time.monotonic() - started)
    finally:
        writer.close()


@pytest.mark.slow
async def test_slow_clients_are_closed_and_everyone_else_is_served(config):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit, count = 256, 300  # more slow clients than the soft limit the server starts with
    assert hard > count * 2, "needs a hard descriptor limit above 600"
    with soft_open_files_limit(limit):
        served = Served("--config", str(config))
    with served:
        host, port = served.base.split("//", 1)[1].rstrip("/").rsplit(":", 1)
        closed: list[float] = []
        stop = asyncio.Event()
        slow = [asyncio.create_task(slow_client(host, int(port), closed, stop)) for _ in range(count)]
        await asyncio.sleep(3)  # all connected and trickling
        answered = []
        async with client() as session:
            for _ in range(3):  # a normal visitor while the slow ones hold their connections
                await asyncio.wait_for(sign_in(session, served), 10)
                async with session.get(served.base, timeout=10) as page:
                    answered.append(page.status)
                await asyncio.sleep(1)
        deadline = time.monotonic() + REQUEST_SECONDS + 30
        while len(closed) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*slow)
    assert answered == [200, 200, 200]
    assert len(closed) == count, f"{count - len(closed)} slow clients still connected after {REQUEST_SECONDS + 30} s"
    assert max(closed) < REQUEST_SECONDS + 30 and min(closed) >= REQUEST_SECONDS - 1, (min(closed), max(closed))
    assert "Traceback" not in served.stderr and "out of system resource" not in served.stderr, served.stderr[-3000:]


@pytest.mark.slow
async def test_a_sign_in_form_sent_a_byte_at_a_time_is_given_up(tmp_path):
    config = write_config(tmp_path, f'\n[serve.users]\nalice = "{hash_password("s3cret pass")}"\n')
    with Served("--config", str(config)) as served:
        host, port = served.base.split("//", 1)[1].rstrip("/").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        started = time.monotonic()
        writer.write(
            b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 100000\r\n\r\nuser=alice&password="
        )
        answer = b""
        while not answer and time.monotonic() - started < REQUEST_SECONDS + 30:
            writer.write(b"x")
            await writer.drain()
            with contextlib.suppress(asyncio.TimeoutError):
                answer = await asyncio.wait_for(reader.read(200), 1.0)
        writer.close()
        took = time.monotonic() - started
        served.wait_log("sign-in form not sent within")
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert REQUEST_SECONDS - 1 <= took < REQUEST_SECONDS + 30, took
    assert "Traceback" not in served.stderr, served.stderr
