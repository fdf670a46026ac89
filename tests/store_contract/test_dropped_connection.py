"""A connection killed mid-transaction (pg_terminate_backend): nothing lost, nothing counted twice, reconnected."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time

import psycopg

from kpitui.api import readings_frame
from kpitui.postgres_store import PostgresStore
from kpitui.store import StoreError

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)


def batch(count: int, value: float = 1.0):
    return readings_frame([("hits", T0 + dt.timedelta(minutes=i), value) for i in range(count)])


def test_a_write_killed_before_commit_keeps_nothing_and_the_retry_counts_once(pg_url, tmp_path):
    store = PostgresStore(pg_url, instance="web1", path=tmp_path / "s")
    store.write(batch(1000), mode="add", source="log", cursor="1", set_cursor=True, expect_cursor=None)
    with psycopg.connect(pg_url) as blocker:  # holds the cursor row: the next write stops just before its commit
        blocker.execute("SELECT * FROM kpitui.cursors WHERE source = 'log' FOR UPDATE")
        failure: list[BaseException] = []

        def write() -> None:
            try:
                store.write(batch(5000), mode="add", source="log", cursor="2", set_cursor=True, expect_cursor="1")
            except BaseException as exc:  # noqa: BLE001
                failure.append(exc)

        writer = threading.Thread(target=write)
        writer.start()
        pid = store._con.info.backend_pid
        deadline = time.monotonic() + 30
        while (
            blocker.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()[0]
            != "Lock"
        ):
            assert time.monotonic() < deadline, "the write never reached the cursor"
            time.sleep(0.02)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
        writer.join(30)
        blocker.rollback()
    assert len(failure) == 1 and isinstance(failure[0], StoreError)
    assert "lost the connection" in str(failure[0]) and "nothing of that was kept" in str(failure[0])
    viewer = PostgresStore(pg_url, readonly=True, path=tmp_path / "s")
    frame, _ = viewer.load()
    assert frame["value"].sum() == 1000 and store.cursor("log") == "1"  # reconnects here
    assert store.reconnects == 1 and "reconnected" in store.notice
    # the collector's next poll: the same lines again, from the same cursor - counted once
    store.write(batch(5000), mode="add", source="log", cursor="2", set_cursor=True, expect_cursor="1")
    frame, _ = viewer.load()
    assert frame["value"].sum() == 1000 + 5000
    assert frame.filter(frame["at"] == T0)["value"].to_list() == [2.0]
    store.close()
    viewer.close()


def test_the_collector_says_it_reconnected(pg_url, tmp_path, caplog):
    """kpitui collect's poll after a dropped connection fails once, then logs the reconnection and stores."""
    from kpitui.collector import Collector
    from kpitui.config import load_config

    config_path = tmp_path / "kpitui.toml"
    config_path.write_text(
        f"""
[storage]
url = "{pg_url}"
instance = "web1"
path = "{tmp_path / "side.sqlite3"}"

[sources.demo]
type = "demo"
history_days = 2

[metrics.visits]
name = "Visits"
source = "demo"
trigger = "a visit"
"""
    )
    config = load_config(str(config_path))
    from kpitui.history_store import open_history

    store = open_history(config)
    collector = Collector(config, store)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        # with a timeout the call waits until the backend is gone (PostgreSQL 14+): without it a loaded machine
        # could run the poll before the connection died, and nothing would reconnect
        admin.execute("SELECT pg_terminate_backend(%s, 10000)", (store._con.info.backend_pid,))
    # caplog listens on the root logger; kpitui's logging setup (run in-process by earlier CLI tests) may stop
    # 'kpitui' propagating there, so its handler listens on the collector's own logger too
    collect_log = logging.getLogger("kpitui.collect")
    collect_log.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="kpitui.collect"):
            results = collector.run_once()
    finally:
        collect_log.removeHandler(caplog.handler)
    assert not any(r.error for r in results), results
    assert any("reconnected to the PostgreSQL history" in m for m in caplog.messages)
    collector.close()
    store.close()
