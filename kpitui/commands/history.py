"""``kpitui history``: look after the history: back it up, check it, recover it, copy it between SQLite
and PostgreSQL."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from .base import EXIT_OK, Failure, UsageError, load, open_store

if TYPE_CHECKING:
    from ..config import Config
    from .base import Run, Subparsers


def add_parsers(sub: Subparsers, common: argparse.ArgumentParser) -> dict[str, Run]:
    history = sub.add_parser(
        "history", parents=[common], help="look after the history file: backup DEST, check, recover NEW"
    )
    actions = history.add_subparsers(dest="history_command", metavar="ACTION", required=True)
    backup = actions.add_parser(
        "backup", parents=[common], help="copy the history to a new file DEST while collectors keep writing"
    )
    backup.add_argument("dest", metavar="DEST", help="the new file (never overwritten)")
    actions.add_parser(
        "check", parents=[common], help="check every page of the history for damage (takes a while on a big one)"
    )
    recover = actions.add_parser(
        "recover", parents=[common], help="copy every readable reading of a damaged history into a new file NEW"
    )
    recover.add_argument("dest", metavar="NEW", help="the new history file (never overwritten)")
    copy = actions.add_parser(
        "copy",
        parents=[common],
        help="copy a history between SQLite and PostgreSQL: FROM and TO are file paths or postgresql:// URLs",
    )
    copy.add_argument(
        "source", metavar="FROM", help="an SQLite history file, or a PostgreSQL URL (postgresql://..., or ${ENV_VAR})"
    )
    copy.add_argument(
        "dest",
        metavar="TO",
        help="an SQLite history file or a PostgreSQL URL, new or empty (or an earlier copy of FROM: run again, "
        "the copy writes only what is missing)",
    )
    copy.add_argument(
        "--instance",
        metavar="NAME",
        help="whose cursors to copy from a PostgreSQL FROM, and the instance a PostgreSQL TO's readings and "
        "cursors belong to (default: [storage] instance, the host name)",
    )
    actions.add_parser(
        "init",
        parents=[common],
        help="create or upgrade the PostgreSQL history in [storage] url (run once as its owner)",
    )
    return {"history": cmd_history}


def cmd_history(args: argparse.Namespace) -> int:
    """``kpitui history backup DEST`` and ``kpitui history check`` (:mod:`kpitui.maintenance`)."""
    from ..maintenance import damaged_message
    from ..sqlite_store.recovery import recover
    from ..store import Store, StoreError

    config = load(args)
    if args.history_command in ("copy", "init"):
        return copy_or_init(args, config)
    if config.storage.url is not None:  # these read and write SQLite pages: a PostgreSQL history has none
        raise UsageError(
            f"history {args.history_command} works on an SQLite history file; "
            "[storage] url names a PostgreSQL history: back it up and check it with PostgreSQL's own tools "
            "(pg_dump, amcheck), or copy it into a file with `kpitui history copy`"
        )
    if args.history_command == "recover":
        dest = Path(args.dest).expanduser()
        try:
            readings, metrics, skipped = recover(config.storage.path, dest)
        except FileExistsError as exc:
            raise Failure(str(exc)) from None
        lost = f"; {skipped} damaged range(s) could not be read" if skipped else ""
        print(
            f"recovered {readings:,} readings of {metrics} metric(s) into {dest}{lost}; "
            f"stop kpitui, then move it to {config.storage.path}"
        )
        return EXIT_OK
    store = open_store(config, readonly=True)
    assert isinstance(store, Store)  # no [storage] url: an SQLite file
    try:
        if args.history_command == "backup":
            dest = Path(args.dest).expanduser()
            from ..progress import command_bar

            with command_bar("backup", getattr(args, "quiet", 0)) as report:  # a bar on a terminal only
                found = store.backup(dest, progress=report)
            if found != "ok":
                raise Failure(f"backed up {store.path} to {dest}, but the copy is damaged: {found.splitlines()[0]}")
            print(f"backed up {store.path} to {dest} ({dest.stat().st_size:,} bytes, checked: ok)")
        else:
            found = store.integrity_check()
            if found != "ok":
                raise Failure(damaged_message(store.path, found.splitlines()[0]))
            print(f"{store.path}: ok (every page checked)")
    except StoreError as exc:
        raise Failure(str(exc)) from None
    finally:
        store.close()
    return EXIT_OK


def copy_notes(args: argparse.Namespace, side: Path) -> int:
    """Copy annotations from FROM's file to TO's (a PostgreSQL history keeps them in ``[storage] path``)."""
    from ..annotations import AnnotationError, copy_annotations
    from ..history_copy import is_url

    def where(location: str) -> Path:
        return side if is_url(location) else Path(location).expanduser()

    source, target = where(args.source), where(args.dest)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        return copy_annotations(source, target)
    except AnnotationError as exc:
        raise Failure(f"copied the readings, but not the annotations: {exc}") from None


def copy_or_init(args: argparse.Namespace, config: Config) -> int:
    """``kpitui history copy FROM TO`` and ``kpitui history init`` (:mod:`kpitui.history_copy`)."""
    from ..history_copy import copy_history, open_location
    from ..store import StoreError

    try:
        if args.history_command == "init":
            if config.storage.url is None:
                raise UsageError(
                    "history init: [storage] url is not set (an SQLite history is created when first used)"
                )
            from ..postgres_store import PostgresStore

            with open_store(config) as store:
                assert isinstance(store, PostgresStore)  # [storage] url is set
                print(f"kpitui history in {store.where}: schema version {store.schema_version()}, ready")
            return EXIT_OK
        instance = args.instance or config.storage.instance
        side = config.storage.path
        with open_location(args.source, readonly=True, instance=instance, side=side) as source:
            with open_location(args.dest, readonly=False, instance=instance, side=side) as target:
                from ..progress import command_bar

                with command_bar(
                    "copy", getattr(args, "quiet", 0), unit="readings"
                ) as report:  # a bar on a terminal only
                    copied = copy_history(source, target, progress=report)
                notes = copy_notes(args, side)
                merged = (
                    f"; {copied.manual_merged} manual reading(s) stood at the same time as another instance's "
                    "and are summed with it into one row, no longer editable by id"
                    if copied.manual_merged
                    else ""
                )
                there = f" ({copied.unchanged:,} of them already there)" if copied.unchanged else ""
                print(
                    f"copied {copied.readings:,} readings{there} of {copied.metrics} metric(s), {copied.manual} manual "
                    f"reading id(s), {copied.cursors} cursor(s) and {notes} annotation(s) "
                    f"from {source.where} to {target.where}{merged}"
                )
    except StoreError as exc:
        raise Failure(str(exc)) from None
    return EXIT_OK
