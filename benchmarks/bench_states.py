"""The states real stores are in (issue 18): readings written since the snapshot, and what a collector
costs a disk.

- :func:`write_tail`: after the snapshot, a collector's polls (1,000 readings each, at the newest
  end of the history): what a store fed by ``kpitui collect`` nearly always holds. The suite
  measures every later figure over this state.
- :func:`collector_disk`: a real ``kpitui collect`` on the bundled sample, its sources' intervals
  divided by :data:`SPEED`; bytes written from ``/proc/PID/io`` (``write_bytes``: what reaches the
  block layer, WAL and checkpoints included), as MB a day at the sample's own intervals.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks import data

POLLS, PER_POLL = 150, 1000


def write_tail(store, *, polls: int = POLLS, per_poll: int = PER_POLL) -> dict:
    """``polls`` writes of ``per_poll`` readings over 50 metrics after the snapshot (below the 200k rows that refresh
    it)."""
    t0 = time.perf_counter()
    for i in range(polls):
        start = data.NOW - dt.timedelta(hours=2) + dt.timedelta(seconds=30 * i)
        store.write(
            data.new_readings(
                per_poll, metrics=[data.metric_id(k) for k in range(50)], start=start, seconds=30, seed=900 + i
            )
        )
    return {"tail_rows": polls * per_poll, "tail_polls": polls, "tail_write_s": time.perf_counter() - t0}


def saved_state(store: Path, into: Path):
    """Copy the closed store ``store`` (its file, WAL and index cache folder) into ``into``; return a function that
    puts that state back. A TUI start folds the rows since its cache and, past ``FOLD_SAVE_ROWS``, saves a new cache
    (kpitui.history): without the state put back, every start after the first would begin with 0 rows since the
    cache, not the state the figure names.

    Putting it back writes only what differs from the copy (a file missing, or not of the copy's size and
    modification time; files under ``SMALL`` always) and removes what the copy does not have (a new cache), then
    ``os.sync()``: a start killed at its first values changes a few small files (the WAL's index), not the 0.9 GB
    of the 10M store and its cache. Copying all of it back before each start left ~0.9 GB of dirty pages that the
    kernel wrote back during the following timed starts (past ``dirty_background_ratio``, or 30 s later), on the
    same 2 cores: the five 10M starts of a quiet run got slower one after the other (values 1.30 to 1.78 s) with
    the same CPU each (benchmarks/NOTES.md). A user's store was written long before kpitui starts."""
    into.mkdir(parents=True, exist_ok=True)
    for path in store.parent.glob(store.name + "*"):
        (shutil.copytree if path.is_dir() else shutil.copy2)(path, into / path.name)
    saved = {path.relative_to(into): path for path in into.rglob("*") if path.is_file()}
    os.sync()

    def restore() -> None:
        live = {
            path.relative_to(store.parent): path
            for top in store.parent.glob(store.name + "*")
            for path in ([top] if top.is_file() else top.rglob("*"))
            if path.is_file()
        }
        for name, path in live.items():
            if name not in saved:
                path.unlink()
        for name, copy in saved.items():
            there, want = live.get(name), copy.stat()
            if there is not None and want.st_size >= SMALL:
                have = there.stat()
                if (have.st_size, have.st_mtime_ns) == (want.st_size, want.st_mtime_ns):
                    continue
            target = store.parent / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(copy, target)
        os.sync()

    return restore


#: files smaller than this are always copied back by :func:`saved_state`'s restore (SQLite's -shm and -wal, the
#: cache's json): a file written in place can keep its size, and these cost nothing to copy
SMALL = 1 << 20


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _write_bytes(pid: int) -> int:
    return int(re.search(r"^write_bytes: (\d+)", Path(f"/proc/{pid}/io").read_text(), re.M).group(1))


#: the sample's intervals divided by this: a day of its polls in 86,400 / SPEED seconds. 1: as a user
#: runs it. Faster runs count less than a real day costs: the kernel counts a page cache page once
#: each time it goes from clean to dirty, and polls closer together than its write-back (~30 s) land
#: in pages still dirty (the WAL's last page, the -shm wal-index); at 10x the sample measured 28.9
#: MB/day where it writes ~100 (benchmarks/NOTES.md).
SPEED = 1


def collector_disk(
    kpitui: list[str], folder: Path, *, seconds: float = 240.0, speed: float = SPEED, log_file: bool = False
) -> dict:
    """Bytes a running collector on the sample writes a day, from ``/proc/PID/io`` ``write_bytes``.

    Every source of the sample polls at its own interval divided by ``speed`` (with 10: demo 30 s
    -> 3 s, web 10 s -> 1 s: the same mix of polls, ``speed`` times as fast), so the bytes a second
    times a day over ``speed`` is a day of the sample's polls (see :data:`SPEED` for why 1). The
    back-fill (history_days shortened) is not measured: after it the WAL is checkpointed and
    truncated, or the first polls would rewrite WAL pages the back-fill left dirty in the page
    cache (not counted again by the kernel until written back) and look cheaper than they are;
    the window then starts after the collector's next commit (which restarts the WAL and zeroes
    the wal-index: ~40 KiB a real collector writes once per ~1,000 commits, that a 240 s window
    would count as ~15 MB a day) and an ``os.sync()``, so that every page starts clean.

    The collector's output goes to a pipe read here, as a service's goes to the journal (the
    examples/systemd units), which stores it on its own account: ``mb_per_day`` is what the
    collector itself writes (the history, and the demo's made-up site log). Its ``-v`` log (one
    line a poll, needed to count polls) is reported beside it, never hidden:
    ``log_bytes_per_day``, the text a day of it hands the journal. ``log_file=True`` sends the
    log to a file in ``folder`` instead (``collect -v > file``: its pages then count in
    ``mb_per_day``, ~11 MB a day at real intervals, benchmarks/NOTES.md).
    """
    if not Path("/proc/self/io").exists():
        return {"error": "no /proc/PID/io on this system"}
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("h.sqlite3*"):
        stale.unlink()
    sample = (Path(__file__).resolve().parents[1] / "kpitui" / "sample_config.toml").read_text()
    intervals = [float(m) for m in re.findall(r"^interval = (\d+(?:\.\d+)?)\s*$", sample, re.M)]
    faster = re.sub(
        r"^interval = (\d+(?:\.\d+)?)\s*$", lambda m: f"interval = {float(m[1]) / speed:g}", sample, flags=re.M
    )
    config = folder / "kpitui.toml"
    config.write_text(
        f'[storage]\npath = "{folder / "h.sqlite3"}"\n\n' + faster.replace("history_days = 400", "history_days = 30")
    )
    command = [*kpitui, "collect", "-v", "--config", str(config)]
    log = _Log(command, folder / "collect.log" if log_file else None)
    try:
        deadline = time.monotonic() + 180
        while log.polls < 2 * len(intervals) + 1 and time.monotonic() < deadline and log.proc.poll() is None:
            time.sleep(0.2)
        with sqlite3.connect(folder / "h.sqlite3", timeout=30) as con:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        # the collector's next commit restarts the WAL, zeroing the wal-index (32 KiB of -shm): a real
        # collector does that after each checkpoint, ~1,000 commits apart (a few times a day), not
        # once in every few minutes as a window starting here would count it
        wal = folder / "h.sqlite3-wal"
        while (not wal.exists() or wal.stat().st_size == 0) and time.monotonic() < deadline + 120:
            time.sleep(0.2)
        os.sync()  # every dirty page written back: the window starts as one after the kernel's write-back
        n0, b0, w0, t0, load = log.polls, log.bytes, _write_bytes(log.proc.pid), time.monotonic(), load_average()
        time.sleep(seconds)
        n1, b1, w1, t1 = log.polls, log.bytes, _write_bytes(log.proc.pid), time.monotonic()
        load_after = load_average()
    finally:
        log.stop()
    written = w1 - w0
    per_day = written / (t1 - t0) * 86_400 / speed
    con = sqlite3.connect(folder / "h.sqlite3")
    page = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    polls_a_day = sum(86_400 / i for i in intervals)
    return {
        "polls": n1 - n0,
        "bytes_per_poll": written / max(1, n1 - n0),
        "mb_per_day": per_day / 1e6,
        "log": "file" if log_file else "pipe (as the journal reads a service's output)",
        "log_bytes_per_day": (b1 - b0) / (t1 - t0) * 86_400 / speed,
        "polls_a_day": polls_a_day,
        "intervals": intervals,
        "speed": speed,
        "seconds": t1 - t0,
        "load": load,
        "load_after": load_after,
        "page_size": page,
    }


class _Log:
    """``command`` running with its output in ``path`` (``None``: a pipe read here, as a journal reads a
    service's), counting its ``-v`` poll lines and bytes."""

    def __init__(self, command: list[str], path: Path | None) -> None:
        self.path = path
        self._polls = self._bytes = 0
        if path is None:
            self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
        else:
            with path.open("w") as out:
                self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._bytes += len(line)
            self._polls += b"readings in" in line

    @property
    def polls(self) -> int:
        return len(re.findall(r"readings in", self.path.read_text())) if self.path else self._polls

    @property
    def bytes(self) -> int:
        return self.path.stat().st_size if self.path else self._bytes

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        if self.path is None:
            self._reader.join(timeout=10)


def kpitui_command() -> list[str]:
    """The console script beside this interpreter, else ``python -m kpitui.cli``."""
    beside = Path(sys.executable).with_name("kpitui")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "kpitui.cli"]
