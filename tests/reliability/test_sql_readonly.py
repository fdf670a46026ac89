"""The ``sql`` source only reads: SQLite through an authorizer, PostgreSQL through one SELECT per read-only cursor
(issue 19, item 6).

Every attack runs through ``kpitui collect --once`` as a metric's query,
earlier metrics preparing what later ones exploit (``ATTACH`` in one,
``DROP TABLE`` in the next). Afterwards the target database's bytes (SQLite)
or its tables (PostgreSQL) are unchanged, nothing was written beside them,
kpitui's own history is intact, and each attack is its metric's error.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import uuid
from pathlib import Path

import pytest

from .conftest import kpitui_env, run_kpitui


def write_config(tmp_path: Path, sources: dict[str, str], metrics: dict[str, tuple[str, str]]) -> Path:
    """``metrics``: ``{id: (source, query)}``; a source named ``=URL`` is a source of its own for that metric."""
    sources = dict(sources)
    for metric, (sid, query) in list(metrics.items()):
        if sid.startswith("="):
            sources[f"s_{metric}"] = sid[1:]
            metrics[metric] = (f"s_{metric}", query)
    text = f'[storage]\npath = "{(tmp_path / "history.sqlite3").as_posix()}"\n'
    for sid, url in sources.items():
        text += f'\n[sources.{sid}]\ntype = "sql"\nurl = "{url}"\ntimeout = 10\n'
    for metric, (sid, query) in metrics.items():
        text += f'\n[metrics.{metric}]\nsource = "{sid}"\nquery = {json.dumps(query)}\n'
    config = tmp_path / "kpitui.toml"
    config.write_text(text, encoding="utf-8")
    return config


def errors_of(config: Path, env: dict[str, str]) -> dict[str, str | None]:
    report = run_kpitui("report", "--no-collect", "--format", "json", "--config", str(config), env=env)
    assert report.returncode in (0, 1), report.stderr
    return {m["id"]: m["error"] for m in json.loads(report.stdout)["metrics"]}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sqlite_attacks_change_nothing(tmp_path, figures):
    shop = tmp_path / "shop.db"
    with sqlite3.connect(shop) as conn:
        conn.execute("CREATE TABLE orders (at TEXT, amount REAL)")
        conn.execute("CREATE INDEX orders_at ON orders (at)")  # so REINDEX has something to do
        conn.executemany("INSERT INTO orders VALUES (?, ?)", [("2024-03-0%d" % d, d * 10.0) for d in range(1, 8)])
    conn.close()
    history = tmp_path / "history.sqlite3"
    attacks = {
        "attach": "ATTACH DATABASE 'shop.db' AS rw",
        "drop_attached": "DROP TABLE rw.orders",
        "attach_uri_rw": f"ATTACH DATABASE 'file:{shop}?mode=rw' AS rw2",
        "drop_attached_rw": "DROP TABLE rw2.orders",
        "attach_history": f"ATTACH DATABASE '{history}' AS h",
        "drop_history": "DROP TABLE h.readings",
        "vacuum_into": f"VACUUM INTO '{tmp_path / 'copy.db'}'",
        "vacuum": "VACUUM",
        "detach": "DETACH DATABASE rw",
        "pragma_user_version": "PRAGMA user_version = 7",
        "pragma_journal": "PRAGMA journal_mode = DELETE",
        "pragma_writable_schema": "PRAGMA writable_schema = ON",
        "pragma_query_only": "PRAGMA query_only = OFF",
        "delete": "DELETE FROM orders",
        "insert": "INSERT INTO orders VALUES ('2024-03-09', 1)",
        "update": "UPDATE orders SET amount = 0",
        "drop": "DROP TABLE orders",
        "create": "CREATE TABLE evil (x)",
        "create_temp": "CREATE TEMP TABLE evil (x)",
        "temp_trigger": "CREATE TEMP TRIGGER t AFTER INSERT ON orders BEGIN SELECT 1; END",
        "alter": "ALTER TABLE orders ADD COLUMN x",
        "reindex": "REINDEX",
        "analyze": "ANALYZE",
        "begin": "BEGIN IMMEDIATE",
        "savepoint": "SAVEPOINT s",
        "load_extension": "SELECT load_extension('/tmp/evil.so')",
        "returning": "DELETE FROM orders RETURNING 1",
        "upsert_cte": "WITH x AS (SELECT 1) INSERT INTO orders SELECT '2024-03-10', 1 FROM x",
    }
    ok = {
        "sum": "SELECT sum(amount) FROM orders",
        "per_day": "SELECT at, amount FROM orders",
        "recursive": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT sum(i) FROM n",
        "user_version": "PRAGMA user_version",
    }
    sources = {
        "shop": "sqlite:///shop.db",  # every attack in turn, on one source
        "shop_rw": "sqlite:///shop.db?mode=rw",  # a mode in the URL does not make it writable
        "history_direct": f"sqlite:///{history}",
        "history_symlink": "sqlite:///linked.sqlite3",
        "history_hardlink": "sqlite:///hardlinked.sqlite3",
    }
    # each attack its own source (its own error); the chain source runs them in order on one source
    metrics = {name: ("=sqlite:///shop.db", query) for name, query in {**attacks, **ok}.items()}
    metrics |= {f"chain_{name}": ("shop", query) for name, query in attacks.items()}
    metrics |= {"rw_url_delete": ("shop_rw", "DELETE FROM orders")}
    metrics |= {f"read_{sid}": (sid, "SELECT count(*) FROM readings") for sid in sources if sid.startswith("history")}
    config = write_config(tmp_path, sources, metrics)
    env = kpitui_env()
    assert run_kpitui("collect", "--once", "--config", str(config), env=env).returncode in (0, 1)  # creates the history
    (tmp_path / "linked.sqlite3").symlink_to(history)
    os.link(history, tmp_path / "hardlinked.sqlite3")
    before = digest(shop)
    for _ in range(2):  # a second round: whatever the first round's ATTACHes left must not help
        done = run_kpitui("collect", "--once", "--config", str(config), env=env)
        assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
    errors = errors_of(config, env)
    assert digest(shop) == before, "shop.db changed"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("shop", "copy"))) == ["shop.db"]
    with sqlite3.connect(f"file:{history}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] > 0
    for name in attacks:
        assert errors[name] and ("not authorized" in errors[name] or "no such table" in errors[name]), (
            name,
            errors[name],
        )
    assert errors["rw_url_delete"] and "not authorized" in errors["rw_url_delete"]
    for sid in sources:
        if sid.startswith("history"):
            assert "is kpitui's own history file; a source may not read it" in (errors[f"read_{sid}"] or ""), errors[
                f"read_{sid}"
            ]
    for name in ok:
        assert errors[name] is None, (name, errors[name])
    figures(sqlite_attacks=len(attacks) + 1, history_paths_refused=3, rounds=2, reads_still_allowed=len(ok))


#: queries PostgreSQL runs in a read-only transaction whose effect only the rollback undoes
SIDE_EFFECT_ONLY = {"lo_import"}


@pytest.mark.postgres
def test_postgres_attacks_change_nothing(tmp_path, figures):
    import psycopg

    url = os.environ.get("KPITUI_TEST_PG_URL")
    if not url:
        pytest.skip("KPITUI_TEST_PG_URL is not set")
    schema = f"ro_{uuid.uuid4().hex[:10]}"
    marker = Path(f"/tmp/kpitui_copy_{schema}")  # where the database server (another user) could write
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.orders (at timestamptz, amount numeric)")
        conn.execute(f"INSERT INTO {schema}.orders SELECT now() - i * interval '1 day', i FROM generate_series(1, 5) i")
        large_objects = conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()[0]
    attacks = {
        "multi_commit": f"COMMIT; CREATE TABLE {schema}.evil (x int)",
        "multi_select": f"SELECT 1; DROP TABLE {schema}.orders",
        "commit": "COMMIT",
        "set_rw": "SET TRANSACTION READ WRITE",
        "session_rw": "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
        "after_session_rw": f"INSERT INTO {schema}.orders VALUES (now(), 1) RETURNING 1",
        "set_config_rw": "SELECT set_config('default_transaction_read_only', 'off', false)",
        "after_set_config": f"WITH d AS (DELETE FROM {schema}.orders RETURNING 1) SELECT count(*) FROM d",
        "copy_program": f"COPY (SELECT 1) TO PROGRAM 'touch {marker}'",
        "copy_file": f"COPY (SELECT 1) TO '{marker}'",
        "do_block": f"DO $$ BEGIN EXECUTE 'CREATE TABLE {schema}.evil2 (x int)'; END $$",
        "create_temp": "CREATE TEMP TABLE t AS SELECT 1",
        "select_into": f"SELECT 1 AS x INTO {schema}.evil3",
        "for_update": f"SELECT count(*) FROM (SELECT * FROM {schema}.orders FOR UPDATE) s",
        "lo_import": "SELECT lo_import('/etc/hostname')",  # read-only lets it write: only the rollback undoes it
        "nextval": f"SELECT nextval('{schema}.seq')",
        "comment_hidden": f"/* SELECT */ DELETE FROM {schema}.orders",
        "paren_hidden": f"(DELETE FROM {schema}.orders)",
    }
    ok = {
        "sum": f"SELECT sum(amount) FROM {schema}.orders",
        "commented": f"-- a comment\n/* and another */ (SELECT count(*) FROM {schema}.orders)",
        "with": f"WITH x AS (SELECT amount FROM {schema}.orders) SELECT max(amount) FROM x",
        "values": "VALUES (42)",
    }
    metrics = {name: ("=${KPITUI_TEST_PG_URL}", query) for name, query in {**attacks, **ok}.items()}
    metrics |= {f"chain_{name}": ("pg", query) for name, query in attacks.items()}
    config = write_config(tmp_path, {"pg": "${KPITUI_TEST_PG_URL}"}, metrics)
    env = kpitui_env()
    try:
        done = run_kpitui("collect", "--once", "--config", str(config), env=env)
        assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
        errors = errors_of(config, env)
        with psycopg.connect(url, autocommit=True) as conn:
            tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", [schema])}
            count = conn.execute(f"SELECT count(*) FROM {schema}.orders").fetchone()[0]
            large_objects_after = conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()[0]
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    assert tables == {"orders"} and count == 5, (tables, count)
    assert not marker.exists(), "COPY ran on the server"
    assert large_objects_after == large_objects, (
        "lo_import created a large object (a write through a read-only transaction)"
    )
    for name in attacks:
        assert errors[name] or name in SIDE_EFFECT_ONLY, (name, "was not refused")
    for name in ok:
        assert errors[name] is None, (name, errors[name])
    figures(postgres_attacks=len(attacks), reads_still_allowed=len(ok))
