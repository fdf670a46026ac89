"""``kpitui serve`` against a client that does not behave: a plain GET of the websocket's path, a request path
holding control characters, malformed websocket messages. Real server, real HTTP and websockets."""

from __future__ import annotations

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
