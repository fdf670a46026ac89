"""``kpitui annotate`` and ``kpitui annotations``: dated notes that explain the numbers.

::

    kpitui annotate TEXT [--at TIME] [--kpi ID | --metric ID | --all]
    kpitui annotations [list] [--kpi ID | --metric ID] [--since TIME] [--limit N] [--format table|json]
    kpitui annotations edit ID [TEXT] [--at TIME] [--kpi ID | --metric ID | --all]
    kpitui annotations delete ID [ID ...]

An annotation is about every KPI (``--all``, the default), one KPI, or one
metric (and every KPI that reads it). The detail chart marks it; ``report``
and ``series`` JSON list it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from . import base

if TYPE_CHECKING:
    import datetime as dt

    from ..annotations import Annotation, AnnotationStore
    from ..config import Config
    from ..engine import Engine
    from ..model import Snapshot
    from .base import Run, Subparsers

DEFAULT_LIMIT = 50


def _subject(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--kpi", metavar="ID", help="about this KPI")
    group.add_argument("--metric", metavar="ID", help="about this metric and every KPI that reads it")
    group.add_argument("--all", action="store_true", help="about everything (the default for a new annotation)")


def add_parsers(sub: Subparsers, common: argparse.ArgumentParser) -> dict[str, Run]:
    annotate = sub.add_parser(
        "annotate",
        parents=[common],
        help="add a dated note that explains the numbers (an annotation)",
        description='Add an annotation: a dated note ("Launched the webinar ads") shown as a marker on the detail '
        "chart and listed in report and series JSON.",
    )
    annotate.add_argument("text", help='what happened, e.g. "Launched the webinar ads"')
    annotate.add_argument("--at", metavar="TIME", help="when (default: now); naive times are on the config's clock")
    _subject(annotate)

    annotations = sub.add_parser(
        "annotations",
        parents=[common],
        help="list, edit and delete annotations by id",
        description="List, edit and delete the annotations added with `kpitui annotate` or the TUI.",
    )
    actions = annotations.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser(
        "list", parents=[common], help="annotations, newest first, with their ids (the default)"
    )
    for parser in (annotations, listing):
        parser.add_argument("--kpi", metavar="ID", help="only those about this KPI (its metrics' and everything's too)")
        parser.add_argument("--metric", metavar="ID", help="only those about this metric (and everything's)")
        parser.add_argument("--since", metavar="TIME", help="only those at or after this time")
        parser.add_argument(
            "--limit", type=int, default=DEFAULT_LIMIT, help=f"at most this many (default {DEFAULT_LIMIT}; 0: all)"
        )
        parser.add_argument(
            "--format", choices=("table", "json"), default="table", help="table (default) or json (docs/json.md)"
        )
    edit = actions.add_parser("edit", parents=[common], help="change an annotation's text, time or subject")
    edit.add_argument("id", type=_ident, help="the annotation's id (see `kpitui annotations list`)")
    edit.add_argument("text", nargs="?", help="the new text")
    edit.add_argument("--at", metavar="TIME", help="move it to this time")
    _subject(edit)
    delete = actions.add_parser("delete", parents=[common], help="delete annotations")
    delete.add_argument("ids", nargs="+", type=_ident, metavar="ID", help="the annotations' ids")
    return {"annotate": cmd_annotate, "annotations": cmd_annotations}


def _ident(text: str) -> int:
    try:
        value = int(text.lstrip("#"))
    except ValueError:
        value = 0
    if not 1 <= value < 2**63:  # an SQLite integer (a larger one was an OverflowError)
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an annotation id (a number shown by `kpitui annotations list`)"
        )
    return value


def _check_subject(args: argparse.Namespace, config: Config) -> tuple[str | None, str | None]:
    from ..options import did_you_mean

    kpi, metric = getattr(args, "kpi", None), getattr(args, "metric", None)
    for flag, value, known in (("--kpi", kpi, config.kpis), ("--metric", metric, config.metrics)):
        if value is not None and value not in known:
            raise base.UsageError(f"{flag}: no {flag[2:]} {value!r} in the config" + did_you_mean(value, known))
    return kpi, metric


def _open(config: Config) -> AnnotationStore:
    """The annotation table of the history, writable (the history is created or upgraded first)."""
    from ..annotations import AnnotationStore

    store = base.open_store(config)
    store.close()
    return AnnotationStore(config.storage.path)


def cmd_annotate(args: argparse.Namespace) -> int:
    import datetime as dt

    from ..annotations import AnnotationError

    config = base.load(args)
    kpi, metric = _check_subject(args, config)
    at = base.parse_time(args.at, config.settings.timezone) or dt.datetime.now(dt.timezone.utc)
    try:
        with _open(config) as store:
            note = store.add(args.text, at, kpi=kpi, metric=metric)
    except AnnotationError as exc:
        raise base.UsageError(str(exc)) from None
    print(f"annotation {note.id} at {base.format_time(note.at, config)} about {_about(note, config)}: {note.text}")
    return 0


def _about(note: Annotation, config: Config) -> str:
    if note.kpi:
        kpi = config.kpis.get(note.kpi)
        return f"KPI {kpi.name if kpi else note.kpi}"
    if note.metric:
        metric = config.metrics.get(note.metric)
        return f"metric {metric.name if metric else note.metric}"
    return "everything"


def cmd_annotations(args: argparse.Namespace) -> int:
    from ..annotations import AnnotationError

    config = base.load(args)
    action = getattr(args, "action", None) or "list"
    try:
        if action == "list":
            return _list(args, config)
        with _open(config) as store:
            if action == "edit":
                kpi, metric = _check_subject(args, config)
                subject = {}
                if kpi is not None or metric is not None or args.all:
                    subject = {"kpi": kpi, "metric": metric}
                if args.text is None and args.at is None and not subject:
                    raise base.UsageError(
                        "annotations edit: give new TEXT, --at, or a new subject (--kpi, --metric, --all)"
                    )
                at = base.parse_time(args.at, config.settings.timezone)
                note = store.edit(args.id, text=args.text, at=at, **subject)
                print(
                    f"annotation {note.id} at {base.format_time(note.at, config)} "
                    f"about {_about(note, config)}: {note.text}"
                )
            else:
                for note in store.delete(args.ids):
                    print(f"deleted annotation {note.id}: {note.text}")
    except AnnotationError as exc:
        raise base.UsageError(str(exc)) from None
    return 0


def _list(args: argparse.Namespace, config: Config) -> int:
    from ..annotations import as_dict, gather
    from ..engine import Engine

    kpi, metric = _check_subject(args, config)
    since = base.parse_time(args.since, config.settings.timezone)
    if args.limit < 0:
        raise base.UsageError("--limit must be 0 (all) or more")
    notes = list(reversed(gather(config, since)))  # newest first
    engine = Engine(config)
    metrics_of = {kid: engine.metrics_of(kid) for kid in config.kpis}
    if kpi is not None:
        notes = [n for n in notes if n.about(kpi, metrics_of[kpi])]
    elif metric is not None:
        notes = [n for n in notes if n.about(None, [metric])]
    if args.limit:
        notes = notes[: args.limit]
    if args.format == "json":
        from ..annotations import kpis_about

        data = {
            "schema": 1,
            "timezone": config.settings.timezone,
            "annotations": [as_dict(n, config.settings.timezone, kpis_about(n, metrics_of)) for n in notes],
        }
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    if not notes:
        print(
            "no annotations"
            + (" about that" if kpi or metric else "")
            + ' (add one: kpitui annotate "what happened" --at TIME)'
        )
        return 0
    for n in notes:  # a note an annotation source supplies has no id (it is not stored): its source instead
        ident = f"{n.id:>4}" if n.id is not None else "   -"
        where = f"  (from annotation source {n.source})" if n.id is None and getattr(n, "source", None) else ""
        sys.stdout.write(f"{ident}  {base.format_time(n.at, config)}  {_about(n, config)}: {n.text}{where}\n")
    return 0


# -- annotations in report and series output ----------------------------------------------------


def report_annotations(config: Config, engine: Engine, snapshot: Snapshot) -> list[dict[str, Any]]:
    """The annotations over the span a report shows (the earliest sparkline bucket or comparison
    period up to its time), each with the KPIs it is about (``report --format json``)."""
    from ..annotations import as_dict, gather, kpis_about

    starts = [r.previous_period.start for r in snapshot.kpis.values()] + [
        r.series[0][0] for r in snapshot.kpis.values() if r.series
    ]
    if not starts:
        return []
    metrics_of = {kid: engine.metrics_of(kid) for kid in config.kpis}
    return [
        as_dict(n, config.settings.timezone, kpis_about(n, metrics_of))
        for n in gather(config, min(starts), snapshot.at)
    ]


def series_annotations(
    config: Config, engine: Engine, ident: str, start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """The annotations about a KPI or a metric between ``start`` and ``end`` (``series --format json``)."""
    from ..annotations import as_dict, gather

    notes = gather(config, start, end)
    if ident in config.metrics:
        notes = [n for n in notes if n.about(None, [ident])]
    else:
        notes = [n for n in notes if n.about(ident, engine.metrics_of(ident))]
    return [as_dict(n, config.settings.timezone) for n in notes]
