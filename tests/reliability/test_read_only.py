"""A history on a read-only file system or folder can be viewed, and says so (issue 19 item 10).

The file system is made read-only for one ``kpitui`` process at a time with a
read-only bind mount in a private mount namespace (``unshare -m``), so nothing
outside the test sees it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from kpitui.api import readings_frame
from kpitui.store import Store, StoreError, unwritable

from .conftest import KPITUI, kpitui_env

UTC = dt.timezone.utc


def read_only_run(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """``kpitui ARGS`` with ``folder`` mounted read-only for that process only."""
    command = " ".join(shlex.quote(a) for a in [*KPITUI, *args])
    script = (
        f"mount --bind {shlex.quote(str(folder))} {shlex.quote(str(folder))} && mount -o remount,ro,bind "
        f"{shlex.quote(str(folder))} && exec {command}"
    )
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120, env=kpitui_env()
    )


def _can_mount() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount --bind / /mnt 2>/dev/null || mount -t tmpfs none /mnt"],
        capture_output=True,
    )
    return probe.returncode == 0


needs_mount = pytest.mark.skipif(
    not _can_mount(), reason="needs unshare -m and mount (root in a private mount namespace)"
)


def make(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "data"
    folder.mkdir()
    history = folder / "h.sqlite3"
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{history.as_posix()}"\n\n'
        '[metrics.sales]\nunit = "count"\naggregation = "sum"\n\n'
        '[kpis.total]\nformula = "sum"\nmetrics = ["sales"]\nwindow = "today"\n'
    )
    with Store(history) as store:
        store.write(readings_frame([("sales", dt.datetime.now(UTC) - dt.timedelta(minutes=k), 2.0) for k in range(5)]))
    return config, folder


@needs_mount
def test_report_and_series_view_a_history_on_a_read_only_file_system(tmp_path, figures):
    config, folder = make(tmp_path)
    assert not list(folder.glob("*-shm"))  # closed cleanly: no -shm to read through
    report = read_only_run(folder, "report", "--format", "json", "--config", str(config))
    assert report.returncode == 0, report.stderr
    assert "cannot be written (it is on a read-only file system): showing it read-only" in report.stderr
    assert len(report.stderr.strip().splitlines()) == 1
    total = next(k for k in json.loads(report.stdout)["kpis"] if k["id"] == "total")
    assert total["value"] == 10.0
    series = read_only_run(folder, "series", "sales", "--points", "1", "--format", "json", "--config", str(config))
    assert series.returncode == 0, series.stderr
    assert json.loads(series.stdout)["points"][0]["value"] == 10.0 and "read-only" in series.stderr
    record = read_only_run(folder, "record", "sales", "1", "--config", str(config))
    assert record.returncode == 1 and "cannot be written (it is on a read-only file system)" in record.stderr
    assert len(record.stderr.strip().splitlines()) == 1 and "Traceback" not in record.stderr
    figures(read_only_views=2, writes_refused=1)


def test_a_read_only_file_is_viewed_and_a_writer_is_told_why(tmp_path):
    config, folder = make(tmp_path)
    history = folder / "h.sqlite3"
    os.chmod(history, 0o400)
    if os.access(history, os.W_OK):
        pytest.skip("running as root: file permissions do not stop writes")
    assert unwritable(history) == "the file is read-only"
    with pytest.raises(StoreError, match="cannot be written"):
        Store(history)
    with Store(history, readonly=True) as viewer:
        assert viewer.load()[0].height == 5 and not viewer.immutable


def test_a_writable_history_is_not_read_only(tmp_path):
    config, folder = make(tmp_path)
    assert unwritable(folder / "h.sqlite3") is None and unwritable(folder / "new" / "h.sqlite3") is None
