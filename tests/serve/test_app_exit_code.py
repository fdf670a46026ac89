"""Ending an app process that has just exited never reaps it behind asyncio's child watcher: the watcher gets its
exit code, and no "Unknown child process pid N, will report returncode 255" is logged (the line the serve log
showed as sessions ended). The watcher is made slow, as a busy machine makes it, so the race is certain."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

import pytest

from kpitui.ui.serve.apps import signal_child

pytestmark = pytest.mark.skipif(not hasattr(os, "waitid"), reason="needs os.waitid")


async def ended(stop) -> tuple[int | None, list[str]]:  # noqa: ANN001
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", "import sys; sys.exit(3)")
    while os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        await asyncio.sleep(0.01)  # exited, not reaped yet (the watcher is held back)
    stop(process)
    return await asyncio.wait_for(process.wait(), 10), []


def run_with_slow_watcher(monkeypatch, caplog, stop) -> int | None:
    real = os.waitpid

    def slow(pid: int, options: int):  # the watcher thread's blocking waitpid, late
        if options == 0:
            import time

            time.sleep(0.5)
        return real(pid, options)

    monkeypatch.setattr(os, "waitpid", slow)
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        code, _ = asyncio.run(ended(stop))
    return code


def test_signal_child_leaves_an_exited_app_to_the_watcher(monkeypatch, caplog):
    code = run_with_slow_watcher(monkeypatch, caplog, lambda p: signal_child(p, signal.SIGKILL))
    assert code == 3
    assert "Unknown child process" not in caplog.text


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12 watches children otherwise")
def test_asyncios_kill_is_what_lost_it(monkeypatch, caplog):  # the cause, shown: Popen.poll() reaped it first
    code = run_with_slow_watcher(monkeypatch, caplog, lambda p: p.kill())
    assert code == 255 and "Unknown child process" in caplog.text
