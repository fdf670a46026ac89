"""A damaged history is noticed, never written to, and says how to recover; backups (issue 19 item 9)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from kpitui.api import readings_frame
from kpitui.collector import Collector
from kpitui.config import load_config
from kpitui.store import Store, StoreError

from .conftest import run_kpitui

UTC = dt.timezone.utc
START = dt.datetime(2026, 1, 1, tzinfo=UTC)
ROWS = 120_000  # under the snapshot threshold: a full load reads every page of the readings table


def make(tmp_path: Path) -> Path:
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n\n'
        '[metrics.sales]\nunit = "count"\naggregation = "sum"\n\n'
        '[kpis.total]\nformula = "sum"\nmetrics = ["sales"]\nwindow = "year_to_date"\n'
    )
    with Store(tmp_path / "h.sqlite3") as store:
        store.write(readings_frame([("sales", START + dt.timedelta(minutes=k), 1.0) for k in range(ROWS)]))
    return config


def damage(path: Path) -> None:
    """Overwrite one leaf page of the readings table, in the middle of its time range, with noise."""
    con = sqlite3.connect(path)
    page = con.execute("PRAGMA page_size").fetchone()[0]
    leaves = [
        r[0]
        for r in con.execute("SELECT pageno FROM dbstat WHERE name = 'readings' AND pagetype = 'leaf' ORDER BY path")
    ]
    con.close()
    assert len(leaves) > 10 and not Path(f"{path}-wal").exists()
    with open(path, "r+b") as handle:
        handle.seek(page * (leaves[len(leaves) // 2] - 1))
        handle.write(os.urandom(page))


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.slow
def test_a_failing_read_marks_the_history_and_writers_refuse(tmp_path, figures):
    config = make(tmp_path)
    history = tmp_path / "h.sqlite3"
    damage(history)
    report = run_kpitui("report", "--no-collect", "--config", str(config))
    assert report.returncode == 1
    line = one_line(report)
    assert (
        "is damaged" in line
        and "kpitui will not write to it" in line
        and "kpitui history recover" in line
        and "backup" in line
    )
    record = run_kpitui("record", "sales", "5", "--config", str(config))
    assert record.returncode == 1 and "is damaged" in one_line(record) and "Recover" in record.stderr
    assert "recorded" not in record.stdout
    check = run_kpitui("history", "check", "--config", str(config))
    assert check.returncode == 1 and "is damaged" in one_line(check)
    # recovered as the message says: the new file (another inode) is written to again
    recovered = tmp_path / "h.sqlite3.recovered"
    result = run_kpitui("history", "recover", str(recovered), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "damaged range(s) could not be read" in result.stdout and f"move it to {history}" in result.stdout
    with Store(recovered, readonly=True) as store:
        kept = store.load()[0]
    assert ROWS * 0.9 < kept.height < ROWS  # one page of readings lost, every other one kept
    assert set(kept["value"].to_list()) == {1.0}
    for suffix in ("", "-wal", "-shm"):
        Path(f"{history}{suffix}").unlink(missing_ok=True)
    shutil.move(recovered, history)
    assert run_kpitui("history", "check", "--config", str(config)).returncode == 0
    again = run_kpitui("record", "sales", "5", "--config", str(config))
    assert again.returncode == 0, again.stderr
    figures(damaged_pages=1, writes_refused=1, readings_recovered=kept.height, readings_lost=ROWS - kept.height)


def test_the_collectors_daily_check_finds_damage_no_reader_met(tmp_path, figures):
    config = make(tmp_path)
    history = tmp_path / "h.sqlite3"
    damage(history)
    with Store(history) as store:
        assert store.damaged is None  # opening reads no page of the table: it costs a stat
        store.write(readings_frame([("sales", START + dt.timedelta(days=300), 1.0)]))  # touches other pages: works
        collector = Collector(load_config(config), store)
        message = collector.check_history()
        assert message is not None and "is damaged" in message and "Recover" in message
        with pytest.raises(StoreError, match="is damaged"):
            store.write(readings_frame([("sales", START + dt.timedelta(days=301), 1.0)]))
    with Store(history) as later:  # another writer, later: the note makes it refuse at once
        assert later.damaged is not None
        with pytest.raises(StoreError, match="kpitui will not write to it"):
            later.record_health("web", ok=True)
    figures(checks=1)


def test_the_daily_check_runs_once_a_day(tmp_path):
    make(tmp_path)
    with Store(tmp_path / "h.sqlite3") as store:
        now = dt.datetime(2026, 6, 1, 12, tzinfo=UTC)
        assert store.check_if_due(now) is None
        checked = store._conn.execute("SELECT value FROM meta WHERE key = 'checked'").fetchone()
        assert checked is not None
        store.check_if_due(now + dt.timedelta(hours=23))
        assert store._conn.execute("SELECT value FROM meta WHERE key = 'checked'").fetchone() == checked
        store.check_if_due(now + dt.timedelta(hours=25))
        assert store._conn.execute("SELECT value FROM meta WHERE key = 'checked'").fetchone() != checked


def test_history_backup_copies_a_consistent_private_file(tmp_path, figures):
    config = make(tmp_path)
    dest = tmp_path / "backups" / "h-2026-06-01.sqlite3"
    dest.parent.mkdir()
    with Store(tmp_path / "h.sqlite3") as writer:  # a collector keeps its connection open meanwhile
        writer.write(readings_frame([("sales", START + dt.timedelta(days=200), 7.0)]))
        result = run_kpitui("history", "backup", str(dest), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert f"backed up {tmp_path / 'h.sqlite3'} to {dest}" in result.stdout and "checked: ok" in result.stdout
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600 and not Path(f"{dest}-wal").exists()
    with Store(tmp_path / "h.sqlite3", readonly=True) as original, Store(dest, readonly=True) as copy:
        a, b = original.load()[0].sort("at"), copy.load()[0].sort("at")
        assert a.equals(b) and b.height == ROWS + 1
    again = run_kpitui("history", "backup", str(dest), "--config", str(config))
    assert again.returncode == 1 and "already exists" in one_line(again)
    figures(readings_backed_up=ROWS + 1)
