"""An access log that is a FIFO (or a folder) is that source's clear error at once, never a poll blocked forever.

Before the fix ``open()`` on a FIFO with no writer blocked the fetch thread: ``collect --once`` reported
``timed out after 3s; it ignored the cancellation and still runs`` and the thread stayed stuck in ``open``;
``kpitui matches`` hung with no output at all; ``check`` said nothing.
"""

from __future__ import annotations

import io
import os
import threading
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from kpitui import cli
from kpitui.collector import Collector
from kpitui.config import load_config
from kpitui.store import Store


def write_config(tmp_path: Path, log: Path) -> Path:
    path = tmp_path / "kpitui.toml"
    path.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n'
        f'[sources.web]\ntype = "access_log"\npath = "{log.as_posix()}"\ntimeout = "60s"\n'
        "[metrics.m]\nsource = \"web\"\ncondition = 'status < 400'\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_log_that_is_not_a_file_is_the_sources_error_at_once(tmp_path, kind):
    log = tmp_path / "access.log"
    if kind == "fifo":
        os.mkfifo(log)
    else:
        log.mkdir()
    config = write_config(tmp_path, log)
    done: list = []

    def poll() -> None:
        with Store(tmp_path / "h.sqlite3") as store:
            done.extend(Collector(load_config(config), store).run_once())

    worker = threading.Thread(target=poll, daemon=True)
    worker.start()
    worker.join(30)  # the source's timeout is 60 s: only an error found at once ends the poll before this
    if worker.is_alive() and kind == "fifo":
        with open(log, "wb"):  # let the blocked open() return, so the thread ends
            pass
        worker.join(30)
        pytest.fail("the poll blocked on the FIFO")
    (result,) = done
    expected = "a FIFO (named pipe)" if kind == "fifo" else "a folder"
    assert result.error is not None and f"it is {expected}, not a log file" in result.error, result.error

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(["check", "--config", str(config)])
    assert code == 0 and "not a file" in err.getvalue(), err.getvalue()
