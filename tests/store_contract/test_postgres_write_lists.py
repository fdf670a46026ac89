"""A PostgreSQL write sends its metric names as one JSON text and its probes' numbers as array
literals (psycopg dumps a list parameter element by element in Python): any name keeps its id, and
the probes still find what is stored."""

from __future__ import annotations

import datetime as dt

import polars as pl
import psycopg

from kpitui.api import readings_frame
from kpitui.postgres_store import PostgresStore


def test_metric_names_of_any_text_and_many_of_them(pg_url):
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    odd = ['we"ird', "back\\slash", "{brace,comma}", "é☃ \t tab", "NULL", "", "'quote'", "[1, 2]"]
    names = odd + [f"m{i:04d}" for i in range(1_500)]
    readings = readings_frame(
        [(name, t0 + dt.timedelta(minutes=k), float(i * 10 + k)) for i, name in enumerate(names) for k in range(3)]
    )
    with PostgresStore(pg_url, instance="web1", path=None, snapshot_rows=None) as store:
        assert store.write(readings) == readings.height
        # the same names again (ids found, not made), the probes finding stored rows before each first time
        later = readings.with_columns(pl.col("at") + dt.timedelta(hours=1))
        assert store.write(later) == readings.height
        # and at each first time: those keys are upserted (a changed value each, so all are written)
        assert store.write(readings.with_columns(pl.col("value") + 0.5)) == readings.height
        loaded, _ = store.load()
    with psycopg.connect(pg_url) as con:
        assert sorted(r[0] for r in con.execute("SELECT name FROM kpitui.metrics")) == sorted(names)
    want = {(m, a, v + 0.5) for m, a, v in readings.iter_rows()} | set(later.iter_rows())
    assert {(m, a, v) for m, a, v in loaded.select("metric", "at", "value").iter_rows()} == want
