"""``kpitui serve`` against a client that does not behave: a plain GET of the websocket's path, a request path
holding control characters, malformed websocket messages. Real server, real HTTP and websockets."""

from __future__ import annotations

import aiohttp

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
