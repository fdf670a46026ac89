"""The demo's made-up site: the access log it writes (the same lines however it is written), the
outage in it, the notes its annotation source supplies, and the access_log source's counts of it
checked line by line."""

from __future__ import annotations

import datetime as dt
import re
import subprocess

from kpitui.builtin import demo_site
from kpitui.builtin.demo import write_site_log
from kpitui.testing import fetch_source

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 18, 15, 30, 12, tzinfo=UTC)
LINE = re.compile(r'\[([^\]]+)\] "(\S+) (\S+) HTTP/1\.1" (\d{3}) ')


def _parsed(path):
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        found = LINE.search(line)
        assert found, line
        out.append(
            (
                dt.datetime.strptime(found.group(1), "%d/%b/%Y:%H:%M:%S %z"),
                found.group(2),
                found.group(3),
                int(found.group(4)),
            )
        )
    return out


def test_the_log_is_the_same_whether_written_at_once_or_poll_by_poll(tmp_path):
    once, polled = tmp_path / "once.log", tmp_path / "polled.log"
    first_write = NOW - dt.timedelta(hours=5, minutes=17)
    assert write_site_log(once, first_write, "America/New_York") > 10_000
    assert write_site_log(once, NOW, "America/New_York") > 0  # kpitui was closed for five hours
    first = write_site_log(polled, first_write, "America/New_York")
    more = [write_site_log(polled, NOW - dt.timedelta(minutes=m), "America/New_York") for m in (200, 61, 60, 7, 0)]
    assert write_site_log(polled, NOW, "America/New_York") == 0  # nothing new: nothing written twice
    assert sum(more) > 0 and first > 10_000
    assert polled.read_bytes() == once.read_bytes()
    lines = _parsed(once)
    times = [at for at, *_ in lines]
    assert times == sorted(times) and times[-1] <= NOW
    # it begins LOG_DAYS before its first write, with the uptime check at the top of that hour
    began = (first_write - dt.timedelta(days=demo_site.LOG_DAYS)).replace(minute=0, second=0, microsecond=0)
    assert times[0] == began and demo_site.first_time(once) == began
    assert once.read_text().splitlines()[0].split('"')[1] == "GET /health HTTP/1.1"


def test_the_newsletter_form_is_broken_around_the_first_write_and_the_notes_say_when(tmp_path, builtin_registry):
    log = tmp_path / "demo-access.log"
    write_site_log(log, NOW, "UTC")  # first written at NOW
    write_site_log(log, NOW + dt.timedelta(hours=12), "UTC")  # and polled until after the fix
    began = demo_site.first_time(log)
    broke, fixed = demo_site.incident(began)
    assert (broke, fixed) == (
        NOW.replace(minute=0, second=0) - dt.timedelta(hours=40),
        NOW.replace(minute=0, second=0) + dt.timedelta(hours=8),
    )
    lines = _parsed(log)
    during = [(m, p, s) for at, m, p, s in lines if broke <= at < fixed]
    outside = [(m, p, s) for at, m, p, s in lines if not broke <= at < fixed + dt.timedelta(seconds=30)]
    assert ("GET", "/newsletter/thank-you", 200) not in during  # nobody got through the broken form
    assert during.count(("POST", "/newsletter/subscribe", 500)) > 5
    assert ("GET", "/newsletter/thank-you/guide", 200) in during  # the guide's form still worked
    assert ("POST", "/newsletter/subscribe", 500) not in outside
    assert outside.count(("POST", "/newsletter/subscribe", 302)) == outside.count(("GET", "/newsletter/thank-you", 200))

    notes_cls = builtin_registry.annotation_sources["demo"]
    from kpitui.api import SourceContext

    opts = notes_cls.Options(access_log="demo-access.log", metric="newsletter_signups")
    source = notes_cls("site", opts, SourceContext(config_dir=tmp_path, timezone="UTC"))
    notes = source.annotations(broke - dt.timedelta(days=1), fixed + dt.timedelta(days=1))
    assert [(n.at, n.metric) for n in notes] == [(broke, "newsletter_signups"), (fixed, "newsletter_signups")]
    assert "broke the newsletter form" in notes[0].text and "fixed" in notes[1].text
    assert source.annotations(fixed + dt.timedelta(hours=1), fixed + dt.timedelta(days=1)) == []
    gone = notes_cls(
        "site", notes_cls.Options(access_log="nothing.log"), SourceContext(config_dir=tmp_path, timezone="UTC")
    )
    assert gone.annotations(broke, fixed) == []  # no log yet: nothing to say, no error


CONFIG = """\
[kpitui]
timezone = "UTC"
[storage]
path = "h.sqlite3"
[sources.demo]
type = "demo"
history_days = 1
access_log = "logs/site.log"
[sources.web]
type = "access_log"
path = "logs/site.log"
[metrics.visits]
source = "demo"
[metrics.signups]
source = "web"
trigger = "A visitor viewed a newsletter thank-you page"
condition = 'method == "GET" and startswith(path, "/newsletter/thank-you") and status == 200'
[metrics.requests]
source = "web"
condition = 'method == "POST" and path == "/retainer/submit" and status < 400'
"""


def test_the_access_log_source_counts_the_demo_log_as_grep_does(tmp_path, builtin_registry):
    from kpitui.config import load_config

    (tmp_path / "kpitui.toml").write_text(CONFIG)
    config = load_config(tmp_path / "kpitui.toml", registry=builtin_registry)
    log = tmp_path / "logs" / "site.log"
    write_site_log(log, NOW, "UTC")
    readings = fetch_source(config, "web", NOW).readings
    cut = log.read_bytes()
    per_hour = {(r["metric"], r["at"]): r["value"] for r in readings.iter_rows(named=True)}
    # grep -c, hour by hour, for one busy day, on the lines the source read
    for hour in range(24):
        start = dt.datetime(2026, 3, 10, hour, tzinfo=UTC)
        stamp = start.strftime("%d/%b/%Y:%H:")
        grep = subprocess.run(
            ["grep", "-c", "-E", f'\\[{stamp}[0-9:]+ \\+0000\\] "GET /newsletter/thank-you[^ ]* HTTP/1.1" 200 '],
            input=cut,
            capture_output=True,
        )
        assert per_hour.get(("signups", start), 0) == int(grep.stdout), stamp
        grep = subprocess.run(
            ["grep", "-c", "-E", f'\\[{stamp}[0-9:]+ \\+0000\\] "POST /retainer/submit HTTP/1.1" 303 '],
            input=cut,
            capture_output=True,
        )
        assert per_hour.get(("requests", start), 0) == int(grep.stdout), stamp
    assert sum(v for (m, _), v in per_hour.items() if m == "signups") > 500


def test_annotations_list_shows_a_supplied_note_with_its_source(tmp_path):
    import sys
    from pathlib import Path

    (tmp_path / "kpitui.toml").write_text(
        CONFIG + '[annotation_sources.site]\ntype = "demo"\naccess_log = "logs/site.log"\nmetric = "signups"\n'
    )
    write_site_log(tmp_path / "logs" / "site.log", dt.datetime.now(UTC), "UTC")
    kpitui = Path(sys.executable).with_name("kpitui")
    done = subprocess.run(
        [str(kpitui), "annotations", "list"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    line = next(line for line in done.stdout.splitlines() if "broke the newsletter form" in line)
    assert line.startswith("   -  ") and line.endswith("(from annotation source site)")
    assert "metric Signups:" in line
