"""The ``sql`` source against a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
import urllib.parse
import uuid

import pytest

from kpitui.api import READINGS_SCHEMA, OptionError, SourceError
from kpitui.builtin import sql as sql_module
from kpitui.builtin.sql import SqlSource

NOW = dt.datetime(2024, 3, 5, 14, 37, 12, tzinfo=dt.timezone.utc)
HOUR = dt.datetime(2024, 3, 5, 14, tzinfo=dt.timezone.utc)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.timezone.utc)


def readings(result) -> dict[tuple[str, dt.datetime], float]:
    assert dict(result.readings.schema) == READINGS_SCHEMA
    return {(m, at): v for m, at, v in result.readings.iter_rows()}


def test_registers_through_the_hook():
    assert sql_module.register_metric_sources() == [SqlSource]
    assert SqlSource.type_name == "sql" and SqlSource.mode == "replace"


# -- SQLite ---------------------------------------------------------------------------------


@pytest.fixture
def shop(tmp_path):
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE orders (id INTEGER PRIMARY KEY, created_at TEXT, total REAL, paid_at INTEGER);
            INSERT INTO orders (created_at, total, paid_at) VALUES
                ('2024-03-04 09:00:00', 120.0, 1709542800),
                ('2024-03-04 17:30:00', 80.5, NULL),
                ('2024-03-05T08:15:00+00:00', 42.0, 1709626500);
            """
        )
    db.close()
    return path


def test_sqlite_time_value_rows_are_stored_as_returned(shop, make_source):
    source = make_source(
        SqlSource,
        {"url": "sqlite:///shop.db"},  # relative to the config folder
        {
            "revenue": {"query": "SELECT date(created_at), sum(total) FROM orders GROUP BY 1 ORDER BY 1"},
            "paid": {"query": "SELECT paid_at, 1 FROM orders"},  # Unix seconds; a NULL time is skipped
        },
    )
    result = source.fetch(None, NOW)
    assert readings(result) == {
        ("revenue", utc(2024, 3, 4)): 200.5,
        ("revenue", utc(2024, 3, 5)): 42.0,
        ("paid", utc(2024, 3, 4, 9)): 1.0,
        ("paid", utc(2024, 3, 5, 8, 15)): 1.0,
    }
    assert result.skipped == 1


def test_sqlite_single_value_is_stamped_with_the_current_bucket(shop, make_source):
    source = make_source(
        SqlSource,
        {"url": f"sqlite:///{shop}"},  # four slashes: an absolute path
        {
            "orders": {"query": "SELECT count(*) FROM orders"},
            "orders_today": {"query": "SELECT count(*) FROM orders", "bucket": "day"},
            "refunds": {"query": "SELECT sum(total) FROM orders WHERE total < 0"},  # NULL: no reading
        },
        timezone="Asia/Tokyo",
    )
    assert readings(source.fetch(None, NOW)) == {
        ("orders", HOUR): 3.0,
        (
            "orders_today",
            utc(2024, 3, 4, 15),
        ): 3.0,  # 14:37Z is 23:37 on 5 March in Tokyo, a day begun at 15:00Z on the 4th
    }


def test_sqlite_is_opened_read_only(shop, make_source):
    source = make_source(SqlSource, {"url": "sqlite:///shop.db"}, {"oops": {"query": "DELETE FROM orders RETURNING 1"}})
    with pytest.raises(SourceError, match="metric oops: query failed: not authorized: kpitui only reads"):
        source.fetch(None, NOW)
    with sqlite3.connect(shop) as db:
        assert db.execute("SELECT count(*) FROM orders").fetchone() == (3,)


def test_sqlite_query_past_the_timeout_is_interrupted(shop, make_source):
    forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    source = make_source(SqlSource, {"url": "sqlite:///shop.db"}, {"slow": {"query": forever}}, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"metric slow: query failed: timed out after 0.5s"):
        source.fetch(None, NOW)
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELEC 1", 'metric bad: query failed: near "SELEC": syntax error'),
        ("SELECT 1, 2, 3", "returned 3 columns"),
        ("SELECT total FROM orders", "returned 3 rows of one column"),
        ("SELECT 'soon', 1", "'soon' is not a time"),
        ("SELECT '2024-03-01' AS day, 'lots' AS value", "row 1, column value is the string 'lots', not a number"),
        ("SELECT * FROM missing_table", "no such table: missing_table"),
    ],
)
def test_sqlite_errors_name_the_metric_and_the_problem(shop, make_source, query, message):
    source = make_source(SqlSource, {"url": "sqlite:///shop.db"}, {"bad": {"query": query}})
    with pytest.raises(SourceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        source.fetch(None, NOW)


def test_one_failing_metric_is_reported_with_the_others(shop, make_source):
    source = make_source(
        SqlSource,
        {"url": "sqlite:///shop.db"},
        {"a": {"query": "SELECT nope"}, "b": {"query": "SELECT 1"}, "c": {"query": "SELECT 1, 2, 3"}},
    )
    with pytest.raises(SourceError, match=r"2 metrics failed: metric a: .*; metric c: "):
        source.fetch(None, NOW)


def test_missing_sqlite_file(make_source):
    source = make_source(SqlSource, {"url": "sqlite:///nowhere.db"}, {"m": {"query": "SELECT 1"}})
    with pytest.raises(SourceError, match="nowhere.db does not exist"):
        source.fetch(None, NOW)


def test_url_from_the_environment(shop, make_source, monkeypatch):
    monkeypatch.setenv("KPITUI_TEST_SHOP_URL", f"sqlite:///{shop}")
    source = make_source(SqlSource, {"url": "${KPITUI_TEST_SHOP_URL}"}, {"n": {"query": "SELECT count(*) FROM orders"}})
    assert str(source.options.url) == "${KPITUI_TEST_SHOP_URL}"
    assert readings(source.fetch(None, NOW)) == {("n", HOUR): 3.0}
    monkeypatch.setenv("KPITUI_TEST_SHOP_URL", "mysql://someone:hunter22@db/shop")
    with pytest.raises(SourceError, match="url must start with") as caught:
        source.fetch(None, NOW)
    assert "hunter22" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://db/shop", "must start with sqlite:///"),
        ("shop.db", "must start with sqlite:///"),
        ("sqlite://shop.db", "three slashes"),
    ],
)
def test_url_scheme_is_validated_at_load(make_source, url, message):
    with pytest.raises(OptionError, match=message):
        make_source(SqlSource, {"url": url}, {"m": {"query": "SELECT 1"}})


def test_empty_query_is_rejected_at_load(make_source):
    with pytest.raises(OptionError, match="query must not be empty"):
        make_source(SqlSource, {"url": "sqlite:///x.db"}, {"m": {"query": "  "}})


def test_example_tables_are_valid(make_source):
    example = SqlSource.example()
    make_source(SqlSource, example["source"], {"m": example["metric"]})


# -- PostgreSQL (a real server from .ci/services.sh) ----------------------------------------


@pytest.fixture
def pg_schema(pg_url):
    """A fresh schema holding an orders table, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    schema = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(
            f"CREATE TABLE {schema}.orders (id serial, created_at timestamptz, placed date, local_time "
            "timestamp, total numeric(10, 2))"
        )
        conn.execute(
            f"""INSERT INTO {schema}.orders (created_at, placed, local_time, total) VALUES
                ('2024-03-04 09:00:00+00', '2024-03-04', '2024-03-04 09:00:00', 120.00),
                ('2024-03-04 23:30:00-05', '2024-03-04', '2024-03-04 23:30:00', 80.50),
                ('2024-03-05 08:15:00+00', '2024-03-05', '2024-03-05 08:15:00', 42.00)"""
        )
    yield schema
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def pg_secret_url(pg_url, monkeypatch):
    """The server's URL with the password moved into an environment variable."""
    parts = urllib.parse.urlsplit(pg_url)
    monkeypatch.setenv("KPITUI_TEST_PG_PASSWORD", parts.password)
    netloc = f"{parts.username}:${{KPITUI_TEST_PG_PASSWORD}}@{parts.hostname}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", "")), parts.password


@pytest.mark.postgres
def test_postgres_aggregation_runs_in_the_database(pg_schema, pg_secret_url, make_source):
    url, _ = pg_secret_url
    s = pg_schema
    source = make_source(
        SqlSource,
        {"url": url},
        {
            "revenue": {
                "query": (
                    f"SELECT date_trunc('day', created_at AT TIME ZONE 'UTC'), sum(total) FROM {s}.orders GROUP BY 1"
                )
            },
            "by_hour": {"query": f"SELECT date_trunc('hour', created_at), count(*) FROM {s}.orders GROUP BY 1"},
            "by_date": {"query": f"SELECT placed, count(*) FROM {s}.orders GROUP BY 1"},
            "naive": {"query": f"SELECT max(local_time), 1 FROM {s}.orders"},
            "orders": {"query": f"SELECT count(*) FROM {s}.orders"},
            "avg_today": {"query": f"SELECT avg(total) FROM {s}.orders", "bucket": "day"},
        },
    )
    got = readings(source.fetch(None, NOW))
    assert got == {
        ("revenue", utc(2024, 3, 4)): 120.0,
        ("revenue", utc(2024, 3, 5)): 122.5,  # 23:30-05 is 04:30Z on the 5th
        ("by_hour", utc(2024, 3, 4, 9)): 1.0,
        ("by_hour", utc(2024, 3, 5, 4)): 1.0,
        ("by_hour", utc(2024, 3, 5, 8)): 1.0,
        ("by_date", utc(2024, 3, 4)): 2.0,
        ("by_date", utc(2024, 3, 5)): 1.0,
        ("naive", utc(2024, 3, 5, 8, 15)): 1.0,  # timestamp without time zone: UTC
        ("orders", HOUR): 3.0,
        ("avg_today", utc(2024, 3, 5)): pytest.approx(80.833333),
    }


@pytest.mark.postgres
def test_postgres_sessions_are_read_only(pg_schema, pg_url, make_source):
    import psycopg

    source = make_source(SqlSource, {"url": pg_url}, {"oops": {"query": f"DELETE FROM {pg_schema}.orders RETURNING 1"}})
    with pytest.raises(SourceError, match="a DELETE statement is not run: a query must be one SELECT"):
        source.fetch(None, NOW)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute(f"SELECT count(*) FROM {pg_schema}.orders").fetchone() == (3,)


@pytest.mark.postgres
def test_postgres_statement_timeout_follows_the_source_timeout(pg_url, make_source):
    source = make_source(
        SqlSource,
        {"url": pg_url},
        {"slow": {"query": "SELECT 1 FROM pg_sleep(10)"}, "next": {"query": "SELECT 2"}},
        timeout=1.0,
    )
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"metric slow: query timed out after 1s") as caught:
        source.fetch(None, NOW)
    assert time.monotonic() - started < 4
    assert "next" in str(caught.value)  # the budget ran out for the metric after it


@pytest.mark.postgres
def test_postgres_errors_never_show_the_password(pg_url, pg_secret_url, make_source, monkeypatch):
    url, password = pg_secret_url
    source = make_source(SqlSource, {"url": url}, {"bad": {"query": "SELECT * FROM no_such_table"}})
    with pytest.raises(SourceError, match='relation "no_such_table" does not exist') as caught:
        source.fetch(None, NOW)
    assert password not in str(caught.value)

    monkeypatch.setenv("KPITUI_TEST_PG_PASSWORD", "wrong-password-123")
    with pytest.raises(SourceError, match="cannot connect to PostgreSQL: .*password authentication failed") as caught:
        source.fetch(None, NOW)
    assert "wrong-password-123" not in str(caught.value) and password not in str(caught.value)

    literal = pg_url.replace(f":{password}@", ":literal-secret-pw@")
    wrong = make_source(SqlSource, {"url": literal}, {"m": {"query": "SELECT 1"}})
    assert str(wrong.options.url) == "***"
    with pytest.raises(SourceError) as caught:
        wrong.fetch(None, NOW)
    assert "literal-secret-pw" not in str(caught.value)


def test_postgres_unreachable_server_fails_within_the_timeout(closed_port_url, make_source):
    port = urllib.parse.urlsplit(closed_port_url).port
    source = make_source(
        SqlSource, {"url": f"postgresql://u:p4ssword@127.0.0.1:{port}/db"}, {"m": {"query": "SELECT 1"}}, timeout=2
    )
    started = time.monotonic()
    with pytest.raises(SourceError, match="cannot connect to PostgreSQL") as caught:
        source.fetch(None, NOW)
    assert time.monotonic() - started < 5
    assert "p4ssword" not in str(caught.value)
