"""Helpers shared by the built-in metric sources (file, sql, http, command, prometheus).

The public face of these helpers is :mod:`kpitui.sourcekit`: plugins import
from there (its ``__all__`` is the stable API), never from this module. What
lives here is what the built-ins would otherwise repeat: time buckets, a fetch
deadline, a small JSON path, number parsing, and error messages that never show
a secret (the HTTP JSON client is :mod:`._webclient`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import re
import threading
import time
import urllib.parse
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Iterator, Literal, Sequence

from kpitui.api import OptionError, Secret, SourceError, fetch_cancelled
from kpitui.options import redact

Bucket = Literal["hour", "day"]
BUCKET_EVERY: dict[str, str] = {"hour": "1h", "day": "1d"}
#: how often a deadline's guard looks for a cancellation
WATCH_EVERY = 0.05


def fail(message: str) -> SourceError:
    """A :class:`SourceError` whose message has every revealed secret masked."""
    return SourceError(redact(message))


def reveal(secret: Secret, *, multiline: bool = False) -> str:
    """The secret's value, for use right now; a missing ``${ENV}`` variable, or one ending with a line
    break or holding a control character, is a :class:`SourceError` naming the variable."""
    try:
        return secret.reveal(multiline=multiline)
    except OptionError as exc:
        raise fail(str(exc)) from None


def clip(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut to ``limit`` characters, secrets masked first (a cut must not leave half a token)."""
    text = " ".join(redact(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tail(text: str, lines: int = 5) -> str:
    """The last non-empty ``lines`` of ``text``."""
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


# -- time ---------------------------------------------------------------------------------------


def utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` as an aware UTC datetime (naive values are taken as UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def truncate(moment: dt.datetime, bucket: str, timezone: str = "UTC") -> dt.datetime:
    """The start (in UTC) of the hour or day holding ``moment``; days follow ``timezone``."""
    local = utc(moment).astimezone(zoneinfo.ZoneInfo(timezone))
    if bucket == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
    elif bucket == "day":
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    else:  # pragma: no cover - options validation rejects other values
        raise ValueError(f"unknown bucket {bucket!r}")
    return utc(start)


def check_timezone(name: str, key: str) -> None:
    """Raise :class:`OptionError` unless ``name`` is an IANA time zone."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise OptionError(
            f"{key} must be an IANA time zone such as 'UTC' or 'Europe/Paris', not {name!r}", key
        ) from None


def to_utc_datetime(value: Any, where: str) -> dt.datetime:
    """A time as a database or API returns it: datetime, date, ISO string or Unix seconds."""
    if isinstance(value, dt.datetime):
        return utc(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(float(value), dt.timezone.utc)
    if isinstance(value, str):
        try:
            return utc(dt.datetime.fromisoformat(value.strip()))
        except ValueError:
            pass
    raise fail(
        f"{where}: {clip(repr(value), 80)} is not a time "
        "(expected a timestamp, a date, an ISO 8601 string or Unix seconds)"
    )


_DURATION = re.compile(r"(\d+)(ms|[smhdwy])")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def parse_duration(text: str, key: str) -> dt.timedelta:
    """A Prometheus-style duration (``90s``, ``5m``, ``1h30m``, ``7d``) as a timedelta."""
    text = text.strip()
    pos, seconds = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        seconds += int(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text) or seconds <= 0:
        raise OptionError(f"{key} must be a duration such as '30s', '5m', '1h' or '1h30m', not {text!r}", key)
    return dt.timedelta(seconds=seconds)


class Deadline:
    """The time left of one fetch: ``spec.timeout`` bounds the whole poll, retries and bodies included.

    It also ends when kpitui cancels the fetch (:func:`kpitui.api.fetch_cancelled`
    of the thread that made it).
    """

    def __init__(self, seconds: float, cancelled: threading.Event | None = None):
        self.seconds = seconds
        self._end = time.monotonic() + seconds
        self.cancelled = cancelled if cancelled is not None else fetch_cancelled()

    def remaining(self) -> float:
        if self.cancelled.is_set():
            return 0.0
        return max(0.0, self._end - time.monotonic())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    @contextlib.contextmanager
    def watch(self, stop: Callable[[], None]) -> Iterator[None]:
        """Call ``stop()`` from another thread if the deadline passes (or the fetch is cancelled) inside the block.

        ``stop`` unblocks what the block waits on: it kills a process group,
        shuts a socket down, interrupts a query.
        """
        finished = threading.Event()

        def guard() -> None:
            while not finished.wait(min(WATCH_EVERY, max(self.remaining(), 0.001))):
                if self.expired:
                    try:
                        stop()
                    except Exception:  # noqa: BLE001 - stopping is best effort; the block reports the timeout
                        pass
                    return

        thread = threading.Thread(target=guard, name="kpitui-deadline", daemon=True)
        thread.start()
        try:
            yield
        finally:
            finished.set()


# -- values -------------------------------------------------------------------------------------


def as_number(value: Any, where: str) -> float:
    """``value`` as a finite float; numeric strings are accepted, booleans are not."""
    if isinstance(value, bool) or value is None:
        raise fail(f"{where} is {json.dumps(value)}, not a number")
    if isinstance(value, (int, float, Decimal)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise fail(f"{where} is the string {clip(repr(value), 80)}, not a number") from None
    else:
        kind = "an object" if isinstance(value, dict) else "a list" if isinstance(value, list) else type(value).__name__
        raise fail(f"{where} is {kind} ({clip(json.dumps(value, default=str), 80)}), not a number")
    if not math.isfinite(number):
        raise fail(f"{where} is {value!r}, not a finite number")
    return number


_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


def first_number(text: str) -> float | None:
    """The first decimal number written in ``text`` (``"users: 1,204"`` reads ``1``; thousands
    separators are not guessed), or ``None``."""
    match = _NUMBER.search(text)
    return float(match.group(0)) if match else None


# -- a small JSON path --------------------------------------------------------------------------

_PATH_TOKEN = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_\-]*)|\[(-?\d+)\]|\[\"([^\"]*)\"\]|\['([^']*)'\]")


@dataclass(frozen=True)
class JsonPath:
    """``data.visitors``, ``results[0].count``, ``$.a.b``, ``items[-1]``, ``["odd key"]``.

    Keys are object members, ``[n]`` indexes a list (negative from the end).
    """

    text: str
    steps: tuple[str | int, ...]

    @classmethod
    def compile(cls, text: str, key: str = "path") -> "JsonPath":
        rest = text.strip()
        if rest.startswith("$"):
            rest = rest[1:]
        steps: list[str | int] = []
        pos = 0
        while pos < len(rest):
            match = _PATH_TOKEN.match(rest, pos)
            if not match or (match.group(1) and pos and rest[pos] != "."):
                raise OptionError(
                    f"{key} {text!r} is not a JSON path (write it like 'data.visitors', 'results[0].count' or '$.a.b')",
                    key,
                )
            name, index, dq, sq = match.groups()
            steps.append(
                int(index) if index is not None else name if name is not None else dq if dq is not None else sq
            )
            pos = match.end()
        return cls(text, tuple(steps))

    def find(self, document: Any, where: str) -> Any:
        """The value at this path; a :class:`SourceError` says how far the path matched."""
        node = document
        for depth, step in enumerate(self.steps):
            done = self._render(self.steps[:depth]) or "the document"
            if isinstance(step, int):
                if not isinstance(node, list):
                    raise fail(f"{where}: path {self.text!r}: {done} is not a list, cannot take [{step}]")
                if not -len(node) <= step < len(node):
                    raise fail(f"{where}: path {self.text!r}: {done} has {len(node)} items, no [{step}]")
                node = node[step]
            else:
                if not isinstance(node, dict):
                    raise fail(f"{where}: path {self.text!r}: {done} is not an object, cannot take {step!r}")
                if step not in node:
                    keys = ", ".join(sorted(map(str, node))[:10]) or "none"
                    raise fail(f"{where}: path {self.text!r}: {done} has no key {step!r} (keys: {keys})")
                node = node[step]
        return node

    @staticmethod
    def _render(steps: Sequence[str | int]) -> str:
        out = ""
        for step in steps:
            out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
        return out


# -- HTTP ---------------------------------------------------------------------------------------


def check_url(url: str, key: str, schemes: Sequence[str] = ("http", "https")) -> None:
    """Raise :class:`OptionError` (naming ``key``) unless ``url`` is absolute with one of ``schemes``."""
    try:
        parsed = urllib.parse.urlsplit(url)
        parsed.port  # noqa: B018 - raises for a port that is not a number from 0 to 65535
    except ValueError as exc:  # "Invalid IPv6 URL" (an unclosed "[::1"), "Port out of range 0-65535"
        raise OptionError(f"{key} is not a valid URL ({exc}): {url!r}", key) from None
    if parsed.scheme not in schemes or not parsed.netloc:
        allowed = " or ".join(f"{s}://" for s in schemes)
        raise OptionError(f"{key} must be an absolute URL starting with {allowed}, not {url!r}", key)


def check_retries(retries: int, backoff: float) -> None:
    """Raise :class:`OptionError` unless ``retries`` is 0-10 and ``backoff`` (seconds) is not negative."""
    if not 0 <= retries <= 10:
        raise OptionError(f"retries must be between 0 and 10, not {retries}", "retries")
    if backoff < 0:
        raise OptionError(f"backoff must be zero or more seconds, not {backoff}", "backoff")


# -- results ------------------------------------------------------------------------------------


def collect_errors(errors: Sequence[str]) -> None:
    """Raise one :class:`SourceError` naming every metric that failed in this poll."""
    if errors:
        raise fail(errors[0] if len(errors) == 1 else f"{len(errors)} metrics failed: " + "; ".join(errors))
