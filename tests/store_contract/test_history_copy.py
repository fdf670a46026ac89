"""`kpitui history copy FROM TO`: SQLite -> PostgreSQL -> SQLite, and `report --format json --at T` never changes."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest

from kpitui.manual_readings import UnknownReading
from kpitui.store import Store
from tests.store_contract.test_postgres_cli import run, sample_config

AT = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)).replace(minute=0, second=0, microsecond=0).isoformat()


def _daily(metric: str, rows: pl.DataFrame) -> pl.DataFrame:
    day = 86_400_000_000
    return (
        rows.group_by((pl.col("at") // day * day).alias("bucket"))
        .agg(
            pl.col("value").sum(),
            pl.col("n").sum(),
            pl.col("at").min().alias("first"),
            pl.col("at").max().alias("last"),
        )
        .rename({"bucket": "at"})
        .sort("at")
    )


def report(config, env) -> dict:
    result = run("report", "--no-collect", "--format", "json", "--at", AT, "--config", str(config), env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    return {key: data[key] for key in ("kpis", "objectives", "at")}


@pytest.mark.slow
def test_copy_to_postgres_and_back_keeps_every_figure(tmp_path, pg_url):
    env = {"KPITUI_DATABASE_URL": pg_url}
    retention = ""
    first = sample_config(tmp_path, f'path = "{tmp_path / "a.sqlite3"}"\n{retention}', "a.toml")
    on_pg = sample_config(tmp_path, f'url = "${{KPITUI_DATABASE_URL}}"\n{retention}', "pg.toml")
    back = sample_config(tmp_path, f'path = "{tmp_path / "b.sqlite3"}"\n{retention}', "b.toml")
    assert run("collect", "--once", "--config", str(first)).returncode == 0
    with Store(tmp_path / "a.sqlite3") as store:  # down-sampled rows (n > 1) and a compacted past are copied too
        cut = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=10)
        done = store.compact(cut, _daily)
        assert done.replaced > 100
    before = report(first, env)
    assert before["kpis"]

    there = run(
        "history", "copy", str(tmp_path / "a.sqlite3"), "${KPITUI_DATABASE_URL}", "--config", str(on_pg), env=env
    )
    assert there.returncode == 0, there.stderr
    assert "copied" in there.stdout and pg_url.split("@")[0].split(":")[-1] not in there.stdout  # no password
    assert report(on_pg, env) == before

    home = run(
        "history", "copy", "${KPITUI_DATABASE_URL}", str(tmp_path / "b.sqlite3"), "--config", str(on_pg), env=env
    )
    assert home.returncode == 0, home.stderr
    assert report(back, env) == before

    other = sample_config(tmp_path, f'path = "{tmp_path / "c.sqlite3"}"', "c.toml")
    assert run("record", "ad_views", "1", "--at", "2020-01-01T00:00", "--config", str(other)).returncode == 0
    refused = run(
        "history", "copy", str(tmp_path / "c.sqlite3"), "${KPITUI_DATABASE_URL}", "--config", str(on_pg), env=env
    )
    assert refused.returncode == 1
    assert "already holds readings that" in refused.stderr and "copy into a new, empty history" in refused.stderr


def sqlite_tables(path) -> dict[str, list]:
    """Everything an SQLite history holds beside its snapshot, keyed by names rather than ids."""
    import sqlite3

    con = sqlite3.connect(path)
    try:
        queries = {
            "readings": "SELECT m.name, r.at, r.value, r.n FROM readings r JOIN metrics m ON m.id = r.metric_id",
            "compacted": "SELECT m.name, c.before FROM compacted c JOIN metrics m ON m.id = c.metric_id",
            "manual": "SELECT e.id, m.name, e.at, e.recorded FROM manual_readings e "
            "JOIN metrics m ON m.id = e.metric_id",
            "ids": "SELECT name, seq FROM sqlite_sequence",
            "cursors": "SELECT source, cursor, updated FROM cursors",
            "health": "SELECT source, last_success, last_error, error, failures, next_attempt FROM source_health",
            "annotations": "SELECT id, at, text, kpi, metric, created, updated FROM annotations",
        }
        return {name: sorted(con.execute(sql).fetchall(), key=repr) for name, sql in queries.items()}
    finally:
        con.close()


def postgres_tables(url) -> dict[str, list]:
    import psycopg

    with psycopg.connect(url) as con:
        queries = {
            "readings": "SELECT m.name, i.name, r.at, r.value, r.n FROM kpitui.readings r "
            "JOIN kpitui.metrics m ON m.id = r.metric_id JOIN kpitui.instances i ON i.id = r.instance_id",
            "compacted": "SELECT m.name, c.before FROM kpitui.compacted c JOIN kpitui.metrics m ON m.id = c.metric_id",
            "manual": "SELECT e.id, m.name, i.name, e.at, e.recorded FROM kpitui.manual_readings e "
            "JOIN kpitui.metrics m ON m.id = e.metric_id JOIN kpitui.instances i ON i.id = e.instance_id",
            "cursors": "SELECT instance, source, cursor, updated FROM kpitui.cursors",
            "health": "SELECT * FROM kpitui.source_health",
            "seq": "SELECT max(seq) FROM kpitui.readings",  # a copy run again rewrites nothing
        }
        return {name: sorted(con.execute(sql).fetchall(), key=repr) for name, sql in queries.items()}


@pytest.mark.slow
def test_a_round_trip_keeps_every_table_and_manual_reading_ids(tmp_path, pg_url):
    """SQLite -> PostgreSQL -> SQLite: readings, n, compacted pasts, manual readings with their ids and the
    id counter, cursors, source health and annotations all come back as they were; copying again changes
    nothing, and the ids the user knew work on PostgreSQL."""
    env = {"KPITUI_DATABASE_URL": pg_url}
    first = sample_config(tmp_path, f'path = "{tmp_path / "a.sqlite3"}"\nraw_retention_days = 7', "a.toml")
    on_pg = sample_config(
        tmp_path, f'url = "${{KPITUI_DATABASE_URL}}"\npath = "{tmp_path / "side.sqlite3"}"', "pg.toml"
    )
    back = tmp_path / "b.sqlite3"
    assert run("collect", "--once", "--config", str(first)).returncode == 0
    day = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
    old = day - dt.timedelta(days=20)
    moments = [
        old.replace(minute=5),
        old.replace(minute=20),
        day,
        day + dt.timedelta(days=1),
        day + dt.timedelta(hours=1),
    ]
    for moment in moments:
        done = run("record", "ad_views", "5", "--at", moment.isoformat(), "--config", str(first))
        assert done.returncode == 0, done.stderr
    assert run("readings", "delete", "5", "--config", str(first)).returncode == 0  # the counter stays at 5
    assert run("annotate", "launched the ads", "--at", day.isoformat(), "--config", str(first)).returncode == 0
    assert run("annotate", "a typo", "--at", day.isoformat(), "--config", str(first)).returncode == 0
    assert run("annotations", "delete", "2", "--config", str(first)).returncode == 0
    compacted = run("compact", "--config", str(first))  # readings 1 and 2 are down-sampled
    assert compacted.returncode == 0 and "replaced" in compacted.stdout, compacted.stdout
    before = sqlite_tables(tmp_path / "a.sqlite3")
    assert len(before["manual"]) == 4 and before["compacted"] and before["health"] and before["cursors"]
    assert ("manual_readings", 5) in before["ids"] and len(before["annotations"]) == 1
    assert any(row[3] > 1 for row in before["readings"])
    listed = run("readings", "list", "--config", str(first)).stdout

    there = run(
        "history", "copy", str(tmp_path / "a.sqlite3"), "${KPITUI_DATABASE_URL}", "--config", str(on_pg), env=env
    )
    assert there.returncode == 0, there.stderr
    assert "4 manual reading id(s), 2 cursor(s) and 1 annotation(s)" in there.stdout
    on_postgres = postgres_tables(pg_url)
    again = run(
        "history", "copy", str(tmp_path / "a.sqlite3"), "${KPITUI_DATABASE_URL}", "--config", str(on_pg), env=env
    )
    assert again.returncode == 0, again.stderr
    assert postgres_tables(pg_url) == on_postgres  # idempotent: nothing doubled, no id moved
    assert f"({len(before['readings']):,} of them already there)" in again.stdout
    assert [row[0] for row in on_postgres["manual"]] == [row[0] for row in before["manual"]]
    assert run("readings", "list", "--config", str(on_pg), env=env).stdout == listed

    home = run("history", "copy", "${KPITUI_DATABASE_URL}", str(back), "--config", str(on_pg), env=env)
    assert home.returncode == 0, home.stderr
    assert sqlite_tables(back) == before
    assert run("history", "copy", "${KPITUI_DATABASE_URL}", str(back), "--config", str(on_pg), env=env).returncode == 0
    assert sqlite_tables(back) == before

    edited = run("readings", "edit", "3", "8", "--config", str(on_pg), env=env)  # the id the user knew
    assert edited.returncode == 0, edited.stderr
    gone = run("readings", "edit", "1", "8", "--config", str(on_pg), env=env)
    assert gone.returncode != 0 and "down-sampled" in gone.stderr
    fresh = run("record", "ad_views", "2", "--config", str(on_pg), env=env)
    assert fresh.returncode == 0 and "as reading 6" in fresh.stdout, fresh.stdout  # never 5 again


def test_a_copy_cut_short_is_finished_by_running_it_again(tmp_path, pg_url):
    from kpitui.api import readings_frame
    from kpitui.history_copy import copy_history
    from kpitui.postgres_store import PostgresStore

    t0 = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    with Store(tmp_path / "a.sqlite3") as source:
        source.write(readings_frame([(f"m{i % 3}", t0 + dt.timedelta(hours=i), float(i)) for i in range(50)]))
        source.record_manual("typed", t0, 4.0)

        class Cut(Exception):
            pass

        def cut(done, total, label):
            if total is not None and done >= 20:
                raise Cut

        with PostgresStore(pg_url, instance="web1", path=tmp_path / "side") as target:
            with pytest.raises(Cut):
                copy_history(source, target, chunk=20, progress=cut)
            assert 0 < target.load()[0].height < 51 and target.manual_readings() == []
            copied = copy_history(source, target, chunk=20)
            assert (copied.readings, copied.manual) == (51, 1)
            assert_same(source.load()[0], target.load()[0])
            assert [(r.id, r.metric, r.value) for r in target.manual_readings()] == [(1, "typed", 4.0)]


def assert_same(one: pl.DataFrame, other: pl.DataFrame) -> None:
    columns = ["metric", "at", "value", "n"]
    assert one.select(columns).sort("metric", "at").equals(other.select(columns).sort("metric", "at"))


def test_manual_readings_of_two_instances_at_one_time_become_one_in_sqlite(tmp_path, pg_url):
    from kpitui.history_copy import copy_history
    from kpitui.postgres_store import PostgresStore

    t0 = dt.datetime(2026, 3, 1, 9, tzinfo=dt.timezone.utc)
    with PostgresStore(pg_url, instance="web1", path=tmp_path / "s") as web1:
        web1.record_manual("calls", t0, 2.0)
        web1.record_manual("calls", t0.replace(hour=10), 1.0)
    with PostgresStore(pg_url, instance="web2", path=tmp_path / "s") as web2:
        web2.record_manual("calls", t0, 3.0)
    with PostgresStore(pg_url, readonly=True, instance="web1", path=tmp_path / "s") as source:
        with Store(tmp_path / "b.sqlite3") as target:
            copied = copy_history(source, target)
            assert (copied.manual, copied.manual_merged) == (2, 1)
            assert [(r.id, r.value) for r in target.manual_readings()] == [(2, 1.0)]
            with pytest.raises(UnknownReading, match="manual reading 1 was down-sampled"):  # one row of n = 2 now
                target.manual_reading(1)
            assert target.load()[0].filter(pl.col("at") == t0)["value"].to_list() == [5.0]
            assert target.record_manual("calls", t0.replace(hour=11), 1.0)[0].id == 4  # after web2's 3
