"""The PostgreSQL history store, put together from its parts."""

from __future__ import annotations

import threading
from pathlib import Path

from ..store_common import StoreError
from .connection import missing_extra
from .manual import ManualReadings
from .reads import Reads
from .schema import Schema
from .snapshot import Snapshot
from .upkeep import Upkeep
from .writes import Writes


class PostgresStore(Writes, Reads, Snapshot, Upkeep, ManualReadings, Schema):
    """The reading history in a PostgreSQL database (see :mod:`kpitui.postgres`).

    ``instance``: the name this process writes under; ``instance_filter``: a
    viewer's choice to see one instance only. ``path``: a local file path beside
    which side files (alert state) live.
    """

    def __init__(
        self,
        url: str,
        *,
        readonly: bool = False,
        instance: str = "local",
        instance_filter: str | None = None,
        path: str | Path | None = None,
        connect_timeout: float = 10.0,
        reconnect_seconds: float = 30.0,
        snapshot_rows: int | None = 200_000,
    ):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise StoreError(missing_extra()) from None
        self.url = url
        self.readonly = readonly
        self.instance = instance
        self.instance_filter = instance_filter
        self.path = Path(path).expanduser() if path is not None else Path("kpitui-history.sqlite3")
        self.connect_timeout = connect_timeout
        self.reconnect_seconds = reconnect_seconds
        #: see the module docstring (``None``: never write the snapshot)
        self.snapshot_rows = snapshot_rows
        self.last_dropped = 0
        self.last_compacted = 0
        self.damaged = None
        #: how many times a dropped connection was re-made
        self.reconnects = 0
        #: one line about the last reconnection (the collector prints it), then ``None`` once read
        self.notice = None
        self._lock = threading.RLock()
        self._con = None
        self._instance_id = None
        self._written = []
        self._stored = None
        self._connect(first=True)
        self._open_schema()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresStore({self.where!r}, instance={self.instance!r})"
