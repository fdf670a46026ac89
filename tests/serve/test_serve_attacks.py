"""``kpitui serve`` against a client that does not behave: a plain GET of the websocket's path, a request path
holding control characters, malformed websocket messages. Real server, real HTTP and websockets."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from .conftest import OBJECTIVES, Served, client, open_terminal, sign_in


async def test_a_plain_get_of_the_websocket_path_takes_no_session(config):
    """Before the fix a signed-in GET of /ws without the websocket upgrade was a 500 with a traceback, and the
    session it had counted was never given back: ``--max-sessions`` such requests (a proxy's health check, a
    reload of the address) and the dashboard said "All sessions are in use" until it was restarted."""
    with Served("--config", str(config), "--max-sessions", "2") as served:
        async with client() as session:
            await sign_in(session, served)
            for _ in range(5):
                async with session.get(served.base + "ws") as plain:
                    assert plain.status == 400, await plain.text()
                    assert "websocket" in await plain.text()
            async with session.get(served.base) as page:
                assert page.status == 200 and "All sessions are in use" not in await page.text()
            terminal = await open_terminal(session, served)
            await terminal.wait_for(OBJECTIVES[0])
            await terminal.websocket.close()
    assert "Traceback" not in served.stderr and "RuntimeError" not in served.stderr


async def test_a_request_path_cannot_write_lines_or_escape_sequences_into_the_log(config):
    """The access log printed the decoded path as it came: anyone who could reach the port (no token needed) could
    write a forged log line (``%0a``) or an escape sequence (``%1b``) to the operator's terminal."""
    forged = "13:00:00 127.0.0.1 signed in (token)"
    with Served("--config", str(config)) as served:
        async with aiohttp.ClientSession() as stranger:
            raw = "%1b%5b2J%1b%5d0%3bpwned%07%0d%0a" + forged.replace(" ", "%20") + "%e2%80%ae"
            async with stranger.get(served.base + raw) as page:
                assert page.status == 401
        served.wait_log('" 401 ')
    lines = served.stderr.splitlines()
    assert not any(line.startswith(forged) for line in lines), served.stderr
    assert not any(ch in served.stderr for ch in "\x1b\x07\r\u202e"), repr(served.stderr)
    logged = next(line for line in lines if '" 401 ' in line)
    assert "\\x1b[2J" in logged and "\\n13:00:00" in logged and "\\u202e" in logged, logged


MALFORMED: list[str | bytes] = [
    b"\x00\xff not text",
    "not json",
    "[]",
    "{}",
    "5",
    "[null]",
    '["stdin"]',
    '["stdin", 12]',
    '["stdin", {"a": 1}]',
    '["stdin", "\\ud800"]',
    '["resize"]',
    '["resize", 5]',
    '["resize", [1, 2]]',
    '["resize", {"width": "x", "height": null}]',
    '["resize", {"width": 1e308, "height": -1}]',
    '["resize", {"width": 1e999, "height": NaN}]',
    '["ping"]',
    '["blur", 1, 2, 3]',
    '["unknown-kind", 1]',
]


@pytest.mark.slow
async def test_malformed_websocket_messages_are_ignored_and_the_session_goes_on(config):
    """Before the fix ``["stdin"]``, ``["resize"]``, ``["resize", 5]``, ``["ping"]``, a lone surrogate typed or a
    width of ``1e999`` (an IndexError, AttributeError, UnicodeEncodeError or OverflowError in the relay) ended the
    browser's session and logged it as failed."""
    with Served("--config", str(config)) as served:
        async with client() as session:
            await sign_in(session, served)
            terminal = await open_terminal(session, served)
            await terminal.wait_for(OBJECTIVES[0])
            for number, message in enumerate(MALFORMED):
                if isinstance(message, bytes):
                    await terminal.websocket.send_bytes(message)
                else:
                    await terminal.websocket.send_str(message)
                await terminal.websocket.send_json(["ping", f"after {number}"])
                deadline = time.monotonic() + 30
                while True:
                    assert time.monotonic() < deadline, f"no pong after {message!r}"
                    try:
                        reply = await terminal.websocket.receive(timeout=max(0.1, deadline - time.monotonic()))
                    except asyncio.TimeoutError:
                        continue
                    assert reply.type not in (
                        aiohttp.WSMsgType.CLOSE,
                        aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.CLOSING,
                    ), f"the session ended after {message!r}"
                    if reply.type == aiohttp.WSMsgType.TEXT and f"after {number}" in reply.data:
                        break
            await terminal.keys("tab")  # the app still answers keys
            await terminal.pump(1.0)
            assert terminal.closed is None
            await terminal.websocket.close()
    assert "failed" not in served.stderr and "Traceback" not in served.stderr, served.stderr


@pytest.mark.filterwarnings("error::DeprecationWarning")  # aiohttp: "returning HTTPException object is deprecated"
async def test_an_unknown_user_name_costs_the_same_hash_work_as_a_wrong_password(tmp_path, monkeypatch):
    """Before the fix a name not in [serve.users] was refused without hashing the password, a known one after an
    scrypt of tens of milliseconds: the answer's time told which names exist. The real server in this process,
    real HTTP; every password check counted."""
    from aiohttp.test_utils import TestServer

    from kpitui.serve_auth import hash_password
    from kpitui.serve_command import ServePlan
    from kpitui.ui.serve import server as served

    checked: list[str] = []
    real = served.verify_password

    def counting(stored: str, password: str) -> bool:
        checked.append(stored.split("$", 1)[0])
        return real(stored, password)

    monkeypatch.setattr(served, "verify_password", counting)
    monkeypatch.setattr(served.asyncio, "sleep", _no_sleep)  # the 1 s pause after a refusal, not under test here
    plan = ServePlan(
        host="127.0.0.1", port=0, config_path=tmp_path / "kpitui.toml", token="t" * 32, token_generated=True,
        users={"alice": hash_password("right one")}, allow_write=False, collect=False, max_sessions=2,
        idle_seconds=None, app_argv=["true"], collector_argv=None,
    )  # fmt: skip
    server = TestServer(served.KpiServer(plan).make_app())
    await server.start_server()
    try:
        async with client() as session:
            for user, password, status in (
                ("alice", "wrong", 401),
                ("mallory", "wrong", 401),
                ("", "", 401),
                ("alice", "right one", 303),
            ):
                async with session.post(
                    server.make_url("/login"), data={"user": user, "password": password}, allow_redirects=False
                ) as answer:
                    assert answer.status == status, (user, await answer.text())
    finally:
        await server.close()
    assert checked == ["scrypt"] * 4, "every attempt hashes once, known name or not"


async def _no_sleep(_seconds: float) -> None:
    return None


MALFORMED_REQUESTS: list[bytes] = [
    b"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 20000 + b"\r\n\r\n",  # a header line past 8 KiB
    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",  # a request line past 8 KiB
    b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(200)) + b"\r\n",  # too many headers
    b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",  # smuggling
    b"GET /\x00\xff HTTP/1.1\r\nHost: x\r\n\r\n",  # a NUL in the path
]


async def test_a_request_that_is_not_http_is_one_log_line_not_a_traceback(config):
    """Before the fix each request aiohttp could not parse, sent by anyone who could reach the port (no token),
    printed "Error handling request" and a 7-12 line traceback to the operator's log."""
    with Served("--config", str(config)) as served:
        host, port = served.base.split("//", 1)[1].rstrip("/").rsplit(":", 1)
        for raw in MALFORMED_REQUESTS:
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(raw)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(100), 30)
            assert answer.startswith(b"HTTP/1.") and b" 400 " in answer, answer
            writer.close()
        served.wait_log("Invalid char in url path")
        async with client() as session:  # the server goes on
            await sign_in(session, served)
            async with session.get(served.base) as page:
                assert page.status == 200
    refused = [line for line in served.stderr.splitlines() if "bad HTTP request" in line]
    assert len(refused) == len(MALFORMED_REQUESTS), served.stderr
    assert all(" refused 127.0.0.1: bad HTTP request (400: " in line for line in refused), refused
    assert "Traceback" not in served.stderr and "Error handling request" not in served.stderr, served.stderr


async def test_a_sign_in_posted_from_another_site_is_refused(tmp_path):
    """Login CSRF: before the fix a page on any other site could post its own user name and password to
    /login and the browser was signed in as that user (its cookie set), without the person noticing. An Origin
    that does not parse (``http://[::1``) was a 500 with a traceback on the websocket's origin check."""
    from kpitui.serve_auth import hash_password

    from .conftest import write_config

    config = write_config(tmp_path, f'\n[serve.users]\nalice = "{hash_password("s3cret pass")}"\n')
    form = {"user": "alice", "password": "s3cret pass"}
    with Served("--config", str(config)) as served:
        async with client() as session:  # keeps the cookie, so the websocket below passes the sign-in
            for origin in ("https://evil.example", "null", "http://[::1"):
                async with session.post(
                    served.base + "login", data=form, headers={"Origin": origin}, allow_redirects=False
                ) as answer:
                    assert answer.status == 403 and "Set-Cookie" not in answer.headers, origin
            own = served.base.rstrip("/")
            async with session.post(
                served.base + "login", data=form, headers={"Origin": own}, allow_redirects=False
            ) as answer:
                assert answer.status == 303 and "HttpOnly" in answer.headers["Set-Cookie"]
            async with session.get(
                served.base + "ws", headers={"Origin": "http://[::1", "Connection": "Upgrade", "Upgrade": "websocket"}
            ) as answer:
                assert answer.status == 403
    assert served.stderr.count("sign-in posted from another origin") == 3, served.stderr
    assert "refused 127.0.0.1: websocket from another origin" in served.stderr, served.stderr
    assert "Traceback" not in served.stderr, served.stderr
