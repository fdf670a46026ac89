"""Browser sessions of ``kpitui serve``: a limit with a clear page, idle ones closed, read-only unless
``--allow-write``, one collector for all. Real server, real app processes, driven over the websocket."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import aiohttp  # noqa: E402
import pytest

from .conftest import OBJECTIVES, Served, client, open_terminal, sign_in


@pytest.mark.slow
async def test_sessions_beyond_the_limit_get_a_clear_page_and_no_websocket(config):
    with Served("--config", str(config), "--max-sessions", "2") as served:
        async with client() as session:
            await sign_in(session, served)
            first = await open_terminal(session, served)
            second = await open_terminal(session, served)
            async with session.get(served.base) as page:
                assert page.status == 503
                text = await page.text()
                assert "All sessions are in use" in text and "at most 2 browser sessions" in text
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await open_terminal(session, served)
            assert refused.value.status == 503
            await first.wait_for(OBJECTIVES[0])
            await first.websocket.close()
            deadline = time.monotonic() + 20  # its place is free once its app has ended
            status = 503
            while status == 503 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                async with session.get(served.base) as page:
                    status = page.status
            assert status == 200, "a closed session frees its place"
            third = await open_terminal(session, served)
            await third.wait_for(OBJECTIVES[0])
            await second.websocket.close()
            await third.websocket.close()
    assert "all 2 sessions in use" in served.stderr


@pytest.mark.slow
async def test_an_idle_session_is_closed_and_its_app_ends(config):
    with Served("--config", str(config), "--idle-timeout", "3s") as served:
        async with client() as session:
            await sign_in(session, served)
            terminal = await open_terminal(session, served)
            deadline = time.monotonic() + 60
            while OBJECTIVES[0] not in terminal.screen.text() and time.monotonic() < deadline:
                await terminal.websocket.send_json(["resize", {"width": 120, "height": 36}])  # a resize keeps it open
                await terminal.pump(1.0)
            assert OBJECTIVES[0] in terminal.screen.text() and terminal.closed is None
            with_session = {
                pid for pid, line, _ in served.children() if " tui " in line
            }  # the session's and the warm spare
            for _ in range(4):  # and so do key presses
                await terminal.keys("j")
                await terminal.pump(1.0)
            assert terminal.closed is None
            started = time.monotonic()
            await terminal.pump(15)
            assert terminal.closed is not None and terminal.websocket.close_code == 4000
            assert time.monotonic() - started >= 2
            deadline = time.monotonic() + 20
            left = with_session
            while time.monotonic() < deadline:
                left = {pid for pid, line, _ in served.children() if " tui " in line}
                if len(left) <= 1 and with_session - left:
                    break
                await asyncio.sleep(0.2)
            assert with_session - left and len(left) <= 1, (
                "the session's app process ended with it (only the warm spare is left)"
            )
    assert "(idle for 3 s)" in served.stderr


@pytest.mark.slow
async def test_browser_sessions_are_read_only_unless_allowed(config):
    with Served("--config", str(config)) as served:
        async with client() as session:
            await sign_in(session, served)
            terminal = await open_terminal(session, served)
            await terminal.wait_for("read-only")
            await terminal.keys("a")
            await terminal.wait_for("session is read-only")
            assert "Add a reading" not in terminal.screen.text()
            await terminal.pump(8)  # the note goes away
            assert "session is read-only" not in terminal.screen.text()
            await terminal.keys("n")  # annotating writes too
            await terminal.wait_for("session is read-only")
            await terminal.websocket.close()
    with Served("--config", str(config), "--allow-write") as served:
        async with client() as session:
            await sign_in(session, served)
            terminal = await open_terminal(session, served)
            await terminal.wait_for(OBJECTIVES[0])
            assert "read-only" not in terminal.screen.text()
            await terminal.keys("a")
            await terminal.wait_for("Add a reading")
            await terminal.websocket.close()


@pytest.mark.slow
async def test_collect_runs_one_collector_for_every_session(config, tmp_path):
    with Served("--config", str(config), "--collect") as served:
        async with client() as session:
            await sign_in(session, served)
            terminals = [await open_terminal(session, served) for _ in range(3)]
            for terminal in terminals:
                await terminal.wait_for(OBJECTIVES[1])
            children = served.children()
            collectors = [line for _, line, _ in children if " collect " in f"{line} "]
            apps = [line for _, line, _ in children if " tui " in line]
            assert len(collectors) == 1 and 3 <= len(apps) <= 4, (
                "three sessions (and the one app kept warm for the next)"
            )
            assert all("--no-collect" in line for line in apps), "sessions never collect"
            deadline = time.monotonic() + 60
            rows = 0
            while rows == 0 and time.monotonic() < deadline:
                try:
                    with sqlite3.connect(tmp_path / "h.sqlite3") as db:
                        rows = db.execute("select count(*) from readings").fetchone()[0]
                except sqlite3.Error:
                    pass
                await asyncio.sleep(0.5)
            assert rows > 0, "the collector filled the shared history"
            for terminal in terminals:
                await terminal.websocket.close()
    assert [pid for pid, _, _ in served.children()] == []


@pytest.mark.slow
async def test_the_next_session_gets_the_app_kept_warm_and_sees_the_whole_dashboard(config):
    with Served("--config", str(config)) as served:
        served.wait_log("an app process is warm")
        warm = {pid for pid, line, _ in served.children() if " tui " in line}
        assert len(warm) == 1
        async with client() as session:
            await sign_in(session, served)
            terminal = await open_terminal(session, served, width=150, height=40)
            screen = await terminal.wait_for(OBJECTIVES[1])
            served.wait_log("session 1 opened")
            assert any("warm app" in line for line in served.log if "session 1 opened" in line)
            now = {pid for pid, line, _ in served.children() if " tui " in line}
            assert warm <= now, "the warm process became this session's"
            lines = screen.splitlines()
            assert any("Objectives" in line and "KPIs" in line for line in lines), (
                "painted at the browser's size (150 columns: side by side)"
            )
            assert max(len(line) for line in lines) > 140
            await terminal.keys("j", "\r")
            await terminal.wait_for("grain")
            await terminal.websocket.close()
