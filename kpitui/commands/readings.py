"""``kpitui record`` and ``kpitui readings``: type a manual reading; list, correct and delete them by their id.

::

    kpitui record METRIC VALUE [--at ISO-TIME] [--allow-negative]
    kpitui readings [list] [METRIC] [--limit N] [--format table|json]
    kpitui readings edit ID [VALUE] [--at ISO-TIME] [--allow-negative]
    kpitui readings delete ID [ID ...]

Every reading typed with ``kpitui record`` or the TUI's add-reading form gets
a stable id (``recorded … as reading 7``); ``list`` shows them newest first.
Readings of a metric fed by hand (no ``source``) that were stored before ids
existed get one the first time they are listed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Any

from . import base

if TYPE_CHECKING:
    from ..config import Config
    from ..history_store import HistoryStore
    from ..manual_readings import ManualReading
    from .base import Run, Subparsers

#: the history's manual-readings methods (record_manual, manual_readings, correct_manual, ...) are the SQLite
#: store's and, in part, the PostgreSQL store's; they are not in the HistoryStore protocol, so ``store`` is Any here

DEFAULT_LIMIT = 20
#: --allow-future's help: a time more than 5 minutes ahead is refused without it, more than a day ahead always
ALLOW_FUTURE_HELP = (
    "accept an --at more than 5 minutes after now (up to a day, as sources' readings; "
    "without it such a time is refused as a mistake)"
)


def add_parsers(sub: Subparsers, common: argparse.ArgumentParser) -> dict[str, Run]:
    record = sub.add_parser("record", parents=[common], help="record a manual reading")
    record.add_argument("metric", help="metric id, e.g. memberships_sold")
    record.add_argument("value", help="the number; for a duration metric a duration such as 90m, 4h 30m or 9d")
    record.add_argument(
        "--at", metavar="ISO-TIME", help="when (default: now); naive times are in the config's time zone"
    )
    record.add_argument(
        "--allow-negative",
        action="store_true",
        help="accept a negative value for a count or duration metric (a correction)",
    )
    record.add_argument("--allow-future", action="store_true", help=ALLOW_FUTURE_HELP)

    readings = sub.add_parser(
        "readings",
        parents=[common],
        help="list, correct and delete manual readings by id",
        description="List, correct and delete the readings typed with `kpitui record` or the TUI's form. "
        "Each has a stable id, shown by `kpitui readings list`.",
    )
    actions = readings.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser(
        "list",
        parents=[common],
        help="manual readings, newest first, with their ids (the default)",
        description="Manual readings, newest first, with the ids that edit and delete take.",
    )
    listing.add_argument("metric", nargs="?", help="only this metric's readings")
    for parser in (readings, listing):
        parser.add_argument(
            "--limit", type=int, default=DEFAULT_LIMIT, help=f"at most this many (default {DEFAULT_LIMIT}; 0: all)"
        )
        parser.add_argument(
            "--format", choices=("table", "json"), default="table", help="table (default) or json (docs/json.md)"
        )
    edit = actions.add_parser(
        "edit",
        parents=[common],
        help="correct a manual reading's value and/or time",
        description="Correct a manual reading: a new value, a new time (--at), or both. Its id stays.",
    )
    edit.add_argument("id", type=_ident, help="the reading's id (see `kpitui readings list`)")
    edit.add_argument("value", nargs="?", help="the new value (a duration such as 4h 30m for a duration metric)")
    edit.add_argument("--at", metavar="ISO-TIME", help="move it to this time; naive times are on the config's clock")
    edit.add_argument(
        "--allow-negative", action="store_true", help="accept a negative value for a count or duration (a correction)"
    )
    edit.add_argument("--allow-future", action="store_true", help=ALLOW_FUTURE_HELP)
    delete = actions.add_parser(
        "delete",
        parents=[common],
        help="delete manual readings",
        description="Delete manual readings by id; every report and a running dashboard stop counting them.",
    )
    delete.add_argument(
        "ids", nargs="+", type=_ident, metavar="ID", help="the readings' ids (see `kpitui readings list`)"
    )
    return {"record": cmd_record, "readings": cmd_readings}


def _ident(text: str) -> int:
    try:
        value = int(text.lstrip("#"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a reading id (a number shown by `kpitui readings list`)"
        ) from None
    if not 1 <= value < 2**63:  # an SQLite integer (a larger one was an OverflowError)
        raise argparse.ArgumentTypeError(f"{text!r} is not a reading id (a number shown by `kpitui readings list`)")
    return value


def cmd_record(args: argparse.Namespace) -> int:
    from ..options import did_you_mean
    from ..polled import manual_metrics

    config = base.load(args)
    if args.metric not in config.metrics:
        otherwise = f"; metrics: {', '.join(config.metrics)}"
        raise base.UsageError(f"unknown metric {args.metric!r}" + did_you_mean(args.metric, config.metrics, otherwise))
    value = base.typed_value(args.value, config.metrics[args.metric], config)
    base.refuse_negative(config.metrics[args.metric], value, args.allow_negative)
    now = dt.datetime.now(dt.timezone.utc)
    at = base.parse_time(args.at, config.settings.timezone) or now
    base.refuse_future(at, now, args.allow_future, config)
    store: Any = base.open_store(config)
    try:
        reading, replaced = store.record_manual(args.metric, at, value)
        if reading is None:
            _refuse_compacted(config, store, args.metric)
    finally:
        store.close()
    metric = config.metrics[args.metric]
    from ..formatting import format_time, format_value

    def shown(number: float) -> str:
        return format_value(number, metric.unit, metric.decimals, config.settings.currency)

    note = (
        f"; it replaces {shown(replaced)} recorded for that time" if replaced is not None and replaced != value else ""
    )
    print(
        f"recorded {metric.name} = {shown(value)} at {format_time(at, config.settings.timezone, seconds=True)} "
        f"as reading {reading.id}{note}"
    )
    if args.metric not in manual_metrics(config.metrics, config.sources):  # the TUI's form: manual metrics only
        how = "a sum adds it to the count" if metric.aggregation == "sum" else "it is one of the readings it is over"
        print(
            f"note: {metric.name} is fed by the source {metric.source}: this reading is combined with the source's "
            f"by the metric's aggregation ({metric.aggregation}: {how}) "
            f"(kpitui readings delete {reading.id} removes it)",
            file=sys.stderr,
        )
    return base.EXIT_OK


def _refuse_compacted(config: Config, store: HistoryStore, metric: str) -> None:
    from ..formatting import format_time

    before = store.compacted_before(metric)
    shown = format_time(before, config.settings.timezone) if before else "the retention cut-off"
    raise base.Failure(
        f"--at: {metric}'s readings before {shown} are compacted to one row per {config.storage.downsample_to} "
        "([storage] raw_retention_days); nothing was recorded there"
    )


def cmd_readings(args: argparse.Namespace) -> int:
    config = base.load(args)
    action = getattr(args, "action", None) or "list"
    store = _open(config, listing=action == "list")
    try:
        if action == "list":
            return _list(args, config, store)
        if action == "edit":
            return _edit(args, config, store)
        return _delete(args, config, store)
    finally:
        store.close()


def _open(config: Config, *, listing: bool) -> Any:
    """The history, writable; a list of a history that cannot be written is read read-only (without new ids)."""
    from ..store import StoreError

    try:
        return base.open_store(config)
    except StoreError as exc:
        if not listing:
            raise
        failed = exc
    try:
        return base.open_store(config, readonly=True)
    except StoreError:
        raise failed from None  # the first reason says more (it names why it cannot be written)


def _adopt(store: Any, config: Config) -> None:
    """Ids for readings of hand-fed metrics stored before ids existed (skipped when the history cannot be written)."""
    from ..failures import READONLY, kind
    from ..store import StoreError

    try:
        store.adopt_manual(_manual_metrics(config))
    except StoreError as exc:
        if kind(exc) != READONLY:
            raise


def _manual_metrics(config: Config) -> list[str]:
    from ..polled import manual_metrics

    return sorted(manual_metrics(config.metrics, config.sources))


def _shown(config: Config, metric: str, value: float) -> str:
    from ..formatting import format_value

    spec = config.metrics.get(metric)
    if spec is None:
        return f"{value:g}"
    return format_value(value, spec.unit, spec.decimals, config.settings.currency)


def _name(config: Config, metric: str) -> str:
    spec = config.metrics.get(metric)
    return spec.name if spec else metric


def describe(config: Config, reading: ManualReading) -> str:
    """``reading 7: Sales = 3 at 2026-12-01 13:30 EST``."""
    from ..formatting import format_time

    return (
        f"reading {reading.id}: {_name(config, reading.metric)} = {_shown(config, reading.metric, reading.value)} "
        f"at {format_time(reading.at, config.settings.timezone)}"
    )


def _list(args: argparse.Namespace, config: Config, store: Any) -> int:
    from ..formatting import format_time
    from ..options import did_you_mean

    metric = getattr(args, "metric", None)
    if metric is not None and metric not in config.metrics:
        raise base.UsageError(f"unknown metric {metric!r}" + did_you_mean(metric, config.metrics))
    if args.limit < 0:
        raise base.UsageError("--limit must be 0 (all) or more")
    _adopt(store, config)
    rows = store.manual_readings(None if metric is None else [metric], limit=args.limit or None)
    tz = config.settings.timezone
    if args.format == "json":
        data = {
            "schema": 1,
            "timezone": tz,
            "readings": [
                {
                    "id": r.id,
                    "metric": r.metric,
                    "name": _name(config, r.metric),
                    "unit": config.metrics[r.metric].unit if r.metric in config.metrics else None,
                    "at": r.at.astimezone(base.tz(config)).isoformat(),
                    "value": r.value,
                    "shown": _shown(config, r.metric, r.value),
                    "recorded": None if r.recorded is None else r.recorded.astimezone(base.tz(config)).isoformat(),
                }
                for r in rows
            ],
        }
        print(json.dumps(data, indent=2))
        return base.EXIT_OK
    if not rows:
        where = f" of {metric}" if metric else ""
        print(f"no manual readings{where} yet; `kpitui record METRIC VALUE` records one")
        return base.EXIT_OK
    table = [("ID", "Time", "Metric", "Value")] + [
        (str(r.id), format_time(r.at, tz), r.metric, _shown(config, r.metric, r.value)) for r in rows
    ]
    from ..textfit import Fit, fit_table

    # columns in terminal cells, as report's (a 売上 metric or a 円 currency takes two per character, not one)
    fits = (Fit(right=True), Fit(), Fit(), Fit(right=True))
    lines, _ = fit_table(table[0], table[1:], fits, width=None, indent="")
    print("\n".join(lines))
    more = " (newest first; --limit 0 shows all)" if args.limit and len(rows) == args.limit else ""
    print(f"\ncorrect one: kpitui readings edit ID VALUE [--at TIME]; delete: kpitui readings delete ID{more}")
    return base.EXIT_OK


def _edit(args: argparse.Namespace, config: Config, store: Any) -> int:
    from ..manual_readings import ReadingTaken, UnknownReading

    if args.value is None and args.at is None:
        raise base.UsageError("readings edit: give a new VALUE, --at TIME, or both")
    try:
        old = store.manual_reading(args.id)
    except UnknownReading as exc:
        raise base.UsageError(str(exc)) from None
    value = None
    spec = config.metrics.get(old.metric)
    if args.value is not None:
        if spec is None:
            raise base.UsageError(
                f"metric {old.metric!r} is no longer in {config.path.name}; only --at or delete work for its readings"
            )
        value = base.typed_value(args.value, spec, config)
        base.refuse_negative(spec, value, args.allow_negative)
    at = None
    if args.at is not None:
        at = base.parse_time(args.at, config.settings.timezone)
        if at is not None:
            base.refuse_future(at, dt.datetime.now(dt.timezone.utc), args.allow_future, config)
    try:
        before, after = store.correct_manual(args.id, value=value, at=at)
    except UnknownReading as exc:
        raise base.UsageError(str(exc)) from None
    except ReadingTaken as exc:
        raise base.Failure(str(exc)) from None
    print(
        f"corrected {describe(config, before)} -> {_shown(config, after.metric, after.value)} "
        f"at {_when(config, after.at)}"
    )
    return base.EXIT_OK


def _when(config: Config, at: dt.datetime) -> str:
    from ..formatting import format_time

    return format_time(at, config.settings.timezone)


def _delete(args: argparse.Namespace, config: Config, store: Any) -> int:
    from ..manual_readings import UnknownReading

    try:
        gone = store.delete_manual(args.ids)
    except UnknownReading as exc:
        raise base.UsageError(f"{exc}; nothing was deleted") from None
    for reading in gone:
        print(f"deleted {describe(config, reading)}")
    return base.EXIT_OK
