"""The ``file`` source: metrics from a CSV, Parquet, NDJSON or JSON export.

Two kinds of metric read the same file:

- a **value column** (``value_column = "amount"``): the column is aggregated
  per hour or day bucket with ``agg`` (rows kept: those matching ``filter`` and,
  for a key metric, its trigger's ``condition``);
- an **event table** (no ``value_column``): the rows matching the metric's
  trigger condition are counted per bucket ("a visitor viewed
  /newsletter/thank-you").

The file is re-read only when its size or modification time changes (or the
configuration does); each read replaces the value of every bucket it holds,
so re-reading a grown export is idempotent. Day buckets follow kpitui's
configured time zone, so they line up with the day grain of every view.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Sequence

from kpitui import hookimpl
from kpitui.api import FetchResult, MetricSource, OptionError, SourceContext, path_warning, readings_frame
from kpitui.expressions import ExpressionError, compile_condition
from kpitui.model import Metric
from kpitui.options import did_you_mean

from ._sourcekit import BUCKET_EVERY, Bucket, check_timezone, clip, fail

if TYPE_CHECKING:
    import polars as pl
else:
    from kpitui.lazy import polars as pl

Format = Literal["auto", "csv", "parquet", "ndjson", "json"]
SUFFIXES: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "json",
}
#: strptime patterns tried, in order, when no ``time_format`` is given (after 'T' -> ' ').
AWARE_FORMATS = ("%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M%#z")
NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d")
INFER_ROWS = 10_000
AT = "__kpitui_at"


@dataclass(frozen=True)
class FileOptions:
    """``path``: the export, relative to the config file's folder. ``format``: guessed from the
    extension when ``auto``. ``time_column``: when each row happened. ``time_format``: a
    strptime pattern such as ``%d/%m/%Y %H:%M`` (default: ISO 8601 dates and times, or Unix
    seconds in a numeric column). ``timezone``: how to read times written without an offset.
    ``separator``: the CSV field separator."""

    path: str
    time_column: str
    format: Format = "auto"
    time_format: str | None = None
    timezone: str = "UTC"
    separator: str = ","

    def validate(self) -> None:
        if len(self.separator.encode()) != 1:
            raise OptionError(f"separator must be a single one-byte character, not {self.separator!r}", "separator")
        check_timezone(self.timezone, "timezone")
        if self.time_format is not None and "%" not in self.time_format:
            raise OptionError(
                f"time_format must be a strptime pattern such as '%Y-%m-%d %H:%M', not {self.time_format!r}",
                "time_format",
            )
        if self.format == "auto" and self.detected_format is None:
            known = ", ".join(sorted(SUFFIXES))
            raise OptionError(
                f"cannot tell the format of {self.path!r} from its extension (known: {known}); set format", "format"
            )

    @property
    def detected_format(self) -> str | None:
        if self.format != "auto":
            return self.format
        return SUFFIXES.get(Path(self.path).suffix.lower())


@dataclass(frozen=True)
class FileMetricOptions:
    """``value_column``: aggregate this column per bucket (leave it out to count the rows that
    match the trigger's condition). ``filter``: a condition rows must also match. ``bucket``:
    ``hour`` or ``day``. ``agg``: how a bucket's values combine."""

    value_column: str | None = None
    filter: str | None = None
    bucket: Bucket = "day"
    agg: Literal["sum", "count", "last", "mean", "min", "max"] = "sum"

    def validate(self) -> None:
        if self.value_column is None and self.filter is not None:
            raise OptionError(
                "filter needs value_column; to count events, give the metric a trigger with a condition", "filter"
            )
        if self.value_column is None and self.agg not in ("sum", "count"):
            raise OptionError(
                f"agg = {self.agg!r} needs value_column; without it the rows matching the trigger's condition "
                "are counted",
                "agg",
            )


def _scan(options: FileOptions, path: Path, text: Sequence[str] = ()) -> pl.LazyFrame:
    """The file as a lazy frame; the columns in ``text`` are read as strings, whatever they hold."""
    fmt = options.detected_format
    overrides = {name: pl.String for name in text}
    if fmt == "csv":
        return pl.scan_csv(
            path, separator=options.separator, infer_schema_length=INFER_ROWS, schema_overrides=overrides
        )
    if fmt == "parquet":
        return pl.scan_parquet(path)
    if fmt == "ndjson":
        return pl.scan_ndjson(path, infer_schema_length=INFER_ROWS, schema_overrides=overrides or None)
    # A JSON array of objects: polars has no lazy JSON reader; read it (types from every row), then stay lazy.
    return pl.read_json(path, infer_schema_length=None).lazy()


def _raw(column: str) -> str:
    return f"__kpitui_raw_{column}"


def _typed(options: FileOptions, path: Path, value_columns: Sequence[str]) -> pl.LazyFrame:
    """The file with every value column as Float64, and no type decided from a sample of rows.

    CSV and NDJSON readers infer types from the first :data:`INFER_ROWS` rows:
    a column of whole numbers that later holds ``19.99`` would fail the read.
    So value columns, and every column the sample took for numbers, are read
    as text and made Float64 (a value that is not a number, NaN and the
    infinities too, becomes null: skipped and counted). Each value column's text stays beside it (as
    ``__kpitui_raw_<name>``) to count those values. Parquet has real types;
    JSON is inferred from every row.
    """
    frame = _scan(options, path)
    schema = frame.collect_schema()
    sampled = options.detected_format in ("csv", "ndjson")
    numeric = [c for c in schema.names() if c in value_columns or (sampled and schema[c].is_numeric())]
    if sampled and numeric:
        frame = _scan(options, path, numeric)
        schema = frame.collect_schema()
    values = [c for c in value_columns if c in schema]

    def number(c: str) -> pl.Expr:  # NaN and infinities are not numbers anyone measured: null, as "n/a" is
        x = (pl.col(c).str.strip_chars() if schema[c] == pl.String else pl.col(c)).cast(pl.Float64, strict=False)
        return pl.when(x.is_finite()).then(x).alias(c)

    return frame.with_columns(*[pl.col(c).alias(_raw(c)) for c in values], *[number(c) for c in numeric])


def _column_error(what: str, name: str, columns: Sequence[str]) -> str:
    shown = ", ".join(columns[:20]) + (", …" if len(columns) > 20 else "")
    return f"{what} {name!r} is not a column of the file" + did_you_mean(name, columns, f"; columns: {shown}")


def _conditions(metric: Metric, schema: pl.Schema) -> list[pl.Expr]:
    """The metric's trigger condition and filter, type-checked against the file's columns."""
    texts = []
    if metric.trigger is not None and metric.trigger.condition:
        texts.append(("trigger condition", metric.trigger.condition))
    if metric.options.filter:
        texts.append(("filter", metric.options.filter))
    out = []
    for what, text in texts:
        try:
            out.append(compile_condition(text, schema))
        except ExpressionError as exc:
            raise OptionError(f"metric {metric.id}: {what} {text!r}: {exc}", "condition") from None
    return out


def _time_expr(options: FileOptions, dtype: pl.DataType) -> pl.Expr:
    """The time column as ``Datetime(us, UTC)``; unreadable values become null."""
    col = pl.col(options.time_column)
    local = options.timezone

    def from_naive(expr: pl.Expr) -> pl.Expr:
        return expr.dt.replace_time_zone(local, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")

    if dtype == pl.String:
        text = col.str.strip_chars()
        if options.time_format is not None:
            parsed = text.str.to_datetime(options.time_format, strict=False, time_unit="us")
            aware = any(z in options.time_format for z in ("%z", "%#z", "%:z"))
            return parsed.dt.convert_time_zone("UTC") if aware else from_naive(parsed)
        spaced = text.str.replace("T", " ", literal=True)
        aware_parsed = [spaced.str.to_datetime(f, strict=False, time_unit="us") for f in AWARE_FORMATS]
        naive_parsed = [from_naive(spaced.str.to_datetime(f, strict=False, time_unit="us")) for f in NAIVE_FORMATS]
        return pl.coalesce(*aware_parsed, *naive_parsed)
    if isinstance(dtype, pl.Datetime):
        expr = col.cast(pl.Datetime("us", dtype.time_zone))
        return expr.dt.convert_time_zone("UTC") if dtype.time_zone else from_naive(expr)
    if dtype == pl.Date:
        return from_naive(col.cast(pl.Datetime("us")))
    if dtype.is_numeric():
        return pl.from_epoch((col.cast(pl.Float64) * 1_000_000).cast(pl.Int64), time_unit="us").dt.replace_time_zone(
            "UTC"
        )
    raise fail(f"time column {options.time_column!r} holds {dtype}, not times")


def _unreadable_numbers(column: str) -> pl.Expr:
    """How many values of ``column`` are present in the file but not numbers."""
    return (pl.col(_raw(column)).is_not_null() & pl.col(column).is_null()).sum()


def _value_columns(metrics: Sequence[Metric]) -> list[str]:
    return sorted({m.options.value_column for m in metrics if m.options.value_column})


_AGGS = {
    "sum": lambda v: v.sum(),
    "count": lambda v: v.count(),
    "last": lambda v: v.sort_by(pl.col(AT)).last(),
    "mean": lambda v: v.mean(),
    "min": lambda v: v.min(),
    "max": lambda v: v.max(),
}


class FileSource(MetricSource):
    type_name = "file"
    description = (
        "Metrics from a CSV, Parquet, NDJSON or JSON export: sum a column or count matching rows per hour/day."
    )
    Options = FileOptions
    MetricOptions = FileMetricOptions
    mode = "replace"
    default_interval = 300.0
    uses_condition = True

    @classmethod
    def check(cls, options: FileOptions, metrics: Sequence[Metric], context: SourceContext) -> None:
        for metric in metrics:
            if metric.options.value_column is None and not (metric.trigger and metric.trigger.condition):
                raise OptionError(
                    f"metric {metric.id}: set value_column, or give it a trigger with a condition "
                    "(the file's rows matching it are counted)",
                    "value_column",
                )
        path = context.path(options.path)
        if not path.is_file():
            return  # the export may not exist yet; fetch reports it
        try:
            schema = _typed(options, path, _value_columns(metrics)).collect_schema()
        except Exception:  # an unreadable file is reported by fetch, with the details
            return
        cls._check_columns(options, metrics, schema)

    @classmethod
    def preflight(cls, options: FileOptions, metrics: Sequence[Metric], context: SourceContext) -> list[str]:
        problem = path_warning(context.path(options.path))
        return [problem] if problem else []

    @staticmethod
    def _check_columns(options: FileOptions, metrics: Sequence[Metric], schema: pl.Schema) -> None:
        columns = schema.names()
        if options.time_column not in columns:
            raise OptionError(_column_error("time_column", options.time_column, columns), "time_column")
        for metric in metrics:
            value_column = metric.options.value_column
            if value_column is not None and value_column not in columns:
                message = _column_error("value_column", value_column, columns)
                raise OptionError(f"metric {metric.id}: {message}", "value_column")
            _conditions(metric, schema)

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {
            "source": {"path": "exports/events.csv", "time_column": "time", "timezone": "UTC"},
            "metric": {"trigger": "A visitor signed up", "condition": 'event == "signup"', "bucket": "day"},
        }

    @property
    def _fingerprint(self) -> str:
        config = repr((self.options, self.context.timezone, [(m.id, m.options, m.trigger) for m in self.metrics]))
        return hashlib.sha256(config.encode()).hexdigest()[:16]

    def fetch(self, cursor: str | None, now: dt.datetime) -> FetchResult:
        path = self.context.path(self.options.path)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise fail(f"{path}: no such file") from None
        except OSError as exc:
            raise fail(f"{path}: {exc.strerror or exc}") from None
        state = {"mtime_ns": stat.st_mtime_ns, "size": stat.st_size, "config": self._fingerprint}
        new_cursor = json.dumps(state, sort_keys=True)
        try:
            unchanged = cursor is not None and json.loads(cursor) == state
        except ValueError:
            unchanged = False
        if unchanged:
            return FetchResult(readings_frame([]), cursor)
        self.context.progress(0, stat.st_size, f"reading {path.name}")
        readings, skipped = self._read(path)
        self.context.progress(stat.st_size, stat.st_size, f"reading {path.name}")
        return FetchResult(readings, new_cursor, skipped)

    def _read(self, path: Path) -> tuple[pl.DataFrame, int]:
        options: FileOptions = self.options
        try:
            value_columns = _value_columns(self.metrics)
            frame = _typed(options, path, value_columns)
            schema = frame.collect_schema()
            self._check_columns(options, self.metrics, schema)
            base = frame.with_columns(_time_expr(options, schema[options.time_column]).alias(AT))
            parts = [self._metric_query(base, metric, schema) for metric in self.metrics]
            stats = base.select(
                rows=pl.len(),
                bad_times=pl.col(AT).is_null().sum(),
                bad_values=pl.sum_horizontal(pl.lit(0), *[_unreadable_numbers(c) for c in value_columns]),
                sample=pl.col(options.time_column).filter(pl.col(AT).is_null()).drop_nulls().first().cast(pl.String),
            )
            readings, stats_frame = pl.collect_all([pl.concat(parts), stats])
        except OptionError as exc:  # a missing column or a condition that does not compile
            raise fail(f"{path.name}: {exc}") from None
        except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
            raise fail(f"cannot read {path.name} as {options.detected_format}: {clip(str(exc), 300)}") from None
        row = stats_frame.row(0, named=True)
        if row["rows"] and row["bad_times"] == row["rows"]:
            how = f"time_format {options.time_format!r}" if options.time_format else "ISO 8601 (set time_format)"
            raise fail(
                f"{path.name}: no value of column {options.time_column!r} could be read as a time with {how}; "
                f"first value: {row['sample']!r}"
            )
        return readings, int(row["bad_times"] + row["bad_values"])

    def _metric_query(self, base: pl.LazyFrame, metric: Metric, schema: pl.Schema) -> pl.LazyFrame:
        opts: FileMetricOptions = metric.options
        every = BUCKET_EVERY[opts.bucket]
        local = pl.col(AT).dt.convert_time_zone(self.context.timezone)
        bucket = local.dt.truncate(every).dt.convert_time_zone("UTC").alias("at")
        rows = base.filter(pl.col(AT).is_not_null(), *_conditions(metric, schema))
        if opts.value_column is None:
            value = pl.len()
        else:
            rows = rows.with_columns(pl.col(opts.value_column).cast(pl.Float64, strict=False).alias("__kpitui_value"))
            rows = rows.filter(pl.col("__kpitui_value").is_not_null())
            value = _AGGS[opts.agg](pl.col("__kpitui_value"))
        return (
            rows.group_by(bucket)
            .agg(value.cast(pl.Float64).alias("value"))
            .select(pl.lit(metric.id, pl.String).alias("metric"), pl.col("at"), pl.col("value"))
            .sort("at")
        )


@hookimpl
def register_metric_sources() -> list[type[MetricSource]]:
    return [FileSource]
