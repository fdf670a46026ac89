"""``kpitui report`` and ``kpitui series``: KPIs as of a moment, and a metric's or KPI's value per bucket."""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Any

from . import base
from .base import EXIT_FAILURE, EXIT_OK, UsageError, format_time, load, open_viewer, parse_time

if TYPE_CHECKING:
    from ..config import Config
    from ..engine import Engine
    from ..explain import Explanation
    from ..history import History
    from ..history_store import HistoryStore
    from ..model import Period, Snapshot, SourceHealth
    from .base import Run, Subparsers


def add_parsers(sub: Subparsers, common: argparse.ArgumentParser) -> dict[str, Run]:
    report = sub.add_parser("report", parents=[common], help="print KPI values, comparisons and statuses")
    report.add_argument(
        "--format",
        choices=("table", "json", "csv", "markdown", "html"),
        default="table",
        help="table (default, fits the terminal), json (docs/json.md), csv, markdown or html",
    )
    report.add_argument("--at", metavar="ISO-TIME", help="evaluate as of this time (reproducible reports)")
    report.add_argument(
        "--window",
        metavar="WINDOW",
        help="evaluate every KPI over this window, e.g. month_to_date, last_quarter, trailing_30d",
    )
    report.add_argument("--no-collect", action="store_true", help="do not poll sources that are due before reporting")
    report.add_argument(
        "--explain",
        action="store_true",
        help="say why each KPI moved: its change against the previous period split by input (table or json)",
    )
    report.add_argument(
        "--instance",
        metavar="NAME",
        help="only the readings collector instance NAME wrote "
        "(a PostgreSQL history shared by several collectors: [storage] instance)",
    )
    report.add_argument(
        "--width",
        type=int,
        metavar="COLUMNS",
        help="fit the table in this many columns, dropping the least important ones "
        "(default: $COLUMNS or the terminal's width; 0: no limit; a file or pipe gets every column)",
    )

    series = sub.add_parser("series", parents=[common], help="a metric's or KPI's value per bucket (day, week, ...)")
    series.add_argument("id", help="a metric or KPI id")
    series.add_argument(
        "--grain",
        choices=("hour", "day", "week", "month", "quarter", "year"),
        default="day",
        help="bucket size (default: day)",
    )
    series.add_argument(
        "--points",
        type=int,
        default=14,
        help=(
            "how many buckets, ending with the one holding --at (a KPI over a complete period such as "
            "last_week: that period's last) (default 14)"
        ),
    )
    series.add_argument("--at", metavar="ISO-TIME", help="end at this time instead of now")
    series.add_argument(
        "--format",
        choices=("table", "json", "csv"),
        default="table",
        help="table (default), json (docs/json.md) or csv",
    )
    series.add_argument(
        "--compare",
        choices=("previous", "last_year"),
        help="also each bucket one period earlier (previous) or the same bucket a year earlier (last_year), "
        "and the difference",
    )
    series.add_argument(
        "--instance",
        metavar="NAME",
        help="only the readings collector instance NAME wrote (a PostgreSQL history shared by several collectors)",
    )
    return {"report": cmd_report, "series": cmd_series}


def cmd_report(args: argparse.Namespace) -> int:
    from ..engine import Engine
    from ..history import one_shot
    from ..periods import PeriodError, parse_window
    from ..polled import manual_metrics
    from ..report import to_csv, to_json, to_table
    from ..scorecard import title_of, to_html, to_markdown

    if args.width is not None and args.width < 0:
        raise UsageError("--width must be 0 (no limit) or a number of columns")
    if args.explain and args.format not in ("table", "json"):
        raise UsageError(f"--explain works with --format table or json, not {args.format}")
    config = load(args)
    at = parse_time(args.at, config.settings.timezone)
    if args.window:
        try:
            parse_window(args.window)
        except PeriodError as exc:
            raise UsageError(f"--window: {exc}") from None
    store = open_viewer(config, instance=args.instance, readonly=args.instance is not None)
    try:
        with contextlib.redirect_stdout(
            sys.stderr
        ):  # a plugin's print() in fetch or a formula never lands in the report
            if not args.no_collect and at is None and not store.readonly:
                _collect_due(config, store)
            history = one_shot(store)
            engine = Engine(config)
            snapshot = engine.evaluate(history, at, window=args.window, health=store.health())
            explanations = _explain(engine, history, snapshot, args.window) if args.explain else None
    finally:
        store.close()
    if args.format == "json":
        from ..explain import as_dict
        from .annotations import report_annotations

        notes = report_annotations(config, engine, snapshot)
        print(
            to_json(
                snapshot,
                None if explanations is None else {k: as_dict(e) for k, e in explanations.items()},
                annotations=notes,
                manual=manual_metrics(config.metrics, config.sources),
            )
        )
    elif args.format == "csv":
        sys.stdout.write(to_csv(snapshot))
    elif args.format in ("markdown", "html"):
        render = to_markdown if args.format == "markdown" else to_html
        sys.stdout.write(
            render(snapshot, config.settings.currency, title_of(snapshot, config.path.name, config.settings.timezone))
        )
    else:
        from ..console import output_width

        snapshot = _with_trend_marks(config, engine, snapshot)
        title = f"{config.path.name} — KPIs as of {format_time(snapshot.at, config)}"
        manual = manual_metrics(config.metrics, config.sources) if at is None else None
        sys.stdout.write(to_table(snapshot, config.settings.currency, title, output_width(args.width), manual))
        if explanations is not None:
            from ..explain import one_line

            names = {
                **{m: metric.name for m, metric in config.metrics.items()},
                **{k: kpi.name for k, kpi in config.kpis.items()},
            }
            sys.stdout.write("\nWhy it moved (change against the previous period, split by input):\n")
            for kid, explanation in explanations.items():
                sys.stdout.write(f"  {one_line(snapshot.kpis[kid], explanation, names, config.settings.currency)}\n")
            from .annotations import report_annotations

            notes = report_annotations(config, engine, snapshot)
            if notes:
                sys.stdout.write("\nAnnotations over the periods shown (kpitui annotations list):\n")
                for note in notes:
                    about = ", ".join(names.get(k, k) for k in note["kpis"]) or "no KPI"
                    sys.stdout.write(f"  {note['at'][:16].replace('T', ' ')}  {note['text']}  ({about})\n")
    return EXIT_OK


def _with_trend_marks(config: Config, engine: Engine, snapshot: Snapshot) -> Snapshot:
    """``snapshot`` with each KPI's trend buckets that hold an annotation (marked ▲ in the Trend column)."""
    import dataclasses

    from ..annotations import trend_marks

    try:
        return dataclasses.replace(snapshot, annotated=trend_marks(config, snapshot, engine.metrics_of))
    except Exception:  # noqa: BLE001 - annotations are extra (as in the TUI): a failing source leaves no marks
        return snapshot


def _explain(engine: Engine, history: History, snapshot: Snapshot, window: str | None) -> dict[str, Explanation]:
    from ..explain import explain

    return explain(engine, history, snapshot, window=window)


def _due(health: SourceHealth | None, now: dt.datetime, interval: float) -> bool:
    """Never polled, failing, or its interval passed since its last success."""
    if health is None or health.error is not None or health.last_success is None:
        return True
    return (now - health.last_success).total_seconds() >= interval


def _collect_due(config: Config, store: HistoryStore) -> None:
    """Poll the sources whose interval has passed since their last success (so a first report has data),
    and those whose last poll failed (the user may just have fixed it: a success clears the error)."""
    from ..collector import Collector

    health = store.health()
    now = dt.datetime.now(dt.timezone.utc)
    collector = Collector(config, store)
    try:
        due = [sid for sid in collector.sources if _due(health.get(sid), now, config.sources[sid].interval)]
        for result in collector.run_once(due):  # a backlog is read to its end: the report counts all of it
            if result.error:
                import logging

                logging.getLogger("kpitui.report").warning("source %s: %s", result.source, result.error)
    finally:
        collector.close()


def cmd_series(args: argparse.Namespace) -> int:
    """Bucket values of a KPI, or of a metric (by its own aggregation rule), from the stored history."""
    from ..engine import Engine
    from ..history import one_shot
    from ..options import did_you_mean

    config = load(args)
    if args.points < 1 or args.points > 10_000:
        raise UsageError("--points must be between 1 and 10000")
    ids = [*config.metrics, *config.kpis]
    if args.id not in ids:
        raise UsageError(f"unknown metric or KPI {args.id!r}" + did_you_mean(args.id, ids))
    is_metric = args.id in config.metrics
    shown = config.metrics[args.id] if is_metric else config.kpis[args.id]
    unit, decimals = shown.unit, shown.decimals
    at = parse_time(args.at, config.settings.timezone) or dt.datetime.now(dt.timezone.utc)
    store = open_viewer(config, readonly=True, instance=args.instance)
    try:
        history = one_shot(store)
        with contextlib.redirect_stdout(sys.stderr):  # a plugin formula's print() stays out of the output
            engine = Engine(config)
            chart = engine.metric_series if is_metric else engine.series  # a metric by its own aggregation rule
            rows = chart(
                history, args.id, now=at, grain=args.grain, points=args.points, compare=args.compare or "previous"
            )
    finally:
        store.close()
    # a KPI whose formula (or a KPI it reads) failed has no values: say why, as report does, not a column of "—"
    problem = None if is_metric else engine.compiler.broken_dependency(args.id)
    tz = base.tz(config)
    from ..report import _num  # numbers as in every JSON document (docs/json.md)

    if args.format in ("json", "csv"):
        ends = bucket_ends(config, args.id, args.grain, [start for start, _, _ in rows], at)
    if args.format == "json":
        from .annotations import series_annotations

        points = [
            {"start": start.astimezone(tz).isoformat(), "end": end.astimezone(tz).isoformat(), "value": _num(value)}
            for (start, value, _), end in zip(rows, ends)
        ]
        undefined: frozenset[int] = getattr(rows, "undefined", frozenset())
        for i in sorted(undefined):  # null from inputs with data (÷ 0): why, beside the null (docs/json.md)
            points[i]["undefined"] = getattr(rows, "undefined_reason", "")
        if args.compare:  # the comparison bucket's value and the difference (null when either has no data)
            for point, (_, value, other) in zip(points, rows):
                point.update(
                    compare=_num(other), difference=None if value is None or other is None else _num(value - other)
                )
        notes = series_annotations(config, engine, args.id, rows[0][0], at) if rows else []
        print(
            json.dumps(
                {
                    "schema": 1,
                    "id": args.id,
                    "kind": "metric" if is_metric else "kpi",
                    "unit": unit or "number",
                    "grain": args.grain,
                    "points": points,
                    "annotations": notes,
                    **({"error": problem} if problem else {}),
                },
                indent=2,
            )
        )
    elif args.format == "csv":

        def cell(number: float | None) -> str:
            return "" if number is None else str(_num(number))

        from ..report import _text  # a text cell as the report's CSV writes it (no spreadsheet formula)

        # "end" (as in JSON: where the bucket's value stops) and then "undefined" (as JSON's: why a bucket's value
        # is empty while its inputs have data, ÷ 0 or an overflow) last, so the columns before them keep their places
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["start", "value", *(("compare", "difference") if args.compare else ()), "end", "undefined"])
        undefined_at: frozenset[int] = getattr(rows, "undefined", frozenset())
        why = _text(getattr(rows, "undefined_reason", ""))
        for i, ((start, value, other), end) in enumerate(zip(rows, ends)):
            line = [start.astimezone(tz).isoformat(), cell(value)]
            if args.compare:  # as in JSON: the comparison bucket's value and the difference (empty: no data)
                line += [cell(other), cell(None if value is None or other is None else value - other)]
            writer.writerow([*line, end.astimezone(tz).isoformat(), why if i in undefined_at else ""])
    else:
        lines = series_table(config, shown.name, unit, decimals, rows, args, at)
        if problem:
            lines.insert(1, f"no values: {problem}")
        sys.stdout.write("".join(f"{line}\n" for line in lines))
    if problem:
        print(f"kpitui: series {args.id}: {problem}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def series_table(
    config: Config,
    name: str,
    unit: str,
    decimals: int | None,
    rows: list[Any],
    args: argparse.Namespace,
    at: dt.datetime,
) -> list[str]:
    """``Lead Generation (count) by week, as of …``, then one line per bucket: its start, its value, with
    ``--compare`` the earlier bucket's value and the difference; a bucket still running says so."""
    from .. import periods
    from ..formatting import format_change, format_value

    currency, cal = config.settings.currency, periods.Calendar.from_settings(config.settings)

    def shown(value: float | None) -> str:
        return format_value(value, unit or "number", decimals, currency)

    win = periods.parse_window(config.kpis[args.id].window if args.id in config.kpis else "today")
    back = periods.earlier_text(win, args.grain)  # the KPI's window (a metric's: today), or the grain
    earlier = {"previous": back, "last_year": "a year earlier"}.get(args.compare or "", "")
    stop = series_end(config, args.id, at)
    head = f"{name} ({unit or 'number'}) per {args.grain}, as of {format_time(at, config)}"
    lines = [head + (f"; vs the same {args.grain} {earlier}" if earlier else "")]
    lines.append(
        f"{args.grain + ' starting':<22}{'value':>12}" + (f"{earlier:>20}{'difference':>14}" if earlier else "")
    )
    undefined: frozenset[int] = getattr(rows, "undefined", frozenset())
    for i, (start, value, other) in enumerate(rows):
        line = f"{format_time(start, config)}  {('undefined' if i in undefined else shown(value)):>12}"
        if earlier:  # a number wider than its column still has a space before it
            difference = None if value is None or other is None else value - other
            line += f" {shown(other):>19} {format_change(difference, None, unit, decimals, currency):>13}"
        if start <= stop.end < periods.bucket_end(start, args.grain, cal):
            if stop.closed:  # the bucket still running at --at
                line += f"  (so far: to {format_time(at, config)[11:]})"
            else:  # a KPI over a complete period (last_week) stops at its end, inside the bucket
                line += f"  (to {format_time(stop.end, config)}: the end of {stop.label})"
        lines.append(line)
    if undefined:
        why = getattr(rows, "undefined_reason", "")
        has = (
            "the inputs have data but the formula gives"
            if args.id in config.kpis
            else "the readings are there but give"
        )
        lines.append(f"undefined: {has} no number ({why})")
    return lines


def bucket_ends(
    config: Config, ident: str, grain: str, starts: list[dt.datetime], at: dt.datetime
) -> list[dt.datetime]:
    """Where each bucket's value stops: the bucket's end, or for the last one where the series stops (``at``
    for a bucket still running, a complete window's end inside it: see :func:`series_end`)."""
    from .. import periods

    cal, until = periods.Calendar.from_settings(config.settings), series_end(config, ident, at).end
    return [min(periods.bucket_end(start, grain, cal), until) for start in starts]


def series_end(config: Config, ident: str, at: dt.datetime) -> Period:
    """The period whose end the series' last bucket stops at: the KPI's window as of ``at`` (a metric's:
    today). A to-date window ends at ``at`` (``closed``); a complete one (``last_week``) at its own end,
    before ``at``: the chart ends with that period, so its last bucket holds nothing later."""
    from .. import periods

    window = config.kpis[ident].window if ident in config.kpis else "today"
    return periods.resolve(periods.parse_window(window), at, periods.Calendar.from_settings(config.settings))
