"""The states real stores are in (issue 18): readings written since the snapshot, and what a collector
costs a disk.

- :func:`write_tail`: after the snapshot, a collector's polls (1,000 readings each, at the newest
  end of the history): what a store fed by ``kpitui collect`` nearly always holds. The suite
  measures every later figure over this state.
- :func:`collector_disk`: a real ``kpitui collect --every 2s`` on the bundled sample (2-3 readings a
  poll); bytes written per poll from ``/proc/PID/io`` (``write_bytes``: what reaches the block
  layer, WAL and checkpoints included), as MB a day at the sample's 30 s interval.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import data

POLLS, PER_POLL = 150, 1000


def write_tail(store, *, polls: int = POLLS, per_poll: int = PER_POLL) -> dict:
    """``polls`` writes of ``per_poll`` readings over 50 metrics after the snapshot (below the 200k rows that refresh it)."""
    t0 = time.perf_counter()
    for i in range(polls):
        start = data.NOW - dt.timedelta(hours=2) + dt.timedelta(seconds=30 * i)
        store.write(data.new_readings(per_poll, metrics=[data.metric_id(k) for k in range(50)], start=start, seconds=30, seed=900 + i))
    return {"tail_rows": polls * per_poll, "tail_polls": polls, "tail_write_s": time.perf_counter() - t0}


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _write_bytes(pid: int) -> int:
    return int(re.search(r"^write_bytes: (\d+)", Path(f"/proc/{pid}/io").read_text(), re.M).group(1))


def collector_disk(kpitui: list[str], folder: Path, *, seconds: float = 60.0) -> dict:
    """Bytes per poll of a running collector on the sample (history_days shortened: the back-fill is not timed)."""
    if not Path("/proc/self/io").exists():
        return {"error": "no /proc/PID/io on this system"}
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("h.sqlite3*"):
        stale.unlink()
    sample = (Path(__file__).resolve().parents[1] / "kpitui" / "sample_config.toml").read_text()
    config = folder / "kpitui.toml"
    config.write_text(f'[storage]\npath = "{folder / "h.sqlite3"}"\n\n' + sample.replace("history_days = 400", "history_days = 30"))
    log = folder / "collect.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*kpitui, "collect", "--every", "2s", "-v", "--config", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        polls = lambda: len(re.findall(r"readings in", log.read_text()))  # noqa: E731
        deadline = time.monotonic() + 180
        while polls() < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        n0, w0, load = polls(), _write_bytes(proc.pid), load_average()
        time.sleep(seconds)
        n1, w1 = polls(), _write_bytes(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    per_poll = (w1 - w0) / max(1, n1 - n0)
    con = sqlite3.connect(folder / "h.sqlite3")
    page = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    return {"polls": n1 - n0, "bytes_per_poll": per_poll, "mb_per_day_at_30s": per_poll * 2880 / 1e6, "load": load, "page_size": page}


def kpitui_command() -> list[str]:
    """The console script beside this interpreter, else ``python -m kpitui.cli``."""
    beside = Path(sys.executable).with_name("kpitui")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "kpitui.cli"]
