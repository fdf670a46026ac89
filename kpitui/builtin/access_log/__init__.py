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

The package, one module per concern (each imports only the ones listed before it):

:mod:`.formats`
    the line formats (``combined``, ``common``, a custom nginx ``log_format``)
    and parsing a chunk of complete lines into typed fields with polars;
:mod:`.cursor`
    the cursor kept in the store: where each file was left, visitor state;
:mod:`.tail`
    following the file from the cursor: rotation (rename, copytruncate, gzip),
    a file's identity by device, inode and head hash, the per-poll byte budget;
:mod:`.readahead`
    a backlog's next chunk read in a thread while this one is counted;
:mod:`.source`
    the source itself: options, each metric's condition, a poll, the counting
    into buckets and distinct visitors.
"""

from __future__ import annotations

from kpitui import hookimpl
from kpitui.api import MetricSource

from .cursor import Cursor
from .formats import FIELD_TYPES, FORMATS, LogFormat, compile_log_format, parse_lines
from .source import AccessLogMetricOptions, AccessLogOptions, AccessLogSource
from .tail import MAX_POLL_BYTES

__all__ = [
    "FIELD_TYPES",
    "FORMATS",
    "MAX_POLL_BYTES",
    "AccessLogMetricOptions",
    "AccessLogOptions",
    "AccessLogSource",
    "Cursor",
    "LogFormat",
    "compile_log_format",
    "parse_lines",
]


@hookimpl
def register_metric_sources() -> list[type[MetricSource]]:
    return [AccessLogSource]
