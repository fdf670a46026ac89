"""Schema 8: the rows since a sequence number are found through a BRIN index on ``readings.seq``
(a summary per range of heap pages, not a btree entry per row). The index is lossy, so the reads
must stay exact whatever the summaries say: rows rewritten in old, summarised pages, rows not yet
summarised, several instances; and a schema-7 history (btree on seq) is brought forward on open."""

from __future__ import annotations

import datetime as dt

import polars as pl
import psycopg

from kpitui.api import readings_frame
from kpitui.postgres_store import _MIGRATIONS, SCHEMA_VERSION, PostgresStore

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def history(rows: int, *, metrics: int = 20, value: float = 1.0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "metric": [f"m{i % metrics:02d}" for i in range(rows)],
            "at": [T0 + dt.timedelta(minutes=i // metrics) for i in range(rows)],
            "value": [value + i for i in range(rows)],
        },
        schema={"metric": pl.String, "at": pl.Datetime("us", "UTC"), "value": pl.Float64},
    )


def as_dict(frame: pl.DataFrame) -> dict:
    return {(m, a): v for m, a, v in frame.select("metric", "at", "value").iter_rows()}


def seq_index(url: str) -> str:
    with psycopg.connect(url) as con:
        return con.execute(
            "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
            "WHERE c.relname = 'readings_seq' AND c.relnamespace = 'kpitui'::regnamespace"
        ).fetchone()[0]


def test_rows_since_stay_exact_through_the_brin_index_on_seq(pg_url, tmp_path):
    side = tmp_path / "side"
    with PostgresStore(pg_url, instance="web1", path=side, snapshot_rows=None) as writer:
        assert seq_index(pg_url) == "brin"
        writer.write(history(40_000))  # ~360 heap pages: a dozen ranges of 32
        with psycopg.connect(pg_url, autocommit=True) as con:
            con.execute("VACUUM kpitui.readings")  # every full range summarised (its seq min..max)
        with PostgresStore(pg_url, readonly=True, path=side) as viewer:
            full, seen = viewer.load()
            assert full.height == 40_000
            # old keys rewritten (their new versions land in old, summarised pages or at the end), new keys
            # added by this writer and by a second instance (the read that sums instances)
            changed = history(40_000).filter(pl.col("value") % 997 == 1).with_columns(pl.col("value") * -1)
            writer.write(changed)
            writer.write(readings_frame([("m00", T0 - dt.timedelta(days=1), 5.0)]))
            since, top = viewer.load(seen)
            assert as_dict(since) == {**as_dict(changed), ("m00", T0 - dt.timedelta(days=1)): 5.0}
            with PostgresStore(pg_url, instance="web2", path=side, snapshot_rows=None) as other:
                other.write(readings_frame([("m01", T0, 100.0), ("m99", T0, 7.0)]), mode="add")
            more, _ = viewer.load(top)
            assert as_dict(more) == {("m01", T0): 102.0, ("m99", T0): 7.0}
            expected = {**as_dict(history(40_000)), **as_dict(changed), ("m00", T0 - dt.timedelta(days=1)): 5.0}
            expected.update({("m01", T0): 102.0, ("m99", T0): 7.0})
            assert as_dict(viewer.load()[0]) == expected


def test_a_schema_7_history_gets_the_brin_index_when_a_writer_opens_it(pg_url, tmp_path):
    assert SCHEMA_VERSION == 8
    with psycopg.connect(pg_url, autocommit=True) as con:  # made by the kpitui before: a btree on seq
        con.execute("CREATE SCHEMA kpitui")
        for step in _MIGRATIONS[:7]:
            con.execute(step)
        con.execute("UPDATE kpitui.meta SET value = 7 WHERE key = 'schema_version'")
        con.execute("INSERT INTO kpitui.metrics (id, name) VALUES (1, 'hits')")
        con.execute("INSERT INTO kpitui.instances (id, name) VALUES (1, 'web1')")
        con.execute(
            "INSERT INTO kpitui.readings (metric_id, instance_id, at, value, seq) "
            "SELECT 1, 1, g::bigint * 60000000, g, g FROM generate_series(1, 1000) g"
        )
        con.execute("UPDATE kpitui.meta SET value = 1000 WHERE key = 'seq'")
    assert seq_index(pg_url) == "btree"
    with PostgresStore(pg_url, instance="web1", path=tmp_path / "side") as writer:
        assert writer.schema_version() == 8
        assert seq_index(pg_url) == "brin"
        frame, top = writer.load()
        assert (frame.height, top, frame["value"].sum()) == (1000, 1000, sum(range(1, 1001)))
        writer.write(readings_frame([("hits", dt.datetime(1970, 1, 1, 0, 1, tzinfo=dt.timezone.utc), -1.0)]))
        since, _ = writer.load(top)
        assert since["value"].to_list() == [-1.0]
