"""Crash safety: ``kpitui collect`` SIGKILLed at random moments while a log grows loses and double-counts nothing.

Each round appends a burst to a growing access log, starts a collector with
a writer thread still appending (half lines included), and SIGKILLs it:

- *random* rounds run the real ``kpitui collect --every 0.2`` console script
  and kill it after a random delay (during start-up, a poll's read and parse,
  its write, or the pause between polls);
- *in-transaction* rounds run the same CLI entry point in a process whose
  store pauses inside the write transaction -- after the readings were
  upserted, just before the cursor is saved and ``COMMIT`` -- and kill it
  there (a store that committed readings and cursor separately fails here).

After every kill: ``PRAGMA integrity_check`` is ok; the stored per-hour
counts equal *exactly* the counts of the log lines before the committed
cursor (so readings and cursor committed together); and no stored count
went down (nothing committed was lost). At the end a ``kpitui collect
--once`` catches up and the counts equal the whole log's, line for line.
"""

from __future__ import annotations

import json
import random
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kpitui.store import Store

from .conftest import KPITUI, REPO, kpitui_env, run_kpitui
from .logkit import Appender, GrowingLog, source_toml, stored_counts

IN_TRANSACTION = """
    import sys, time
    from kpitui import cli, store

    pause_on = int(sys.argv[1])
    calls = [0]
    real_conn = store.Store._conn

    class Pausing:
        # the store's connection, pausing just before the cursor is saved: the readings are written
        # by then, the cursor and COMMIT are still to come
        def __init__(self, con):
            self._con = con

        def __getattr__(self, name):
            return getattr(self._con, name)

        def execute(self, sql, *args):
            if sql.lstrip().startswith("INSERT INTO meta (key, value, cursor"):  # the cursor's row (schema 5)
                calls[0] += 1
                if calls[0] >= pause_on:
                    print("IN-TRANSACTION", file=sys.stderr, flush=True)
                    time.sleep(60)
            return self._con.execute(sql, *args)

    store.Store._conn = property(lambda self: Pausing(real_conn.fget(self)))
    sys.exit(cli.main(sys.argv[2:]))
"""


def offset_of(cursor: str | None) -> int:
    if cursor is None:
        return 0
    data = json.loads(cursor)
    return 0 if data["file"] is None else int(data["file"]["offset"])


def check(path: Path, log: GrowingLog, previous: dict) -> tuple[dict, int]:
    with Store(path) as store:
        assert store.integrity_check() == "ok"
        offset = offset_of(store.cursor("web"))
        stored = stored_counts(store.load()[0])
    expected = log.counts(offset)
    assert stored == expected, (
        f"store disagrees with its committed cursor (offset {offset}): "
        f"{len(set(stored.items()) ^ set(expected.items()))} (metric, hour) counts differ"
    )
    lost = {k: (v, stored.get(k, 0)) for k, v in previous.items() if stored.get(k, 0) < v}
    assert not lost, f"committed readings went down after a kill: {list(lost.items())[:5]}"
    return stored, offset


def run_crash_rounds(tmp_path: Path, kills: int, seed: int) -> dict:
    rng = random.Random(seed)
    log = GrowingLog(tmp_path / "access.log", "web", seed)
    history = tmp_path / "history.sqlite3"
    config = tmp_path / "kpitui.toml"
    config.write_text(f'[storage]\npath = "{history.as_posix()}"\n\n' + source_toml("web", log.path), encoding="utf-8")
    stats = {
        "kills": 0,
        "in_transaction_kills": 0,
        "random_kills": 0,
        "rounds_that_committed": 0,
        "checks": 0,
        "readings_checked": 0,
    }
    stored: dict = {}
    offset = 0
    for round_ in range(kills):
        log.append(rng.choice([0, 50, 500, 5000, 20000]))
        in_transaction = round_ % 2 == 1
        if in_transaction:
            command = [sys.executable, "-c", textwrap.dedent(IN_TRANSACTION), str(rng.randint(1, 3))]
        else:
            command = list(KPITUI)
        command += ["collect", "--every", "0.2", "--config", str(config)]
        appender = Appender(log)
        proc = subprocess.Popen(
            command, cwd=REPO, env=kpitui_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        appender.start()
        try:
            if in_transaction:
                assert proc.stderr is not None
                ready, _, _ = select.select([proc.stderr], [], [], 30)
                line = proc.stderr.readline() if ready else ""
                assert line.startswith("IN-TRANSACTION"), f"collector never reached its write: {line!r}"
            else:
                time.sleep(rng.uniform(0.05, 1.6))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            appender.stop()
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
        stats["kills"] += 1
        stats["in_transaction_kills" if in_transaction else "random_kills"] += 1
        stored, new_offset = check(history, log, stored)
        stats["rounds_that_committed"] += new_offset > offset
        stats["checks"] += 1
        stats["readings_checked"] += len(stored)
        offset = new_offset
    # catch up: the log stops growing, one real `kpitui collect --once` reads the rest
    log.finish()
    done = run_kpitui("collect", "--once", "--config", str(config), timeout=120)
    assert done.returncode == 0, done.stderr
    final, offset = check(history, log, stored)
    assert offset == log.size, f"cursor at {offset}, log has {log.size} bytes"
    assert final == log.counts(), "per-hour counts differ from the log after catching up"
    stats.update(
        lines=log.complete_lines,
        log_bytes=log.size,
        hours=len({h for _, h in final}),
        final_readings_checked=len(final),
        lines_counted=sum(v for (m, _), v in final.items() if m == "web_hits"),
    )
    assert stats["lines_counted"] == log.complete_lines
    return stats


@pytest.mark.slow
def test_sigkill_during_collection_loses_and_double_counts_nothing(tmp_path, figures):
    stats = run_crash_rounds(tmp_path, kills=10, seed=20260105)
    assert stats["in_transaction_kills"] == 5 and stats["rounds_that_committed"] >= 3, stats
    figures(**stats)


@pytest.mark.slow
def test_sigkill_soak_50_kills(tmp_path, figures):
    stats = run_crash_rounds(tmp_path, kills=50, seed=50)
    assert stats["in_transaction_kills"] == 25 and stats["rounds_that_committed"] >= 15, stats
    figures(**stats)
