"""A full disk, a read-only history and a damaged page: one line that says what to do, exit 1, no traceback.

Real file systems: a small tmpfs (mounted for the test, as root) filled to the
last byte or remounted read-only, and a copy of a real history file with
garbage written over its readings pages.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest

from kpitui.config import BUNDLED_SAMPLE
from tests.test_cli import run


def _one_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert result.returncode == 1, (result.returncode, result.stderr)
    return lines[0]


@pytest.fixture
def small_disk(tmp_path):
    """An 8 MiB tmpfs at tmp_path/disk (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", f"kpitui-{uuid.uuid4().hex[:8]}", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _config(folder: Path, history: Path) -> Path:
    path = folder / "kpitui.toml"
    path.write_text(f'[storage]\npath = "{history}"\n\n[metrics.sales]\nunit = "count"\n')
    return path


def _fill(disk: Path) -> None:
    with open(disk / "filler", "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass


def test_record_on_a_full_disk_while_a_viewer_holds_the_history(small_disk, tmp_path):
    config = _config(tmp_path, small_disk / "h.sqlite3")
    assert run("record", "sales", "1", "--config", str(config)).returncode == 0
    viewer = sqlite3.connect(small_disk / "h.sqlite3")  # keeps the -wal and -shm files, as a running TUI does
    try:
        viewer.execute("SELECT count(*) FROM readings").fetchone()
        _fill(small_disk)
        line = _one_line(run("record", "sales", "2", "--config", str(config)))
    finally:
        viewer.close()
    assert str(small_disk / "h.sqlite3") in line and "disk is full: free some space" in line


def test_record_on_a_full_disk_with_no_viewer(small_disk, tmp_path):
    config = _config(tmp_path, small_disk / "h.sqlite3")
    assert run("record", "sales", "1", "--config", str(config)).returncode == 0
    _fill(small_disk)
    line = _one_line(run("record", "sales", "2", "--config", str(config)))  # SQLite says "disk I/O error" here
    assert "disk is full: free some space" in line


def test_record_on_a_read_only_history(small_disk, tmp_path):
    config = _config(tmp_path, small_disk / "h.sqlite3")
    assert run("record", "sales", "3", "--config", str(config)).returncode == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    line = _one_line(run("record", "sales", "4", "--config", str(config)))
    assert str(small_disk / "h.sqlite3") in line and "cannot be written" in line and "read-only" in line
    listing = run("readings", "list", "--config", str(config))  # listing needs no write
    assert listing.returncode == 0, listing.stderr
    row = listing.stdout.splitlines()[1].split()
    assert (row[0], row[-2], row[-1]) == ("1", "sales", "3")


@pytest.fixture(scope="module")
def damaged_history(tmp_path_factory) -> Path:
    """A real history (the sample's demo source, 30 days) with garbage over the root pages of its readings."""
    folder = tmp_path_factory.mktemp("damaged")
    history = folder / "h.sqlite3"
    config = folder / "sample.toml"
    sample = BUNDLED_SAMPLE.read_text().replace("history_days = 400", "history_days = 30")
    config.write_text(f'[storage]\npath = "{history}"\n\n' + sample)
    assert run("collect", "--once", "--config", str(config)).returncode == 0
    assert run("report", "--no-collect", "--config", str(config)).returncode == 0  # readable before
    with sqlite3.connect(history) as con:
        page = con.execute("PRAGMA page_size").fetchone()[0]
        roots = [
            r
            for (r,) in con.execute(
                "SELECT rootpage FROM sqlite_master WHERE name IN ('readings', 'readings_seq', 'readings_key')"
            )
        ]
    con.close()
    with open(history, "r+b") as handle:
        for root in roots:
            handle.seek((root - 1) * page)
            handle.write(os.urandom(page))
    return config


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        ["report", "--no-collect"],
        ["report", "--at", "2026-01-01"],
        ["series", "newsletter_signups"],
        ["series", "lead_generation", "--format", "json"],
    ],
)
def test_reading_a_damaged_history_is_one_line(damaged_history, command):
    history = damaged_history.with_name("h.sqlite3")
    line = _one_line(run(*command, "--config", str(damaged_history)))
    assert str(history) in line and "damaged" in line and "backup" in line and "recover" in line


def test_collect_on_a_full_disk_says_what_to_do(small_disk, tmp_path):
    config = tmp_path / "collect.toml"
    config.write_text(
        f'[storage]\npath = "{small_disk / "h.sqlite3"}"\n\n[sources.shell]\ntype = "command"\n\n'
        '[metrics.queue]\nsource = "shell"\ncommand = "echo 7"\n'
    )
    assert run("collect", "--once", "--config", str(config)).returncode == 0
    viewer = sqlite3.connect(small_disk / "h.sqlite3")
    try:
        viewer.execute("SELECT count(*) FROM readings").fetchone()
        _fill(small_disk)
        result = run("collect", "--once", "--config", str(config))
    finally:
        viewer.close()
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert (
        "shell: error: could not store readings:" in result.stderr and "disk is full: free some space" in result.stderr
    )
