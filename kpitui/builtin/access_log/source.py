"""The ``access_log`` source: its options, each metric's condition, a poll (fetch) and the counting.

A poll parses all new lines at once with polars (no Python loop per line),
evaluates every condition and returns one reading per (metric, bucket): the
number of matching lines in that bucket, where the bucket is the line's own
timestamp (an instant: the offset in the line is applied) truncated to the
minute, or to the hour or day on the wall clock of kpitui's ``[kpitui]
timezone`` (so a day bucket is the local calendar day the views show, 23 or
25 hours long on DST days). A bucket that had traffic in the poll but no
match gets a 0 reading (we looked; there was nothing), so "no data" and
"zero" stay distinct. ``mode = "add"``: the store adds these increments and
commits the cursor in the same transaction.

Malformed lines (no match for the format, a bad timestamp or status, binary
noise, lines longer than ``max_line_length``) are counted in
:attr:`FetchResult.skipped` and never stop a poll. Bytes that are not UTF-8
are replaced with U+FFFD.

Distinct visitors (``distinct = "client"`` or ``"client_agent"``)
    The reading is the number of *new* distinct visitors per bucket. Because
    readings are added across polls, the cursor keeps the set of visitors
    (64-bit hashes) already counted in the open buckets — the latest bucket
    seen and the one before it — so a visitor seen in two polls of the same
    hour counts once. Limits, stated honestly: a visitor of an older,
    closed bucket (a line arriving late) may be counted again; at most
    :data:`MAX_DISTINCT_STATE` hashes per metric are kept (beyond that,
    later polls may count a visitor of that bucket again); the hash is
    polars' ``hash``, stable within a polars version only, so an upgrade in
    the middle of a bucket may count its visitors twice. Summing hourly
    distinct counts over a day counts a visitor once per hour they were seen:
    choose ``bucket = "day"`` for daily visitors.
"""

from __future__ import annotations

import base64
import datetime as dt
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Sequence, TypeVar

from kpitui.api import FetchResult, MetricSource, OptionError, SourceContext, path_warning, readings_frame
from kpitui.epoch import from_micros, micros
from kpitui.expressions import ExpressionError, check_condition, compile_condition
from kpitui.model import Metric

from .._sourcekit import truncate
from .cursor import Cursor
from .formats import FIELD_TYPES, FORMATS, compile_log_format, parse_lines, time_utc
from .readahead import ReadAhead
from .tail import MAX_POLL_BYTES, MISSING_GRACE, ChunkBuffers, LineReader, LogTailer

if TYPE_CHECKING:
    import polars as pl
else:
    from kpitui.lazy import polars as pl

_Frame = TypeVar("_Frame", "pl.LazyFrame", "pl.DataFrame")

MAX_DISTINCT_STATE = 200_000
FIRST_POLL_BYTES = 16 * 1024 * 1024
BUCKETS = {"minute": "1m", "hour": "1h", "day": "1d"}
_HASH_SEED = 0x6B7069  # "kpi"


@dataclass(frozen=True)
class AccessLogOptions:
    path: str = field(metadata={"help": "the access log; relative paths are resolved from the config file's folder"})
    format: Literal["combined", "common", "custom"] = field(default="combined", metadata={"help": "the line format"})
    log_format: str | None = field(
        default=None,
        metadata={
            "help": 'nginx-style format for format = "custom", e.g. \'$remote_addr [$time_local] "$request" $status\''
        },
    )
    bucket: Literal["minute", "hour", "day"] = field(
        default="hour", metadata={"help": "time bucket of the counts; hours and days follow [kpitui] timezone"}
    )
    import_rotated: bool = field(
        default=True, metadata={"help": "on the first poll also import PATH.1, PATH.2.gz, ..."}
    )
    max_line_length: int = field(default=65536, metadata={"help": "longer lines are skipped (bytes)"})
    missing_grace: float = field(
        default=MISSING_GRACE,
        metadata={"help": "seconds the log may be missing (a rotation's gap) before that is this source's error"},
    )

    def validate(self) -> None:
        if not self.path.strip():
            raise OptionError("path must not be empty", "path")
        if self.format == "custom":
            if not self.log_format:
                raise OptionError(
                    'format = "custom" needs log_format, e.g. log_format = '
                    "'$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent'",
                    "log_format",
                )
            compile_log_format(self.log_format)
        elif self.log_format is not None:
            raise OptionError(
                f'log_format is only used with format = "custom" (format is {self.format!r})', "log_format"
            )
        if not 0 <= self.missing_grace <= 30 * 86400:
            raise OptionError("missing_grace must be between 0 and 2592000 seconds (30 days)", "missing_grace")
        if not 256 <= self.max_line_length <= MAX_POLL_BYTES:
            raise OptionError(f"max_line_length must be between 256 and {MAX_POLL_BYTES} bytes", "max_line_length")

    @property
    def line_format(self) -> str:
        return self.log_format if self.format == "custom" and self.log_format else FORMATS[self.format]


@dataclass(frozen=True)
class AccessLogMetricOptions:
    distinct: Literal["none", "client", "client_agent"] = field(
        default="none",
        metadata={
            "help": "count distinct visitors (client address, or address + user agent) per bucket instead of lines"
        },
    )


# --- the source ------------------------------------------------------------------------------


class AccessLogSource(MetricSource):
    """Counts access-log lines (or distinct visitors) matching each metric's condition."""

    type_name = "access_log"
    description = (
        "Count web-server access-log lines matching each metric's condition (nginx/Apache combined, common or custom)."
    )
    Options = AccessLogOptions
    MetricOptions = AccessLogMetricOptions
    mode = "add"
    uses_condition = True
    default_interval = 60.0
    default_timeout = 60.0

    #: at most this many bytes are read per poll; a larger backlog takes several polls
    max_poll_bytes: int = MAX_POLL_BYTES
    #: ...and at most this many by a poll that does not take a chunk read ahead (the first of a backlog): its count
    #: starts after a 16 MiB read (~10 ms), not a 64 MiB one (~35-50 ms, page faults included, with a core idle),
    #: and the next 64 MiB are read beside it
    first_poll_bytes: int = FIRST_POLL_BYTES

    def __init__(self, spec: Any, metrics: Sequence[Metric], context: SourceContext):
        super().__init__(spec, metrics, context)
        self.path = context.path(self.options.path)
        self.tailer = LogTailer(
            self.path, import_rotated=self.options.import_rotated, missing_grace=self.options.missing_grace
        )
        self.conditions: dict[str, pl.Expr] = {}
        self.distinct: dict[str, str] = {}
        need: set[str] = {"time"}
        for metric in self.metrics:
            expr = _compile_metric(metric, self.options)
            self.conditions[metric.id] = expr
            need |= set(expr.meta.root_names())
            kind = getattr(metric.options, "distinct", "none")
            if kind != "none":
                self.distinct[metric.id] = kind
                need |= {"client", "agent"} if kind == "client_agent" else {"client"}
        self.need = need
        self._ahead: ReadAhead | None = None  # made at the first fetch (``max_poll_bytes`` may be set until then)
        self._buffers = ChunkBuffers()  # a backlog's chunks are read into memory kept between its polls

    @classmethod
    def check(cls, options: Any, metrics: Sequence[Metric], context: SourceContext) -> None:
        for metric in metrics:
            _check_metric(metric, options)

    @classmethod
    def preflight(cls, options: Any, metrics: Sequence[Metric], context: SourceContext) -> list[str]:
        problem = path_warning(context.path(options.path))
        return [problem] if problem else []

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {
            "source": {"path": "/var/log/nginx/access.log", "format": "combined", "bucket": "hour"},
            "metric": {
                "name": "Newsletter sign-ups",
                "trigger": "A visitor reached the newsletter thank-you page",
                "condition": 'path == "/newsletter/thank-you" and status < 400',
            },
        }

    def fetch(self, cursor: str | None, now: dt.datetime) -> FetchResult:
        loaded = Cursor.load(cursor)
        state = loaded or Cursor()
        if self._ahead is None:
            self._ahead = ReadAhead(
                self.tailer,
                self.max_poll_bytes,
                self.options.max_line_length,
                self._buffers,
                prepare=self._query,
                execute=_collect,
            )
        reader = self._ahead.take(state) if loaded is not None else None
        if reader is None:
            budget = min(self.max_poll_bytes, self.first_poll_bytes)
            reader = LineReader(budget, self.options.max_line_length, self._buffers)
            self.tailer.read(state, reader, first=loaded is None, now=now)
        # the budget ran out: there is (very likely) more to read now; the collector polls again at once
        pending = reader.budget <= 0
        if pending:  # read the next chunk while this one is counted and committed
            self._ahead.start(state, now)
        if reader.prepared is not None:  # read ahead: the query built, and counted once the chunk before was
            (data, query), done = reader.prepared, reader.executed()
        else:
            data, query, done = reader.data, None, None
        readings, bad = self._count(data, state, query, done)
        self._ahead.release()  # this chunk is counted: the next one's count may start beside this poll's commit
        if not pending:  # caught up: the memory kept for a backlog's chunks goes back
            self._buffers.release()
        self._report_progress(state, reader, pending)
        return FetchResult(readings=readings, cursor=state.dump(), skipped=reader.skipped + bad, more_pending=pending)

    def _report_progress(self, state: Cursor, reader: LineReader, pending: bool) -> None:
        """A backlog's progress over its chunks (bytes read of bytes to read), kept in the cursor while it lasts."""
        consumed = reader.advanced
        if not pending and state.catchup is None:
            return  # a normal poll: nothing to show
        label = (
            f"importing {reader.current}"
            if reader.current and reader.current != self.path.name
            else f"reading {self.path.name}"
        )
        if not pending:
            done = state.catchup[0] + consumed  # type: ignore[index]
            state.catchup = None
            self.context.progress(done, done, label)
            return
        done = (state.catchup[0] if state.catchup else 0) + consumed
        state.catchup = [done, done + self.tailer.pending_bytes(state)]
        self.context.progress(state.catchup[0], state.catchup[1], label)

    # -- counting ---------------------------------------------------------------------------------

    def _query(self, data: bytes) -> pl.LazyFrame:
        """The query :meth:`_count` collects first for ``data`` (the bytes read as UTF-8): what a chunk read ahead is
        prepared with (:class:`~.readahead.ReadAhead`)."""
        events = self._events(data, "utf8")
        return events if self.distinct else self._counted(events)

    def _counted(self, events: _Frame) -> _Frame:
        """Per bucket: its lines and each plain (not distinct-visitor) metric's matches."""
        return events.group_by("__bucket").agg(
            pl.len().alias("__lines"),
            *[
                pl.col(f"__m{i}").sum().cast(pl.Float64).alias(metric.id)
                for i, metric in enumerate(self.metrics)
                if metric.id not in self.distinct
            ],
        )

    def _count(
        self, data: bytes, state: Cursor, query: pl.LazyFrame | None = None, done: pl.DataFrame | None = None
    ) -> tuple[pl.DataFrame, int]:
        """Readings for the complete lines in ``data`` and the number of malformed lines (``query``: :meth:`_query`
        of ``data``, built already; ``done``: that query collected)."""
        state.distinct = {mid: kept for mid, kept in state.distinct.items() if mid in self.distinct}
        if not data:
            return readings_frame([]), 0
        metrics = [m.id for m in self.metrics]
        plain = [mid for mid in metrics if mid not in self.distinct]

        events = None
        for encoding in ("utf8", "utf8-lossy"):  # not valid UTF-8: parse again, replacing the bad bytes
            try:
                if encoding == "utf8":
                    lazy = query if query is not None else self._query(data)
                else:
                    lazy = self._events(data, encoding)
                    lazy = lazy if self.distinct else self._counted(lazy)
                collected = done if done is not None and encoding == "utf8" else lazy.collect()
                if self.distinct:  # the visitors need each line's hashes: keep the lines
                    events = collected
                    counts = self._counted(events)
                else:  # one query from the bytes to the counts
                    counts = collected
                break
            except pl.exceptions.ComputeError:
                if encoding != "utf8":
                    raise
        lines = int(counts["__lines"].sum())
        counts = counts.filter(pl.col("__bucket").is_not_null())  # the null bucket holds the malformed lines
        bad = lines - int(counts["__lines"].sum())
        if counts.height == 0:
            return readings_frame([]), bad
        if self.distinct:
            latest = int(counts["__bucket"].cast(pl.Int64).max())  # type: ignore[arg-type]
            state.latest = latest if state.latest is None else max(state.latest, latest)
        parts = []
        if plain:
            parts.append(counts.drop("__lines").unpivot(index="__bucket", variable_name="metric", value_name="value"))
        buckets = counts.select("__bucket")
        for i, mid in enumerate(metrics):
            if mid in self.distinct:
                assert events is not None  # kept above for the distinct-visitor metrics
                seen = events.filter(pl.col(f"__m{i}")).select("__bucket", pl.col(f"__h{i}").alias("__h")).unique()
                parts.append(self._new_visitors(mid, seen, buckets, state))
        if not parts:
            return readings_frame([]), bad
        out = pl.concat(parts, how="vertical_relaxed")
        return out.select("metric", pl.col("__bucket").alias("at"), pl.col("value").cast(pl.Float64)).sort(
            "metric", "at"
        ), bad

    def _events(self, data: bytes, encoding: str) -> pl.LazyFrame:
        """One row per line: its bucket (null when malformed), each metric's match, visitor hashes."""
        lazy = parse_lines(data, self.options, self.need, encoding=encoding)
        valid = pl.col("__valid")
        columns = [pl.when(valid).then(_bucket_expr(self.options.bucket, self.context.timezone)).alias("__bucket")]
        for i, metric in enumerate(self.metrics):
            columns.append((self.conditions[metric.id] & valid).alias(f"__m{i}"))
            kind = self.distinct.get(metric.id)
            if kind is not None:
                key = (
                    pl.col("client")
                    if kind == "client"
                    else pl.concat_str([pl.col("client"), pl.lit("\x00"), pl.col("agent").fill_null("")])
                )
                columns.append(key.hash(_HASH_SEED).alias(f"__h{i}"))
        return lazy.select(columns)

    def close(self) -> None:
        if self._ahead is not None:
            self._ahead.drop()  # the bytes read ahead, if no poll took them

    def top_matches(
        self, metric_id: str, start: dt.datetime, end: dt.datetime, limit: int = 10
    ) -> dict[str, list[tuple[str, int]]]:
        """The most frequent paths, referrers and agents among the lines ``metric_id``'s condition matched
        in ``[start, end)`` (in the log and its rotated files), with ``lines``: how many matched."""
        from .top import FIELDS, top_matches

        fields = tuple(f for f in FIELDS if f in self._recorded())
        tops, total = top_matches(self.path, self.options, self.conditions[metric_id], start, end, limit, fields)
        return {"lines": [("matching lines", total)], **tops}

    def _recorded(self) -> frozenset[str]:
        fmt = compile_log_format(self.options.line_format)
        return fmt.fields

    def _new_visitors(self, mid: str, seen_now: pl.DataFrame, buckets: pl.DataFrame, state: Cursor) -> pl.DataFrame:
        """Visitors not yet counted in their bucket; updates the visitor state kept in the cursor."""
        known = _decode_state(state.distinct.get(mid, {}))
        fresh = seen_now.join(known, on=["__bucket", "__h"], how="anti") if known.height else seen_now
        counts = fresh.group_by("__bucket").agg(pl.len().cast(pl.Float64).alias("value"))
        values = buckets.join(counts, on="__bucket", how="left").with_columns(
            pl.col("value").fill_null(0.0), pl.lit(mid).alias("metric")
        )
        # keep the open buckets only: the latest seen and the one before
        assert state.latest is not None
        latest = from_micros(state.latest)
        open_from = _previous_bucket(latest, self.options.bucket, self.context.timezone)
        merged = pl.concat([known, fresh]).filter(pl.col("__bucket") >= open_from).unique()
        if merged.height > MAX_DISTINCT_STATE:
            merged = merged.sort("__bucket", descending=True).head(MAX_DISTINCT_STATE)
        state.distinct[mid] = _encode_state(merged)
        return values.select("__bucket", "metric", "value")


def _collect(query: pl.LazyFrame) -> pl.DataFrame:
    return query.collect()


def _bucket_expr(bucket: str, timezone: str) -> pl.Expr:
    """The start (UTC) of the bucket holding each line's ``time``: hours and days on the wall clock of ``timezone``.

    A minute is the same everywhere; an hour differs in half-hour zones
    (India, Adelaide) and a day in every zone but UTC, so a day bucket is the
    local calendar day the views group by (23 or 25 hours on DST days).
    """
    time = pl.col("time")
    if bucket == "minute" or timezone == "UTC":
        return time.dt.truncate(BUCKETS[bucket])
    return time.dt.convert_time_zone(timezone).dt.truncate(BUCKETS[bucket]).dt.convert_time_zone("UTC")


def _previous_bucket(latest: dt.datetime, bucket: str, timezone: str = "UTC") -> dt.datetime:
    """The start of the bucket before the one starting at ``latest`` (a local day may last 23 or 25 hours)."""
    if bucket == "minute":
        return latest - dt.timedelta(minutes=1)
    return truncate(latest - dt.timedelta(microseconds=1), bucket, timezone)


def _encode_state(frame: pl.DataFrame) -> dict[str, str]:
    out: dict[str, str] = {}
    if frame.height == 0:
        return out
    grouped = frame.group_by("__bucket").agg(pl.col("__h")).sort("__bucket")
    for bucket, hashes in grouped.iter_rows():  # one row per open bucket (at most a few)
        key = str(micros(bucket))
        out[key] = base64.b64encode(array("Q", sorted(hashes)).tobytes()).decode("ascii")
    return out


def _decode_state(state: dict[str, str]) -> pl.DataFrame:
    buckets: list[int] = []
    hashes: list[int] = []
    for key, blob in state.items():
        values = array("Q")
        values.frombytes(base64.b64decode(blob))
        hashes.extend(values)
        buckets.extend([int(key)] * len(values))
    return pl.DataFrame(
        {
            "__bucket": pl.Series(buckets, dtype=pl.Int64).cast(time_utc()),
            "__h": pl.Series(hashes, dtype=pl.UInt64),
        }
    )


def _compile_metric(metric: Metric, options: Any) -> pl.Expr:
    return compile_condition(_check_metric(metric, options), FIELD_TYPES)


def _check_metric(metric: Metric, options: Any) -> str:
    """``metric``'s condition, checked against the fields and the log format (without polars: a config check)."""
    condition = metric.trigger.condition if metric.trigger else None
    if not condition:
        raise OptionError(
            f"metric {metric.id!r} needs a condition saying which log lines count, "
            "e.g. condition = 'path == \"/newsletter/thank-you\" and status < 400'",
            "condition",
        )
    try:
        names = check_condition(condition, FIELD_TYPES)
    except ExpressionError as exc:
        raise OptionError(f"metric {metric.id!r}: condition: {exc}", "condition", exc.suggestion) from None
    fmt_fields = compile_log_format(options.line_format).fields
    missing = sorted(set(names) - fmt_fields)
    if missing:
        raise OptionError(
            f"metric {metric.id!r}: condition uses {', '.join(missing)}, which the log format does not record",
            "condition",
        )
    distinct = getattr(metric.options, "distinct", "none")
    needed = {"client"} | ({"agent"} if distinct == "client_agent" else set())
    if distinct != "none" and needed - fmt_fields:
        lacking = ", ".join(sorted(needed - fmt_fields))
        raise OptionError(
            f"metric {metric.id!r}: distinct = {distinct!r} needs {lacking} in the log format", "distinct"
        )
    return condition
