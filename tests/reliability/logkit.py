"""A growing nginx access log whose exact per-hour counts are known, for crash and concurrency tests."""

from __future__ import annotations

import bisect
import datetime as dt
import random
import threading
import time
from collections import Counter
from pathlib import Path

#: the metrics the log configs define, with their conditions and a Python twin of each
METRICS = {
    "hits": ("status >= 100", lambda path, status: True),
    "errors": ("status >= 500", lambda path, status: status >= 500),
    "signups": (
        'path == "/newsletter/thank-you" and status < 400',
        lambda path, status: path == "/newsletter/thank-you" and status < 400,
    ),
}
PATHS = ["/", "/pricing", "/newsletter/thank-you", "/static/site.css", "/blog/ünïcode", "/retainer/submit"]
STATUSES = [200, 200, 200, 200, 301, 404, 500, 503]
ZONE = dt.timezone(dt.timedelta(hours=-5))
HOUR_US = 3_600_000_000


def source_toml(sid: str, log: Path, interval: float = 0.2, timeout: float = 30) -> str:
    text = (
        f'[sources.{sid}]\ntype = "access_log"\npath = "{log.as_posix()}"\nimport_rotated = false\n'
        f"interval = {interval}\ntimeout = {timeout}\n\n"
    )
    for metric, (condition, _) in METRICS.items():
        text += f'[metrics.{sid}_{metric}]\nsource = "{sid}"\naggregation = "sum"\ncondition = \'{condition}\'\n\n'
    return text


class GrowingLog:
    """Appends combined-format lines (sometimes half a line, finished later) and remembers what each counts."""

    def __init__(self, path: Path, sid: str, seed: int | str, start: dt.datetime | None = None):
        self.path = path
        self.sid = sid
        self.rng = random.Random(seed)
        self.clock = start or dt.datetime(2026, 1, 5, 0, 0, tzinfo=ZONE)
        self.ends: list[int] = []  # byte offset just after each complete line
        self.keys: list[tuple[int, tuple[str, ...]]] = []  # (hour µs UTC, metrics it counts for)
        self.size = 0
        self.pending = b""  # the unwritten rest of a half-written line
        self.lock = threading.Lock()
        path.write_bytes(b"")

    def _line(self) -> tuple[bytes, int, tuple[str, ...]]:
        self.clock += dt.timedelta(seconds=self.rng.randint(0, 4))
        path, status = self.rng.choice(PATHS), self.rng.choice(STATUSES)
        client = f"10.{self.rng.randrange(256)}.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"
        text = (
            f'{client} - - [{self.clock:%d/%b/%Y:%H:%M:%S %z}] "GET {path} HTTP/1.1" {status} '
            f"{self.rng.randrange(99999)} "
            f'"-" "Mozilla/5.0 (X11; Linux x86_64) kpitui-test"\n'
        )
        utc = self.clock.astimezone(dt.timezone.utc)
        hour = int(utc.replace(minute=0, second=0, microsecond=0).timestamp()) * 1_000_000
        counted = tuple(f"{self.sid}_{m}" for m, (_, rule) in METRICS.items() if rule(path, status))
        return text.encode("utf-8"), hour, counted

    def append(self, lines: int, *, half: bool | None = None) -> None:
        """Append ``lines`` complete lines (finishing a pending half line first), then maybe half of one more."""
        with self.lock:
            chunks = [self.pending]
            if self.pending:
                self.size += len(self.pending)
                self.ends.append(self.size)
                self.pending = b""
            for _ in range(lines):
                data, hour, counted = self._line()
                chunks.append(data)
                self.size += len(data)
                self.ends.append(self.size)
                self.keys.append((hour, counted))
            if half if half is not None else self.rng.random() < 0.5:
                data, hour, counted = self._line()
                cut = self.rng.randrange(1, len(data) - 1)
                chunks.append(data[:cut])
                self.pending = data[cut:]
                self.size += cut
                self.keys.append((hour, counted))  # counted once its end is written
            with open(self.path, "ab") as handle:
                handle.write(b"".join(chunks))

    def finish(self) -> None:
        """Complete a pending half line."""
        self.append(0, half=False)

    @property
    def complete_lines(self) -> int:
        return len(self.ends)

    def counts(self, offset: int | None = None) -> dict[tuple[str, int], int]:
        """Exact (metric, hour µs) -> lines among the complete lines ending at or before ``offset``."""
        with self.lock:
            upto = len(self.ends) if offset is None else bisect.bisect_right(self.ends, offset)
            keys = self.keys[:upto]
        out: Counter = Counter()
        for hour, counted in keys:
            for metric in counted:
                out[(metric, hour)] += 1
        return dict(out)


class Appender(threading.Thread):
    """Keeps a :class:`GrowingLog` growing (small bursts, half lines) until stopped."""

    def __init__(
        self, log: GrowingLog, *, lines: tuple[int, int] = (20, 400), pause: tuple[float, float] = (0.005, 0.05)
    ):
        super().__init__(daemon=True)
        self.log, self.lines, self.pause = log, lines, pause
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.log.append(self.log.rng.randint(*self.lines))
            time.sleep(self.log.rng.uniform(*self.pause))

    def stop(self) -> None:
        self.halt.set()
        self.join(10)


def stored_counts(frame, prefix: str | None = None) -> dict[tuple[str, int], int]:
    """A loaded readings frame as (metric, hour µs) -> count, zero readings left out."""
    out = {}
    for metric, at, value in frame.select("metric", "at", "value").iter_rows():
        if value and (prefix is None or metric.startswith(prefix)):
            assert value == int(value), (metric, at, value)
            out[(metric, int(at.timestamp()) * 1_000_000)] = int(value)
    return out
