"""The demo's made-up web site: a growing access log, and what happened on the site.

With ``access_log = "demo-access.log"`` the ``demo`` source also writes the
web-server log (nginx/Apache ``combined`` format) of a small law firm's site:
page views, the newsletter and guide sign-up forms with their thank-you pages,
retainer requests, scanners, and an uptime check at the top of every hour.
Visits are drawn like the demo's counts (trend, weekday and daytime shape,
noise) and are a pure function of the hour, so the log is the same whenever it
is written. The first write back-fills :data:`LOG_DAYS` days; every poll then
appends the lines up to the poll's time. The built-in ``access_log`` source
counts it like any server's log (the bundled sample's newsletter sign-ups and
retainer requests), so ``kpitui matches`` and the detail view show real lines.

One thing goes wrong on this site: a site update breaks the newsletter form
from :data:`INCIDENT_BEFORE` before the log was first written until
:data:`INCIDENT_AFTER` after (``POST /newsletter/subscribe`` answers 500 and
nobody reaches ``/newsletter/thank-you``). The ``demo`` annotation source
reads when the log began and supplies the notes that explain the dip, through
``register_annotation_sources`` like any annotation source.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from kpitui import hookimpl
from kpitui.api import AnnotationSource, Note, OptionError, SourceContext, SourceError

if TYPE_CHECKING:
    import polars as pl
else:
    from kpitui.lazy import polars as pl

#: days of log written the first time (enough for a month to date against the month before)
LOG_DAYS = 70
#: the newsletter form is broken from this long before the log was first written ...
INCIDENT_BEFORE = dt.timedelta(hours=40)
#: ... until this long after
INCIDENT_AFTER = dt.timedelta(hours=8)
SITE = "https://www.harlow-law.example"
HOUR = dt.timedelta(hours=1)

_SEARCH = (
    "https://www.google.com/",
    "https://www.google.com/",
    "https://www.bing.com/",
    "-",
    "https://www.linkedin.com/",
    "https://duckduckgo.com/",
)
_BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1"
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
        "Safari/605.1.15"
    ),
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
)


@dataclass(frozen=True)
class Visit:
    """One kind of visit: how many a day (late 2025, growing by ``trend`` per 30 days) and its requests."""

    name: str
    per_day: float
    trend: float
    requests: tuple[tuple[str, str, int], ...]  # (method, target, status), a few seconds apart
    referrers: tuple[str, ...] = _SEARCH
    agents: tuple[str, ...] = _BROWSERS
    broken: tuple[tuple[str, str, int], ...] | None = None  # the requests while the newsletter form is broken


VISITS: tuple[Visit, ...] = (
    Visit("home", 150, 0.02, (("GET", "/", 200),)),
    Visit("family", 40, 0.02, (("GET", "/practice-areas/family-law", 200),)),
    Visit("estate", 30, 0.02, (("GET", "/practice-areas/estate-planning", 200),)),
    Visit("blog1", 28, 0.03, (("GET", "/blog/what-to-bring-to-your-first-consultation", 200),)),
    Visit("blog2", 20, 0.03, (("GET", "/blog/updating-your-will-after-a-move", 200),)),
    Visit(
        "newsletter",
        35,
        0.03,
        (("GET", "/newsletter", 200),),
        (f"{SITE}/", f"{SITE}/blog/updating-your-will-after-a-move", "-"),
    ),
    Visit(
        "subscribe",
        10,
        0.04,
        (("POST", "/newsletter/subscribe", 302), ("GET", "/newsletter/thank-you", 200)),
        (f"{SITE}/newsletter", f"{SITE}/newsletter", f"{SITE}/"),
        broken=(("POST", "/newsletter/subscribe", 500),),
    ),
    Visit(
        "guide",
        4,
        0.04,
        (("POST", "/guide/download", 302), ("GET", "/newsletter/thank-you/guide", 200)),
        (f"{SITE}/practice-areas/estate-planning",),
    ),
    Visit(
        "webinar_news",
        2,
        0.04,
        (("POST", "/webinar/newsletter", 302), ("GET", "/newsletter/thank-you/webinar", 200)),
        (f"{SITE}/webinar",),
    ),
    Visit(
        "webinar",
        25,
        0.01,
        (("GET", "/webinar?utm_source=ads", 200),),
        ("https://www.facebook.com/", "https://www.linkedin.com/"),
    ),
    Visit(
        "retainer_page",
        14,
        0.02,
        (("GET", "/retainer", 200),),
        (f"{SITE}/", f"{SITE}/practice-areas/family-law", "https://www.google.com/"),
    ),
    Visit(
        "retainer",
        3,
        0.02,
        (("POST", "/retainer/submit", 303), ("GET", "/retainer/received", 200)),
        (f"{SITE}/retainer",),
    ),
    Visit("contact", 15, 0.01, (("GET", "/contact", 200),)),
    Visit("scanner", 6, 0.0, (("GET", "/wp-login.php", 404),), ("-",), ("Mozilla/5.0 (compatible; scanner/1.0)",)),
)
_SEED = 0x51_7E  # which visitor, second, referrer and agent: fixed, so the log is the same whenever written
_UPTIME_AGENT = "Uptime-Monitor/2.1 (+https://uptime.example)"
_LINE_TIME = re.compile(rb"\[(\d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\]")


def _time_of(line: bytes) -> dt.datetime | None:
    match = _LINE_TIME.search(line)
    return dt.datetime.strptime(match.group(1).decode(), "%d/%b/%Y:%H:%M:%S %z") if match else None


def _open_log(path: Path) -> Any:
    """The demo log opened for reading, ``None`` when there is none yet.

    Only a regular file is opened: a FIFO would block the open for good, and a device (``/dev/zero``,
    ``/dev/urandom``, ``/dev/full``) reports size 0 but never ends, so reading "to the end" took all memory.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO, socket or device"
        raise SourceError(f"the demo access log {path} is {kind}, not a file: set access_log to a file's path")
    return open(path, "rb")


def first_time(path: Path) -> dt.datetime | None:
    """When the demo log began (its first line: the uptime check at the top of its first hour)."""
    handle = _open_log(path)
    if handle is None:
        return None
    with handle:
        head = handle.read(4096)
    return _time_of(head.split(b"\n", 1)[0]) if head else None


def last_time(path: Path) -> dt.datetime | None:
    """The time of the log's last complete line (``None``: no log yet, or an empty one)."""
    handle = _open_log(path)
    if handle is None:
        return None
    with handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - 8192))
        tail = handle.read(8192)  # bounded even if the file grows between the seek and the read
    lines = [line for line in tail.split(b"\n") if line.strip()]
    if not lines:
        return None
    found = _time_of(lines[-1])
    if found is None:
        raise SourceError(
            f"{path} is not the demo's access log (its last line has no [time]); delete it or set another access_log"
        )
    return found


def incident(began: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """When the newsletter form is broken, for a log that began at ``began``."""
    written = began.astimezone(dt.timezone.utc) + dt.timedelta(days=LOG_DAYS)
    return written - INCIDENT_BEFORE, written + INCIDENT_AFTER


def _tables() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The site as tables: each visit's requests (``broken``: only while the form is broken, or only
    while it works, or either), and its referrers and agents to draw from."""
    steps, refs, agents = [], [], []
    for v, visit in enumerate(VISITS):
        for broken, requests in ((None if visit.broken is None else False, visit.requests), (True, visit.broken or ())):
            for step, (method, target, status) in enumerate(requests):
                steps.append((v, step, method, target, status, broken))
        refs += [(v, i, r, len(visit.referrers)) for i, r in enumerate(visit.referrers)]
        agents += [(v, i, a, len(visit.agents)) for i, a in enumerate(visit.agents)]
    return (
        pl.DataFrame(steps, schema=["visit", "step", "method", "target", "status", "broken"], orient="row"),
        pl.DataFrame(refs, schema=["visit", "r", "referrer", "refs"], orient="row"),
        pl.DataFrame(agents, schema=["visit", "a", "agent", "agents"], orient="row"),
    )


#: ``counts(name, per_day, trend, start, end)``: whole visits per hour of ``[start, end)``, columns ``at``
#: and ``value`` (the demo source's own generator, :func:`kpitui.builtin.demo.hourly_counts`)
Counts = Callable[[str, float, float, dt.datetime, dt.datetime], "pl.LazyFrame"]


def lines(
    start: dt.datetime, end: dt.datetime, broken: tuple[dt.datetime, dt.datetime], timezone: str, counts: Counts
) -> pl.DataFrame:
    """The log lines of the hours ``[start, end)`` (UTC hours), oldest first: columns ``time`` and ``line``."""
    visits = pl.concat(
        [
            counts(f"site.{visit.name}", visit.per_day, visit.trend, start, end).select(
                "at", "value", visit=pl.lit(v, dtype=pl.Int64)
            )
            for v, visit in enumerate(VISITS)
        ]
    )
    steps, refs, agents = (table.lazy() for table in _tables())
    count = (
        refs.group_by("visit")
        .agg(pl.col("refs").first())
        .join(agents.group_by("visit").agg(pl.col("agents").first()), on="visit")
    )
    key = pl.col("key")
    events = (
        visits.filter(pl.col("value") > 0)
        .select("at", "visit", i=pl.int_ranges(0, pl.col("value").cast(pl.Int64)))
        .explode("i")
        .with_columns(key=pl.struct("at", "visit", "i").hash(_SEED))
        .with_columns(start=pl.col("at") + pl.duration(seconds=(key % 3500).cast(pl.Int64)))
        .with_columns(broken=(pl.col("start") >= pl.lit(broken[0])) & (pl.col("start") < pl.lit(broken[1])))
        .join(count, on="visit")
        .with_columns(r=(key // 101 % pl.col("refs")).cast(pl.Int64), a=(key // 211 % pl.col("agents")).cast(pl.Int64))
        .join(refs.select("visit", "r", "referrer"), on=["visit", "r"])
        .join(agents.select("visit", "a", "agent"), on=["visit", "a"])
        .join(steps, on="visit")
        .filter(pl.col("broken_right").is_null() | (pl.col("broken_right") == pl.col("broken")))
        .select(
            time=pl.col("start") + pl.duration(seconds=pl.col("step") * 7 + (key % 5).cast(pl.Int64)),
            client=pl.format("{}.{}", pl.lit("203.0.113"), (key // 29 % 253 + 1).cast(pl.String)),
            method="method",
            target="target",
            status="status",
            bytes=pl.when(pl.col("status") == 200)
            .then(key // 401 % 28000 + 2000)
            .when(pl.col("status") < 400)
            .then(0)
            .otherwise(162),
            referrer="referrer",
            agent="agent",  # after a form's redirect, the browser still names the form's page
        )
    )
    uptime = pl.LazyFrame(
        {"time": pl.datetime_range(start, end, "1h", closed="left", time_unit="us", time_zone="UTC", eager=True)}
    )
    uptime = uptime.select(
        "time",
        client=pl.lit("192.0.2.10"),
        method=pl.lit("GET"),
        target=pl.lit("/health"),
        status=pl.lit(200, dtype=pl.Int64),
        bytes=pl.lit(2, dtype=pl.UInt64),
        referrer=pl.lit("-"),
        agent=pl.lit(_UPTIME_AGENT),
    )
    stamp = pl.col("time").dt.convert_time_zone(timezone).dt.strftime("%d/%b/%Y:%H:%M:%S %z")
    return (
        pl.concat([events, uptime], how="vertical_relaxed")
        .with_columns(pl.col("time").dt.truncate("1s"))
        .sort("time", "target", "client", maintain_order=True)
        .select(
            "time",
            line=pl.format(
                '{} - - [{}] "{} {} HTTP/1.1" {} {} "{}" "{}"',
                "client",
                stamp,
                "method",
                "target",
                "status",
                "bytes",
                "referrer",
                "agent",
            ),
        )
        .collect()
    )


def extend(path: Path, now: dt.datetime, timezone: str, counts: Counts) -> int:
    """Append the lines up to ``now`` (the first write back-fills :data:`LOG_DAYS` days); how many were written."""
    now = now.astimezone(dt.timezone.utc)
    last = last_time(path)
    if last is None:
        start = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(days=LOG_DAYS)
        began = start
    else:
        if last >= now:
            return 0
        began = first_time(path) or last
        start = last.astimezone(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    end = now.replace(minute=0, second=0, microsecond=0) + HOUR
    frame = lines(start, end, incident(began), timezone, counts)
    new = frame.filter(pl.col("time") <= now)
    if last is not None:
        new = new.filter(pl.col("time") > last)
    if new.height:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8", newline="\n") as handle:
            handle.write("\n".join(new["line"].to_list()) + "\n")
    return new.height


# -- the annotation source ---------------------------------------------------------------------


@dataclass(frozen=True)
class DemoNotesOptions:
    access_log: str = field(
        default="demo-access.log", metadata={"help": "the demo source's access_log (relative to the config's folder)"}
    )
    metric: str | None = field(default=None, metadata={"help": "the metric the notes are about (default: every chart)"})


class DemoNotes(AnnotationSource):
    """What happened on the demo's made-up site, for the charts: when the newsletter form broke and was fixed."""

    type_name = "demo"
    description = (
        "What happened on the demo source's made-up web site (the log it writes): the newsletter form's outage."
    )
    Options = DemoNotesOptions

    @classmethod
    def check(cls, options: Any, context: SourceContext) -> None:
        if not options.access_log.strip():
            raise OptionError("access_log must name the demo source's access log", "access_log")

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"access_log": "demo-access.log"}

    def annotations(self, start: dt.datetime, end: dt.datetime) -> list[Note]:
        began = first_time(self.context.path(self.options.access_log))
        if began is None:
            return []  # the demo has not written its log yet
        broke, fixed = incident(began)
        notes = [
            Note(
                broke,
                "Site update broke the newsletter form: POST /newsletter/subscribe answers 500, no thank-you page",
                metric=self.options.metric,
            ),
            Note(fixed, "Newsletter form fixed (site update rolled back)", metric=self.options.metric),
        ]
        return [note for note in notes if start <= note.at <= end]


@hookimpl
def register_annotation_sources() -> list[type[AnnotationSource]]:
    return [DemoNotes]
