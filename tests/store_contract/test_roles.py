"""The README's Team setup roles, run as written: a viewer cannot write, a collector cannot drop or delete."""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from kpitui.api import readings_frame
from kpitui.postgres_store import PostgresStore
from kpitui.store import StoreError
from tests.store_contract.conftest import admin_execute, admin_url, with_database
from tests.store_contract.test_postgres_cli import run

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
README = Path(__file__).resolve().parents[2] / "README.md"


def readme_sql() -> str:
    section = README.read_text().split("## Team setup", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```sql\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def roles(pg_url, tmp_path):
    """The README's SQL with unique role names (roles are cluster-wide) and this test's database."""
    suffix = uuid.uuid4().hex[:8]
    database = urllib.parse.urlsplit(pg_url).path.lstrip("/")
    names = {"kpitui_collector": f"kpitui_collector_{suffix}", "kpitui_viewer": f"kpitui_viewer_{suffix}"}
    sql = readme_sql().replace("DATABASE kpitui ", f"DATABASE {database} ")
    for old, new in names.items():
        sql = sql.replace(old, new)
    PostgresStore(pg_url, instance="owner", path=tmp_path / "s").close()  # `kpitui history init` as the owner
    admin_execute(pg_url, sql)
    urls = {
        role: with_database(pg_url, database, user=name, password=f"change-me-{role.split('_')[1]}")
        for role, name in names.items()
    }
    yield urls["kpitui_collector"], urls["kpitui_viewer"]
    admin = admin_url()
    admin_execute(admin, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    for name in names.values():
        admin_execute(admin, f"DROP ROLE IF EXISTS {name}")


def test_a_collector_writes_but_cannot_drop_or_delete(roles, tmp_path):
    collector_url, _ = roles
    with PostgresStore(collector_url, instance="web1", path=tmp_path / "s") as store:
        store.write(
            readings_frame([("hits", T0.replace(hour=10), 3.0)]),
            mode="add",
            source="log",
            cursor="7",
            set_cursor=True,
            expect_cursor=None,
        )
        store.write(
            readings_frame([("hits", T0.replace(hour=10), 2.0)]),
            mode="add",
            source="log",
            cursor="9",
            set_cursor=True,
            expect_cursor="7",
        )
        store.record_health("log", ok=True)
        assert store.load()[0]["value"].to_list() == [5.0]
        with pytest.raises(
            StoreError, match=r"role kpitui_collector_\w+ may not delete from the history .*permission denied"
        ):
            store.delete_metric("hits")
    with psycopg.connect(collector_url, autocommit=True) as con:
        for statement in (
            "DROP TABLE kpitui.readings",
            "DROP SCHEMA kpitui CASCADE",
            "TRUNCATE kpitui.readings",
            "DELETE FROM kpitui.readings",
            "DELETE FROM kpitui.cursors",
            "ALTER TABLE kpitui.readings ADD COLUMN x int",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                con.execute(statement)
    assert PostgresStore(collector_url, readonly=True, path=tmp_path / "s").load()[0].height == 1


def test_a_viewer_reads_but_cannot_write(roles, tmp_path):
    collector_url, viewer_url = roles
    with PostgresStore(collector_url, instance="web1", path=tmp_path / "s") as store:
        store.write(readings_frame([("hits", T0.replace(hour=10), 3.0)]))
    with PostgresStore(viewer_url, readonly=True, path=tmp_path / "s") as viewer:
        assert viewer.load()[0]["value"].to_list() == [3.0]
        assert "log" not in viewer.health()
    with PostgresStore(viewer_url, instance="laptop", path=tmp_path / "s") as writer:  # even when not opened read-only
        with pytest.raises(StoreError, match=r"role kpitui_viewer_\w+ may not write to the history"):
            writer.write(readings_frame([("hits", T0.replace(hour=11), 1.0)]))
        with pytest.raises(StoreError, match="may not record source health"):
            writer.record_health("log", ok=True)
    with psycopg.connect(viewer_url, autocommit=True) as con:
        for statement in (
            "INSERT INTO kpitui.metrics (name) VALUES ('x')",
            "UPDATE kpitui.readings SET value = 0",
            "DELETE FROM kpitui.readings",
            "DROP TABLE kpitui.readings",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                con.execute(statement)


def test_a_collector_keeps_the_snapshot_that_a_viewer_loads(roles, tmp_path):
    collector_url, viewer_url = roles
    with PostgresStore(collector_url, instance="web1", path=tmp_path / "s", snapshot_rows=2) as store:
        store.write(readings_frame([("hits", T0.replace(hour=h), float(h)) for h in range(3)]))  # refreshes it
        store.write(readings_frame([("hits", T0.replace(hour=1), 10.0)]), mode="add")  # after it
    with psycopg.connect(viewer_url, autocommit=True) as con:
        assert con.execute("SELECT value FROM kpitui.meta WHERE key = 'snapshot_rows'").fetchone()[0] == 3
    with PostgresStore(viewer_url, readonly=True, path=tmp_path / "s") as viewer:
        assert viewer.load()[0].sort("at")["value"].to_list() == [0.0, 11.0, 2.0]
    with psycopg.connect(collector_url, autocommit=True) as con:
        with pytest.raises(errors.InsufficientPrivilege):
            con.execute("DELETE FROM kpitui.snapshot_parts")


def test_a_collector_records_and_corrects_manual_readings_and_a_viewer_lists_them(roles, tmp_path):
    collector_url, viewer_url = roles
    with PostgresStore(collector_url, instance="web1", path=tmp_path / "s") as store:
        reading, replaced = store.record_manual("sales", T0.replace(hour=9), 3.0)
        assert (reading.id, replaced) == (1, None)
        assert store.adopt_manual(["sales"]) == 0
        store.correct_manual(1, value=5.0)
        with pytest.raises(StoreError, match=r"role kpitui_collector_\w+ may not delete from the history"):
            store.delete_manual([1])
    with PostgresStore(viewer_url, path=tmp_path / "s") as viewer:  # the CLI opens it writable first
        assert viewer.adopt_manual(["sales"]) == 0  # may not add ids: listing still works
        assert [(r.id, r.value) for r in viewer.manual_readings()] == [(1, 5.0)]


@pytest.mark.slow
def test_compaction_needs_the_owner_and_a_collector_says_so_once(roles, tmp_path, pg_url):
    """A collector role with retention on keeps collecting and says once (no traceback) who may compact;
    `kpitui compact` as it fails with that line; the owner compacts."""
    collector_url, _ = roles
    log = tmp_path / "access.log"
    log.write_text('203.0.113.9 - - [01/Mar/2026:10:00:00 +0000] "GET /thanks HTTP/1.1" 200 5 "-" "x"\n')
    config = tmp_path / "web1.toml"
    config.write_text(
        '[storage]\nurl = "${KPITUI_DATABASE_URL}"\ninstance = "web1"\nraw_retention_days = 7\n\n'
        f'[sources.web]\ntype = "access_log"\npath = "{log}"\nformat = "combined"\n\n'
        '[metrics.thanks]\nname = "Thanks"\nunit = "count"\naggregation = "sum"\nsource = "web"\n'
        'trigger = "a thank-you page"\ncondition = \'path == "/thanks"\'\n\n'
        '[metrics.calls]\nname = "Calls"\nunit = "count"\naggregation = "sum"\nsource = "manual"\n'
    )
    old = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0) - dt.timedelta(days=20)
    as_collector = {"KPITUI_DATABASE_URL": collector_url}
    for minute in (5, 20, 40):
        at = old.replace(minute=minute).isoformat()
        recorded = run("record", "calls", "2", "--at", at, "--config", str(config), env=as_collector)
        assert recorded.returncode == 0, recorded.stderr

    refused = run("compact", "--config", str(config), env=as_collector)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert re.search(r"role kpitui_collector_\w+ may not compact the history", refused.stderr)
    assert "DELETE on kpitui.readings" in refused.stderr
    assert "`kpitui compact` as the database's owner" in refused.stderr
    assert "change-me" not in refused.stderr

    collected = run("collect", "--once", "--config", str(config), env=as_collector)
    assert collected.returncode == 0, collected.stderr
    said = (collected.stdout + collected.stderr).count("compaction skipped: the PostgreSQL role")
    assert said == 1 and "Traceback" not in collected.stderr, collected.stderr
    with PostgresStore(collector_url, readonly=True, path=tmp_path / "s") as viewer:
        assert viewer.load(metrics=["calls"])[0].height == 3  # nothing was compacted, nothing lost

    compacted = run("compact", "--config", str(config), env={"KPITUI_DATABASE_URL": pg_url})  # the owner
    assert compacted.returncode == 0, compacted.stderr
    assert "replaced 3 readings" in compacted.stdout
    with PostgresStore(collector_url, readonly=True, path=tmp_path / "s") as viewer:
        frame = viewer.load(metrics=["calls"])[0]
        assert frame["value"].to_list() == [6.0] and frame["n"].to_list() == [3]


@pytest.fixture
def bare_roles(pg_url):
    """The README's two roles on a database with no kpitui history yet (only CONNECT granted so far)."""
    suffix = uuid.uuid4().hex[:8]
    database = urllib.parse.urlsplit(pg_url).path.lstrip("/")
    names = {"collector": f"kpitui_collector_{suffix}", "viewer": f"kpitui_viewer_{suffix}"}
    admin_execute(
        pg_url,
        *(f"CREATE ROLE {name} LOGIN PASSWORD 'change-me-{role}'" for role, name in names.items()),
        f"GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {names['collector']}",
        f"GRANT CONNECT ON DATABASE {database} TO {names['viewer']}",
    )
    yield (
        names,
        {
            role: with_database(pg_url, database, user=name, password=f"change-me-{role}")
            for role, name in names.items()
        },
    )
    admin_execute(admin_url(), f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    for name in names.values():
        admin_execute(admin_url(), f"DROP ROLE IF EXISTS {name}")


def test_roles_that_may_not_create_or_upgrade_the_tables_say_to_run_history_init_as_the_owner(
    bare_roles, pg_url, tmp_path
):
    from kpitui.postgres_store import _MIGRATIONS, SCHEMA_VERSION

    names, urls = bare_roles
    for role, readonly in (("collector", False), ("viewer", True), ("viewer", False)):
        with pytest.raises(StoreError) as info:
            PostgresStore(urls[role], readonly=readonly, instance="web1", path=tmp_path / "s")
        assert "there is no kpitui history in" in str(info.value)
        assert "run `kpitui history init` once as the database's owner" in str(info.value)
        assert (f"the role {names[role]} may not" in str(info.value)) == (not readonly)
    grants = "\n".join(
        line for line in readme_sql().splitlines() if not line.startswith(("CREATE ROLE", "GRANT CONNECT"))
    )
    with psycopg.connect(pg_url, autocommit=True) as con:  # the owner made the tables with an older kpitui
        con.execute("CREATE SCHEMA kpitui")
        for step in _MIGRATIONS[:-1]:
            con.execute(step)
        con.execute("UPDATE kpitui.meta SET value = %s WHERE key = 'schema_version'", (SCHEMA_VERSION - 1,))
        con.execute(grants.replace("kpitui_collector", names["collector"]).replace("kpitui_viewer", names["viewer"]))
    for role, readonly in (("collector", False), ("viewer", True)):
        with pytest.raises(StoreError) as info:
            PostgresStore(urls[role], readonly=readonly, instance="web1", path=tmp_path / "s")
        told = str(info.value)
        assert f"has schema version {SCHEMA_VERSION - 1}, this kpitui needs {SCHEMA_VERSION}; to upgrade it" in told
        assert "run `kpitui history init` once as the database's owner" in told
    config = tmp_path / "kpitui.toml"
    config.write_text('[storage]\nurl = "${KPITUI_DATABASE_URL}"\n')
    init = run("history", "init", "--config", str(config), env={"KPITUI_DATABASE_URL": pg_url})
    assert init.returncode == 0 and f"schema version {SCHEMA_VERSION}, ready" in init.stdout, init.stderr
    with PostgresStore(urls["collector"], instance="web1", path=tmp_path / "s") as collector:
        collector.write(readings_frame([("hits", T0, 1.0)]))
    with PostgresStore(urls["viewer"], readonly=True, path=tmp_path / "s") as viewer:
        assert viewer.load()[0]["value"].to_list() == [1.0]


def test_a_viewer_copies_the_shared_history_into_a_file_with_manual_reading_ids(roles, tmp_path):
    """`kpitui history copy URL FILE` with the viewer role (it may not read the id counter: the highest id is kept)."""
    from kpitui.history_copy import copy_history
    from kpitui.store import Store

    collector_url, viewer_url = roles
    with PostgresStore(collector_url, instance="web1", path=tmp_path / "s") as store:
        for hour in (9, 10):
            store.record_manual("sales", T0.replace(hour=hour), float(hour))
    with PostgresStore(viewer_url, readonly=True, instance="web1", path=tmp_path / "s") as source:
        with Store(tmp_path / "copy.sqlite3") as target:
            copied = copy_history(source, target)
            assert (copied.readings, copied.manual) == (2, 2)
            assert [(r.id, r.value) for r in target.manual_readings()] == [(2, 10.0), (1, 9.0)]
            assert target.record_manual("sales", T0.replace(hour=11), 1.0)[0].id == 3
