"""What a running collector costs a disk: bytes written per poll, read from /proc/PID/io of a real
`kpitui collect` process polling the bundled sample's sources (demo: 2-3 readings a poll; web: its
access log). With 64 KiB pages a poll wrote ~385 KiB (about 1.1 GB a day at one poll per 30 s); with
4 KiB pages a demo poll touched 6-7 pages in two commits, and since schema 5 (cursor, health and the
seq counter in one meta page, one commit a poll) about 4."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_cli import SAMPLE, kpitui_script

pytestmark = pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs /proc/PID/io (Linux)")


def _write_bytes(pid: int) -> int:
    text = Path(f"/proc/{pid}/io").read_text()
    return int(re.search(r"^write_bytes: (\d+)", text, re.M).group(1))


@pytest.mark.slow
def test_a_collector_writes_tens_of_kib_per_poll_not_hundreds(tmp_path):
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{tmp_path / "h.sqlite3"}"\n\n'
        + SAMPLE.read_text().replace("history_days = 400", "history_days = 20")
    )
    log = tmp_path / "log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [kpitui_script(), "collect", "--every", "1s", "-v", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        polls = lambda: len(re.findall(r"readings in", log.read_text()))  # noqa: E731
        deadline = time.monotonic() + 120
        while polls() < 3 and time.monotonic() < deadline:  # the backfill, then two small polls
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        with sqlite3.connect(tmp_path / "h.sqlite3", timeout=30) as con:  # the back-fill's WAL pages are not measured
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        first, before = polls(), _write_bytes(proc.pid)
        while polls() < first + 8 and time.monotonic() < deadline:
            time.sleep(0.1)
        done, after = polls(), _write_bytes(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert done - first >= 8, log.read_text()
    per_poll = (after - before) / (done - first)
    # a demo poll: its readings' leaves, the seq index leaf and the meta page (counter, cursor, health) in one
    # commit; a web poll: the meta page (and its readings when the log grew). It was ~16 KiB a poll with the
    # cursor and health in tables of their own and the health committed on its own.
    assert per_poll < 14 * 1024, f"{per_poll / 1024:.1f} KiB per poll"
    print(
        f"{per_poll / 1024:.1f} KiB per poll, {per_poll * 2880 / 1e6:.0f} MB a day at one poll per 30 s",
        file=sys.stderr,
    )
