"""``kpitui matches METRIC``: what an event metric's condition matched (top paths, referrers, agents)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import TYPE_CHECKING

from ..matches import DEFAULT_LIMIT
from . import base

if TYPE_CHECKING:
    from .base import Run, Subparsers


def add_parsers(sub: Subparsers, common: argparse.ArgumentParser) -> dict[str, Run]:
    matches = sub.add_parser(
        "matches",
        parents=[common],
        help="what an event metric's condition matched: top paths, referrers, agents",
        description="The most frequent paths, referrers and agents among the log lines a metric's condition "
        "matched in a period (an access-log metric).",
    )
    matches.add_argument("metric", help="a metric id whose source evaluates a condition (access_log)")
    matches.add_argument(
        "--window", default="month_to_date", metavar="WINDOW", help="the period (default month_to_date)"
    )
    matches.add_argument("--at", metavar="ISO-TIME", help="as of this time (default: now)")
    matches.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"values per field (default {DEFAULT_LIMIT})")
    matches.add_argument(
        "--format", choices=("table", "json"), default="table", help="table (default) or json (docs/json.md)"
    )
    return {"matches": cmd_matches}


def cmd_matches(args: argparse.Namespace) -> int:
    from .. import periods
    from ..matches import CannotSay, top_matches
    from ..options import did_you_mean

    config = base.load(args)
    if args.metric not in config.metrics:
        raise base.UsageError(f"unknown metric {args.metric!r}" + did_you_mean(args.metric, config.metrics))
    if args.limit < 1:
        raise base.UsageError("--limit must be at least 1")
    try:
        window = periods.parse_window(args.window)
    except periods.PeriodError as exc:
        raise base.UsageError(f"--window: {exc}") from None
    now = base.parse_time(args.at, config.settings.timezone) or dt.datetime.now(dt.timezone.utc)
    cal = periods.Calendar.from_settings(config.settings)
    period = periods.resolve(window, now, cal)
    end = min(period.end, now + dt.timedelta(microseconds=1)) if period.closed else period.end
    try:
        tops = top_matches(config, args.metric, period.start, end, args.limit)
    except CannotSay as exc:
        raise base.UsageError(str(exc)) from None
    lines = tops.pop("lines", [("matching lines", 0)])[0][1]
    if args.format == "json":
        data = {
            "schema": 1, "metric": args.metric, "start": period.start.isoformat(), "end": end.isoformat(),
            "lines": lines,
            "top": {field: [{"value": v, "count": n} for v, n in values] for field, values in tops.items()},
        }  # fmt: skip
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    metric = config.metrics[args.metric]
    print(
        f"{metric.name}: {lines:,} matching lines, {period.label or args.window} "
        f"({metric.trigger.condition if metric.trigger else ''})"
    )
    for field, values in tops.items():
        print(f"  top {field}s:" if values else f"  top {field}s: none")
        for value, count in values:
            print(f"    {count:>8,}  {value}")
    return 0
