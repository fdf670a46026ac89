"""The ``sql`` source: each metric is a query against SQLite or PostgreSQL.

The query does the aggregation (the database is better at it than copying
raw rows out): it returns either

- ``(time, value)`` rows, one per bucket, stored as returned (times may be
  timestamps, dates, ISO 8601 text or Unix seconds; times without a zone are
  UTC — use ``AT TIME ZONE`` in the query to say otherwise), or
- a single value (one row, one column), stamped with the start of the current
  ``bucket`` (``hour`` by default, or ``day`` in kpitui's time zone): re-running the query during
  that hour replaces the hour's value, so a ``last`` or ``sum`` metric reads
  "the latest answer per hour".

A NULL value (``SUM`` over no rows) is no reading. SQLite databases are opened
read-only, and an authorizer allows reads only (no ATTACH, VACUUM INTO, writes
or pragmas that set a value), with a new connection for each query; kpitui's
own history file is refused. On PostgreSQL a query must be one SELECT (or
WITH … SELECT, VALUES), run as a cursor in its own read-only transaction, the
session reset between queries (:mod:`._readonly_sql`). At most 1,000,000 rows
are read. ``url`` is a secret:
write the password as ``${ENV_VAR}``; it is revealed only to connect, and never
shown in an error.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sqlite3
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from kpitui import hookimpl
from kpitui.api import FetchResult, MetricSource, OptionError, Secret, SourceError, readings_frame
from kpitui.model import Metric

from ._readonly_sql import postgres_refusal, sqlite_authorizer
from ._sourcekit import Bucket, Deadline, as_number, clip, collect_errors, fail, reveal, to_utc_datetime, truncate

SCHEMES = ("sqlite", "postgresql", "postgres")
#: the most rows a query may return (aggregate in the query: one row per hour or day)
MAX_ROWS = 1_000_000
#: the longest text or blob an SQLite value may be
MAX_SQLITE_VALUE = 1_000_000
FETCH_ROWS = 10_000


def _scheme(url: str) -> str:
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", url)
    return match.group(1).lower() if match else ""


def _check_scheme(url: str, key: str) -> None:
    scheme = _scheme(url)
    if scheme not in SCHEMES:
        # Never echo the URL: it may hold a password.
        raise OptionError(
            f"{key} must start with sqlite:/// (sqlite:///relative.db or sqlite:////absolute/path.db) "
            f"or postgresql://, not {scheme + '://' if scheme else 'a text without a scheme'}",
            key,
        )
    if scheme == "sqlite" and not url.lower().startswith("sqlite:///"):
        raise OptionError(f"{key}: write a SQLite URL with three slashes, like sqlite:///data/app.db", key)


@dataclass(frozen=True)
class SqlOptions:
    """``url``: ``sqlite:///path.db`` (relative to the config file; four slashes for an absolute
    path) or ``postgresql://user:${PGPASSWORD}@host:5432/db``."""

    url: Secret

    def validate(self) -> None:
        if self.url.template.startswith("${"):
            return  # the scheme itself comes from the environment: checked when connecting
        _check_scheme(self.url.template, "url")


@dataclass(frozen=True)
class SqlMetricOptions:
    """``query``: SQL returning (time, value) rows or a single value. ``bucket``: the hour or
    day a single value is stamped with."""

    query: str
    bucket: Bucket = "hour"

    def validate(self) -> None:
        if not self.query.strip():
            raise OptionError("query must not be empty", "query")


def _too_many_rows(metric_id: str) -> SourceError:
    return fail(
        f"metric {metric_id}: the query returned more than {MAX_ROWS:,} rows, the most a source reads; "
        "aggregate in the query (one row per hour or day)"
    )


def _fetch_rows(cur: Any, metric_id: str) -> list[Sequence[Any]]:
    """Every row of the query's result, refused past :data:`MAX_ROWS` (read in batches)."""
    rows: list[Sequence[Any]] = []
    while True:
        batch = cur.fetchmany(FETCH_ROWS)
        if not batch:
            return rows
        rows.extend(batch)
        if len(rows) > MAX_ROWS:
            raise _too_many_rows(metric_id)


class SqlSource(MetricSource):
    type_name = "sql"
    description = "Metrics from SQL queries against SQLite or PostgreSQL (aggregation runs in the database)."
    Options = SqlOptions
    MetricOptions = SqlMetricOptions
    mode = "replace"
    default_interval = 300.0

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {
            "source": {"url": "postgresql://kpitui:${PGPASSWORD}@localhost:5432/shop"},
            "metric": {
                "query": "SELECT date_trunc('day', created_at) AS day, count(*) FROM orders "
                "WHERE created_at > now() - interval '7 days' GROUP BY 1",
            },
        }

    def fetch(self, cursor: str | None, now: dt.datetime) -> FetchResult:
        deadline = Deadline(self.spec.timeout)
        url = reveal(self.options.url)
        password = urllib.parse.urlsplit(url).password or ""

        def scrub(text: str) -> str:
            return text.replace(password, "***") if len(password) >= 3 else text

        try:
            _check_scheme(url, "url")
        except OptionError as exc:
            raise fail(str(exc)) from None
        run = self._sqlite if _scheme(url) == "sqlite" else self._postgres
        rows: list[tuple[str, dt.datetime, float]] = []
        errors: list[str] = []
        try:
            skipped = run(url, deadline, now, rows, errors)
        except SourceError as exc:
            raise fail(scrub(str(exc))) from None
        except Exception as exc:  # never let an unexpected error carry the URL out unmasked
            raise fail(scrub(f"{type(exc).__name__}: {exc}")) from None
        collect_errors([scrub(e) for e in errors])
        return FetchResult(readings_frame(rows), cursor, skipped)

    # -- SQLite -------------------------------------------------------------------------------

    def _sqlite(
        self,
        url: str,
        deadline: Deadline,
        now: dt.datetime,
        rows: list[tuple[str, dt.datetime, float]],
        errors: list[str],
    ) -> int:
        raw = urllib.parse.unquote(url[len("sqlite:///") :].split("?", 1)[0])
        path = Path(raw) if raw.startswith("/") else self.context.path(raw)
        if not path.is_file():
            raise fail(f"SQLite database {path} does not exist")
        if self.context.is_history(path):
            raise fail(f"SQLite database {path} is kpitui's own history file; a source may not read it")
        uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"
        skipped = 0
        for metric in self.metrics:
            conn = self._sqlite_connection(uri, path, deadline)  # one per query: nothing one sets is seen by the next
            try:
                cur = conn.execute(metric.options.query)
                columns = [d[0] for d in cur.description or ()]
                result = _fetch_rows(cur, metric.id)
            except sqlite3.Error as exc:
                message = str(exc)
                if deadline.expired or message == "interrupted":
                    message = f"timed out after {deadline.seconds:g}s (the source's timeout)"
                elif message in ("not authorized", "authorization denied"):
                    message = "not authorized: kpitui only reads (no ATTACH, VACUUM, PRAGMA setting a value, or write)"
                errors.append(f"metric {metric.id}: query failed: {message}")
                continue
            except SourceError as exc:  # too many rows
                errors.append(str(exc))
                continue
            finally:
                conn.close()
            skipped += self._convert(metric, columns, result, now, rows, errors)
        return skipped

    @staticmethod
    def _sqlite_connection(uri: str, path: Path, deadline: Deadline) -> sqlite3.Connection:
        """A read-only connection that may only read (:mod:`._readonly_sql`), bounded in time and value size."""
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=max(deadline.remaining(), 0.001))
        except sqlite3.Error as exc:
            raise fail(f"cannot open SQLite database {path}: {exc}") from None
        conn.set_authorizer(sqlite_authorizer)
        # A query running past the deadline (or cancelled) is interrupted (checked every 10k VM steps).
        conn.set_progress_handler(lambda: 1 if deadline.expired else 0, 10_000)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_SQLITE_VALUE)
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        return conn

    # -- PostgreSQL ---------------------------------------------------------------------------

    def _postgres(
        self,
        url: str,
        deadline: Deadline,
        now: dt.datetime,
        rows: list[tuple[str, dt.datetime, float]],
        errors: list[str],
    ) -> int:
        try:
            import psycopg
        except ImportError:
            raise fail("PostgreSQL needs psycopg: pip install 'kpitui[postgres]'") from None
        try:
            conn = psycopg.connect(
                url,
                connect_timeout=max(1, math.ceil(deadline.remaining())),
                application_name="kpitui",
                # kpitui opens each query's transaction itself (read-only), and resets the session between them
                autocommit=True,
            )
        except psycopg.Error as exc:
            raise fail(f"cannot connect to PostgreSQL: {clip(str(exc), 300)}") from None
        skipped = 0
        try:
            conn.read_only = True
            for metric in self.metrics:
                budget_ms = int(deadline.remaining() * 1000)
                if budget_ms <= 0:
                    errors.append(f"metric {metric.id}: not run, the source's {deadline.seconds:g}s timeout ran out")
                    continue
                refusal = postgres_refusal(metric.options.query)
                if refusal:
                    errors.append(f"metric {metric.id}: {refusal}")
                    continue
                try:
                    # BEGIN READ ONLY, and always ROLLBACK: a write that slips past read-only (lo_import) is undone
                    with deadline.watch(conn.cancel_safe), conn.transaction(force_rollback=True):
                        conn.execute("SELECT set_config('statement_timeout', %s, true)", [f"{budget_ms}ms"])
                        # a cursor: the server accepts one SELECT (or VALUES) only; rows come FETCH_ROWS at a time
                        with conn.cursor(name="kpitui_query") as cur:
                            cur.execute(metric.options.query)
                            columns = [d.name for d in cur.description or ()]
                            result = _fetch_rows(cur, metric.id)
                    conn.execute(
                        "DISCARD ALL"
                    )  # the next query starts from a fresh session (no SET, temp table, prepared plan)
                except psycopg.errors.QueryCanceled:
                    errors.append(
                        f"metric {metric.id}: query timed out after {deadline.seconds:g}s (the source's timeout)"
                    )
                    continue
                except psycopg.OperationalError as exc:
                    raise fail(f"PostgreSQL connection failed: {clip(str(exc), 300)}") from None
                except psycopg.Error as exc:
                    errors.append(f"metric {metric.id}: query failed: {clip(str(exc), 300)}")
                    continue
                except SourceError as exc:  # too many rows
                    errors.append(str(exc))
                    continue
                skipped += self._convert(metric, columns, result, now, rows, errors)
        finally:
            conn.close()
        return skipped

    # -- results ------------------------------------------------------------------------------

    def _convert(
        self,
        metric: Metric,
        columns: Sequence[str],
        result: Sequence[Sequence[Any]],
        now: dt.datetime,
        rows: list[tuple[str, dt.datetime, float]],
        errors: list[str],
    ) -> int:
        """Append the readings of one query's result; return how many rows were skipped (NULLs)."""
        where = f"metric {metric.id}"
        try:
            if len(columns) == 1:
                if len(result) > 1:
                    raise fail(
                        f"{where}: the query returned {len(result)} rows of one column; "
                        "return a single value, or (time, value) rows"
                    )
                if not result or result[0][0] is None:
                    return 0
                at = truncate(now, metric.options.bucket, self.context.timezone)
                rows.append((metric.id, at, as_number(result[0][0], f"{where}: the value")))
                return 0
            if len(columns) != 2:
                raise fail(
                    f"{where}: the query returned {len(columns)} columns ({', '.join(columns)}); "
                    "return (time, value) rows or a single value"
                )
            skipped = 0
            for i, (at, value) in enumerate(result):
                if at is None or value is None:
                    skipped += 1
                    continue
                rows.append(
                    (
                        metric.id,
                        to_utc_datetime(at, f"{where}: row {i + 1}, column {columns[0]}"),
                        as_number(value, f"{where}: row {i + 1}, column {columns[1]}"),
                    )
                )
            return skipped
        except SourceError as exc:  # a bad shape, time or value: reported against this metric
            errors.append(str(exc))
            return 0


@hookimpl
def register_metric_sources() -> list[type[MetricSource]]:
    return [SqlSource]
