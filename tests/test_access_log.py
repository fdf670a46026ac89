"""The access_log source against real files in tmp_path: counts, tailing, rotation, malformed input.

Expected counts come from a plain-Python reference (``re`` + ``datetime``, one
line at a time: what ``grep -c`` would say), never from the code under test.
"""

from __future__ import annotations

import datetime as dt
import gzip
import importlib.util
import json
import os
import random
import re
import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Callable

import polars as pl
import pytest

from kpitui.api import READINGS_SCHEMA, SourceContext, SourceError
from kpitui.builtin import access_log
from kpitui.builtin.access_log import (
    AccessLogMetricOptions,
    AccessLogOptions,
    AccessLogSource,
    compile_log_format,
    parse_lines,
)
from kpitui.model import Metric, SourceSpec, Trigger
from kpitui.options import OptionError, parse

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "access_log"
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)

CONDITIONS = {
    "signups": 'path == "/newsletter/thank-you" and status < 400',
    "retainers": 'method == "POST" and startswith(path, "/retainer/submit")',
    "errors": "status >= 500",
    "bots": 'contains(lower(agent), "bot")',
    "google": 'matches(referrer, "google\\\\.")',
    "searches": 'path == "/search" and query != ""',
    "everything": "True",
}
PREDICATES: dict[str, Callable[[dict], bool]] = {
    "signups": lambda f: f["path"] == "/newsletter/thank-you" and f["status"] < 400,
    "retainers": lambda f: f["method"] == "POST" and f["path"].startswith("/retainer/submit"),
    "errors": lambda f: f["status"] >= 500,
    "bots": lambda f: "bot" in f["agent"].lower(),
    "google": lambda f: re.search(r"google\.", f["referrer"]) is not None,
    "searches": lambda f: f["path"] == "/search" and f["query"] != "",
    "everything": lambda f: True,
}

PATHS = ["/", "/about", "/newsletter/thank-you", "/retainer/submit", "/retainer/submit/ok", "/search?q=kpi", "/search",
         "/blog/é-accent", "/static/app.js"]  # fmt: skip
AGENTS = ["Mozilla/5.0 (X11)", "Googlebot/2.1", "curl/8", "Mozilla/5.0 (compatible; bingbot/2.0)"]
REFERRERS = ["-", "https://www.google.com/", "https://google.co.uk/x", "https://example.org/"]
OFFSETS = ["+0000", "+0100", "-0500", "+0530", "-0930"]


# --- helpers -----------------------------------------------------------------------------


def combined(client="1.2.3.4", when="01/Mar/2024:10:00:00 +0000", method="GET", path="/", status=200, size=123,
             referrer="-", agent="Mozilla/5.0 (X11)", user="-") -> str:  # fmt: skip
    return f'{client} - {user} [{when}] "{method} {path} HTTP/1.1" {status} {size} "{referrer}" "{agent}"'


def random_lines(count: int, seed: int = 7, start: dt.datetime = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc),
                 hours: float = 72) -> list[str]:  # fmt: skip
    rng = random.Random(seed)
    out = []
    for i in range(count):
        moment = start + dt.timedelta(seconds=i * hours * 3600 / count)
        offset = rng.choice(OFFSETS)
        sign = 1 if offset[0] == "+" else -1
        zone = dt.timezone(sign * dt.timedelta(hours=int(offset[1:3]), minutes=int(offset[3:])))
        path = rng.choice(PATHS)
        method = "POST" if path.startswith("/retainer") and rng.random() < 0.7 else "GET"
        out.append(
            combined(
                client=f"10.0.{rng.randint(0, 3)}.{rng.randint(1, 20)}",
                when=moment.astimezone(zone).strftime("%d/%b/%Y:%H:%M:%S %z"),
                method=method,
                path=path,
                status=rng.choice([200, 200, 302, 404, 500, 503]),
                size=rng.choice(["-", rng.randint(0, 9999)]),
                referrer=rng.choice(REFERRERS),
                agent=rng.choice(AGENTS),
            )
        )
    return out


REFERENCE = re.compile(
    r'^(?P<client>\S+) \S+ (?P<user>.*) \[(?P<time>[^\]]+)\] "(?P<method>\S+) '
    r'(?P<path>[^ ?"]*)(?:\?(?P<query>[^ "]*))? '
    r'(?P<protocol>[^"]+)" (?P<status>\d{3}) (?P<bytes>\d+|-) "(?P<referrer>[^"]*)" "(?P<agent>[^"]*)"$'
)


def reference(lines: list[str], bucket: str = "hour", predicates=PREDICATES) -> Counter:
    """Counts per (metric, bucket) computed line by line in plain Python."""
    counts: Counter = Counter()
    for line in lines:
        match = REFERENCE.match(line)
        if not match:
            continue
        fields = match.groupdict()
        fields["status"] = int(fields["status"])
        fields["query"] = fields["query"] or ""
        moment = dt.datetime.strptime(fields["time"], "%d/%b/%Y:%H:%M:%S %z").astimezone(dt.timezone.utc)
        if bucket == "hour":
            moment = moment.replace(minute=0, second=0)
        elif bucket == "day":
            moment = moment.replace(hour=0, minute=0, second=0)
        else:
            moment = moment.replace(second=0)
        for name, predicate in predicates.items():
            if predicate(fields):
                counts[(name, moment)] += 1
    return counts


def make_source(path: Path, conditions: dict[str, str] | None = None, *, distinct: dict[str, str] | None = None,
                **options) -> AccessLogSource:  # fmt: skip
    conditions = CONDITIONS if conditions is None else conditions
    distinct = distinct or {}
    opts = parse(AccessLogOptions, {"path": path.name, **options})
    metrics = [
        Metric(
            id=mid,
            name=mid,
            source="web",
            trigger=Trigger(text=text, condition=text),
            options=AccessLogMetricOptions(distinct=distinct.get(mid, "none")),  # type: ignore[arg-type]
        )
        for mid, text in conditions.items()
    ]
    spec = SourceSpec(id="web", type="access_log", interval=60, timeout=60, options=opts)
    AccessLogSource.check(opts, metrics, SourceContext(config_dir=path.parent))
    return AccessLogSource(spec, metrics, SourceContext(config_dir=path.parent))


class Tail:
    """Polls a source like the collector does: cursor handed back, increments added up."""

    def __init__(self, source: AccessLogSource):
        self.source = source
        self.cursor: str | None = None
        self.totals: Counter = Counter()
        self.skipped = 0
        self.last: pl.DataFrame | None = None

    def poll(self) -> Counter:
        result = self.source.fetch(self.cursor, NOW)
        assert result.readings.schema == pl.Schema(READINGS_SCHEMA)
        self.cursor = result.cursor
        self.skipped += result.skipped
        self.last = result.readings
        got: Counter = Counter()
        for metric, at, value in result.readings.iter_rows():
            assert value == int(value)
            got[(metric, at)] += int(value)
        self.totals.update(got)
        return got

    def counts(self) -> Counter:
        return +self.totals  # drop the zero readings


def write(path: Path, lines: list[str], mode: str = "w") -> None:
    with path.open(mode + "b") as handle:
        handle.write("".join(line + "\n" for line in lines).encode())


# --- counting --------------------------------------------------------------------------


@pytest.mark.parametrize("bucket", ["minute", "hour", "day"])
def test_counts_per_bucket_equal_a_hand_count(tmp_path: Path, bucket: str) -> None:
    lines = random_lines(3000)
    write(tmp_path / "access.log", lines)
    tail = Tail(make_source(tmp_path / "access.log", bucket=bucket))
    tail.poll()
    assert tail.counts() == reference(lines, bucket)
    assert tail.skipped == 0
    assert sum(v for (m, _), v in tail.counts().items() if m == "everything") == len(lines)


def test_counts_match_grep(tmp_path: Path) -> None:
    lines = random_lines(2000, seed=3)
    write(tmp_path / "access.log", lines)
    tail = Tail(make_source(tmp_path / "access.log", bucket="day"))
    tail.poll()
    by_metric: Counter = Counter()
    for (metric, _), value in tail.counts().items():
        by_metric[metric] += value
    # grep -c ' 50[0-9] ' and friends, over the same text
    assert by_metric["errors"] == sum(1 for line in lines if re.search(r'" 5\d\d ', line))
    assert by_metric["signups"] == sum(
        1 for line in lines if '"GET /newsletter/thank-you HTTP' in line and re.search(r'" [23]\d\d ', line)
    )
    assert by_metric["bots"] == sum(1 for line in lines if "bot" in line.rsplit('"', 2)[1].lower())


def test_zero_readings_for_buckets_with_traffic_but_no_match(tmp_path: Path) -> None:
    write(tmp_path / "access.log", [combined(path="/about"), combined(path="/newsletter/thank-you")])
    tail = Tail(make_source(tmp_path / "access.log", {"signups": CONDITIONS["signups"], "errors": "status >= 500"}))
    got = tail.poll()
    hour = dt.datetime(2024, 3, 1, 10, tzinfo=dt.timezone.utc)
    assert got == Counter({("signups", hour): 1, ("errors", hour): 0})
    assert tail.last is not None and tail.last.height == 2


def test_time_offsets_are_converted_to_utc(tmp_path: Path) -> None:
    write(tmp_path / "access.log", [
        combined(when="01/Mar/2024:00:30:00 +0530"),  # 2024-02-29 19:00 UTC
        combined(when="29/Feb/2024:23:59:59 -0500"),  # 2024-03-01 04:59 UTC
        combined(when="01/Mar/2024:04:00:00 -0000"),
    ])  # fmt: skip
    tail = Tail(make_source(tmp_path / "access.log", {"all": "True"}))
    tail.poll()
    utc = dt.timezone.utc
    assert tail.counts() == Counter(
        {("all", dt.datetime(2024, 2, 29, 19, tzinfo=utc)): 1, ("all", dt.datetime(2024, 3, 1, 4, tzinfo=utc)): 2}
    )


def test_fields(tmp_path: Path) -> None:
    line = combined(client="203.0.113.9", user="alice smith", method="POST", path="/a/é?x=1?y=2", status=201, size="-",
                    referrer="https://r.example/", agent='Agent "quoted" is escaped by nginx')  # fmt: skip
    line = line.replace('"quoted"', "\\x22quoted\\x22")
    frame = parse_lines(line.encode() + b"\n", AccessLogOptions(path="x")).collect()
    row = frame.row(0, named=True)
    assert row == {
        "client": "203.0.113.9",
        "user": "alice smith",
        "time": dt.datetime(2024, 3, 1, 10, tzinfo=dt.timezone.utc),
        "method": "POST",
        "path": "/a/é",
        "query": "x=1?y=2",
        "protocol": "HTTP/1.1",
        "status": 201,
        "bytes": 0,
        "referrer": "https://r.example/",
        "agent": "Agent \\x22quoted\\x22 is escaped by nginx",
        "__valid": True,
    }


def test_apache_escaped_quotes_leave_the_line_whole(tmp_path: Path) -> None:
    """Apache writes a quote inside a value as ``\\"`` (and a backslash as ``\\\\``): such a line is counted,
    by the same rules as grep, and its fields read as nginx's ``\\x22`` would give them. Both the split formats
    and a custom ``log_format`` take them."""
    apache = [
        combined(agent='Mozilla/5.0 \\"quoted\\" bot', path="/newsletter/thank-you"),
        combined(path='/search?q=\\"kpi\\"', referrer='https://www.google.com/?q=\\"x\\"'),
        combined(agent="ends in a backslash \\\\", status=503),  # "...\\": the quote after it closes the value
        combined(agent='\\"', method="POST", path="/retainer/submit"),
        combined(path="/about"),
    ]
    write(tmp_path / "access.log", apache)
    tail = Tail(make_source(tmp_path / "access.log", bucket="day"))
    tail.poll()
    assert tail.skipped == 0
    day = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
    assert {m: v for (m, at), v in tail.counts().items() if at == day} == {
        "everything": 5, "bots": 1, "signups": 1, "searches": 1, "google": 1, "errors": 1, "retainers": 1,
    }  # fmt: skip
    rows = parse_lines(("\n".join(apache) + "\n").encode(), AccessLogOptions(path="x")).collect()
    assert rows["agent"][0] == "Mozilla/5.0 \\x22quoted\\x22 bot"
    assert rows["query"][1] == "q=\\x22kpi\\x22"
    assert rows["agent"][2] == "ends in a backslash \\\\"
    custom = AccessLogOptions(
        path="x",
        format="custom",
        log_format='$remote_addr - $remote_user [$time_local] "$request" $status "$http_user_agent"',
    )
    line = '1.2.3.4 - - [01/Mar/2024:10:00:00 +0000] "GET /a?q=\\"b\\" HTTP/1.1" 200 "say \\"hi\\""\n'
    row = parse_lines(line.encode(), custom).collect().row(0, named=True)
    assert (row["__valid"], row["query"], row["agent"]) == (True, "q=\\x22b\\x22", "say \\x22hi\\x22")


def test_backslashed_quotes_found_wherever_they_are_and_nothing_else_changed() -> None:
    """The search for Apache's ``\\"`` (a backslash first, then the pair) finds it at the chunk's start, its end
    and among backslashes that escape nothing or each other; a chunk without one comes back as the same object.
    Checked against the rule written out (``re.sub`` wherever the pair occurs) on random chunks."""
    from kpitui.builtin.access_log.formats import quotes_escaped_as_nginx

    def reference(data: bytes) -> bytes:
        return re.sub(rb'\\[\\"]', lambda m: b"\\x22" if m.group() == b'\\"' else m.group(), data)

    assert quotes_escaped_as_nginx(b'\\"a') == b"\\x22a"
    assert quotes_escaped_as_nginx(b'a\\"') == b"a\\x22"
    assert quotes_escaped_as_nginx(b'a\\\\"b\\"') == b'a\\\\"b\\x22'  # the first quote follows an escaped backslash
    for plain in (b"", b"no backslash", b'"quoted" \\x22 nginx \\\\', b"ends in \\", b'\\ "'):
        assert quotes_escaped_as_nginx(plain) is plain
    rng = random.Random(15)
    for _ in range(2000):
        data = bytes(rng.choice(b'\\"a\n') for _ in range(rng.randrange(12)))
        assert quotes_escaped_as_nginx(data) == reference(data), data


def test_request_that_is_not_method_target_protocol(tmp_path: Path) -> None:
    tls = '1.2.3.4 - - [01/Mar/2024:10:00:00 +0000] "\\x16\\x03\\x01\\x00" 400 157 "-" "-"'
    write(tmp_path / "access.log", [tls, '1.2.3.4 - - [01/Mar/2024:10:00:00 +0000] "-" 408 0 "-" "-"'])
    tail = Tail(make_source(tmp_path / "access.log", {"bad_requests": "status >= 400", "gets": 'method == "GET"'}))
    tail.poll()
    hour = dt.datetime(2024, 3, 1, 10, tzinfo=dt.timezone.utc)
    assert tail.counts() == Counter({("bad_requests", hour): 2})  # valid lines; method is null, so no match
    assert tail.skipped == 0


# --- tailing ---------------------------------------------------------------------------


def test_incremental_polls_read_only_new_lines(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    first, second = (
        random_lines(500, seed=1),
        random_lines(300, seed=2, start=dt.datetime(2024, 3, 5, tzinfo=dt.timezone.utc)),
    )
    write(log, first)
    tail = Tail(make_source(log))
    assert +tail.poll() == reference(first)
    assert json.loads(tail.cursor)["file"]["offset"] == log.stat().st_size
    write(log, second, "a")
    assert +tail.poll() == reference(second)  # only the appended lines, nothing twice
    assert tail.poll() == Counter()  # nothing new: no readings
    assert tail.counts() == reference(first + second)


def test_partial_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = random_lines(3, seed=4)
    log.write_bytes((lines[0] + "\n" + lines[1] + "\n" + lines[2][:40]).encode())
    tail = Tail(make_source(log, {"all": "True"}))
    assert sum(tail.poll().values()) == 2
    assert sum(tail.poll().values()) == 0
    with log.open("ab") as handle:
        handle.write((lines[2][40:] + "\n").encode())
    assert sum(tail.poll().values()) == 1
    assert tail.counts() == reference(lines, predicates={"all": PREDICATES["everything"]})
    assert tail.skipped == 0


def test_large_backlog_is_read_over_several_polls(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = random_lines(2000, seed=5)
    write(log, lines)
    source = make_source(log)
    source.max_poll_bytes = 16 * 1024
    tail = Tail(source)
    polls = 0
    while True:
        polls += 1
        if not tail.poll() and json.loads(tail.cursor)["file"]["offset"] == log.stat().st_size:
            break
        assert polls < 100
    assert polls > 10
    assert tail.counts() == reference(lines)
    assert tail.skipped == 0


def test_missing_file(tmp_path: Path) -> None:
    source = make_source(tmp_path / "access.log")
    with pytest.raises(SourceError, match="does not exist"):
        source.fetch(None, NOW)
    write(tmp_path / "access.log", random_lines(10))
    tail = Tail(source)
    tail.poll()
    (tmp_path / "access.log").unlink()  # between a rotation's rename and the new file: not an error
    assert tail.poll() == Counter()


def test_a_log_deleted_after_a_rotation_becomes_an_error_once_nothing_is_left_to_read(tmp_path: Path) -> None:
    """PATH.1 (the rotated file) stays; PATH never comes back: after missing_grace that is the source's error."""
    log = tmp_path / "access.log"
    a, b = batches(2)
    write(log, a)
    source = make_source(log, missing_grace=60)
    start = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    cursor = source.fetch(None, start).cursor
    write(log, b, "a")
    log.rename(tmp_path / "access.log.1")  # rotated, and the server never recreates PATH
    result = source.fetch(cursor, start + dt.timedelta(seconds=10))  # drains b from PATH.1: quiet
    assert sum(v for m, _, v in result.readings.iter_rows() if m == "everything") == len(b)
    cursor = source.fetch(result.cursor, start + dt.timedelta(seconds=30)).cursor  # within the grace period
    with pytest.raises(SourceError, match="missing for"):
        source.fetch(cursor, start + dt.timedelta(seconds=200))
    write(log, a)  # it is back: counted again from its start, no error
    assert source.fetch(cursor, start + dt.timedelta(seconds=300)).readings.height > 0


def test_unreadable_cursor_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path / "access.log", random_lines(5))
    with pytest.raises(SourceError, match="cursor"):
        make_source(tmp_path / "access.log").fetch("{not json", NOW)


# --- rotation --------------------------------------------------------------------------


def batches(n: int, size: int = 200) -> list[list[str]]:
    start = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
    return [random_lines(size, seed=100 + i, start=start + dt.timedelta(hours=6 * i), hours=6) for i in range(n)]


def test_rename_rotation_loses_and_double_counts_nothing(tmp_path: Path) -> None:
    log, old = tmp_path / "access.log", tmp_path / "access.log.1"
    a, b, c, d, e = batches(5)
    write(log, a)
    tail = Tail(make_source(log))
    tail.poll()
    write(log, b, "a")  # written after the last poll...
    log.rename(old)  # ...then logrotate renames the file
    write(log, c)  # the server reopens and writes a new file
    tail.poll()
    assert tail.counts() == reference(a + b + c)
    write(old, d, "a")  # a worker still writing to the old file until it reopens its log
    write(log, e, "a")
    tail.poll()
    assert tail.counts() == reference(a + b + c + d + e)
    assert tail.poll() == Counter()
    assert tail.skipped == 0


def test_rotated_file_compressed_later_is_drained_from_the_gzip(tmp_path: Path) -> None:
    """delaycompress: PATH.1 is drained by inode, then still written to, then compressed: the rest comes from
    PATH.1.gz."""
    log, old = tmp_path / "access.log", tmp_path / "access.log.1"
    a, b, c, d = batches(4)
    write(log, a)
    tail = Tail(make_source(log))
    tail.poll()
    log.rename(old)
    write(log, b)
    tail.poll()
    write(old, c, "a")  # a late write to the rotated file...
    with old.open("rb") as src, gzip.open(tmp_path / "access.log.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    old.unlink()  # ...then it is compressed before we saw it
    write(log, d, "a")
    tail.poll()
    assert tail.counts() == reference(a + b + c + d)
    assert tail.poll() == Counter()
    assert json.loads(tail.cursor)["prev"] is None


def test_rotation_while_the_new_file_is_missing(tmp_path: Path) -> None:
    log, old = tmp_path / "access.log", tmp_path / "access.log.1"
    a, b, c = batches(3)
    write(log, a)
    tail = Tail(make_source(log))
    tail.poll()
    write(log, b, "a")
    log.rename(old)
    tail.poll()  # PATH is gone for a moment: the old file is drained from PATH.1
    write(log, c)
    tail.poll()
    assert tail.counts() == reference(a + b + c)


def test_two_rotations_between_polls(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    a, b, c, d = batches(4)
    write(log, a)
    tail = Tail(make_source(log))
    tail.poll()
    write(log, b, "a")
    log.rename(tmp_path / "access.log.1")
    write(log, c)
    (tmp_path / "access.log.1").rename(tmp_path / "access.log.2")  # delaycompress keeps .2 plain for a while
    log.rename(tmp_path / "access.log.1")
    write(log, d)
    tail.poll()
    # b is still found by its inode at PATH.2; c (PATH.1, never seen) is read whole
    assert tail.counts() == reference(a + b + c + d)
    assert tail.poll() == Counter()
    assert tail.counts() == reference(a + b + c + d)


def test_copytruncate_rotation_loses_and_double_counts_nothing(tmp_path: Path) -> None:
    log, copy = tmp_path / "access.log", tmp_path / "access.log.1"
    a, b, c, d = batches(4)
    write(log, a)
    tail = Tail(make_source(log))
    tail.poll()
    write(log, b, "a")  # unread when logrotate copies...
    shutil.copyfile(log, copy)
    with log.open("r+b") as handle:  # ...and truncates in place (same inode)
        handle.truncate(0)
    write(log, c, "a")
    tail.poll()
    assert tail.counts() == reference(a + b + c)
    write(log, d, "a")
    tail.poll()
    assert tail.counts() == reference(a + b + c + d)
    assert tail.skipped == 0


def test_copytruncate_when_the_new_content_outgrew_the_old_offset(tmp_path: Path) -> None:
    log, copy = tmp_path / "access.log", tmp_path / "access.log.1"
    a, b = batches(2, size=50)
    c = random_lines(400, seed=77, start=dt.datetime(2024, 3, 4, tzinfo=dt.timezone.utc))
    write(log, a)
    tail = Tail(make_source(log))
    tail.poll()
    write(log, b, "a")
    shutil.copyfile(log, copy)
    with log.open("r+b") as handle:
        handle.truncate(0)
    write(log, c, "a")  # bigger than before: only the fingerprint of its head tells it is new
    assert log.stat().st_size > json.loads(tail.cursor)["file"]["offset"]
    tail.poll()
    assert tail.counts() == reference(a + b + c)


def test_rotated_files_are_imported_on_the_first_poll_oldest_first(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    oldest, older, old, current = batches(4)
    with gzip.open(tmp_path / "access.log.3.gz", "wb") as handle:
        handle.write("".join(line + "\n" for line in oldest).encode())
    with gzip.open(tmp_path / "access.log.2.gz", "wb") as handle:
        handle.write("".join(line + "\n" for line in older).encode()[:-1])  # no final newline: still a line
    write(tmp_path / "access.log.1", old)
    write(log, current)
    (tmp_path / "access.log.10.bak").write_text("not a rotated log\n")
    tail = Tail(make_source(log))
    tail.poll()
    assert tail.counts() == reference(oldest + older + old + current)
    assert json.loads(tail.cursor)["backlog"] == []
    assert tail.poll() == Counter()
    write(log, batches(5)[4], "a")
    tail.poll()
    assert tail.counts() == reference(oldest + older + old + current + batches(5)[4])

    only_current = Tail(make_source(log, import_rotated=False))
    only_current.poll()
    assert only_current.counts() == reference(current + batches(5)[4])


def test_rotated_backlog_over_several_polls(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    older, old, current = batches(3)
    with gzip.open(tmp_path / "access.log.2.gz", "wb") as handle:
        handle.write("".join(line + "\n" for line in older).encode())
    write(tmp_path / "access.log.1", old)
    write(log, current)
    source = make_source(log)
    source.max_poll_bytes = 8 * 1024
    tail = Tail(source)
    for _ in range(200):
        tail.poll()
        state = json.loads(tail.cursor)
        if not state["backlog"] and state["file"]["offset"] == log.stat().st_size:
            break
    assert tail.counts() == reference(older + old + current)


def _logrotate_delaycompress(folder: Path, new: list[str]) -> None:
    """One logrotate run with ``delaycompress``: PATH.N.gz -> PATH.(N+1).gz, PATH.1 -> PATH.2.gz (compressed: a new
    file, the plain one deleted), PATH -> PATH.1, a new PATH."""
    for n in sorted((int(p.name.split(".")[2]) for p in folder.glob("access.log.*.gz")), reverse=True):
        (folder / f"access.log.{n}.gz").rename(folder / f"access.log.{n + 1}.gz")
    with (folder / "access.log.1").open("rb") as src, gzip.open(folder / "access.log.2.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    (folder / "access.log.1").unlink()
    (folder / "access.log").rename(folder / "access.log.1")
    write(folder / "access.log", new)


@pytest.mark.parametrize("polls_before", [1, 3, 5])
def test_a_rotation_while_the_rotated_files_are_imported_loses_nothing(tmp_path: Path, polls_before: int) -> None:
    """The first poll queues PATH.1, PATH.2.gz, ... to import, over several polls when they are large; logrotate
    running meanwhile (delaycompress) compresses PATH.1 into PATH.2.gz, a new file. The import found PATH.1 by its
    inode only, so it dropped the file as "rotated away", with every line of it not read yet (300,000 of 1.2 million
    in a `collect --once` harness). Now a queued file that is not found by its inode is found by its head, as the
    live log's is, and read on from where the import left it."""
    log = tmp_path / "access.log"
    older, old, current, new = batches(4, size=400)
    with gzip.open(tmp_path / "access.log.2.gz", "wb") as handle:
        handle.write("".join(line + "\n" for line in older).encode())
    write(tmp_path / "access.log.1", old)
    write(log, current)
    source = make_source(log)
    source.max_poll_bytes = source.first_poll_bytes = 16 * 1024
    tail = Tail(source)
    for _ in range(polls_before):
        tail.poll()
    assert json.loads(tail.cursor)["backlog"]  # the rotation comes while the import is under way
    _logrotate_delaycompress(tmp_path, new)
    for _ in range(200):
        tail.poll()
        state = json.loads(tail.cursor)
        if not state["backlog"] and state["prev"] is None and state["file"]["offset"] == log.stat().st_size:
            break
    assert tail.counts() == reference(older + old + current + new)
    assert tail.poll() == Counter()


@pytest.mark.parametrize("rotation", ["copytruncate", "compress"])
def test_a_live_log_rotated_before_the_import_reached_it_loses_nothing(tmp_path: Path, rotation: str) -> None:
    """While the first run imports the rotated files, PATH itself is not read yet (its offset 0, no head hash kept):
    a copytruncate then looked like a log that had only grown, and a rename-and-compress left nothing to find the old
    PATH by, so its lines were never counted. Its head is now kept from the first sight of it, as a rotated file's."""
    log = tmp_path / "access.log"
    old, current, new = batches(3, size=400)
    write(tmp_path / "access.log.1", old)
    write(log, current)
    source = make_source(log)
    source.max_poll_bytes = source.first_poll_bytes = 16 * 1024
    tail = Tail(source)
    tail.poll()
    state = json.loads(tail.cursor)
    assert state["backlog"] and state["file"]["offset"] == 0  # PATH seen, not read yet
    if rotation == "copytruncate":  # logrotate's copytruncate: PATH.1 -> PATH.2, PATH copied to PATH.1, truncated
        (tmp_path / "access.log.1").rename(tmp_path / "access.log.2")
        shutil.copy(log, tmp_path / "access.log.1")
    else:  # logrotate's compress (no delaycompress): PATH -> PATH.1.gz at once
        with log.open("rb") as src, gzip.open(tmp_path / "access.log.1.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        log.unlink()
    write(log, new)
    for _ in range(200):
        tail.poll()
        state = json.loads(tail.cursor)
        if not state["backlog"] and state["prev"] is None and state["file"]["offset"] == log.stat().st_size:
            break
    assert tail.counts() == reference(old + current + new)
    assert tail.poll() == Counter()


@pytest.mark.parametrize("gz", ["whole", "cut short"])
def test_a_rotated_file_met_while_logrotate_compresses_it_is_imported_once(tmp_path: Path, gz: str) -> None:
    """logrotate's compress writes PATH.1.gz beside PATH.1, then deletes PATH.1: a first run meeting both imported
    both, every line of the file counted twice (or once and then a piece of it again from the .gz still being
    written). The two hold the same head: the plain file is imported, once."""
    log = tmp_path / "access.log"
    old, current = batches(2, size=400)
    write(tmp_path / "access.log.1", old)
    packed = gzip.compress((tmp_path / "access.log.1").read_bytes())
    (tmp_path / "access.log.1.gz").write_bytes(packed if gz == "whole" else packed[: len(packed) // 2])
    write(log, current)
    tail = Tail(make_source(log))
    tail.poll()
    assert tail.counts() == reference(old + current)
    assert tail.poll() == Counter()


def test_corrupt_gzip_is_skipped_not_fatal(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    (tmp_path / "access.log.1.gz").write_bytes(b"\x1f\x8b\x08\x00 definitely not gzip")
    lines = random_lines(20)
    write(log, lines)
    tail = Tail(make_source(log))
    tail.poll()
    assert tail.counts() == reference(lines)
    assert tail.skipped == 1


# --- malformed input -------------------------------------------------------------------


def test_malformed_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    good = random_lines(100, seed=9)
    bad = [
        b"",
        b"   ",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 \xff\xfe\xfd binary noise",
        good[0].encode()[:50],  # cut short
        re.sub(r"/[A-Z][a-z]{2}/", "/Mxr/", good[1]).encode(),  # impossible timestamp
        good[2].replace("01/Mar/2024", "41/Mar/2024").encode(),
        re.sub(r'" \d{3} ', '" 2x0 ', good[3]).encode(),  # status is not a number
        re.sub(r'" \d{3} ', '" 42 ', good[4]).encode(),
        (good[5] + ' "extra"').encode(),  # one field too many
        good[6].replace('" ', " ", 1).encode(),  # a quote missing
        b"GET / HTTP/1.1",
        b'"""""""""""""""""""""',
        b"\x00\x00\x00\x00",
        ("x" * 300).encode(),  # longer than max_line_length (256) below
        combined(agent="y" * 400).encode(),  # a valid line, but too long
    ]
    valid_non_utf8 = combined(agent="caf\xe9").encode("latin-1")  # invalid UTF-8 inside a field: kept, replaced
    data = b""
    for i, line in enumerate(good):
        data += line.encode() + b"\n"
        if i < len(bad):
            data += bad[i] + b"\n"
    data += valid_non_utf8 + b"\n"
    log.write_bytes(data)
    tail = Tail(make_source(log, max_line_length=256))
    tail.poll()
    expected = reference(good + [combined(agent="caf\ufffd")])
    assert tail.counts() == expected
    assert tail.skipped == len(bad)


def test_huge_line_without_newline_is_skipped_once(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    before, after = random_lines(10, seed=11), random_lines(10, seed=12)
    write(log, before)
    with log.open("ab") as handle:
        handle.write(b"z" * (300 * 1024))  # no newline yet
    source = make_source(log, max_line_length=4096)
    source.max_poll_bytes = 64 * 1024
    tail = Tail(source)
    for _ in range(10):
        tail.poll()
    with log.open("ab") as handle:
        handle.write(b"zzz\n")
    write(log, after, "a")
    for _ in range(10):
        tail.poll()
    assert tail.counts() == reference(before + after)
    assert tail.skipped == 1


@pytest.mark.parametrize("fmt", ["combined", "common", "custom"])
def test_random_bytes_never_crash(tmp_path: Path, fmt: str) -> None:
    rng = random.Random(13)
    log = tmp_path / "access.log"
    noise = bytes(rng.getrandbits(8) for _ in range(200_000))
    lines = random_lines(50, seed=14)
    data = noise + b"\n" + "".join(line + "\n" for line in lines).encode() + noise[:5000]
    log.write_bytes(data)
    options = {"format": fmt}
    if fmt == "custom":
        options["log_format"] = access_log.FORMATS["combined"]
    conditions = {"errors": "status >= 500"} if fmt == "common" else CONDITIONS
    tail = Tail(make_source(log, conditions, **options))
    tail.poll()
    complete_lines = data[: data.rfind(b"\n") + 1].count(b"\n")  # the rest is a partial line: it waits
    if fmt == "common":  # combined lines are not common lines
        assert tail.counts() == Counter() and tail.skipped == complete_lines
    else:
        assert tail.counts() == reference(lines)
        assert tail.skipped == complete_lines - len(lines)


# --- formats ---------------------------------------------------------------------------


def test_common_format(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = [line.rsplit(' "', 2)[0] for line in random_lines(300, seed=21)]  # drop referrer and agent
    write(log, lines + [random_lines(1)[0]])  # a combined line is not a common line
    tail = Tail(make_source(log, {"errors": "status >= 500", "signups": CONDITIONS["signups"]}, format="common"))
    tail.poll()
    full = {line.rsplit(' "', 2)[0]: line for line in random_lines(300, seed=21)}
    expected = reference([full[line] for line in lines], predicates={k: PREDICATES[k] for k in ("errors", "signups")})
    assert tail.counts() == expected
    assert tail.skipped == 1


def test_common_format_rejects_conditions_on_missing_fields(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="agent"):
        make_source(tmp_path / "access.log", {"bots": 'contains(agent, "bot")'}, format="common")


def test_custom_log_format(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    fmt = (
        '$remote_addr [$time_iso8601] "$request_method $request_uri" $status $body_bytes_sent "$http_user_agent" '
        "rt=$request_time"
    )
    rng = random.Random(31)
    lines, expected = [], Counter()
    start = dt.datetime(2024, 3, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    for i in range(400):
        moment = start + dt.timedelta(minutes=7 * i)
        path = rng.choice(["/newsletter/thank-you", "/retainer/submit", "/", "/search?q=a"])
        method = rng.choice(["GET", "POST"])
        status = rng.choice([200, 302, 500])
        agent = rng.choice(AGENTS)
        lines.append(f'10.1.1.{i % 50} [{moment.isoformat()}] "{method} {path}" {status} {i} "{agent}" rt=0.{i:03d}')
        hour = moment.astimezone(dt.timezone.utc).replace(minute=0)
        fields = {"method": method, "path": path.split("?")[0], "query": path.partition("?")[2], "status": status,
                  "agent": agent, "referrer": ""}  # fmt: skip
        for name in ("signups", "retainers", "errors", "bots", "searches"):
            if PREDICATES[name](fields):
                expected[(name, hour)] += 1
    lines.append('10.1.1.1 [yesterday] "GET /" 200 1 "x" rt=1')
    write(log, lines)
    conditions = {k: CONDITIONS[k] for k in ("signups", "retainers", "errors", "bots", "searches")}
    tail = Tail(make_source(log, conditions, format="custom", log_format=fmt))
    tail.poll()
    assert tail.counts() == expected
    assert tail.skipped == 1


def test_custom_format_agrees_with_the_fast_combined_parser(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = random_lines(1500, seed=41)
    rng = random.Random(42)
    mixed = []
    for line in lines:
        mixed.append(line)
        if rng.random() < 0.05:
            mixed.append(
                rng.choice([line[: rng.randint(0, len(line))], line.replace("HTTP/1.1", 'HTTP/1.1"x'), "", "junk"])
            )
    write(log, mixed)
    fast = Tail(make_source(log))
    fast.poll()
    slow = Tail(make_source(log, format="custom", log_format=access_log.FORMATS["combined"]))
    slow.poll()
    assert fast.counts() == slow.counts() == reference(lines)
    assert fast.skipped == slow.skipped == len(mixed) - len(lines)


@pytest.mark.parametrize("fmt", ["combined", "custom"])
def test_raw_control_bytes_inside_a_line_do_not_make_it_malformed(tmp_path: Path, fmt: str) -> None:
    """A line holding a raw control byte (a log written by hand or by another program) is still a line, as grep
    counts it: each of the 29 candidates for the separator that reads lines whole is in this chunk but one."""
    log = tmp_path / "access.log"
    lines = random_lines(600, seed=51)
    controls = [chr(b) for b in (*range(0x01, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20))]  # 0x7F stays free
    rng = random.Random(52)
    for i in range(0, len(lines), 3):
        agent = rng.choice(AGENTS)
        cut = rng.randint(0, len(agent))
        lines[i] = lines[i].replace(f'"{agent}"', f'"{agent[:cut]}{controls[i % len(controls)]}{agent[cut:]}"')
    lines[1] = lines[1].replace(" HTTP/1.1", "\x01 HTTP/1.1")  # nginx's own escaping: plain text
    write(log, lines)
    options = {} if fmt == "combined" else {"format": "custom", "log_format": access_log.FORMATS["combined"]}
    tail = Tail(make_source(log, **options))
    tail.poll()
    assert tail.skipped == 0
    assert tail.counts() == reference(lines)
    by_metric: Counter = Counter()
    for (metric, _), value in tail.counts().items():
        by_metric[metric] += value
    assert by_metric["everything"] == len(lines)
    assert by_metric["errors"] == sum(1 for line in lines if re.search(r'" 5\d\d ', line))  # grep -c '" 5[0-9][0-9] '


@pytest.mark.parametrize(
    ("log_format", "message"),
    [
        ('$remote_addr "$request" $status', "must contain \\$time_local"),
        ("$remote_addr$remote_user [$time_local] $status", "directly followed"),
        ("[$time_local]", "nothing to count on"),
        ("x" * 2001, "too long"),
    ],
)
def test_bad_log_formats(log_format: str, message: str) -> None:
    with pytest.raises(OptionError, match=message):
        parse(AccessLogOptions, {"path": "a.log", "format": "custom", "log_format": log_format})


def test_option_validation() -> None:
    with pytest.raises(OptionError, match="needs log_format"):
        parse(AccessLogOptions, {"path": "a.log", "format": "custom"})
    with pytest.raises(OptionError, match="only used with"):
        parse(AccessLogOptions, {"path": "a.log", "log_format": "$time_local $status"})
    with pytest.raises(OptionError, match="did you mean 'hour'"):
        parse(AccessLogOptions, {"path": "a.log", "bucket": "hours"})
    with pytest.raises(OptionError, match="max_line_length"):
        parse(AccessLogOptions, {"path": "a.log", "max_line_length": 10})
    with pytest.raises(OptionError, match="missing required key path"):
        parse(AccessLogOptions, {})
    with pytest.raises(OptionError, match="one of 'none', 'client', 'client_agent'"):
        parse(AccessLogMetricOptions, {"distinct": "ip"})
    assert compile_log_format(access_log.FORMATS["combined"]).fields == frozenset(access_log.FIELD_TYPES)


# --- distinct visitors -----------------------------------------------------------------


def test_distinct_visitors_across_polls(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    rng = random.Random(51)
    start = dt.datetime(2024, 3, 1, 9, tzinfo=dt.timezone.utc)
    lines = []
    for i in range(3000):
        moment = start + dt.timedelta(seconds=i * 5)  # a bit over 4 hours
        lines.append(
            combined(
                client=f"10.9.{rng.randint(0, 1)}.{rng.randint(1, 60)}",
                agent=rng.choice(AGENTS[:2]),
                when=moment.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                path=rng.choice(["/", "/a"]),
            )
        )
    source = make_source(
        log,
        {"visitors": "True", "home_visitors": 'path == "/"', "pairs": "True", "hits": "True"},
        distinct={"visitors": "client", "home_visitors": "client", "pairs": "client_agent"},
    )
    source.max_poll_bytes = 20_000  # many polls, each hour spread over several of them
    tail = Tail(source)
    for chunk in range(0, len(lines), 137):
        write(log, lines[chunk : chunk + 137], "a")
        tail.poll()
    while json.loads(tail.cursor)["file"]["offset"] < log.stat().st_size:
        tail.poll()
    expected: Counter = Counter()
    seen: dict[str, set] = {"visitors": set(), "home_visitors": set(), "pairs": set()}
    for line in lines:
        m = REFERENCE.match(line)
        assert m
        hour = dt.datetime.strptime(m["time"], "%d/%b/%Y:%H:%M:%S %z").replace(minute=0, second=0)
        expected[("hits", hour)] += 1
        for name, key, ok in (("visitors", m["client"], True), ("home_visitors", m["client"], m["path"] == "/"),
                              ("pairs", (m["client"], m["agent"]), True)):  # fmt: skip
            if ok and (hour, key) not in seen[name]:
                seen[name].add((hour, key))
                expected[(name, hour)] += 1
    assert tail.counts() == expected
    assert len(tail.cursor) < 10_000  # only the open buckets' visitors are kept


def test_distinct_daily_visitors_on_a_25_hour_local_day(tmp_path: Path) -> None:
    """Day buckets are local days (America/New_York); the day before the latest stays open even when it lasted 25
    hours."""
    log = tmp_path / "access.log"
    ny = dt.timezone(dt.timedelta(hours=-5))  # 1 Nov 2026 ends DST in New York: that day lasts 25 hours
    edt = dt.timezone(dt.timedelta(hours=-4))

    def at(when: dt.datetime, client: str) -> str:
        return combined(client=client, when=when.strftime("%d/%b/%Y:%H:%M:%S %z"))

    write(log, [at(dt.datetime(2026, 11, 1, 0, 30, tzinfo=edt), "10.0.0.1"),
                at(dt.datetime(2026, 11, 2, 1, 0, tzinfo=ny), "10.0.0.2")])  # fmt: skip
    opts = parse(AccessLogOptions, {"path": log.name, "bucket": "day"})
    metric = Metric(id="visitors", name="v", source="web", trigger=Trigger(text="t", condition="True"),
                    options=AccessLogMetricOptions(distinct="client"))  # fmt: skip
    context = SourceContext(config_dir=tmp_path, timezone="America/New_York")
    spec = SourceSpec(id="web", type="access_log", interval=60, timeout=60, options=opts)
    tail = Tail(AccessLogSource(spec, [metric], context))
    tail.poll()
    write(log, [at(dt.datetime(2026, 11, 1, 23, 30, tzinfo=ny), "10.0.0.1")], "a")  # late: same visitor, same local day
    tail.poll()
    nov1 = dt.datetime(2026, 11, 1, 4, tzinfo=dt.timezone.utc)  # local midnight, EDT
    nov2 = dt.datetime(2026, 11, 2, 5, tzinfo=dt.timezone.utc)  # local midnight, EST
    assert tail.counts() == Counter({("visitors", nov1): 1, ("visitors", nov2): 1})


def test_distinct_needs_the_client_field(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="distinct"):
        make_source(tmp_path / "a.log", {"v": "True"}, distinct={"v": "client"}, format="custom",
                    log_format="[$time_local] $status")  # fmt: skip


# --- conditions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (None, "'broken' needs a condition"),
        ("", "'broken' needs a condition"),
        ('pth == "/"', "metric 'broken': condition: column 1: unknown field 'pth' \\(did you mean 'path'\\?\\)"),
        ("status ==", "metric 'broken': condition: .*syntax error"),
        ("__import__('os').system('x')", "metric 'broken'.*not allowed"),
        ("path", "metric 'broken'.*must be true or false"),
        ('status == "200"', "metric 'broken'.*cannot compare number with string"),
        ('matches(path, "(")', "metric 'broken'.*invalid regular expression"),
    ],
)
def test_bad_conditions_are_rejected(tmp_path: Path, condition: str | None, message: str) -> None:
    metric = Metric(id="broken", name="Broken", source="web", options=AccessLogMetricOptions(),
                    trigger=None if condition is None else Trigger(text="x", condition=condition))  # fmt: skip
    options = AccessLogOptions(path="a.log")
    with pytest.raises(OptionError, match=message):
        AccessLogSource.check(options, [metric], SourceContext(config_dir=tmp_path))


def test_conditions_use_every_field(tmp_path: Path) -> None:
    line = combined(
        client="9.9.9.9", user="bob", method="PUT", path="/x?y=1", status=204, size=42, referrer="r", agent="a"
    )
    write(tmp_path / "access.log", [line, combined()])
    conditions = {
        "all": 'client == "9.9.9.9" and user == "bob" and method == "PUT" and path == "/x" and query == "y=1" '
        'and protocol == "HTTP/1.1" and status == 204 and bytes == 42 and referrer == "r" and agent == "a" '
        'and time >= "2024-03-01T10:00:00+00:00" and time < "2024-03-01T10:00:01Z"',
    }
    tail = Tail(make_source(tmp_path / "access.log", conditions))
    tail.poll()
    assert tail.counts() == Counter({("all", dt.datetime(2024, 3, 1, 10, tzinfo=dt.timezone.utc)): 1})


# --- plugin surface and the example ----------------------------------------------------


def test_registered_through_the_hook() -> None:
    assert access_log.register_metric_sources() == [AccessLogSource]
    assert (
        AccessLogSource.type_name == "access_log" and AccessLogSource.mode == "add" and AccessLogSource.uses_condition
    )


def test_example_tables_are_valid(tmp_path: Path) -> None:
    example = AccessLogSource.example()
    options = parse(AccessLogOptions, example["source"])
    condition = example["metric"]["condition"]
    metric = Metric(
        id="m", name="M", source="s", trigger=Trigger(text="t", condition=condition), options=AccessLogMetricOptions()
    )
    AccessLogSource.check(options, [metric], SourceContext(config_dir=tmp_path))


def test_the_committed_example(tmp_path: Path, builtin_registry) -> None:
    from kpitui.config import load_config

    spec = importlib.util.spec_from_file_location("access_log_example", EXAMPLE / "generate.py")
    assert spec and spec.loader
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    lines = (EXAMPLE / "access.log").read_bytes().split(b"\n")[:-1]
    assert lines == generate.generate(), "access.log is out of date: run examples/access_log/generate.py"

    config = load_config(EXAMPLE / "kpitui.toml", registry=builtin_registry)
    source = AccessLogSource(config.sources["web"], config.metrics_of("web"), SourceContext(config_dir=EXAMPLE))
    result = source.fetch(None, NOW)
    assert result.skipped == 4
    per_day = (
        result.readings.group_by("metric", pl.col("at").dt.date().alias("day"))
        .agg(pl.col("value").sum())
        .filter(pl.col("value") > 0)
    )
    got = {(m, d.isoformat()): int(v) for m, d, v in per_day.iter_rows()}
    expected = {(m, d): n for m, days in generate.reference_counts(lines).items() for d, n in days.items()}
    assert {k: v for k, v in got.items() if k[0] != "visitors"} == expected
    assert (tmp_path / "unused").exists() is False


def test_options_are_hashable_dataclasses() -> None:
    options = AccessLogOptions(path="a.log")
    assert replace(options, bucket="day").bucket == "day"
    assert os.fspath(Path(options.path)) == "a.log"


@pytest.mark.parametrize("by_enum", [False, True], ids=["replace_strict", "enum"])
def test_time_local_is_read_as_strptime_with_an_offset_reads_it(by_enum):
    """The fast reading of $time_local (fixed-format date and time, the offset looked up) gives the
    instants polars' ``%z`` parsing gives, and null where that gives null (the offsets at both ends of the
    lookup's range, and a null text, included)."""
    import polars as pl

    from kpitui.builtin.access_log.formats import _time_local

    texts = [
        "01/Mar/2024:01:00:00 +0100",
        "01/Mar/2024:01:00:00 -0530",
        "31/Dec/2023:23:59:59 +1400",
        "01/Mar/2024:01:00:00 -0000",
        "10/Oct/2000:13:55:36 -0700",
        "01/Mar/2024:01:00:00 +01:30",
        "29/Feb/2024:12:00:00 +0545",
        "01/mar/2024:01:00:00 +0100",
        "01/Mar/2024:01:00:00 +01:0",
        "01/Mar/2024:01:00:00 ++100",
        "32/Mar/2024:01:00:00 +0100",
        "01/Mar/2024:01:00:00 +2400",
        "01/Mar/2024:01:00:00 +0160",
        "01/Mar/2024:24:00:00 +0100",
        "01/Mar/2024:01:00:00+0100 ",
        "01/Mar/2024:01:00:00 +010",
        "",
        "29/Feb/2023:01:00:00 +0000",
        "01/Mar/2024:01:00:00 Z0100",
        "01/Mar/2024:01:00:00 +0100 trailing",
        "01/Foo/2024:01:00:00 +0100",
        "01/Mar/2024:01:00:00 +23:59",
        "01/Mar/2024:01:00:00 -23:59",
        None,
    ]
    out = pl.DataFrame({"t": texts}, schema={"t": pl.String}).select(
        fast=_time_local(pl.col("t"), by_enum=by_enum),
        reference=pl.col("t").str.strptime(pl.Datetime("us", "UTC"), "%d/%b/%Y:%H:%M:%S %z", strict=False),
    )
    assert out["fast"].to_list() == out["reference"].to_list()
    assert out["fast"].null_count() == 14


@pytest.mark.parametrize("by_enum", [False, True], ids=["replace_strict", "enum"])
def test_the_time_parts_sliced_from_the_line_read_as_its_26_characters_do(by_enum):
    """combined and common slice $time_local's date and offset from the line's first piece at once: the same
    instant (or null) as the 26 characters before ``] `` read whole, wherever that piece has the shape of a valid
    line's (random edits of one, shorter, longer, with characters of several bytes); the only differences are in
    pieces under 28 characters, which no valid line has."""
    import polars as pl

    from kpitui.builtin.access_log.formats import _time_local, _time_local_parts

    rng = random.Random(20261204)
    line = "1.2.3.4 - - [01/Mar/2024:10:00:00 +0100] "
    alphabet = [*"0123456789/: +-[]abé", "ü", "Mar", "Feb", "2024", " [", "] "]
    pieces = [line, line[-30:], line[-29:], line[-28:], "é" * 40 + line[-30:], "x y " + line[-30:]]
    for _ in range(20_000):
        edited = list(line)
        for _ in range(rng.randint(0, 4)):
            at, roll = rng.randrange(len(edited) + 1), rng.random()
            if roll < 0.4 and edited:
                edited[min(at, len(edited) - 1)] = rng.choice(alphabet)
            elif roll < 0.7:
                edited.insert(at, rng.choice(alphabet))
            elif edited:
                del edited[min(at, len(edited) - 1)]
        pieces.append("".join(edited)[rng.randint(0, 12) :])
    c0 = pl.col("c0")
    shape = c0.str.ends_with("] ") & (c0.str.slice(-30, 2) == " [") & c0.str.contains(r"^[^ ]+ [^ \[]+ ")
    out = pl.DataFrame({"c0": pieces}).select(
        c0,
        shape=shape,
        whole=_time_local(c0.str.slice(-28, 26), by_enum=by_enum),
        parts=_time_local_parts(c0.str.slice(-28, 20), c0.str.slice(-8, 6), by_enum=by_enum),
    )
    differ = out.filter(pl.col("whole").ne_missing(pl.col("parts")))
    assert differ.filter(pl.col("shape")).height == 0
    assert (differ["c0"].str.len_chars() < 28).all()
    assert out.filter(pl.col("shape"))["whole"].is_not_null().sum() > 1000  # valid times among them
    assert out.filter(pl.col("c0").str.len_chars() < 30)["shape"].sum() == 0


def test_a_large_chunk_reads_the_same_times_and_validity_as_a_small_one():
    """A chunk of ENUM_OFFSETS_FROM bytes or more looks its offsets up another way: the same fields per line."""
    from kpitui.builtin.access_log.formats import ENUM_OFFSETS_FROM

    lines = [
        '1.2.3.4 - - [01/Mar/2024:10:00:00 +0100] "GET / HTTP/1.1" 200 5 "-" "a"',
        '1.2.3.4 - - [01/Mar/2024:10:00:00 -05:30] "GET / HTTP/1.1" 200 5 "-" "a"',
        '1.2.3.4 - - [01/Mar/2024:10:00:00 +2400] "GET / HTTP/1.1" 200 5 "-" "a"',
        '1.2.3.4 - - [01/Mar/2024:10:00:00 +1400] "GET / HTTP/1.1" 500 5 "-" "a"',
    ]
    small = ("\n".join(lines) + "\n").encode()
    copies = ENUM_OFFSETS_FROM // len(small) + 1
    options = AccessLogOptions(path="x")
    one = parse_lines(small, options).collect()
    many = parse_lines(small * copies, options).collect()
    assert len(small * copies) >= ENUM_OFFSETS_FROM > len(small)
    assert many.equals(pl.concat([one] * copies))
    assert one["__valid"].to_list() == [True, False, False, True]  # combined's time is 26 wide: no -05:30
    assert one["time"].dt.hour().to_list() == [9, None, None, 20]


def test_each_time_local_offset_reads_as_its_minutes_east_of_utc():
    """The offset's minutes are looked up by its index among the valid offsets: right for every one of them, and
    null for a text that is none of them."""
    import polars as pl

    from kpitui.builtin.access_log.formats import _offset_enum, _offset_minutes, _utc_offsets

    keys, minutes = _utc_offsets()
    out = pl.DataFrame({"offset": keys}).select(
        _offset_minutes(pl.col("offset").cast(_offset_enum()).to_physical()).alias("minutes")
    )
    assert out["minutes"].to_list() == minutes
    assert len(set(keys)) == len(keys) == 5760
    odd = pl.DataFrame({"offset": [" +2400", "+0100", None, " -0000"]}).select(
        _offset_minutes(pl.col("offset").cast(_offset_enum(), strict=False).to_physical()).alias("minutes")
    )
    assert odd["minutes"].to_list() == [None, None, None, 0]


def test_the_built_in_formats_regexes_compile_with_polars():
    """``compile_log_format`` leaves polars' regex check out for the built-in formats (so a config check imports
    no polars): each of their regexes compiles."""
    import polars as pl

    from kpitui.builtin.access_log.formats import FORMATS, compile_log_format

    for text in FORMATS.values():
        regex = compile_log_format(text).regex
        assert pl.select(pl.lit("", dtype=pl.String).str.extract_groups(regex)).height == 1
