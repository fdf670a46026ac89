"""``kpitui check``, ``kpitui init`` and ``kpitui completion``: a config checked, a starter written, the shell
taught."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .base import EXIT_OK, Failure, UsageError, load

if TYPE_CHECKING:
    from ..config import Config
    from .base import Run, Subparsers


def add_parsers(sub: Subparsers, common: argparse.ArgumentParser) -> dict[str, Run]:
    check = sub.add_parser("check", parents=[common], help="validate the config without collecting")
    check.add_argument(
        "--strict",
        action="store_true",
        help="make warnings errors (for CI): exit 2 when a source's path does not exist or cannot be read, "
        "1 when a plugin failed to load",
    )

    init = sub.add_parser("init", help="write a starter config")
    init.add_argument("path", nargs="?", default="kpitui.toml", help="where to write it (default: ./kpitui.toml)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")

    completion = sub.add_parser(
        "completion", help='print the shell completion script: eval "$(kpitui completion bash)"'
    )
    completion.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell: bash, zsh or fish")
    return {"check": cmd_check, "init": cmd_init, "completion": cmd_completion}


def cmd_check(args: argparse.Namespace) -> int:
    from ..location import describe
    from ..preflight import source_warnings

    config = load(args)
    problems = config.registry.errors
    notes: list[str] = []
    paths = source_warnings(config, notes)
    paths += [f"kpis.{kpi.id}: {kpi.unit_warning}" for kpi in config.kpis.values() if kpi.unit_warning]
    for problem in [*problems, *paths]:
        print(f"warning: {problem}", file=sys.stderr)
    count = len(problems) + len(paths)
    if count and getattr(args, "strict", False):
        message = f"{config.path}: {count} warning{'s' if count != 1 else ''}, an error under --strict"
        if paths:  # a source that cannot read its path, a unit that misreads: a mistake in the config, exit 2
            raise UsageError(message)
        raise Failure(message)
    key = sum(1 for m in config.metrics.values() if m.is_key)
    sources = [s for s in config.sources if config.metrics_of(s)]
    if config.storage.url is not None:  # a PostgreSQL history: no file of this config's own
        from ..options import OptionError
        from ..postgres_store import display_url

        try:
            where = display_url(config.storage.url.reveal())  # the server and database, never the password
        except OptionError:
            where = config.storage.url.template
        history = f"history in {where} ([storage] url, as instance {config.storage.instance})"
    else:
        history = describe(config)
    notes += _history_notes(config)
    print(
        f"{config.path}: OK — {len(sources)} sources, {len(config.metrics)} metrics ({key} key), "
        f"{len(config.kpis)} KPIs, {len(config.objectives)} objectives; {history}"
    )
    for note in notes:  # a file a source creates as it runs (the demo's log) is no warning
        print(f"  note: {note}")
    for kpi in config.kpis.values():
        if kpi.unit_from:  # say where a unit nobody typed came from (unit = "..." in the table sets another)
            print(f"  kpis.{kpi.id}: unit {kpi.unit} ({kpi.unit_from}; no unit in its table)")
    return EXIT_OK


def _history_notes(config: Config) -> list[str]:
    """What the history holds that the config does not name: a metric renamed in the config starts with no history
    under its new id (its readings stay under the old one), which the report and the dashboard can only show as no
    data. Only an SQLite history that exists is read (check creates nothing and reaches no server); a file that is not a
    kpitui history (another program's, not SQLite, a folder) fails the check as it would stop the dashboard."""
    from ..history_store import open_history
    from ..store_common import StoreError

    if config.storage.url is not None or not Path(config.storage.path).exists():
        return []
    try:
        store = open_history(config, readonly=True)
        try:
            stored = store.metric_names()
        finally:
            store.close()
    except StoreError as exc:  # another program's file, not SQLite at all, a newer kpitui's: the dashboard would stop
        raise Failure(f"{config.path}: [storage] path: {exc}") from None
    except Exception:  # anything else: `kpitui history check` says what is wrong with the file
        return []
    gone = [name for name in stored if name not in config.metrics]
    if not gone:
        return []
    shown = ", ".join(gone[:8]) + (f" and {len(gone) - 8} more" if len(gone) > 8 else "")
    without = [m for m in config.metrics if m not in stored]
    hint = f"; metrics of this config without readings: {', '.join(without[:8])}" if without else ""
    return [
        f"the history holds readings of {len(gone)} metric{'s' if len(gone) != 1 else ''} this config does not have: "
        f"{shown} (a metric renamed in the config starts with no history under its new id{hint})"
    ]


def cmd_completion(args: argparse.Namespace) -> int:
    from ..completion import script

    sys.stdout.write(script(args.shell))
    return EXIT_OK


def cmd_init(args: argparse.Namespace) -> int:
    from ..starter import starter_config

    path = Path(args.path)
    if path.is_symlink() and not path.exists():
        # writing would create the link's target, wherever it points
        raise UsageError(
            f"{path} is a symbolic link to {os.readlink(path)}, which does not exist; refusing to write through it"
        )
    if path.exists() and not args.force:
        raise UsageError(f"{path} already exists; use --force to overwrite it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(starter_config(), encoding="utf-8")
    except OSError as exc:
        raise Failure(f"cannot write {path}: {exc}") from None
    print(f"wrote {path}; try `kpitui check --config {path}` then `kpitui --config {path}`")
    return EXIT_OK
