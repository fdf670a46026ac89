"""The ``access_log`` source: count web-server log lines that match each metric's trigger condition.

One source tails one access log (nginx/Apache ``combined`` or ``common``, or
any nginx-style ``log_format``) and serves every metric configured with
``source = "<id>"``. Each metric's ``condition`` is compiled with
:func:`kpitui.expressions.compile_condition` over these fields of a line:

=========  ========  ==========================================================
field      type      from
=========  ========  ==========================================================
client     text      ``$remote_addr``
user       text      ``$remote_user`` (``-`` when none)
time       datetime  ``$time_local`` / ``$time_iso8601`` / ``$msec``, in UTC
method     text      the request's method (``GET``), null if the request is not
                     ``METHOD TARGET PROTOCOL`` (e.g. ``-`` or TLS noise)
path       text      the request target before ``?``
query      text      the request target after the first ``?`` (``""`` if none)
protocol   text      ``HTTP/1.1``
status     integer   ``$status``
bytes      integer   ``$body_bytes_sent`` (``-`` is 0)
referrer   text      ``$http_referer`` as logged (``-`` when none)
agent      text      ``$http_user_agent`` as logged
=========  ========  ==========================================================

Formats
    ``combined`` and ``common`` are split on ``"`` by polars' CSV reader and
    sliced (no capturing regex: several times faster). nginx escapes a ``"``
    inside a value as ``\\x22``; Apache's ``\\"`` makes a line malformed. The
    user may contain spaces. ``custom`` takes an nginx ``log_format`` string
    (``$remote_addr``, ``$remote_user``, ``$time_local``, ``$time_iso8601``,
    ``$msec``, ``$request``, ``$request_method``, ``$request_uri``, ``$uri``,
    ``$args``, ``$server_protocol``, ``$status``, ``$body_bytes_sent``,
    ``$bytes_sent``, ``$http_referer``, ``$http_user_agent``; other variables
    are matched and ignored) compiled to one anchored regex: a value cannot
    contain the first character of the literal text that follows its variable.

Each poll reads the bytes appended since the cursor up to the last complete
line (a partial last line waits for the next poll), parses all new lines at
once with polars (no Python loop per line), evaluates every condition and
returns one reading per (metric, bucket): the number of matching lines in
that bucket, where the bucket is the line's own timestamp (an instant: the
offset in the line is applied) truncated to the minute, or to the hour or day
on the wall clock of kpitui's ``[kpitui] timezone`` (so a day bucket is the
local calendar day the views show, 23 or 25 hours long on DST days). A
bucket that had traffic in the poll but no match gets a 0 reading (we looked;
there was nothing), so "no data" and "zero" stay distinct. ``mode = "add"``:
the store adds these increments and commits the cursor in the same
transaction.

Malformed lines (no match for the format, a bad timestamp or status, binary
noise, lines longer than ``max_line_length``) are counted in
:attr:`FetchResult.skipped` and never stop a poll. Bytes that are not UTF-8
are replaced with U+FFFD. One poll reads at most :data:`MAX_POLL_BYTES`
(64 MiB) and then says ``more_pending``: the collector stores that chunk with
its cursor and polls again at once, so one ``kpitui collect --once`` takes in
a whole backlog, and a crash in the middle loses nothing.

Cursor
    A JSON object: ``file`` — the file being tailed: ``dev``/``ino`` (its
    identity), ``offset`` (bytes consumed), ``fp``/``fp_len`` (a hash of its
    first ``fp_len`` <= 1024 bytes, to notice a file replaced in place) and
    ``discard`` (inside an over-long line whose rest must be dropped). The
    file is known by ``dev``/``ino`` *and* by its content: when a reboot
    renumbers the device (LVM, btrfs, overlay, loop), the same inode whose
    head still hashes to ``fp`` is the same file, read on from ``offset``;
    ``prev`` — the previous file after a rename rotation, still drained while
    it sits at ``PATH.1``; ``backlog`` — rotated files still to import on the
    first run; ``missing`` — since when ``PATH`` has been missing (after
    ``missing_grace`` seconds, 300 by default, with nothing else left to read,
    that is the source's error until the file is back); ``distinct`` /
    ``latest`` — visitor state (below).

Rotation
    *Rename* (``PATH`` gets a new inode, or is missing for a moment): the old
    file's remainder is read from ``PATH.1`` (or ``PATH.2``) found by its inode,
    and re-checked on the next polls while it stays at ``PATH.1`` (the server
    writes to it until it reopens its log); then the new ``PATH`` from 0. *copytruncate* (same inode, but
    smaller than the offset, or its first bytes changed): the remainder is
    read from the copy at ``PATH.1`` when its head matches (then ``PATH`` from
    0). Lines the server writes between logrotate's copy and its truncate are
    lost: a limit of copytruncate itself, whoever reads the log.
    *Compressed* (logrotate's ``compress`` without ``delaycompress``, or a
    rotated file compressed later): when the old inode is gone, the rotated
    file whose first ``fp_len`` bytes hash to the cursor's ``fp`` (``PATH.1.gz``,
    ``PATH.2.gz``, … decompressed) is the same file, and its unread tail is read
    from it from the cursor's offset. When that file is found at ``PATH.N``
    with N > 1 (it rotated more than once between polls), ``PATH.1`` …
    ``PATH.(N-1)`` came after it and were never seen: they are read whole. A
    file that was empty when last polled has no head to match; its remainder
    is lost if it is compressed before the next poll. On the very first poll with
    ``import_rotated = true``, ``PATH.N`` and ``PATH.N.gz`` (N = 1, 2, ...)
    are imported oldest first before ``PATH``.

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
import gzip
import hashlib
import json
import os
import re
import zlib
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import polars as pl

from kpitui import hookimpl
from kpitui.api import FetchResult, MetricSource, OptionError, SourceContext, SourceError, path_warning, readings_frame
from kpitui.expressions import ExpressionError, compile_condition
from kpitui.model import Metric

from ._sourcekit import truncate

__all__ = ["FIELD_TYPES", "FORMATS", "AccessLogSource", "LogFormat", "compile_log_format", "parse_lines"]

#: The fields a condition can use, with their types.
FIELD_TYPES: dict[str, str] = {
    "client": "str",
    "user": "str",
    "time": "datetime",
    "method": "str",
    "path": "str",
    "query": "str",
    "protocol": "str",
    "status": "int",
    "bytes": "int",
    "referrer": "str",
    "agent": "str",
}

#: The named formats, in nginx ``log_format`` syntax.
FORMATS: dict[str, str] = {
    "combined": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"',
    "common": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent',
}

MAX_POLL_BYTES = 64 * 1024 * 1024
MAX_DISTINCT_STATE = 200_000
FINGERPRINT_BYTES = 1024
MAX_ROTATED = 100
#: seconds a log may be missing before that is the source's error (the default ``missing_grace``)
MISSING_GRACE = 300.0
BUCKETS = {"minute": "1m", "hour": "1h", "day": "1d"}
_HASH_SEED = 0x6B7069  # "kpi"
_TIME_LOCAL = "%d/%b/%Y:%H:%M:%S %z"
_UTC = pl.Datetime("us", "UTC")

# nginx variable -> the raw column it fills
_VARIABLES: dict[str, str] = {
    "remote_addr": "client",
    "remote_user": "user",
    "time_local": "time_local",
    "time_iso8601": "time_iso8601",
    "msec": "msec",
    "request": "request",
    "request_method": "method",
    "request_uri": "target",
    "uri": "path",
    "document_uri": "path",
    "args": "query",
    "query_string": "query",
    "server_protocol": "protocol",
    "status": "status_text",
    "body_bytes_sent": "bytes_text",
    "bytes_sent": "bytes_text",
    "http_referer": "referrer",
    "http_user_agent": "agent",
}
# which fields each raw column provides
_PROVIDES: dict[str, tuple[str, ...]] = {
    "client": ("client",),
    "user": ("user",),
    "time_local": ("time",),
    "time_iso8601": ("time",),
    "msec": ("time",),
    "request": ("method", "path", "query", "protocol"),
    "method": ("method",),
    "target": ("path", "query"),
    "path": ("path",),
    "query": ("query",),
    "protocol": ("protocol",),
    "status_text": ("status",),
    "bytes_text": ("bytes",),
    "referrer": ("referrer",),
    "agent": ("agent",),
}
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


# --- options -------------------------------------------------------------------


@dataclass(frozen=True)
class AccessLogOptions:
    path: str = field(metadata={"help": "the access log; relative paths are resolved from the config file's folder"})
    format: Literal["combined", "common", "custom"] = field(default="combined", metadata={"help": "the line format"})
    log_format: str | None = field(
        default=None,
        metadata={"help": 'nginx-style format for format = "custom", e.g. \'$remote_addr [$time_local] "$request" $status\''},
    )
    bucket: Literal["minute", "hour", "day"] = field(
        default="hour", metadata={"help": "time bucket of the counts; hours and days follow [kpitui] timezone"}
    )
    import_rotated: bool = field(default=True, metadata={"help": "on the first poll also import PATH.1, PATH.2.gz, ..."})
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
            raise OptionError(f'log_format is only used with format = "custom" (format is {self.format!r})', "log_format")
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
        metadata={"help": "count distinct visitors (client address, or address + user agent) per bucket instead of lines"},
    )


# --- log formats -------------------------------------------------------------------

_TIME_COLUMNS = ("time_local", "time_iso8601", "msec")


@dataclass(frozen=True)
class LogFormat:
    """A compiled nginx-style ``log_format``: one anchored regex with a named group per known variable."""

    text: str
    regex: str
    columns: tuple[str, ...]  # raw columns captured, in order

    @property
    def fields(self) -> frozenset[str]:
        """The condition fields this format provides."""
        return frozenset(f for c in self.columns for f in _PROVIDES[c])


def compile_log_format(text: str) -> LogFormat:
    """Turn an nginx ``log_format`` string into a regex; :class:`OptionError` if it cannot work.

    Each variable matches up to the first character of the literal text that
    follows it (``"$request"`` matches ``[^"]*``), the last one to the end of
    the line. Unknown variables are matched and ignored; so is a variable
    whose field an earlier one already provides.
    """
    if len(text) > 2000:
        raise OptionError("log_format is too long (limit 2000 characters)", "log_format")
    parts: list[tuple[str, str]] = []  # ("lit", text) | ("var", name)
    position = 0
    for match in _VARIABLE.finditer(text):
        if match.start() > position:
            parts.append(("lit", text[position : match.start()]))
        parts.append(("var", match.group(1) or match.group(2)))
        position = match.end()
    if position < len(text):
        parts.append(("lit", text[position:]))
    pieces = ["^"]
    columns: list[str] = []
    for i, (kind, value) in enumerate(parts):
        if kind == "lit":
            pieces.append(re.escape(value))
            continue
        following = parts[i + 1] if i + 1 < len(parts) else None
        if following is not None and following[0] == "var":
            raise OptionError(
                f"log_format: ${value} is directly followed by ${following[1]}; variables must be separated by literal text",
                "log_format",
            )
        body = f"[^{re.escape(following[1][0])}\\n]*" if following else ".*"
        column = _VARIABLES.get(value)
        duplicate = column in columns or (column in _TIME_COLUMNS and any(c in columns for c in _TIME_COLUMNS))
        if column is not None and not duplicate:
            columns.append(column)
            pieces.append(f"(?P<{column}>{body})")
        else:
            pieces.append(f"(?:{body})")
    pieces.append("\\r?$")
    if not any(c in columns for c in _TIME_COLUMNS):
        raise OptionError(
            "log_format must contain $time_local, $time_iso8601 or $msec: lines are counted in the bucket of their own time",
            "log_format",
        )
    if len(columns) == 1:
        raise OptionError("log_format has nothing to count on besides the time; add e.g. $request or $status", "log_format")
    regex = "".join(pieces)
    try:
        pl.select(pl.lit("", dtype=pl.String).str.extract_groups(regex))
    except Exception as exc:  # polars reports a regex it cannot build as ComputeError
        raise OptionError(f"log_format cannot be compiled: {' '.join(str(exc).split())[:200]}", "log_format") from None
    return LogFormat(text=text, regex=regex, columns=tuple(columns))


# --- parsing -------------------------------------------------------------------------


def _scan_columns(data: bytes, names: Sequence[str], separator: str, encoding: str) -> pl.LazyFrame:
    """Split ``data`` (complete lines) into rows, one per line: the CSV reader (multi-threaded, no quoting).

    With ``separator="\\x01"`` (a byte no log line holds) each line is one
    column; a line that does hold one is cut there and the rest lands in
    ``extra``, which marks the line malformed.
    """
    return pl.scan_csv(
        data,
        has_header=False,
        separator=separator,
        quote_char=None,
        schema={name: pl.String for name in names},
        truncate_ragged_lines=True,
        missing_columns="insert",
        extra_columns="ignore",
        empty_string_is_null=False,  # then a missing trailing field reads as "" too
        raise_if_empty=False,
        encoding=encoding,  # type: ignore[arg-type]
    )


@dataclass
class _Plan:
    """How to turn the read columns into raw text columns for one format."""

    names: list[str]
    separator: str
    prepare: list[pl.Expr]  # computed first (e.g. the regex captures)
    raw: dict[str, pl.Expr]
    shape: pl.Expr  # the line has the format's shape
    length: pl.Expr  # the line's length in bytes
    whole_lines: bool = False  # also read each line whole, as ``__line_len`` and ``__line_ok``


def _quote_split_plan(combined: bool) -> _Plan:
    """combined / common: the CSV reader splits each line on ``"``; the pieces are sliced.

    ``client ident user [dd/Mon/yyyy:HH:MM:SS +zzzz] "request" status bytes "referrer" "agent"``
    splits into exactly seven pieces ``c0 .. c6``, the last one empty (``common``:
    three). The reader fills missing pieces with ``""``, so the piece count is
    checked against the whole line's length, read alongside. Far cheaper than a
    capturing regex over the whole line.
    """
    names = [f"c{i}" for i in range(8)]
    c = [pl.col(n) for n in names]
    pieces = 7 if combined else 3
    # Offsets from str.find are in bytes and str.slice counts characters, so
    # splitting uses splitn (character-safe); the fixed-width time is sliced.
    head = c[0].str.head(-30).str.splitn(" ", 3)  # "client ident user" before " [time] "
    raw = {
        "client": c[0].str.splitn(" ", 2).struct.field("field_0"),
        "user": head.struct.field("field_2"),
        "time_local": c[0].str.slice(-28, 26),
        "request": c[1],
        "status_text": c[2].str.slice(1, 3),
        "bytes_text": c[2].str.slice(5, c[2].str.len_bytes() - 6) if combined else c[2].str.slice(5),
    }
    if combined:
        raw["referrer"] = c[3]
        raw["agent"] = c[5]
    split_length = pl.sum_horizontal([col.str.len_bytes() for col in c[:pieces]]) + (pieces - 1)
    shape = (
        pl.col("__line_ok")
        & (pl.col("__line_len") == split_length)  # exactly `pieces` pieces: no quote missing, none extra
        & c[0].str.ends_with("] ")
        & (c[0].str.slice(-30, 2) == " [")
        & c[0].str.contains(r"^[^ ]+ [^ \[]+ ")  # client and ident, then the user
    )
    if combined:
        shape = shape & c[2].str.contains(r"^ \d{3} (?:\d+|-) $") & (c[4] == " ") & (c[6] == "")
    else:
        shape = shape & c[2].str.contains(r"^ \d{3} (?:\d+|-)$")
    return _Plan(names, '"', [], raw, shape, pl.col("__line_len"), whole_lines=True)


def _regex_plan(log_format: LogFormat) -> _Plan:
    """custom: one anchored regex with named groups over the whole line."""
    group = pl.col("__g")
    raw = {column: group.struct.field(column) for column in log_format.columns}
    time_column = next(c for c in log_format.columns if c in _TIME_COLUMNS)
    return _Plan(
        names=["line", "extra"],
        separator="\x01",
        prepare=[pl.col("line").str.extract_groups(log_format.regex).alias("__g")],
        raw=raw,
        shape=raw[time_column].is_not_null() & (pl.col("extra") == ""),
        length=pl.col("line").str.len_bytes() + pl.col("extra").str.len_bytes(),
    )


def _plan(options: AccessLogOptions) -> _Plan:
    if options.format == "custom":
        return _regex_plan(compile_log_format(options.line_format))
    return _quote_split_plan(options.format == "combined")


def parse_lines(data: bytes, options: AccessLogOptions, need: set[str] | None = None, *, encoding: str = "utf8") -> pl.LazyFrame:
    """Parse complete lines into a lazy frame: one row per line, the :data:`FIELD_TYPES` in ``need`` and ``__valid``.

    ``need``: the fields the caller will use (``None``: all); the others are
    never computed. Invalid lines keep their row with ``__valid`` false.
    ``encoding="utf8"`` fails on invalid UTF-8 when collected (a
    ``ComputeError``); ``"utf8-lossy"`` replaces the bad bytes.
    """
    need = set(FIELD_TYPES) if need is None else set(need) | {"time"}
    plan = _plan(options)
    lazy = _scan_columns(data, plan.names, plan.separator, encoding)
    if plan.whole_lines:  # the same rows read whole: exact length, and no "\x01" inside
        whole = _scan_columns(data, ["line", "extra"], "\x01", encoding).select(
            __line_len=pl.col("line").str.len_bytes() + pl.col("extra").str.len_bytes(),
            __line_ok=pl.col("extra") == "",
        )
        lazy = pl.concat([lazy, whole], how="horizontal")
    if plan.prepare:
        lazy = lazy.with_columns(*plan.prepare)
    lazy = lazy.with_columns(
        *[expr.alias(f"__raw_{name}") for name, expr in plan.raw.items()],
        __shape=plan.shape,
        __len=plan.length,
    )
    raw = {name: pl.col(f"__raw_{name}") for name in plan.raw}
    if "request" in raw:  # "METHOD TARGET PROTOCOL"; all three null when the request has another shape
        lazy = lazy.with_columns(__request=raw.pop("request").str.splitn(" ", 3))
        parts = pl.col("__request").struct
        ok = parts.field("field_2").is_not_null()
        raw.setdefault("method", pl.when(ok).then(parts.field("field_0")))
        raw.setdefault("target", pl.when(ok).then(parts.field("field_1")))
        raw.setdefault("protocol", pl.when(ok).then(parts.field("field_2")))
    if "target" in raw:  # "path?query"; query is "" when there is no "?"
        lazy = lazy.with_columns(__target=raw.pop("target"))
        lazy = lazy.with_columns(__target_parts=pl.col("__target").str.splitn("?", 2))
        parts = pl.col("__target_parts").struct
        raw.setdefault("path", parts.field("field_0"))
        raw.setdefault("query", pl.when(pl.col("__target").is_not_null()).then(parts.field("field_1").fill_null("")))
    typed, valid = _typed(raw)
    fields = [name for name in FIELD_TYPES if name in need]
    lazy = lazy.with_columns(
        *[typed[name].alias(name) for name in fields],
        __valid=(valid & pl.col("__shape") & (pl.col("__len") <= options.max_line_length)).fill_null(False),
    )
    return lazy.select(*fields, "__valid")


def _typed(raw: dict[str, pl.Expr]) -> tuple[dict[str, pl.Expr], pl.Expr]:
    """From raw text columns to the typed fields, and whether the line's values are valid."""
    out: dict[str, pl.Expr] = {}
    if "time_local" in raw:
        out["time"] = raw["time_local"].str.strptime(_UTC, _TIME_LOCAL, strict=False)
    elif "time_iso8601" in raw:
        out["time"] = raw["time_iso8601"].str.strptime(_UTC, "%+", strict=False)
    else:
        seconds = raw["msec"].cast(pl.Float64, strict=False)
        sane = seconds.is_finite() & (seconds >= 0) & (seconds < 32_503_680_000)  # before the year 3000
        out["time"] = pl.when(sane).then((seconds * 1_000_000).cast(pl.Int64, strict=False)).cast(_UTC)
    valid = out["time"].is_not_null()
    if "status_text" in raw:
        out["status"] = raw["status_text"].cast(pl.Int64, strict=False)
        valid = valid & out["status"].is_between(100, 999)
    if "bytes_text" in raw:
        text = raw["bytes_text"]
        out["bytes"] = pl.when(text == "-").then(pl.lit(0, dtype=pl.Int64)).otherwise(text.cast(pl.Int64, strict=False))
        valid = valid & (out["bytes"] >= 0)
    for name in ("client", "user", "referrer", "agent", "method", "path", "query", "protocol"):
        if name in raw:
            out[name] = raw[name]
    for name, kind in FIELD_TYPES.items():
        out.setdefault(name, pl.lit(None, dtype=pl.Int64 if kind == "int" else pl.String))
    return out, valid


# --- the cursor ------------------------------------------------------------------------


@dataclass
class _Tail:
    """Where we are in one file. ``name`` is set for rotated files imported on the first run."""

    dev: int
    ino: int
    offset: int = 0
    fp: str = ""
    fp_len: int = 0
    discard: bool = False
    name: str | None = None

    def same(self, st: os.stat_result) -> bool:
        return (st.st_dev, st.st_ino) == (self.dev, self.ino)

    @property
    def compressed(self) -> bool:
        """A rotated ``.gz`` file (read whole through gzip; it never grows)."""
        return self.name is not None and self.name.endswith(".gz")

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dev": self.dev, "ino": self.ino, "offset": self.offset}
        if self.fp_len:
            out.update(fp=self.fp, fp_len=self.fp_len)
        if self.discard:
            out["discard"] = True
        if self.name is not None:
            out["name"] = self.name
        return out

    @classmethod
    def from_dict(cls, data: Any) -> _Tail | None:
        if data is None:
            return None
        return cls(
            dev=int(data["dev"]),
            ino=int(data["ino"]),
            offset=int(data["offset"]),
            fp=str(data.get("fp", "")),
            fp_len=int(data.get("fp_len", 0)),
            discard=bool(data.get("discard", False)),
            name=None if data.get("name") is None else str(data["name"]),
        )


@dataclass
class _Cursor:
    file: _Tail | None = None
    prev: _Tail | None = None
    backlog: list[_Tail] = field(default_factory=list)
    latest: int | None = None  # the latest bucket seen, epoch microseconds
    missing: float | None = None  # since when PATH has been missing, epoch seconds
    catchup: list[int] | None = None  # a backlog being read in chunks: [bytes done, bytes in all], for progress
    distinct: dict[str, dict[str, str]] = field(default_factory=dict)  # metric -> bucket (epoch us) -> base64 u64 hashes

    def dump(self) -> str:
        data: dict[str, Any] = {
            "v": 1,
            "file": self.file.as_dict() if self.file else None,
            "prev": self.prev.as_dict() if self.prev else None,
            "backlog": [item.as_dict() for item in self.backlog],
        }
        if self.latest is not None:
            data["latest"] = self.latest
        if self.missing is not None:
            data["missing"] = self.missing
        if self.catchup is not None:
            data["catchup"] = self.catchup
        if self.distinct:
            data["distinct"] = self.distinct
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def load(cls, text: str | None) -> _Cursor | None:
        if text is None:
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("v") != 1:
                raise ValueError("unknown cursor version")
            backlog = [_Tail.from_dict(item) for item in data.get("backlog") or []]
            latest = data.get("latest")
            missing = data.get("missing")
            catchup = data.get("catchup")
            for buckets in (data.get("distinct") or {}).values():
                for blob in buckets.values():
                    if len(base64.b64decode(blob, validate=True)) % 8:
                        raise ValueError("bad visitor state")
            return cls(
                file=_Tail.from_dict(data.get("file")),
                prev=_Tail.from_dict(data.get("prev")),
                backlog=[item for item in backlog if item is not None],
                latest=None if latest is None else int(latest),
                missing=None if missing is None else float(missing),
                catchup=None if catchup is None else [int(catchup[0]), int(catchup[1])],
                distinct={str(m): {str(k): str(v) for k, v in b.items()} for m, b in (data.get("distinct") or {}).items()},
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # binascii.Error is a ValueError
            raise SourceError(f"the saved position in the access log is unreadable ({exc}); reset this source's cursor") from None


# --- reading files -----------------------------------------------------------------------


def _is(path: Path, item: _Tail) -> bool:
    try:
        return item.same(path.stat())
    except OSError:
        return False


def _content_size(path: Path) -> int:
    """A file's size; for a ``.gz`` its uncompressed size from the gzip trailer (modulo 4 GiB, so at least the file's)."""
    try:
        size = path.stat().st_size
        if not path.name.endswith(".gz") or size < 18:
            return size
        with open(path, "rb") as handle:
            handle.seek(-4, os.SEEK_END)
            return max(size, int.from_bytes(handle.read(4), "little"))
    except OSError:
        return 0


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def _fingerprint(handle: Any, length: int) -> str:
    handle.seek(0)
    return hashlib.sha256(handle.read(length)).hexdigest()[:32]


def _rotated(path: Path) -> list[tuple[int, Path]]:
    """``PATH.N`` and ``PATH.N.gz`` beside ``path``, as (N, path), newest (N = 1) first."""
    pattern = re.compile(re.escape(path.name) + r"\.(\d+)(\.gz)?$")
    found: list[tuple[int, Path]] = []
    try:
        with os.scandir(path.parent) as entries:
            for entry in entries:
                match = pattern.match(entry.name)
                if match and entry.is_file():
                    found.append((int(match.group(1)), Path(entry.path)))
    except OSError:
        return []
    return sorted(found)[:MAX_ROTATED]


def _same_content(handle: Any, tail: _Tail, st: os.stat_result) -> bool:
    """Whether the file at another (device, inode) is the one ``tail`` was reading, known by its content.

    A device number changes when a reboot renumbers an LVM, btrfs, overlay or
    loop device: same inode, same bytes. So the same inode number whose first
    ``fp_len`` bytes hash to ``fp`` is the same file; so is another inode whose
    first full :data:`FINGERPRINT_BYTES` match (a copy put in its place). A
    rotated log is a new file with other first lines, so it never matches.
    """
    if not tail.fp_len or st.st_size < tail.offset:
        return False
    if st.st_ino != tail.ino and tail.fp_len < FINGERPRINT_BYTES:
        return False
    return _fingerprint(handle, tail.fp_len) == tail.fp


def _replaced(handle: Any, tail: _Tail, size: int) -> bool:
    """Whether the file at the same inode no longer holds what we read (truncated or rewritten)."""
    if size < tail.offset:
        return True
    return bool(tail.fp_len) and _fingerprint(handle, tail.fp_len) != tail.fp


class _Reader:
    """Collects the complete lines to parse in one poll, from one or more files, within a byte budget."""

    def __init__(self, budget: int, max_line_length: int):
        self.budget = budget
        self.max_line_length = max_line_length
        self.pieces: list[bytes] = []
        self.skipped = 0  # over-long lines dropped while reading
        self.current: str | None = None  # the name of the file read last (for progress)
        self.advanced = 0  # bytes the offsets moved on (for progress)

    def read(self, handle: Any, state: _Tail, *, limit: int | None, final: bool) -> bool:
        """Read complete lines from ``state.offset`` up to ``limit`` bytes (``None``: to EOF); True at the end.

        ``final``: the file will not grow (a rotated file), so a last line
        without a newline is complete. A line longer than ``max_line_length``
        with no newline in sight is skipped as it arrives (``state.discard``),
        so one huge line can never stall the tail.
        """
        while self.budget > 0:
            want = self.budget if limit is None else min(self.budget, limit - state.offset)
            if want <= 0:
                return True
            handle.seek(state.offset)
            data = handle.read(want)
            at_end = len(data) < want or (limit is not None and state.offset + len(data) >= limit)
            if not data:
                return True
            self.current = Path(str(getattr(handle, "name", "") or "")).name or self.current
            self.budget -= len(data)
            start = 0
            if state.discard:  # the rest of an over-long line: drop it through its newline
                newline = data.find(b"\n")
                if newline < 0:
                    state.offset += len(data)
                    self.advanced += len(data)
                    continue
                state.discard = False
                start = newline + 1
            chunk = data[start:] if start else data
            if final and at_end and chunk and not chunk.endswith(b"\n"):
                self.pieces.append(chunk + b"\n")
                used = len(chunk)
            else:
                used = chunk.rfind(b"\n") + 1
                if used:
                    self.pieces.append(chunk[:used] if used < len(chunk) else chunk)
                elif len(chunk) >= self.max_line_length:
                    self.skipped += 1
                    state.discard = True
                    used = len(chunk)
            state.offset += start + used
            self.advanced += start + used
            if start + used < len(data):
                return False  # a partial last line: wait for the rest (or a bigger budget)
        return False

    def tail(self, handle: Any, state: _Tail, size: int, *, final: bool = False) -> bool:
        done = self.read(handle, state, limit=size, final=final)
        if state.fp_len < FINGERPRINT_BYTES and state.offset > state.fp_len:
            state.fp_len = min(FINGERPRINT_BYTES, state.offset)
            state.fp = _fingerprint(handle, state.fp_len)
        return done

    @property
    def data(self) -> bytes:
        return self.pieces[0] if len(self.pieces) == 1 else b"".join(self.pieces)


# --- the source ------------------------------------------------------------------------------


class AccessLogSource(MetricSource):
    """Counts access-log lines (or distinct visitors) matching each metric's condition."""

    type_name = "access_log"
    description = "Count web-server access-log lines matching each metric's condition (nginx/Apache combined, common or custom)."
    Options = AccessLogOptions
    MetricOptions = AccessLogMetricOptions
    mode = "add"
    uses_condition = True
    default_interval = 60.0
    default_timeout = 60.0

    #: at most this many bytes are read per poll; a larger backlog takes several polls
    max_poll_bytes: int = MAX_POLL_BYTES

    def __init__(self, spec: Any, metrics: Sequence[Metric], context: SourceContext):
        super().__init__(spec, metrics, context)
        self.path = context.path(self.options.path)
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

    @classmethod
    def check(cls, options: Any, metrics: Sequence[Metric], context: SourceContext) -> None:
        for metric in metrics:
            _compile_metric(metric, options)

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

    # -- fetch -------------------------------------------------------------------------------

    def fetch(self, cursor: str | None, now: dt.datetime) -> FetchResult:
        loaded = _Cursor.load(cursor)
        state = loaded or _Cursor()
        reader = _Reader(self.max_poll_bytes, self.options.max_line_length)
        if loaded is None and self.options.import_rotated:
            for _, rotated in reversed(_rotated(self.path)):  # oldest (highest N) first
                try:
                    st = rotated.stat()
                except OSError:
                    continue
                state.backlog.append(_Tail(dev=st.st_dev, ino=st.st_ino, name=rotated.name))
        self._read_backlog(state, reader)
        self._read_live(state, reader, first=loaded is None, now=now)
        self._read_backlog(state, reader)  # files a rotation queued just now
        readings, bad = self._count(reader.data, state)
        # the budget ran out: there is (very likely) more to read now; the collector polls again at once
        pending = reader.budget <= 0
        self._report_progress(state, reader, pending)
        return FetchResult(readings=readings, cursor=state.dump(), skipped=reader.skipped + bad, more_pending=pending)

    def _report_progress(self, state: _Cursor, reader: _Reader, pending: bool) -> None:
        """A backlog's progress over its chunks (bytes read of bytes to read), kept in the cursor while it lasts."""
        consumed = reader.advanced
        if not pending and state.catchup is None:
            return  # a normal poll: nothing to show
        label = f"importing {reader.current}" if reader.current and reader.current != self.path.name else f"reading {self.path.name}"
        if not pending:
            done = state.catchup[0] + consumed  # type: ignore[index]
            state.catchup = None
            self.context.progress(done, done, label)
            return
        done = (state.catchup[0] if state.catchup else 0) + consumed
        state.catchup = [done, done + self._pending_bytes(state)]
        self.context.progress(state.catchup[0], state.catchup[1], label)

    def _pending_bytes(self, state: _Cursor) -> int:
        """About how many bytes are left to read: rotated files queued or being drained, and the live log."""
        left = 0
        for item in [*state.backlog, *([state.prev] if state.prev is not None else [])]:
            path = self._find(item) if item.name else next((p for p in self._rotated_names() if _is(p, item)), None)
            if path is not None:
                left += max(0, _content_size(path) - item.offset)
        try:
            st = self.path.stat()
        except OSError:
            return left
        offset = state.file.offset if state.file is not None and state.file.same(st) else 0
        return left + max(0, st.st_size - offset)

    def _read_backlog(self, state: _Cursor, reader: _Reader) -> None:
        """Rotated files imported on the first run, oldest first (over several polls if large)."""
        while state.backlog and reader.budget > 0:
            item = state.backlog[0]
            path = self._find(item)
            if path is None:  # rotated away meanwhile (renamed ones are found by identity)
                state.backlog.pop(0)
                continue
            try:
                opener: Any = gzip.open if path.name.endswith(".gz") else open
                with opener(path, "rb") as handle:
                    done = reader.read(handle, item, limit=None, final=True)
            except (OSError, EOFError, zlib.error):  # unreadable or a corrupt gzip: count it, move on
                reader.skipped += 1
                done = True
            if not done:
                return
            state.backlog.pop(0)

    def _find(self, item: _Tail) -> Path | None:
        """The rotated file with ``item``'s identity (names shift when the log rotates again)."""
        candidates = [self.path.with_name(item.name)] if item.name else []
        candidates += [p for _, p in _rotated(self.path)]
        for candidate in candidates:
            try:
                st = candidate.stat()
            except OSError:
                continue
            if item.same(st) or (st.st_ino == item.ino and candidate.name == item.name):  # or on a renumbered device
                item.dev = st.st_dev
                return candidate
        return None

    def _read_live(self, state: _Cursor, reader: _Reader, *, first: bool, now: dt.datetime) -> None:
        """The current file, after finishing whatever rotation left behind."""
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            handle = None
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        if handle is None and first and not state.backlog and not reader.pieces:
            raise SourceError(f"access log {self.path} does not exist")
        if handle is None:
            self._check_missing(state, reader, now)
        else:
            state.missing = None
        try:
            st = os.fstat(handle.fileno()) if handle else None
            if state.file is not None and st is not None and not state.file.same(st) and _same_content(handle, state.file, st):
                state.file.dev, state.file.ino = st.st_dev, st.st_ino  # a renumbered device (reboot, LVM, overlay, loop)
            if state.file is not None:
                renamed = st is None or not state.file.same(st)  # rename rotation, or PATH gone for a moment
                if renamed or _replaced(handle, state.file, st.st_size):  # else copytruncate / rewritten in place
                    if state.prev is not None:  # an older rotation still being drained: finish it first
                        self._drain_prev(state, reader)
                    old, state.file = state.file, None
                    found = self._find_renamed(old) if renamed else None
                    if found is not None:
                        state.prev = old
                        self._queue_newer(state, found[0])
                    else:  # copied (copytruncate), or renamed and compressed at once: found by its head
                        state.prev = self._moved(old, state)
            if state.prev is not None:
                self._drain_prev(state, reader)
            if handle is None or st is None:
                return
            if state.file is None:
                state.file = _Tail(dev=st.st_dev, ino=st.st_ino)
            reader.tail(handle, state.file, st.st_size)
        finally:
            if handle is not None:
                handle.close()

    def _check_missing(self, state: _Cursor, reader: _Reader, now: dt.datetime) -> None:
        """PATH is gone: note since when; past ``missing_grace`` (and with nothing else to read) it is an error.

        Rotation leaves PATH missing for a moment, so a short gap is quiet; a
        log deleted for good must not read ``0 readings`` forever. The error
        clears at the first poll that finds the file again.
        """
        moment = now.timestamp()
        if state.missing is None:
            state.missing = moment
            return
        gone = moment - state.missing
        if gone <= self.options.missing_grace or reader.pieces or state.backlog:
            return  # a rotated file drained or queued this poll: PATH may yet come back
        raise SourceError(
            f"access log {self.path} has been missing for {_ago(gone)} (deleted or moved, and not recreated); "
            "counting resumes when it is back"
        )

    def _rotated_names(self) -> list[Path]:
        return [self.path.with_name(f"{self.path.name}.{n}") for n in (1, 2)]

    def _find_renamed(self, old: _Tail) -> tuple[int, Path] | None:
        """(N, PATH.N) for N = 1 or 2 when it is ``old`` itself (same device and inode): a rename rotation."""
        for n, candidate in enumerate(self._rotated_names(), start=1):
            try:
                if old.same(candidate.stat()):
                    return n, candidate
            except OSError:
                continue
        return None

    def _queue_newer(self, state: _Cursor, n: int) -> None:
        """The file we were reading is now PATH.n: PATH.1 .. PATH.(n-1) came after it, unseen; read them whole."""
        for m, path in reversed(_rotated(self.path)):  # oldest first
            if m >= n:
                continue
            try:
                st = path.stat()
            except OSError:
                continue
            state.backlog.append(_Tail(dev=st.st_dev, ino=st.st_ino, name=path.name))

    def _drain_prev(self, state: _Cursor, reader: _Reader) -> None:
        """Read what was appended to the rotated file; forget it once it is fully read and no longer at PATH.1."""
        prev = state.prev
        assert prev is not None
        if prev.compressed:  # complete: read it to its end, wherever later rotations moved it
            path = self._find(prev)
            if path is None:
                state.prev = None
                return
            try:
                with gzip.open(path, "rb") as handle:
                    done = reader.read(handle, prev, limit=None, final=True)
            except (OSError, EOFError, zlib.error):  # a corrupt gzip: count it, move on
                reader.skipped += 1
                done = True
            if done:
                state.prev = None
            return
        for candidate in self._rotated_names():
            try:
                with open(candidate, "rb") as handle:
                    st = os.fstat(handle.fileno())
                    if prev.same(st):
                        done = reader.tail(handle, prev, st.st_size)
                        if done and candidate.name.endswith(".2"):
                            state.prev = None  # rotated twice: it will not grow any more
                        return
            except OSError:
                continue
        # gone from PATH.1 and PATH.2: compressed meanwhile (found by its head), or deleted
        state.prev = self._moved(prev, None)
        if state.prev is not None:
            self._drain_prev(state, reader)

    def _moved(self, old: _Tail, state: _Cursor | None) -> _Tail | None:
        """The rotated file that holds what ``old`` read, found by its head hash, as a tail to drain from ``old``'s offset.

        This finds a copy (copytruncate's ``PATH.1``) and a file compressed by
        rotation (``PATH.1.gz``, or ``PATH.2.gz`` after two rotations). With
        ``state`` (the rotation was just noticed), the rotated files newer than
        the one found were never seen: they are queued to be read whole.
        """
        if not old.fp_len:
            return None  # nothing was read from it: nothing to match, nothing to resume
        for n, candidate in _rotated(self.path):
            compressed = candidate.name.endswith(".gz")
            try:
                opener: Any = gzip.open if compressed else open
                with opener(candidate, "rb") as handle:
                    st = os.stat(candidate)
                    if not compressed and st.st_size < old.offset:
                        continue
                    if _fingerprint(handle, old.fp_len) != old.fp:
                        continue
            except (OSError, EOFError, zlib.error):
                continue
            found = _Tail(dev=st.st_dev, ino=st.st_ino, offset=old.offset, fp=old.fp, fp_len=old.fp_len,
                          discard=old.discard, name=candidate.name)  # fmt: skip
            if state is not None:
                self._queue_newer(state, n)
            return found
        return None

    # -- counting ---------------------------------------------------------------------------------

    def _count(self, data: bytes, state: _Cursor) -> tuple[pl.DataFrame, int]:
        """Readings for the complete lines in ``data`` and the number of malformed lines."""
        state.distinct = {mid: kept for mid, kept in state.distinct.items() if mid in self.distinct}
        if not data:
            return readings_frame([]), 0
        try:
            events = self._events(data, "utf8")
        except pl.exceptions.ComputeError:  # not valid UTF-8: parse again, replacing the bad bytes
            events = self._events(data, "utf8-lossy")
        metrics = [m.id for m in self.metrics]
        plain = [(i, mid) for i, mid in enumerate(metrics) if mid not in self.distinct]
        counts = events.group_by("__bucket").agg(
            pl.len().alias("__lines"),
            *[pl.col(f"__m{i}").sum().cast(pl.Float64).alias(mid) for i, mid in plain],
        )
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
                seen = events.filter(pl.col(f"__m{i}")).select("__bucket", pl.col(f"__h{i}").alias("__h")).unique()
                parts.append(self._new_visitors(mid, seen, buckets, state))
        if not parts:
            return readings_frame([]), bad
        out = pl.concat(parts, how="vertical_relaxed")
        return out.select("metric", pl.col("__bucket").alias("at"), pl.col("value").cast(pl.Float64)).sort("metric", "at"), bad

    def _events(self, data: bytes, encoding: str) -> pl.DataFrame:
        """One row per line: its bucket (null when malformed), each metric's match, visitor hashes."""
        lazy = parse_lines(data, self.options, self.need, encoding=encoding)
        valid = pl.col("__valid")
        columns = [pl.when(valid).then(_bucket_expr(self.options.bucket, self.context.timezone)).alias("__bucket")]
        for i, metric in enumerate(self.metrics):
            columns.append((self.conditions[metric.id] & valid).alias(f"__m{i}"))
            kind = self.distinct.get(metric.id)
            if kind is not None:
                key = pl.col("client") if kind == "client" else pl.concat_str(
                    [pl.col("client"), pl.lit("\x00"), pl.col("agent").fill_null("")]
                )
                columns.append(key.hash(_HASH_SEED).alias(f"__h{i}"))
        return lazy.select(columns).collect()

    def _new_visitors(self, mid: str, seen_now: pl.DataFrame, buckets: pl.DataFrame, state: _Cursor) -> pl.DataFrame:
        """Visitors not yet counted in their bucket; updates the visitor state kept in the cursor."""
        known = _decode_state(state.distinct.get(mid, {}))
        fresh = seen_now.join(known, on=["__bucket", "__h"], how="anti") if known.height else seen_now
        counts = fresh.group_by("__bucket").agg(pl.len().cast(pl.Float64).alias("value"))
        values = buckets.join(counts, on="__bucket", how="left").with_columns(
            pl.col("value").fill_null(0.0), pl.lit(mid).alias("metric")
        )
        # keep the open buckets only: the latest seen and the one before
        assert state.latest is not None
        latest = dt.datetime.fromtimestamp(state.latest / 1_000_000, dt.timezone.utc)
        open_from = _previous_bucket(latest, self.options.bucket, self.context.timezone)
        merged = pl.concat([known, fresh]).filter(pl.col("__bucket") >= open_from).unique()
        if merged.height > MAX_DISTINCT_STATE:
            merged = merged.sort("__bucket", descending=True).head(MAX_DISTINCT_STATE)
        state.distinct[mid] = _encode_state(merged)
        return values.select("__bucket", "metric", "value")


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
        key = str(int(bucket.timestamp() * 1_000_000))
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
            "__bucket": pl.Series(buckets, dtype=pl.Int64).cast(_UTC),
            "__h": pl.Series(hashes, dtype=pl.UInt64),
        }
    )


def _compile_metric(metric: Metric, options: Any) -> pl.Expr:
    condition = metric.trigger.condition if metric.trigger else None
    if not condition:
        raise OptionError(
            f"metric {metric.id!r} needs a condition saying which log lines count, "
            "e.g. condition = 'path == \"/newsletter/thank-you\" and status < 400'",
            "condition",
        )
    try:
        expr = compile_condition(condition, FIELD_TYPES)
    except ExpressionError as exc:
        raise OptionError(f"metric {metric.id!r}: condition: {exc}", "condition", exc.suggestion) from None
    fmt_fields = compile_log_format(options.line_format).fields
    missing = sorted(set(expr.meta.root_names()) - fmt_fields)
    if missing:
        raise OptionError(
            f"metric {metric.id!r}: condition uses {', '.join(missing)}, which the log format does not record",
            "condition",
        )
    distinct = getattr(metric.options, "distinct", "none")
    needed = {"client"} | ({"agent"} if distinct == "client_agent" else set())
    if distinct != "none" and needed - fmt_fields:
        lacking = ", ".join(sorted(needed - fmt_fields))
        raise OptionError(f"metric {metric.id!r}: distinct = {distinct!r} needs {lacking} in the log format", "distinct")
    return expr


@hookimpl
def register_metric_sources() -> list[type[MetricSource]]:
    return [AccessLogSource]
