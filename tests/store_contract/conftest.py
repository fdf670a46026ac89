"""Fixtures for the history store contract: each test runs against SQLite and a real PostgreSQL.

PostgreSQL comes from ``.ci/services.sh start`` (``KPITUI_TEST_PG_URL``, a superuser
role); every test gets a database of its own, dropped afterwards. Without the
server the PostgreSQL half skips locally and fails when ``CI`` is set.
"""

from __future__ import annotations

import os
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def admin_url() -> str:
    url = os.environ.get("KPITUI_TEST_PG_URL")
    if url:
        return url
    message = "KPITUI_TEST_PG_URL is not set: run `bash .ci/services.sh start` and load its env file"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so the PostgreSQL tests must run, not skip)", pytrace=False)
    pytest.skip(message)


def with_database(url: str, database: str, *, user: str | None = None, password: str | None = None) -> str:
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if user is not None:
        host = netloc.rsplit("@", 1)[-1]
        netloc = f"{user}:{password}@{host}" if password else f"{user}@{host}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, f"/{database}", parts.query, ""))


def admin_execute(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        for statement in statements:
            con.execute(statement)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database (dropped after the test)."""
    admin = admin_url()
    name = f"kpitui_t_{uuid.uuid4().hex[:12]}"
    admin_execute(admin, f"CREATE DATABASE {name}")
    try:
        yield with_database(admin, name)
    finally:
        admin_execute(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def open_store(backend, tmp_path, request) -> Iterator[Callable[..., object]]:
    """``open_store(**options)``: a new connection to the one history this test uses."""
    opened: list = []
    if backend == "sqlite":
        path = tmp_path / "history.sqlite3"

        def make(instance: str = "local", readonly: bool = False, snapshot_rows: int | None = 200_000, **_: object):
            from kpitui.store import Store

            store = Store(path, readonly=readonly, snapshot_rows=snapshot_rows)
            opened.append(store)
            return store

    else:
        url = request.getfixturevalue("pg_url")

        def make(instance: str = "local", readonly: bool = False, **options: object):
            from kpitui.postgres_store import PostgresStore

            store = PostgresStore(url, instance=instance, readonly=readonly, path=tmp_path / "side.sqlite3", **options)
            opened.append(store)
            return store

    make.backend = backend  # type: ignore[attr-defined]
    yield make
    for store in opened:
        store.close()


@pytest.fixture
def history_location(backend, tmp_path, request) -> str:
    """What `[storage]` names for this backend: a file path or a URL."""
    if backend == "sqlite":
        return str(Path(tmp_path) / "history.sqlite3")
    return request.getfixturevalue("pg_url")
