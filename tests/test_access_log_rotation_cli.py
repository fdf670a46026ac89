"""Rotation through the real CLI: what `kpitui collect --once` counted equals `grep -c` on every line ever written.

The logs are rotated the way logrotate does it (rename, then ``gzip`` at once when
``compress`` is set without ``delaycompress``), with the real ``gzip`` binary.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from test_cli import run

PATHS = ["/", "/pricing", "/newsletter/thank-you", "/newsletter", "/retainer/submit", "/blog/post"]
START = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)

pytestmark = pytest.mark.skipif(shutil.which("gzip") is None, reason="needs the gzip binary")


def master_lines(count: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        when = START + dt.timedelta(seconds=i * 17)
        stamp = when.strftime("%d/%b/%Y:%H:%M:%S +0000")
        out.append(
            f'203.0.113.{rng.randint(1, 250)} - - [{stamp}] "GET {rng.choice(PATHS)} HTTP/1.1" 200 512 "-" '
            '"Mozilla/5.0"\n'
        )
    return out


def config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "kpitui.toml"
    path.write_text(
        f"""
[storage]
path = "{tmp_path / "h.sqlite3"}"

[sources.web]
type = "access_log"
path = "access.log"
{extra}

[metrics.signups]
source = "web"
condition = 'path == "/newsletter/thank-you"'
"""
    )
    return path


def total(cfg: Path, days: int = 10) -> float:
    result = run("series", "signups", "--grain", "day", "--points", str(days), "--at", "2026-03-11T00:00:00",
                 "--format", "json", "--config", str(cfg))  # fmt: skip
    assert result.returncode == 0, result.stderr
    return sum(row["value"] or 0 for row in json.loads(result.stdout)["points"])


def grep_count(path: Path) -> int:
    found = subprocess.run(["grep", "-c", '"GET /newsletter/thank-you ', str(path)], capture_output=True, text=True)
    return int(found.stdout.strip() or 0)


def collect(cfg: Path) -> None:
    result = run("collect", "--once", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert "error" not in result.stderr


@pytest.mark.slow
def test_rename_rotation_compressed_at_once_counts_the_unread_tail(tmp_path: Path) -> None:
    lines = master_lines(12_000)
    master = tmp_path / "master.log"
    master.write_text("".join(lines))
    log = tmp_path / "access.log"
    cfg = config(tmp_path)
    log.write_text("".join(lines[:8000]))
    collect(cfg)
    with log.open("a") as out:  # written after the last poll...
        out.write("".join(lines[8000:10000]))
    log.rename(tmp_path / "access.log.1")  # ...then logrotate's rename and compress (no delaycompress)
    subprocess.run(["gzip", str(tmp_path / "access.log.1")], check=True)
    log.write_text("".join(lines[10000:]))
    collect(cfg)
    collect(cfg)
    assert grep_count(master) > 100
    assert total(cfg) == grep_count(master)


def test_copytruncate_compressed_at_once_counts_the_unread_tail(tmp_path: Path) -> None:
    lines = master_lines(9000, seed=8)
    master = tmp_path / "master.log"
    master.write_text("".join(lines))
    log = tmp_path / "access.log"
    cfg = config(tmp_path)
    log.write_text("".join(lines[:5000]))
    collect(cfg)
    with log.open("a") as out:
        out.write("".join(lines[5000:7000]))
    shutil.copyfile(log, tmp_path / "access.log.1")  # copytruncate, then compress at once
    with log.open("r+b") as handle:
        handle.truncate(0)
    subprocess.run(["gzip", str(tmp_path / "access.log.1")], check=True)
    with log.open("a") as out:
        out.write("".join(lines[7000:]))
    collect(cfg)
    assert total(cfg) == grep_count(master)


@pytest.mark.slow
def test_two_rotations_compressed_between_polls(tmp_path: Path) -> None:
    """The file read last is now PATH.2.gz: its unread tail is found by its head, and PATH.1.gz (never seen) is read
    whole."""
    lines = master_lines(9000, seed=9)
    master = tmp_path / "master.log"
    master.write_text("".join(lines))
    log = tmp_path / "access.log"
    cfg = config(tmp_path)
    log.write_text("".join(lines[:3000]))
    collect(cfg)
    with log.open("a") as out:
        out.write("".join(lines[3000:5000]))
    for following in (lines[5000:7000], lines[7000:]):
        if (tmp_path / "access.log.1.gz").exists():
            (tmp_path / "access.log.1.gz").rename(tmp_path / "access.log.2.gz")
        log.rename(tmp_path / "access.log.1")
        subprocess.run(["gzip", str(tmp_path / "access.log.1")], check=True)
        log.write_text("".join(following))
    collect(cfg)
    assert total(cfg) == grep_count(master)
    collect(cfg)
    assert total(cfg) == grep_count(master)


def _delaycompress_rotate(tmp_path: Path) -> None:
    """logrotate with ``compress`` + ``delaycompress`` (Debian's nginx default): .2.gz -> .3.gz, .1 -> .2.gz, PATH ->
    .1."""
    log, one = tmp_path / "access.log", tmp_path / "access.log.1"
    if (tmp_path / "access.log.2.gz").exists():
        (tmp_path / "access.log.2.gz").rename(tmp_path / "access.log.3.gz")
    if one.exists():
        one.rename(tmp_path / "access.log.2")
        subprocess.run(["gzip", str(tmp_path / "access.log.2")], check=True)  # frees the inode of the file that was .1
    log.rename(one)
    log.touch()  # the new log: the file system may hand it the inode just freed


@pytest.mark.slow
def test_a_recycled_inode_is_not_taken_for_the_rotated_log(tmp_path: Path) -> None:
    """Two delaycompress rotations between polls: the file drained at PATH.1 was compressed and deleted, and its
    inode came back as a newer log now at PATH.1. Identity by inode alone read that newer file from the old
    file's offset (counted twice, or the real tail lost); the head hash tells them apart. Whether the file
    system recycles the inode is up to it, so the setup is tried in fresh folders until it does."""
    lines = master_lines(6000, seed=11)
    for attempt in range(8):
        folder = tmp_path / f"try{attempt}"
        folder.mkdir()
        master = folder / "master.log"
        master.write_text("".join(lines))
        log = folder / "access.log"
        cfg = config(folder)
        log.write_text("".join(lines[:1000]))
        collect(cfg)
        _delaycompress_rotate(folder)
        first_rotated = (folder / "access.log.1").stat().st_ino
        log.write_text("".join(lines[1000:1500]))
        collect(cfg)  # drains access.log.1 (the first file) and reads the new log
        with log.open("a") as out:
            out.write("".join(lines[1500:3000]))
        _delaycompress_rotate(folder)
        log.write_text("".join(lines[3000:3500]))
        with log.open("a") as out:
            out.write("".join(lines[3500:5000]))
        _delaycompress_rotate(folder)
        log.write_text("".join(lines[5000:]))
        if (folder / "access.log.1").stat().st_ino == first_rotated:
            break
    else:
        pytest.skip("this file system never recycled the freed inode (the case needs it)")
    collect(cfg)
    assert total(cfg) == grep_count(master)
    collect(cfg)
    assert total(cfg) == grep_count(master)
