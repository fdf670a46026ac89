"""The source toolkit: what kpitui's own metric sources use, public for plugin authors.

Everything named in ``__all__`` is public API with the stability promise of
:mod:`kpitui.api` (see "API stability" in plugins/README.md). The built-in
``file``, ``sql``, ``http``, ``command`` and ``prometheus`` sources are made
of these same helpers.

**Time.** Readings carry aware UTC times; kpitui buckets them on the config's
calendar (``SourceContext.timezone``). A source that counts events per hour or
day stamps each count at the start of its *local* bucket:

- :func:`bucket_start` (polars) / :func:`truncate` (one datetime): the start of
  the local hour, day, week or month holding a time, correct across DST
  (a skipped midnight starts the day at the transition; a repeated hour is
  two buckets);
- :func:`parse_times` (polars): strings such as ``2026-03-18 13:30``,
  ``2026-03-18T13:30:05.25+01:00``, ``...Z`` or Unix seconds to UTC; naive
  ones are local times in the zone you name. :func:`to_utc_datetime` does the
  same for one value (datetime, date, ISO string, Unix seconds);
- :func:`utc`, :func:`check_timezone`, :func:`parse_duration`.

**Reading files.** :func:`read_table` reads CSV, TSV, JSON, NDJSON or Parquet
into a polars frame (CSV as text, so you decide how each column parses) and
:func:`read_json` a JSON document; both fail with a :class:`SourceError` that
names the file.

**HTTP.** :func:`get_json` GETs JSON within a :class:`Deadline` (the source's
``timeout`` bounds the whole poll), retrying connection errors and 5xx answers
with exponential back-off, keeping credentials on their origin across
redirects, and masking secrets in every error. :class:`JsonPath` picks a value
(``data.visitors``, ``results[0].count``).

**Values and errors.** :func:`as_number`, :func:`first_number`; :func:`fail`
(a :class:`SourceError` with secrets masked), :func:`clip`, :func:`tail`,
:func:`reveal` (a :class:`kpitui.api.Secret`'s value, right now),
:func:`collect_errors` (one error naming every metric that failed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence

from .api import SourceError
from .builtin._sourcekit import (
    Bucket,
    Deadline,
    JsonPath,
    as_number,
    check_retries,
    check_timezone,
    check_url,
    clip,
    collect_errors,
    fail,
    first_number,
    parse_duration,
    reveal,
    tail,
    to_utc_datetime,
    truncate,
    utc,
)

if TYPE_CHECKING:
    import polars as pl
else:
    from kpitui.lazy import polars as pl

if TYPE_CHECKING:  # at run time imported on first use (module __getattr__ below)
    from .builtin._webclient import HttpStatusError, get_json

__all__ = [
    "Bucket",
    "Deadline",
    "HttpStatusError",
    "JsonPath",
    "NAIVE_FORMATS",
    "as_number",
    "bucket_start",
    "check_retries",
    "check_timezone",
    "check_url",
    "clip",
    "collect_errors",
    "fail",
    "first_number",
    "get_json",
    "parse_duration",
    "parse_times",
    "read_json",
    "read_table",
    "reveal",
    "tail",
    "to_utc_datetime",
    "truncate",
    "utc",
]

#: Local-time layouts :func:`parse_times` reads (an offset or ``Z`` after any of them is read too).
NAIVE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)

BucketName = Literal["hour", "day", "week", "month"]


def bucket_start(expr: pl.Expr, bucket: BucketName, timezone: str = "UTC", week_start: int = 0) -> pl.Expr:
    """The start of the local ``bucket`` holding each time of ``expr`` (tz-aware), as a UTC datetime.

    Days, weeks (starting on ``week_start``, 0 = Monday) and months follow
    ``timezone``, the way kpitui's windows and charts cut them: pass
    ``self.context.timezone``. Stamp a per-bucket count with this.
    """
    from .periods import Calendar, truncate as truncate_expr

    if bucket not in ("hour", "day", "week", "month"):
        raise ValueError(f"bucket must be hour, day, week or month, not {bucket!r}")
    start = truncate_expr(expr, bucket, Calendar(timezone=timezone, week_start=week_start))
    return start.dt.convert_time_zone("UTC")


def parse_times(
    expr: pl.Expr,
    timezone: str = "UTC",
    formats: Sequence[str] = NAIVE_FORMATS,
    epoch: Literal["s", "ms", None] = "s",
) -> pl.Expr:
    """Text times to aware UTC datetimes; what cannot be read is null (count those as skipped).

    ``2026-03-18 13:30`` (a local time in ``timezone``), ``2026-03-18T13:30:05+01:00``,
    ``2026-03-18T12:30:05Z``; with ``epoch`` ``"s"`` (default) or ``"ms"``, a plain
    number is Unix time in that unit; ``None`` reads no numbers. A local time the
    clocks skip is null; a repeated one is the earlier instant.
    """
    text = expr.cast(pl.String).str.strip_chars().str.replace(r"(?i)z$", "+00:00")
    offset = text.str.contains(r"[+-]\d\d:?\d\d$")
    aware = pl.coalesce(
        [text.str.strptime(pl.Datetime("us", "UTC"), f + "%z", strict=False) for f in formats if "%H" in f]
    )
    naive = pl.coalesce([text.str.strptime(pl.Datetime("us"), f, strict=False) for f in formats])
    local = naive.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")
    parsed = pl.when(offset).then(aware).otherwise(local)
    if epoch is None:
        return parsed
    number = text.str.contains(r"^-?\d+(\.\d+)?$")
    scale = 1_000_000 if epoch == "s" else 1_000
    seconds = (text.cast(pl.Float64, strict=False) * scale).round(0).cast(pl.Int64, strict=False)
    from_epoch = pl.from_epoch(seconds, time_unit="us").dt.replace_time_zone("UTC")
    return pl.when(number).then(from_epoch).otherwise(parsed)


_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "csv",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".parquet": "parquet",
}


def read_table(path: str | Path, format: str | None = None, *, separator: str | None = None) -> pl.DataFrame:
    """A CSV (every column as text), TSV, JSON (an array of objects), NDJSON or Parquet file as a frame.

    ``format`` defaults to the file's extension. A missing, unreadable or
    malformed file is a :class:`SourceError` naming it.
    """
    path = Path(path)
    kind = format or _FORMATS.get(path.suffix.lower())
    if kind is None:
        raise SourceError(
            f"{path.name}: cannot tell the format from its extension; say format = csv, tsv, json, ndjson or parquet"
        )
    try:
        if kind in ("csv", "tsv"):
            sep = separator or ("\t" if kind == "tsv" else ",")
            return pl.read_csv(path, separator=sep, infer_schema_length=0)
        if kind == "json":
            return pl.DataFrame(_records(read_json(path), path))
        if kind == "ndjson":
            return pl.read_ndjson(path)
        if kind == "parquet":
            return pl.read_parquet(path)
    except FileNotFoundError:
        raise SourceError(f"file not found: {path}") from None
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise SourceError(f"cannot read {path.name} as {kind}: {clip(str(exc), 200)}") from None
    raise SourceError(f"unknown format {kind!r}; use csv, tsv, json, ndjson or parquet")


def _records(data: Any, path: Path) -> list[dict[str, Any]]:
    if isinstance(data, dict):  # {"rows": [...]} or {"data": [...]}: the one list of objects inside
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(lists) == 1 else data
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise SourceError(f"{path.name}: expected a JSON array of objects (one per row)")
    return data


def read_json(path: str | Path) -> Any:
    """A JSON document from a file; a missing file or bad JSON is a :class:`SourceError` naming it (and the line)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(f"file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {path}: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"{path.name} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None


def __getattr__(name: str) -> Any:
    """``get_json`` and ``HttpStatusError`` come from the HTTP client, imported on first use (it
    brings http.client and ssl: not what a start-up should pay for when no source fetches JSON)."""
    if name in ("get_json", "HttpStatusError"):
        from .builtin import _webclient

        return getattr(_webclient, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
