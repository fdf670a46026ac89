"""The SQLite history's layout, its forward migrations and how a file is opened.

Layout (schema version :data:`SCHEMA_VERSION`, kept in ``PRAGMA user_version``
and migrated forward on open by a writer):

``metrics(id, name)``
    one row per metric name; readings refer to the integer id.
``readings(metric_id, at, value, seq, n)``, ``seq`` the rowid, unique index ``readings_key (metric_id, at)``
    ``at`` is the reading time as integer **microseconds since the Unix epoch,
    UTC** -- exactly polars' ``Datetime("us", "UTC")`` physical value, so no
    precision is lost and no conversion beyond a cast is needed either way.
    ``seq`` is a global, strictly increasing write sequence number: every row
    a write inserts or changes gets a new one, so a reader loads incrementally
    with ``seq > last seen`` (a rowid range). Rows are stored in ``seq`` order
    (schema 7; before it the table was ``WITHOUT ROWID`` keyed by ``(metric_id,
    at)`` with an index ``readings_seq``): a write appends its rows to the
    table's last pages and inserts only the small ``(metric_id, at) -> seq``
    entries at random places, so a bulk transaction spread over the whole
    history rewrites the pages of that index (about 60% of the table's size),
    not every leaf of the table (benchmarks/NOTES.md, "durable writes").
    ``n`` (schema 2) is how many raw readings the row stands for: 1 for a
    reading as written, more for a row :mod:`kpitui.retention` made by
    down-sampling a bucket of old readings (its ``value`` is then the
    bucket aggregated by the metric's own rule: sum, mean, last, min, max;
    a ``count`` metric keeps the sum of the values, its count is ``n``).
    The partial index ``readings_compacted`` holds only rows with ``n <> 1``,
    so loads fetch two columns per row and ``n`` only where it is not 1.
``meta(key, value, ...)``
    ``seq``: the sequence counter, taken and advanced inside the writer's
    ``BEGIN IMMEDIATE`` transaction (writers are serialised, so a transaction
    that commits later always holds higher numbers; a counter rather than
    ``max(seq)`` so that deleting the newest rows never hands out a number a
    reader has already seen). ``generation``: bumped whenever rows are deleted (or compacted).
    ``snapshot_seq``: see :mod:`kpitui.sqlite_store.snapshot`.
``compacted(metric_id, before)`` (schema 3)
    per metric, the instant before which ``compact`` has down-sampled its
    readings. That past is closed to ``mode="replace"`` writes: a
    snapshot-like source re-sending old raw rows would otherwise put them
    beside the bucket's compacted row (at its first reading's time, not at
    theirs) and the next compaction would add them to it again. Such rows
    are left out and counted in ``last_compacted``; ``mode="add"``
    rows (new events) still join their bucket.
``manual_readings(id, metric_id, at, recorded)`` (schema 4)
    the readings people typed, by a stable id: see :mod:`kpitui.manual_readings`.
``meta`` rows ``source:<id>`` (schema 5): ``cursor``, ``updated``
    each source's position, written in the same transaction as its readings;
    ``last_success``, ``last_error``, ``error``, ``failures``, ``next_attempt``:
    what collectors last saw of it, shared between processes (a collector's
    successful poll records it in the same transaction as its readings).
    One small b-tree for the counters, cursors and health: a collector's poll
    changes one page of it, not three (``meta``, ``cursors`` and
    ``source_health`` were tables of their own before; the views ``cursors``
    and ``source_health`` read them as before).
``meta`` rows ``staged:<k>`` (schema 6): ``staged``
    readings of a collector's small polls not yet in ``readings`` (packed: metric id, at, value,
    seq), on the page the cursors and health are on, so such a poll changes one page; folded into
    ``readings`` now and then, and read over it by every load (:mod:`kpitui.sqlite_store.staging`).
``snapshot_parts(part, data)``
    the columnar snapshot (:mod:`kpitui.sqlite_store.snapshot`).

Pages: new files use 1 KiB pages (:data:`PAGE_SIZE`; ``page_size=`` for a file
built by a bulk import); files made before keep theirs (SQLite cannot change
it in WAL mode without a rebuild) and work the same.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from ..store_common import StoreError
from .writable import (
    unwritable as unwritable,  # its home is .writable (no SQLite, no polars); kept here for its importers
    writable_folder,
)

#: ``PRAGMA application_id`` of a kpitui history file ("kpit").
APPLICATION_ID = 0x6B706974

MIGRATIONS: tuple[str, ...] = (
    # 1: initial layout
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO meta (key, value) VALUES ('seq', 0), ('generation', 0), ('snapshot_seq', 0);
    CREATE TABLE metrics (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
    CREATE TABLE readings (
        metric_id INTEGER NOT NULL,
        at INTEGER NOT NULL,
        value REAL NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (metric_id, at)
    ) WITHOUT ROWID;
    CREATE INDEX readings_seq ON readings (seq);
    CREATE TABLE cursors (source TEXT PRIMARY KEY, cursor TEXT, updated INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE source_health (
        source TEXT PRIMARY KEY,
        last_success INTEGER,
        last_error INTEGER,
        error TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        next_attempt INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE snapshot_parts (part INTEGER PRIMARY KEY, data BLOB NOT NULL);
    """,
    # 2: how many raw readings a row stands for (retention down-sampling); older snapshots lack it
    """
    ALTER TABLE readings ADD COLUMN n INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX readings_compacted ON readings (metric_id, at, n) WHERE n <> 1;
    DELETE FROM snapshot_parts;
    UPDATE meta SET value = 0 WHERE key = 'snapshot_seq';
    """,
    # 3: each metric's compacted past (closed to replace-mode writes); files compacted before get
    # their last compacted row's time plus 25 h (longer than any hour or local day bucket)
    """
    CREATE TABLE compacted (metric_id INTEGER PRIMARY KEY, before INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO compacted (metric_id, before)
        SELECT metric_id, max(at) + 90000000000 FROM readings WHERE n <> 1 GROUP BY metric_id;
    """,
    # 4: manual readings by a stable id (kpitui/manual_readings.py): list, correct, delete
    """
    CREATE TABLE manual_readings (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        metric_id INTEGER NOT NULL,
        at INTEGER NOT NULL,
        recorded INTEGER,
        UNIQUE (metric_id, at)
    );
    """,
    # 5: each source's cursor and health move into meta, beside the seq counter (one row per source,
    # key 'source:<id>'), so a collector's poll changes one small b-tree page there instead of three
    # (meta, cursors, source_health); cursors and source_health stay readable as views
    """
    ALTER TABLE meta ADD COLUMN cursor TEXT;
    ALTER TABLE meta ADD COLUMN updated INTEGER;
    ALTER TABLE meta ADD COLUMN last_success INTEGER;
    ALTER TABLE meta ADD COLUMN last_error INTEGER;
    ALTER TABLE meta ADD COLUMN error TEXT;
    ALTER TABLE meta ADD COLUMN failures INTEGER;
    ALTER TABLE meta ADD COLUMN next_attempt INTEGER;
    INSERT INTO meta (key, value, cursor, updated) SELECT 'source:' || source, 0, cursor, updated FROM cursors;
    INSERT INTO meta (key, value, last_success, last_error, error, failures, next_attempt)
        SELECT 'source:' || source, 0, last_success, last_error, error, failures, next_attempt
        FROM source_health WHERE true
        ON CONFLICT (key) DO UPDATE SET last_success = excluded.last_success, last_error = excluded.last_error,
        error = excluded.error, failures = excluded.failures, next_attempt = excluded.next_attempt;
    DROP TABLE cursors;
    DROP TABLE source_health;
    CREATE VIEW cursors AS
        SELECT substr(key, 8) AS source, cursor, updated FROM meta WHERE key GLOB 'source:*' AND updated IS NOT NULL;
    CREATE VIEW source_health AS
        SELECT substr(key, 8) AS source, last_success, last_error, error, failures, next_attempt
        FROM meta WHERE key GLOB 'source:*' AND failures IS NOT NULL;
    """,
    # 6: a collector's small polls are staged in meta rows 'staged:<k>' (packed readings), on the page
    # its cursor and health are on, and folded into readings now and then (kpitui/sqlite_store/staging.py)
    """
    ALTER TABLE meta ADD COLUMN staged BLOB;
    """,
    # 7: readings in write order (seq is the rowid: a write appends to the last pages), (metric_id, at) a
    # unique index; one transaction like every step, so a migration killed mid-way leaves schema 6 as it was
    """
    CREATE TABLE readings_by_seq (
        metric_id INTEGER NOT NULL,
        at INTEGER NOT NULL,
        value REAL NOT NULL,
        seq INTEGER PRIMARY KEY,
        n INTEGER NOT NULL DEFAULT 1
    );
    INSERT INTO readings_by_seq (metric_id, at, value, seq, n)
        SELECT metric_id, at, value, seq, n FROM readings ORDER BY seq;
    DROP TABLE readings;
    ALTER TABLE readings_by_seq RENAME TO readings;
    CREATE UNIQUE INDEX readings_key ON readings (metric_id, at);
    CREATE INDEX readings_compacted ON readings (metric_id, at, n) WHERE n <> 1;
    """,
)

#: The schema version this code writes; files with a higher ``user_version`` are refused.
SCHEMA_VERSION = len(MIGRATIONS)

OUR_TABLES = frozenset(
    {
        "meta",
        "metrics",
        "readings",
        "cursors",
        "source_health",
        "snapshot_parts",
        "compacted",
        "manual_readings",
        "delta_parts",
    }
)

#: Page size of new files. A commit writes every page it changes to the WAL (and a checkpoint copies
#: it once more), so a collector's small polls cost a few pages each: a poll of the sample's demo
#: source changed ~5 (its readings' leaves, the seq index leaf, the meta page; since schema 6 it is
#: staged on the meta page: 1, see :mod:`kpitui.sqlite_store.staging`), a poll that finds
#: nothing new 1 (the meta row: cursor and last success). At the sample's intervals (demo 30 s, web
#: 10 s) that is ~87 MB a day with 4 KiB pages, ~32 MB with 1 KiB (benchmarks/NOTES.md, "collector
#: disk writes"; 64 KiB pages wrote ~1 GB). The price: a bulk import of readings spread over the
#: whole history, each transaction touching nearly every leaf, runs ~1.8x slower than with 4 KiB
#: pages; pass ``page_size`` for a file built so (benchmarks/run.py does for its 10M store).
PAGE_SIZE = 1024


def check_version(path: Path, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"history file {path} has schema version {version}, newer than this kpitui "
            f"understands ({SCHEMA_VERSION}): upgrade kpitui, or point it at another file"
        )


#: the first 16 bytes of every SQLite database file
SQLITE_HEADER = b"SQLite format 3\x00"


def refuse_non_sqlite(path: Path) -> None:
    """A folder, or a file that is not an SQLite database at all (text, an image), is named as such before SQLite
    opens it ("file is not a database" read as a damaged history; "unable to open database file" for a folder)."""
    if path.is_dir():
        raise StoreError(f"history path {path} is a folder, not a file: set [storage] path to a file (in it, say)")
    try:
        with path.open("rb") as handle:
            start = handle.read(len(SQLITE_HEADER))
    except OSError:
        return  # missing (a new history) or unreadable: SQLite says which
    if start and start != SQLITE_HEADER:
        raise StoreError(
            f"{path} is not an SQLite database (it does not start as one), so not a kpitui history: set [storage] "
            f"path to another file; this one was left as it was. Were it a kpitui history whose first page was "
            f"overwritten, `kpitui history recover {path}.recovered` copies every reading it can still read"
        )


def refuse_foreign(con: sqlite3.Connection, path: Path) -> None:
    """An unversioned file must be empty (or a half-created history), not another program's database."""
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    foreign = sorted(t for t in tables - OUR_TABLES if not t.startswith("sqlite_"))
    if foreign:
        raise StoreError(
            f"{path} is an SQLite database with other tables ({', '.join(foreign[:3])}), not a kpitui history"
        )
    # a table of one of our names must be ours too (another program's ``readings``: "table readings already
    # exists" once the first migration ran, after the file had been switched to WAL)
    first = _first_layout()
    for table in sorted(tables & OUR_TABLES):
        columns = [r[1] for r in con.execute(f"PRAGMA table_info({quote_ident(table)})")]
        if columns != first.get(table):  # a later migration's table is not in an unversioned file either
            raise StoreError(
                f"{path} is an SQLite database of another program, not a kpitui history (its table {table!r} has "
                f"columns {', '.join(columns[:6])}): set [storage] path to a new file; this one was left as it was"
            )


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@functools.cache
def _first_layout() -> dict[str, list[str]]:
    """Each table's columns as the first migration creates them (an unversioned file's tables, if any)."""
    con = sqlite3.connect(":memory:")
    try:
        con.executescript(MIGRATIONS[0])
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: [r[1] for r in con.execute(f"PRAGMA table_info({quote_ident(name)})")] for name in names}
    finally:
        con.close()


def migrate(con: sqlite3.Connection, path: Path) -> None:
    """Bring the file forward to :data:`SCHEMA_VERSION`; call inside a ``BEGIN IMMEDIATE`` transaction."""
    version = con.execute("PRAGMA user_version").fetchone()[0]  # another process may have migrated
    check_version(path, version)
    if version == 0:
        refuse_foreign(con, path)
        con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    for step in range(version, SCHEMA_VERSION):
        if step == 6:  # the one step that rewrites every reading: say so, a big history takes a while
            rows = con.execute("SELECT count(*) FROM readings").fetchone()[0]
            if rows:
                logging.getLogger("kpitui.store").info(
                    "history file %s: upgrading to schema 7, readings stored in write order: rewriting %s "
                    "readings once (a few seconds per million; other kpitui processes wait for it)",
                    path,
                    f"{rows:,}",
                )
        for statement in MIGRATIONS[step].split(";"):
            if statement.strip():
                con.execute(statement)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def connect_readonly(path: str | os.PathLike[str], **kwargs: Any) -> tuple[sqlite3.Connection, bool]:
    """A read-only connection to the history at ``path`` (``kwargs`` go to ``sqlite3.connect``), and
    whether it had to be opened as immutable.

    A WAL reader needs the ``-shm`` file; in a folder nobody can write to (a read-only file
    system or mount) it can only use one a writer left there. Without one the file is read as
    immutable: no locks, no ``-shm`` (a leftover ``-wal`` is then not read; nobody can write
    there anyway). Every read-only opener of a history file (annotations, alert state, ...)
    should come through here.
    """
    uri = f"{Path(path).expanduser().resolve().as_uri()}?mode=ro"
    con = sqlite3.connect(uri, uri=True, **kwargs)
    if writable_folder(Path(path).expanduser().parent):
        return con, False
    try:
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return con, False
    except sqlite3.OperationalError:
        con.close()
    return sqlite3.connect(uri + "&immutable=1", uri=True, **kwargs), True


def create_private(path: Path) -> None:
    """Create the history's missing folders (0700) and the file itself (0600), before SQLite opens it.

    SQLite gives the ``-wal`` and ``-shm`` files the permissions of the database file, so
    all three are private to the user. Existing folders and files are left as they are.
    """
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    try:
        for folder in reversed(missing):
            try:
                folder.mkdir(mode=0o700)
            except FileExistsError:
                pass
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot create history file {path}: {exc}") from exc
