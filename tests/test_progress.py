"""Long work shows its progress (issue 20): the plugin API's ``context.progress`` and the CLI's bar.

- ``access_log`` reports a backlog's bytes done of bytes to read, chunk by chunk,
  with the file it is importing; ``file`` reports the export it reads.
- ``kpitui collect`` draws a bar on stderr when stderr is a terminal (a pty
  here) and the work lasts; piped, or with ``--quiet``, it draws nothing.
"""

from __future__ import annotations

import gzip
import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

import pytest
from test_access_log import batches, make_source, write
from test_backlog import setup
from test_cli import kpitui_script, run

from kpitui.api import SourceContext


def test_access_log_reports_a_backlogs_progress_through_the_context(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    older, old, current = batches(3, size=400)
    with gzip.open(tmp_path / "access.log.2.gz", "wb") as handle:
        handle.write("".join(line + "\n" for line in older).encode())
    write(tmp_path / "access.log.1", old)
    write(log, current)
    source = make_source(log)
    reports: list[tuple[float, float | None, str]] = []
    source.context = SourceContext(config_dir=tmp_path, on_progress=lambda *a: reports.append(a))
    source.max_poll_bytes = 16 * 1024
    cursor, polls = None, 0
    while True:
        result = source.fetch(cursor, source_now())
        cursor, polls = result.cursor, polls + 1
        if not result.more_pending:
            break
    assert polls > 5 and len(reports) == polls
    labels = [label for _, _, label in reports]
    assert labels[0] == "importing access.log.2.gz" and "importing access.log.1" in labels
    assert labels[-1] == "reading access.log"
    done = [d for d, _, _ in reports]
    assert done == sorted(done) and reports[-1][0] == reports[-1][1]  # finished: done == total
    uncompressed = sum(p.stat().st_size for p in (log, tmp_path / "access.log.1")) + len(
        gzip.decompress((tmp_path / "access.log.2.gz").read_bytes())
    )
    assert reports[-1][0] == uncompressed
    assert all(total is not None and total >= d for d, total, _ in reports)
    assert reports[0][1] == uncompressed  # the first estimate already knew the whole backlog (gzip trailer)
    reports.clear()
    assert not source.fetch(cursor, source_now()).more_pending and reports == []  # a normal poll reports nothing


def source_now():
    import datetime as dt

    return dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)


def read_pty(args: list[str], timeout: float = 120) -> tuple[int, str]:
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "30"}
    process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.slow
def test_collect_shows_a_bar_on_a_terminal_and_none_when_piped(tmp_path: Path) -> None:
    # ~230 chunks of 64 KiB: the read outlasts the bar's half-second delay by a second or more even on a quick
    # machine (45,000 lines were read in 0.57 s on a quiet one: the bar came up for one frame, its amount not yet drawn)
    cfg, log = setup(tmp_path, 150_000)
    code, screen = read_pty([kpitui_script(), "collect", "--once", "--config", str(cfg)])
    assert code == 0, screen
    assert "web: reading access.log" in screen and "%" in screen, screen[-2000:]
    assert "━" in screen and re.search(r"[0-9.]+ [kM]?B/[0-9.]+ [kM]?B", screen)  # the bar, bytes done of bytes to read
    assert "readings" in screen  # then the summary line

    (tmp_path / "h.sqlite3").unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp_path / 'h.sqlite3'}{suffix}").unlink(missing_ok=True)
    piped = run("collect", "--once", "--config", str(cfg))
    assert piped.returncode == 0, piped.stderr
    assert "reading access.log" not in piped.stderr + piped.stdout and "━" not in piped.stderr
    assert "\x1b[" not in piped.stderr


@pytest.mark.slow
def test_quiet_turns_the_bar_off(tmp_path: Path) -> None:
    cfg, log = setup(tmp_path, 45_000)
    code, screen = read_pty([kpitui_script(), "--quiet", "collect", "--once", "--config", str(cfg)])
    assert code == 0, screen
    assert "reading access.log" not in screen
