"""Generate ``access.log``: a week of a small law firm's nginx access log (combined format).

Deterministic (seeded), about 2,000 lines from Monday 4 to Sunday 10 March
2024 in New York time (note the offset changing from -0500 to -0400 when
daylight saving time starts on the 10th), with a few malformed lines mixed
in: a line cut short, binary noise that is not UTF-8, an empty line and a
line with an impossible timestamp. Prints, per metric of ``kpitui.toml``,
the counts per UTC day computed here in plain Python, so you can compare
them with what kpitui collects.

    python examples/access_log/generate.py            # rewrites access.log beside this file
    python examples/access_log/generate.py --lines 5000 --out /tmp/access.log
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
ZONE = ZoneInfo("America/New_York")
START = dt.datetime(2024, 3, 4, tzinfo=ZONE)
DAYS = 7

PAGES = [
    ("GET", "/", 30),
    ("GET", "/about", 8),
    ("GET", "/practice-areas/estate-planning", 10),
    ("GET", "/practice-areas/family-law", 8),
    ("GET", "/blog/what-is-a-living-trust", 12),
    ("GET", "/blog/choosing-a-guardian", 9),
    ("GET", "/newsletter", 6),
    ("POST", "/newsletter/subscribe", 3),
    ("GET", "/newsletter/thank-you", 3),
    ("GET", "/retainer", 4),
    ("POST", "/retainer/submit", 1),
    ("GET", "/webinar?utm_source=ads&utm_campaign=spring", 7),
    ("POST", "/webinar/register", 2),
    ("GET", "/membership", 3),
    ("GET", "/static/site.css", 15),
    ("GET", "/static/app.js", 15),
    ("GET", "/wp-login.php", 2),
    ("GET", "/favicon.ico", 5),
]
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 "
        "Safari/605.1.15"
    ),
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0",
]
BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
]
REFERRERS = [
    "-",
    "-",
    "-",
    "https://www.google.com/",
    "https://www.google.co.uk/",
    "https://duckduckgo.com/",
    "https://www.facebook.com/",
]


def generate(lines: int = 2000, seed: int = 2024) -> list[bytes]:
    """The log's lines (without newlines), in time order."""
    rng = random.Random(seed)
    visitors = [
        (
            f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            rng.choice(BROWSERS),
        )
        for _ in range(160)
    ]
    span = DAYS * 86400
    seconds = sorted(rng.uniform(0, span) for _ in range(lines))
    weights = [w for _, _, w in PAGES]
    out: list[bytes] = []
    for i, offset in enumerate(seconds):
        local = (START.astimezone(dt.timezone.utc) + dt.timedelta(seconds=offset)).astimezone(ZONE)
        stamp = local.strftime("%d/%b/%Y:%H:%M:%S %z")
        if rng.random() < 0.08:
            client, agent = f"66.249.{rng.randint(64, 79)}.{rng.randint(1, 254)}", rng.choice(BOTS)
        else:
            client, agent = rng.choice(visitors)
        method, path, _ = rng.choices(PAGES, weights)[0]
        status = 200
        if path == "/wp-login.php":
            status = 404
        elif method == "POST":
            status = 302 if rng.random() < 0.95 else 500
        elif rng.random() < 0.03:
            status = rng.choice([404, 500, 304])
        size = 0 if status in (302, 304) else rng.randint(300, 48000)
        referrer = rng.choice(REFERRERS)
        line = f'{client} - - [{stamp}] "{method} {path} HTTP/1.1" {status} {size} "{referrer}" "{agent}"'
        out.append(line.encode())
        if i == 300:  # a TLS handshake sent to the HTTP port: nginx escapes it, so the line is valid (a 400)
            out.append(f'{client} - - [{stamp}] "\\x16\\x03\\x01\\x00\\xF4\\x01\\x00\\x00" 400 157 "-" "-"'.encode())
    # a few malformed lines, each counted as skipped by kpitui
    out.insert(500, out[500][:57])  # a line cut short (disk full, crash)
    out.insert(
        900, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\xa7\xfe\x9c\x8b garbage \xff\xfe"
    )  # binary noise, not UTF-8
    out.insert(1300, b"")  # an empty line
    out.insert(1700, out[1700].replace(b"/Mar/2024:", b"/Mxr/2024:", 1))  # a timestamp that cannot be read
    return out


#: The metrics of kpitui.toml, as plain Python predicates over parsed fields.
METRICS = {
    "newsletter_signups": lambda f: f["path"] == "/newsletter/thank-you" and f["status"] < 400,
    "retainer_requests": lambda f: f["method"] == "POST" and f["path"].startswith("/retainer/submit"),
    "ad_visits": lambda f: f["path"] == "/webinar" and "utm_source=ads" in f["query"],
    "webinar_signups": lambda f: f["method"] == "POST" and f["path"] == "/webinar/register" and f["status"] < 400,
    "page_views": lambda f: (
        f["method"] == "GET"
        and f["status"] == 200
        and not f["path"].startswith("/static/")
        and "bot" not in f["agent"].lower()
    ),
    "server_errors": lambda f: f["status"] >= 500,
}


def reference_counts(lines: list[bytes]) -> dict[str, Counter[str]]:
    """Counts per metric and UTC day, with Python's re and datetime (an independent check)."""
    import re

    pattern = re.compile(
        r'^(\S+) \S+ (\S+) \[([^\]]+)\] "(\S+) ([^ ?"]*)(?:\?([^ "]*))? (\S+)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"$'
    )
    counts: dict[str, Counter[str]] = {name: Counter() for name in METRICS}
    for raw in lines:
        match = pattern.match(raw.decode("utf-8", "replace"))
        if not match:
            continue
        try:
            when = dt.datetime.strptime(match.group(3), "%d/%b/%Y:%H:%M:%S %z").astimezone(dt.timezone.utc)
        except ValueError:
            continue
        fields = {"method": match.group(4), "path": match.group(5), "query": match.group(6) or "",
                  "status": int(match.group(8)), "agent": match.group(11)}  # fmt: skip
        for name, predicate in METRICS.items():
            if predicate(fields):
                counts[name][when.date().isoformat()] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", type=Path, default=HERE / "access.log")
    args = parser.parse_args(argv)
    lines = generate(args.lines, args.seed)
    args.out.write_bytes(b"\n".join(lines) + b"\n")
    print(f"wrote {len(lines)} lines to {args.out}")
    for name, per_day in reference_counts(lines).items():
        days = ", ".join(f"{day[5:]}: {count}" for day, count in sorted(per_day.items()))
        print(f"  {name:<20} {sum(per_day.values()):>5}  ({days})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
