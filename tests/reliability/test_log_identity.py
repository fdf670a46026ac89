"""A tailed log is known by its content as well as its device and inode (issue 19 items 4 and 12).

- A reboot that renumbers an LVM, btrfs, overlay or loop device changes
  ``st_dev`` but not the file: counts through the CLI still equal ``grep -c``
  (before, the whole file was counted again: 2010 instead of 1010).
- The same inode number with other bytes is another file, counted from 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_access_log_rotation_cli import collect, config, grep_count, master_lines, total


def shift_device(history: Path, by: int = 7) -> None:
    """What a reboot that renumbers an LVM/btrfs/overlay/loop device does to a saved position: same inode, other
    st_dev."""
    import sqlite3

    with sqlite3.connect(history) as con:
        (text,) = con.execute("SELECT cursor FROM cursors WHERE source = 'web'").fetchone()
        state = json.loads(text)
        state["file"]["dev"] += by
        # the cursors view reads meta's 'source:<id>' rows (schema 5), where the saved position lives
        con.execute("UPDATE meta SET cursor = ? WHERE key = 'source:web'", (json.dumps(state),))


def test_a_renumbered_device_is_the_same_file(tmp_path: Path, figures) -> None:
    lines = master_lines(6000, seed=12)
    log = tmp_path / "access.log"
    cfg = config(tmp_path)
    log.write_text("".join(lines[:4000]))
    collect(cfg)
    shift_device(tmp_path / "h.sqlite3")
    with log.open("a") as out:
        out.write("".join(lines[4000:]))
    collect(cfg)
    assert total(cfg) == grep_count(log)
    shift_device(tmp_path / "h.sqlite3", by=-3)  # and again, with nothing new
    collect(cfg)
    assert total(cfg) == grep_count(log)
    figures(device_renumberings=2, lines_checked=len(lines))


def test_a_new_file_with_the_same_inode_number_on_another_device_is_read_from_the_start(tmp_path: Path) -> None:
    """Same inode number but other content (the head differs): a different file, counted from 0."""
    lines = master_lines(6000, seed=13)
    log = tmp_path / "access.log"
    cfg = config(tmp_path)
    log.write_text("".join(lines[:3000]))
    collect(cfg)
    shift_device(tmp_path / "h.sqlite3")
    with log.open("r+") as out:  # rewritten in place: same inode, other bytes
        out.truncate(0)
        out.write("".join(lines[3000:]))
    collect(cfg)
    assert total(cfg) == grep_count(tmp_path / "access.log") + sum(
        1 for line in lines[:3000] if '"GET /newsletter/thank-you ' in line
    )


@pytest.mark.slow
def test_a_deleted_log_becomes_the_sources_error_after_the_grace_period_and_clears_when_it_returns(
    tmp_path: Path, figures
) -> None:
    """Before: `web: 0 readings` forever. Now: quiet for `missing_grace` seconds (a rotation's gap), then an error."""
    import time

    from test_cli import run

    from kpitui.store import Store

    lines = master_lines(3000, seed=21)
    log = tmp_path / "access.log"
    cfg = config(tmp_path, extra="missing_grace = 1")
    log.write_text("".join(lines[:2000]))
    collect(cfg)
    log.unlink()  # deleted after the first poll
    quiet = run("collect", "--once", "--config", str(cfg))
    assert quiet.returncode == 0 and "error" not in quiet.stderr  # within the grace period: maybe a rotation
    time.sleep(1.3)
    failed = run("collect", "--once", "--config", str(cfg))
    assert failed.returncode == 1
    assert "web: error" in failed.stderr and str(log) in failed.stderr and "missing" in failed.stderr
    with Store(tmp_path / "h.sqlite3", readonly=True) as store:
        assert "missing" in (store.health()["web"].error or "")
    report = json.loads(run("report", "--no-collect", "--format", "json", "--config", str(cfg)).stdout)
    assert "missing" in (report["metrics"][0]["error"] or "")

    log.write_text("".join(lines[2000:]))  # the log returns
    collect(cfg)
    with Store(tmp_path / "h.sqlite3", readonly=True) as store:
        state = store.health()["web"]
    assert state.error is None and state.failures == 0
    every = tmp_path / "all.log"
    every.write_text("".join(lines))
    assert total(cfg) == grep_count(every)
    figures(deleted_logs=1, lines_checked=len(lines))
