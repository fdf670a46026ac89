"""One connection per PostgreSQL store: connecting, reconnecting with back-off, errors as one line.

A dropped connection (server restart, ``pg_terminate_backend``) rolls back the transaction it
was in -- readings and cursor together, so nothing is lost or counted twice -- and the next call
reconnects, backing off (0.1 s doubling to 5 s) for up to ``reconnect_seconds``;
``reconnects`` counts it and ``notice`` says so once.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ..store_common import StoreError

_T = TypeVar("_T")

if TYPE_CHECKING:
    import polars as pl

_BACKOFF_START, _BACKOFF_MAX = 0.1, 5.0


def missing_extra() -> str:
    return "PostgreSQL history needs psycopg: pip install 'kpitui[postgres]'"


def display_url(url: str) -> str:
    """``url`` without its password (and without query options), for messages."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port else "")
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "the PostgreSQL URL in [storage] url"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0].strip() if text else type(exc).__name__


class PostgresBase:
    """The connection and the state every part of :class:`~kpitui.postgres.PostgresStore` shares."""

    url: str
    readonly: bool
    instance: str
    instance_filter: str | None
    path: Path
    connect_timeout: float
    reconnect_seconds: float
    snapshot_rows: int | None
    last_dropped: int
    last_compacted: int
    damaged: str | None
    reconnects: int
    notice: str | None
    _lock: threading.RLock
    _con: Any
    _instance_id: int | None
    #: (lo, top, rows) of this store's writes since the snapshot (see ``Writes._note_written``)
    _written: list[tuple[int, int, pl.DataFrame | None]]
    _stored: pl.DataFrame | None

    if TYPE_CHECKING:  # what the parts call of each other

        def _take_seq(self, con: Any, count: int) -> int: ...
        def _my_instance(self, con: Any) -> int: ...
        def _upsert(self, con: Any, rows: pl.DataFrame, mode: str, first: int) -> int: ...
        def _meta(self, con: Any, *keys: str) -> dict[str, int]: ...
        def _bump_generation(self, con: Any) -> None: ...
        def _load(
            self, since: int, wanted: set[str] | None, snapshot_rows: int | None
        ) -> tuple[pl.DataFrame, dict[int, str], int]: ...
        def _refresh_snapshot(self) -> None: ...
        def _snapshot_parts(self, con: Any, meta: dict[str, int]) -> tuple[Iterator[pl.DataFrame], int] | None: ...
        def _fetch_since(self, con: Any, since: int, upto: int | None = None) -> pl.DataFrame: ...
        def _written_since(self, con: Any, low: int, top: int) -> pl.DataFrame | None: ...
        def _load_with_meta(
            self, since: int, wanted: set[str] | None
        ) -> tuple[pl.DataFrame, dict[int, str], dict[str, int], int, bool]: ...
        def _write_snapshot(self, frame: pl.DataFrame, seq: int, generation: int) -> None: ...

    @property
    def where(self) -> str:
        return display_url(self.url)

    def _connect(self, *, first: bool = False) -> None:
        import psycopg

        try:
            con = psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, int(self.connect_timeout)))
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to the PostgreSQL history {self.where}: {first_line(exc)}") from None
        except psycopg.ProgrammingError as exc:  # a malformed URL
            raise StoreError(f"[storage] url is not a valid PostgreSQL URL ({first_line(exc)})") from None
        self._con = con
        self._instance_id = None

    def _reconnect(self, why: BaseException) -> None:
        """The connection dropped: make a new one, backing off, for up to ``reconnect_seconds``."""
        self._close_quietly()
        deadline = time.monotonic() + self.reconnect_seconds
        delay = _BACKOFF_START
        while True:
            try:
                self._connect()
                break
            except StoreError:
                if time.monotonic() + delay > deadline:
                    raise StoreError(
                        f"lost the connection to the PostgreSQL history {self.where} ({first_line(why)}) "
                        f"and could not reconnect for {self.reconnect_seconds:g}s"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX)
        self.reconnects += 1
        self.notice = (
            f"reconnected to the PostgreSQL history {self.where} after the connection dropped ({first_line(why)})"
        )

    @property
    def _conn(self) -> Any:
        if self._con is None:
            raise StoreError(f"the PostgreSQL history {self.where} is closed")
        return self._con

    @contextmanager
    def _guard(self, action: str) -> Iterator[Any]:
        """Serialise threads; reconnect before the call when the connection dropped; errors as one line."""
        import psycopg
        from psycopg import errors

        with self._lock:
            con = self._conn
            if con.closed or con.broken:
                self._reconnect(psycopg.OperationalError("the connection was closed"))
                con = self._con
            try:
                yield con
            except StoreError:
                raise
            except errors.InsufficientPrivilege as exc:
                raise StoreError(
                    f"the PostgreSQL role {self._role()} may not {action} the history {self.where}: {first_line(exc)} "
                    "(see the README's Team setup for the grants)"
                ) from None
            except psycopg.OperationalError as exc:
                if self._con is not None and (self._con.closed or self._con.broken):
                    # the transaction rolled back with the connection; the next call reconnects
                    raise StoreError(
                        f"lost the connection to the PostgreSQL history {self.where} while trying to {action} it "
                        f"({first_line(exc)}); nothing of that was kept, reconnecting"
                    ) from None
                raise StoreError(f"cannot {action} the PostgreSQL history {self.where}: {first_line(exc)}") from None
            except psycopg.Error as exc:
                raise StoreError(f"cannot {action} the PostgreSQL history {self.where}: {first_line(exc)}") from None

    def _read(self, action: str, read: Callable[[Any], _T]) -> _T:
        """``read(connection)`` under :meth:`_guard`; a read that met a dropped connection is retried once,
        reconnected (reads change nothing, so trying again is safe; writes are not retried here)."""
        try:
            with self._guard(action) as con:
                return read(con)
        except StoreError:
            if self._con is None or not (self._con.closed or self._con.broken):
                raise
        with self._guard(action) as con:
            return read(con)

    def _role(self) -> str:
        try:
            return urllib.parse.urlsplit(self.url).username or "in [storage] url"
        except ValueError:
            return "in [storage] url"

    def _writable(self) -> None:
        if self.readonly:
            raise StoreError(f"the PostgreSQL history {self.where} is open read-only")

    def _close_quietly(self) -> None:
        if self._con is not None:
            try:
                self._con.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
            self._con = None

    def close(self) -> None:
        with self._lock:
            self._close_quietly()
