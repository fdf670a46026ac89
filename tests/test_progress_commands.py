"""``kpitui history copy`` (and ``compact``, ``history backup``) show a bar on a terminal, none when piped (issue
20)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import polars as pl
import pytest
from test_cli import kpitui_script, run
from test_progress import read_pty

from kpitui.store import Store

ROWS = 1_200_000


def history(tmp_path: Path) -> Path:
    """A config and a history of ROWS readings of 12 metrics (a copy of it takes seconds)."""
    path = tmp_path / "h.sqlite3"
    start = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    per = ROWS // 12
    frame = pl.DataFrame(
        {
            "metric": [f"m{i}" for i in range(12) for _ in range(per)],
            "at": [start + dt.timedelta(minutes=j) for _ in range(12) for j in range(per)],
            "value": [float(j % 97) for _ in range(12) for j in range(per)],
        }
    )
    with Store(path) as store:
        store.write(frame, mode="replace")
    cfg = tmp_path / "kpitui.toml"
    cfg.write_text(f'[storage]\npath = "{path}"\n\n[metrics.m0]\nunit = "count"\n')
    return cfg


@pytest.mark.slow
def test_history_copy_shows_a_bar_on_a_terminal_and_none_when_piped(tmp_path: Path) -> None:
    cfg = history(tmp_path)
    src = tmp_path / "h.sqlite3"
    code, screen = read_pty(
        [kpitui_script(), "history", "copy", str(src), str(tmp_path / "a.sqlite3"), "--config", str(cfg)]
    )
    assert code == 0, screen[-2000:]
    screen = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", screen)  # the text, without the terminal's colour codes
    assert "copy: writing" in screen and "━" in screen, screen[-2000:]  # the bar, what it is doing
    assert re.search(r"[\d,]+/1,200,000 readings", screen), screen[-2000:]  # rows done of rows to copy
    assert re.search(r"\d+% [\d,]+/1,200,000 readings [\d,]+ readings/s", screen), screen[-2000:]  # how far, the rate
    assert "copied 1,200,000 readings of 12 metric(s)" in screen  # then the summary line

    piped = run("history", "copy", str(src), str(tmp_path / "b.sqlite3"), "--config", str(cfg))
    assert piped.returncode == 0, piped.stderr
    assert "copied 1,200,000 readings" in piped.stdout
    assert "━" not in piped.stderr and "writing" not in piped.stderr and "\x1b[" not in piped.stderr

    code, screen = read_pty(
        [kpitui_script(), "--quiet", "history", "copy", str(src), str(tmp_path / "c.sqlite3"), "--config", str(cfg)]
    )
    assert code == 0 and "copied 1,200,000" in screen and "━" not in screen, screen[-2000:]


@pytest.mark.slow
def test_backup_reports_bytes_copied_through_its_progress_hook(tmp_path: Path) -> None:
    history(tmp_path)
    reports = []
    with Store(tmp_path / "h.sqlite3", readonly=True) as store:
        assert store.backup(tmp_path / "copy.sqlite3", progress=lambda *a: reports.append(a)) == "ok"
    size = (tmp_path / "copy.sqlite3").stat().st_size
    assert len(reports) > 1 and reports[-1][0] == reports[-1][1] == size  # bytes, the whole file at the end
    assert [d for d, _, _ in reports] == sorted(d for d, _, _ in reports)
    assert reports[0][2] == "copying to copy.sqlite3"
