"""`kpitui history copy FROM TO`: SQLite -> PostgreSQL -> SQLite, and `report --format json --at T` never changes."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl

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

    again = run(
        "history", "copy", str(tmp_path / "a.sqlite3"), "${KPITUI_DATABASE_URL}", "--config", str(on_pg), env=env
    )
    assert again.returncode == 1
    assert "already holds readings" in again.stderr
