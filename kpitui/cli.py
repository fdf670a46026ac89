"""The ``kpitui`` command: tui (default), check, collect, record, report, plugins, init, compact.

Exit codes: 0 success, 1 a runtime failure, 2 a mistake in the config or the
command line. A user's mistake is one clear message on stderr, never a
traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Sequence

from . import __version__

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A command-line mistake: printed, exit code 2."""


def _err(message: str) -> None:
    # One line, and no control characters: a table name or an error body may hold "\r" or an escape sequence.
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)
    print(f"kpitui: {shown}", file=sys.stderr)


def _parse_time(text: str | None, timezone: str = "UTC") -> dt.datetime | None:
    """ISO time; a naive one is in the config's time zone."""
    if text is None:
        return None
    from .periods import PeriodError, parse_time

    try:
        return parse_time(text, timezone)
    except PeriodError as exc:
        raise UsageError(f"--at: {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", metavar="PATH", default=argparse.SUPPRESS, help="config file (default: ./kpitui.toml, then the user config, then the bundled sample)")
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help="log more: debug lines, e.g. every poll of `collect --every` (repeatable)")
    common.add_argument("-q", "--quiet", action="count", default=argparse.SUPPRESS, help="log only warnings and errors")

    parser = argparse.ArgumentParser(
        prog="kpitui",
        description="Objectives, key metrics and KPIs in the terminal.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"kpitui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    tui = sub.add_parser("tui", parents=[common], help="open the dashboard (the default)")
    tui.add_argument("--no-collect", action="store_true", help="only view; leave collecting to `kpitui collect`")
    tui.add_argument("--read-only", action="store_true", help="refuse adding readings (what `kpitui serve` runs without --allow-write)")

    check = sub.add_parser("check", parents=[common], help="validate the config without collecting")
    check.add_argument("--strict", action="store_true", help="make warnings errors (for CI): exit 2 when a source's path does not exist or cannot be read, 1 when a plugin failed to load")

    collect = sub.add_parser("collect", parents=[common], help="poll sources into the history")
    mode = collect.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="poll every source once and exit")
    mode.add_argument("--every", metavar="DURATION", help="poll every source this often, e.g. 30s, 5m, 1h (default: each source's own interval)")

    record = sub.add_parser("record", parents=[common], help="record a manual reading")
    record.add_argument("metric", help="metric id, e.g. memberships_sold")
    record.add_argument("value", help="the number; for a duration metric a duration such as 90m, 4h 30m or 9d")
    record.add_argument("--at", metavar="ISO-TIME", help="when (default: now); naive times are in the config's time zone")
    record.add_argument("--allow-negative", action="store_true", help="accept a negative value for a count or duration metric (a correction)")

    report = sub.add_parser("report", parents=[common], help="print KPI values, comparisons and statuses")
    report.add_argument("--format", choices=("table", "json", "csv", "markdown", "html"), default="table", help="table (default, fits the terminal), json (docs/json.md), csv, markdown or html")
    report.add_argument("--at", metavar="ISO-TIME", help="evaluate as of this time (reproducible reports)")
    report.add_argument("--window", metavar="WINDOW", help="evaluate every KPI over this window, e.g. month_to_date, last_quarter, trailing_30d")
    report.add_argument("--no-collect", action="store_true", help="do not poll sources that are due before reporting")
    report.add_argument("--explain", action="store_true", help="say why each KPI moved: its change against the previous period split by input (table or json)")
    report.add_argument("--instance", metavar="NAME", help="only the readings collector instance NAME wrote (a PostgreSQL history shared by several collectors: [storage] instance)")
    report.add_argument("--width", type=int, metavar="COLUMNS", help="fit the table in this many columns, dropping the least important ones (default: $COLUMNS or the terminal's width; 0: no limit; a file or pipe gets every column)")

    history = sub.add_parser("history", parents=[common], help="look after the history file: backup DEST, check, recover NEW")
    actions = history.add_subparsers(dest="history_command", metavar="ACTION", required=True)
    backup = actions.add_parser("backup", parents=[common], help="copy the history to a new file DEST while collectors keep writing")
    backup.add_argument("dest", metavar="DEST", help="the new file (never overwritten)")
    actions.add_parser("check", parents=[common], help="check every page of the history for damage (takes a while on a big one)")
    recover = actions.add_parser("recover", parents=[common], help="copy every readable reading of a damaged history into a new file NEW")
    recover.add_argument("dest", metavar="NEW", help="the new history file (never overwritten)")
    copy = actions.add_parser("copy", parents=[common], help="copy a history between SQLite and PostgreSQL: FROM and TO are file paths or postgresql:// URLs")
    copy.add_argument("source", metavar="FROM", help="an SQLite history file, or a PostgreSQL URL (postgresql://..., or ${ENV_VAR})")
    copy.add_argument("dest", metavar="TO", help="a new or empty SQLite history file, or a PostgreSQL URL whose history is empty")
    copy.add_argument("--instance", metavar="NAME", help="whose cursors to copy from a PostgreSQL FROM, and the instance a PostgreSQL TO's readings and cursors belong to (default: [storage] instance, the host name)")
    actions.add_parser("init", parents=[common], help="create or upgrade the PostgreSQL history in [storage] url (run once as its owner)")

    compact = sub.add_parser("compact", parents=[common], help="down-sample readings older than [storage] raw_retention_days")
    compact.add_argument("--dry-run", action="store_true", help="only say what would be replaced")

    series = sub.add_parser("series", parents=[common], help="a metric's or KPI's value per bucket (day, week, ...)")
    series.add_argument("id", help="a metric or KPI id")
    series.add_argument("--grain", choices=("hour", "day", "week", "month", "quarter", "year"), default="day", help="bucket size (default: day)")
    series.add_argument("--points", type=int, default=14, help="how many buckets, ending with the current one (default 14)")
    series.add_argument("--at", metavar="ISO-TIME", help="end at this time instead of now")
    series.add_argument("--format", choices=("table", "json", "csv"), default="table", help="table (default), json (docs/json.md) or csv")
    series.add_argument("--compare", choices=("previous", "last_year"), help="also each bucket one period earlier (previous) or the same bucket a year earlier (last_year), and the difference")
    series.add_argument("--instance", metavar="NAME", help="only the readings collector instance NAME wrote (a PostgreSQL history shared by several collectors)")

    plugins = sub.add_parser("plugins", parents=[common], help="list plugins and what they register")
    plugins.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json (docs/json.md)")
    plugins.add_argument("--strict", action="store_true", help="exit 1 when any plugin failed to load or register (for CI)")

    from .alerts.commands import add_parser as add_alerts_parser

    add_alerts_parser(sub, common)
    from .readings_cli import add_parser as add_readings_parser

    add_readings_parser(sub, common)
    from .annotations_cli import add_parser as add_annotations_parser

    add_annotations_parser(sub, common)
    from .matches import add_parser as add_matches_parser

    add_matches_parser(sub, common)
    from .serve_command import add_parser as add_serve_parser

    add_serve_parser(sub, common)

    install = sub.add_parser("install", help="install plugins into kpitui's own environment (python -m pip install)")
    install.add_argument("packages", nargs="*", metavar="PACKAGE", help="what pip installs: a name on PyPI (kpitui-nps), a path, a wheel or a URL")
    install.add_argument("-U", "--upgrade", action="store_true", help="upgrade the packages if they are installed")
    install.add_argument("-e", "--editable", action="append", default=[], metavar="PATH", help="install a local checkout in editable mode (repeatable)")
    uninstall = sub.add_parser("uninstall", help="uninstall plugins from kpitui's own environment")
    uninstall.add_argument("packages", nargs="+", metavar="PACKAGE", help="the distribution names, as `kpitui plugins` shows them (kpitui-nps)")

    plugin = sub.add_parser("plugin", help="tools for plugin authors: `kpitui plugin new NAME` writes a plugin package")
    plugin_actions = plugin.add_subparsers(dest="action", metavar="ACTION", required=True)
    new = plugin_actions.add_parser("new", help="write a plugin package: pyproject, a source, a formula, tests, README, CI workflow")
    new.add_argument("name", help="the plugin's name, e.g. crm (the package is kpitui-crm, the module kpitui_crm)")
    new.add_argument("--dir", default=".", metavar="PATH", help="where to create the kpitui-NAME folder (default: here)")

    completion = sub.add_parser("completion", help="print the shell completion script: eval \"$(kpitui completion bash)\"")
    completion.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell: bash, zsh or fish")

    init = sub.add_parser("init", help="write a starter config")
    init.add_argument("path", nargs="?", default="kpitui.toml", help="where to write it (default: ./kpitui.toml)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    _describe_subcommands(parser)
    return parser


def _describe_subcommands(parser: argparse.ArgumentParser) -> None:
    """Each subcommand's ``--help`` opens with its one-line help when it has no description of its own."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, subparser in action.choices.items():
                if not subparser.description and helps.get(name):
                    text = helps[name]
                    subparser.description = text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")
                _describe_subcommands(subparser)


def _with_default_command(argv: list[str], commands) -> list[str]:
    """``kpitui --no-collect`` means ``kpitui tui --no-collect``: options alone run the default command.

    Only when no positional argument is given (a misspelt command still gets
    argparse's "invalid choice"), and not for ``--version`` or a bare
    ``--help`` (``kpitui --no-collect --help`` is the dashboard's help).
    """
    takes_value = {"-c", "--config"}
    shared = {"-c", "--config", "-v", "--verbose", "-q", "--quiet", "-h", "--help"}
    skip, helps, own = False, False, False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--version" or arg == "--" or not arg.startswith("-") or arg == "-":
            return argv
        helps = helps or arg in ("-h", "--help")
        own = own or arg.split("=", 1)[0] not in shared and not arg.startswith(("-v", "-q"))
        skip = arg in takes_value
    if helps and not own:
        return argv
    return ["tui", *argv] if argv and "tui" in commands else argv


def main(argv: Sequence[str] | None = None) -> int:
    from .console import degrade_glyphs

    degrade_glyphs(sys.stdout, sys.stderr)
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (kpitui completion SHELL): answer and exit
        from .completion import autocomplete

        autocomplete(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(_with_default_command(argv, COMMANDS))
    from . import logs

    args.log_level = logs.level_of(getattr(args, "verbose", 0), getattr(args, "quiet", 0))
    logs.setup(args.log_level)
    command = args.command or "tui"
    from .config import ConfigError

    try:
        return COMMANDS[command](args)
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_USAGE
    except UsageError as exc:
        _err(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except _Failure as exc:
        _err(str(exc))
        return EXIT_FAILURE
    except Exception as exc:
        from .failures import explain, handles

        if not handles(exc):
            raise
        _err(explain(exc, _opened_history))  # a full disk, a read-only or damaged history: one line, exit 1
        return EXIT_FAILURE


#: the history file the command opened (named in the advice for a damaged file)
_opened_history: Path | None = None


class _Failure(Exception):
    """A runtime failure with a message for the user (exit code 1)."""


def _load(args: argparse.Namespace):
    from .config import load_config

    config = load_config(getattr(args, "config", None))
    from . import logs

    # log lines on the config's clock; only collect's output is its log (stdout), the others log to stderr
    logs.setup(getattr(args, "log_level", logging.INFO), config.settings.timezone, info_to_stdout=getattr(args, "command", None) == "collect")
    if config.is_sample and getattr(args, "command", None) not in (None, "tui"):
        print(f"kpitui: no config found (./kpitui.toml or {_user_config()}); using the bundled sample. `kpitui init` writes a starter.", file=sys.stderr)
    return config


def _user_config() -> str:
    from .config import user_config_path

    return str(user_config_path())


def _settle_history(config) -> None:
    """First use of a config's own default history: adopt the old shared one or say why not (once)."""
    from .location import settle

    notice = settle(config)
    if notice:
        config.history_notice = notice
        _err(notice)


def _open_store(config, readonly: bool = False, instance: str | None = None):
    from .history_store import open_history

    global _opened_history
    if config.storage.url is not None:  # a PostgreSQL history (kpitui.postgres_store): no file to settle
        return open_history(config, readonly=readonly, instance_filter=instance)
    _opened_history = config.storage.path
    _settle_history(config)
    return open_history(config, readonly=readonly, instance_filter=instance)


def _read_only_notice(config, why: str, store=None) -> str:
    """One line: the history cannot be written, so it is shown as it is and nothing is collected."""
    path = config.storage.path
    text = f"history file {path} cannot be written ({why}): showing it read-only; nothing is collected or recorded"
    wal = Path(f"{path}-wal")
    if store is not None and store.immutable and wal.exists() and wal.stat().st_size > 0:  # the -wal is not read
        text += f" (writes still in {wal.name} are not shown)"
    return text


def _open_viewer(config, *, readonly: bool = False, instance: str | None = None):
    """The history for a command that shows it: read-only, saying so, when it cannot be written."""
    from .store import unwritable

    why = None if config.storage.url is not None else unwritable(config.storage.path)
    store = _open_store(config, readonly=readonly or why is not None, instance=instance)
    if why is not None:
        _err(_read_only_notice(config, why, store))
    return store


def cmd_tui(args: argparse.Namespace) -> int:
    from .store import unwritable

    config = _load(args)
    _settle_history(config)
    try:
        from .ui.app import run
    except ImportError as exc:
        raise _Failure(f"the terminal UI is not available ({exc}); try `kpitui report`") from None
    collect = not getattr(args, "no_collect", False)
    why = unwritable(config.storage.path) if config.storage.url is None and config.storage.path.exists() else None
    if why is not None:  # view it as it is (kpitui.ui.runtime opens it read-only)
        collect = False
        config.history_notice = _read_only_notice(config, why)
        _err(config.history_notice)
    return run(config, collect=collect, read_only=getattr(args, "read_only", False))


def cmd_check(args: argparse.Namespace) -> int:
    from .location import describe

    from .preflight import source_warnings

    config = _load(args)
    problems = config.registry.errors
    paths = source_warnings(config)
    for problem in [*problems, *paths]:
        print(f"warning: {problem}", file=sys.stderr)
    count = len(problems) + len(paths)
    if count and getattr(args, "strict", False):
        message = f"{config.path}: {count} warning{'s' if count != 1 else ''}, an error under --strict"
        if paths:  # a source that cannot read its path is a mistake in the config: exit 2
            raise UsageError(message)
        raise _Failure(message)
    key = sum(1 for m in config.metrics.values() if m.is_key)
    sources = [s for s in config.sources if config.metrics_of(s)]
    print(
        f"{config.path}: OK — {len(sources)} sources, {len(config.metrics)} metrics ({key} key), "
        f"{len(config.kpis)} KPIs, {len(config.objectives)} objectives; {describe(config)}"
    )
    return EXIT_OK


class _PollLog:
    """Logs each poll of ``collect``: errors and recoveries always; a poll that stored nothing only with --verbose.

    ``every_poll``: an INFO line for each poll whatever it did (``collect --once``).
    """

    def __init__(self, every_poll: bool = False):
        self.every_poll = every_poll
        self.failures: dict[str, int] = {}
        self.log = logging.getLogger("kpitui.collect")

    def __call__(self, result) -> None:
        if result.error:
            self.failures[result.source] = self.failures.get(result.source, 0) + 1
            self.log.error("%s: error: %s", result.source, result.error)
            return
        failed = self.failures.pop(result.source, 0)
        skipped = f", {result.skipped} skipped" if result.skipped else ""
        chunks = f" ({result.polls} chunks)" if getattr(result, "polls", 1) > 1 else ""
        pending = ", more pending" if getattr(result, "more_pending", False) else ""
        summary = f"{result.source}: {result.written} readings{skipped} in {result.seconds:.2f}s{chunks}{pending}"
        if failed:
            self.log.warning("%s (recovered after %d failed poll%s)", summary, failed, "" if failed == 1 else "s")
        elif result.written or result.skipped or pending or self.every_poll:
            self.log.info("%s", summary)
        else:
            self.log.debug("%s", summary)


def _held(bars, log):
    """``log`` with the progress bars taken off the screen while it prints."""

    def call(result) -> None:
        with bars.hold():
            log(result)

    return call


def cmd_collect(args: argparse.Namespace) -> int:
    from .collector import Collector

    every = None if args.every is None else _duration_option("--every", args.every)
    stop = threading.Event()
    if not args.once:  # from the start: a stop (systemctl stop) while still starting is a clean exit too
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    config = _load(args)
    store = _open_store(config)
    collector = Collector(config, store)
    tz = config.settings.timezone
    if not collector.sources and not (config.alerts or config.digests):
        print("nothing to collect: no enabled source has metrics", file=sys.stderr)
        return EXIT_OK
    alerts = None
    if config.alerts or config.digests:  # kpitui.alerts: evaluated after each round of polls, delivered in threads
        from .alerts.commands import CollectAlerts

        alerts = CollectAlerts(config, store)
    if config.logging is not None:  # a rotating log file, for a collector left running or run by cron
        from . import logs

        try:
            logs.add_file(config.logging, tz)
        except OSError as exc:
            raise _Failure(f"[logging] file {config.logging.file}: {exc}") from None
    from .progress import ProgressBars, wanted

    bars = ProgressBars(sys.stderr) if wanted(sys.stderr, getattr(args, "quiet", 0)) else None
    if bars is not None:  # a backlog's progress as a bar on the terminal (never when stderr is piped)
        collector.on_progress = bars.update
    try:
        if args.once:
            results = collector.run_once()
            if bars is not None:
                bars.close()
            poll_log = _PollLog(every_poll=True)
            for result in results:
                poll_log(result)
            if alerts is not None:
                alerts(results)
            if config.storage.raw_retention_days is not None:
                changed, message = collector.compact()
                if changed:
                    _print_compaction(message)
            return EXIT_FAILURE if results and all(r.error for r in results) else EXIT_OK
        logging.getLogger("kpitui.collect").info("collecting %s into %s (Ctrl+C stops)", ", ".join(collector.sources), store.where)
        try:
            on_result = _PollLog()
            if bars is not None:
                on_result = _held(bars, on_result)
            collector.run_forever(stop, every=every, on_result=on_result, on_compact=_print_compaction, on_round=alerts)
        except KeyboardInterrupt:
            pass
        return EXIT_OK
    finally:
        if bars is not None:
            bars.close()
        if alerts is not None:
            alerts.close(drain=10.0 if args.once else 0.0)
        collector.close()
        store.close()
        if config.logging is not None:
            from . import logs

            logs.close()


def _print_compaction(message: str) -> None:
    logging.getLogger("kpitui.collect").info("%s", message)


def cmd_compact(args: argparse.Namespace) -> int:
    from .retention import compact, describe, describe_kept
    from .store import StoreError

    config = _load(args)
    if config.storage.raw_retention_days is None:
        print(describe(None, config))
        return EXIT_OK
    store = _open_store(config)
    try:
        now = dt.datetime.now(dt.timezone.utc)
        from .progress import command_bar

        with command_bar("compact", getattr(args, "quiet", 0), unit="metrics") as report:  # a bar on a terminal only
            result = compact(store, config, now=now, dry_run=args.dry_run, progress=report)
    except StoreError as exc:
        raise _Failure(str(exc)) from None
    finally:
        store.close()
    print(describe(result, config, now))
    for line in describe_kept(config, now):
        print(line)
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    """``kpitui history backup DEST`` and ``kpitui history check`` (:mod:`kpitui.maintenance`)."""
    from .maintenance import damaged_message
    from .sqlite_store.recovery import recover
    from .store import StoreError

    config = _load(args)
    if args.history_command in ("copy", "init"):
        return _history_copy_or_init(args, config)
    if args.history_command == "recover":
        dest = Path(args.dest).expanduser()
        try:
            readings, metrics, skipped = recover(config.storage.path, dest)
        except FileExistsError as exc:
            raise _Failure(str(exc)) from None
        lost = f"; {skipped} damaged range(s) could not be read" if skipped else ""
        print(f"recovered {readings:,} readings of {metrics} metric(s) into {dest}{lost}; stop kpitui, then move it to {config.storage.path}")
        return EXIT_OK
    store = _open_store(config, readonly=True)
    try:
        if args.history_command == "backup":
            dest = Path(args.dest).expanduser()
            from .progress import command_bar

            with command_bar("backup", getattr(args, "quiet", 0)) as report:  # a bar on a terminal only
                found = store.backup(dest, progress=report)
            if found != "ok":
                raise _Failure(f"backed up {store.path} to {dest}, but the copy is damaged: {found.splitlines()[0]}")
            print(f"backed up {store.path} to {dest} ({dest.stat().st_size:,} bytes, checked: ok)")
        else:
            found = store.integrity_check()
            if found != "ok":
                raise _Failure(damaged_message(store.path, found.splitlines()[0]))
            print(f"{store.path}: ok (every page checked)")
    except StoreError as exc:
        raise _Failure(str(exc)) from None
    finally:
        store.close()
    return EXIT_OK


def _history_copy_or_init(args: argparse.Namespace, config) -> int:
    """``kpitui history copy FROM TO`` and ``kpitui history init`` (:mod:`kpitui.history_copy`)."""
    from .history_copy import copy_history, open_location
    from .store import StoreError

    try:
        if args.history_command == "init":
            if config.storage.url is None:
                raise UsageError("history init: [storage] url is not set (an SQLite history is created when first used)")
            with _open_store(config) as store:
                print(f"kpitui history in {store.where}: schema version {store.schema_version()}, ready")
            return EXIT_OK
        instance = args.instance or config.storage.instance
        side = config.storage.path
        with open_location(args.source, readonly=True, instance=instance, side=side) as source:
            with open_location(args.dest, readonly=False, instance=instance, side=side) as target:
                from .progress import command_bar

                with command_bar("copy", getattr(args, "quiet", 0), unit="readings") as report:  # a bar on a terminal only
                    readings, metrics, cursors = copy_history(source, target, progress=report)
                print(f"copied {readings:,} readings of {metrics} metric(s) and {cursors} cursor(s) from {source.where} to {target.where}")
    except StoreError as exc:
        raise _Failure(str(exc)) from None
    return EXIT_OK


def cmd_record(args: argparse.Namespace) -> int:
    from .options import nearest

    config = _load(args)
    if args.metric not in config.metrics:
        hint = nearest(args.metric, config.metrics)
        raise UsageError(
            f"unknown metric {args.metric!r}" + (f" (did you mean {hint!r}?)" if hint else f"; metrics: {', '.join(config.metrics)}")
        )
    value = _typed_value(args.value, config.metrics[args.metric], config)
    _refuse_negative(config.metrics[args.metric], value, args.allow_negative)
    now = dt.datetime.now(dt.timezone.utc)
    at = _parse_time(args.at, config.settings.timezone) or now
    if at > now + dt.timedelta(days=1):
        raise UsageError("--at: that time is more than a day in the future")
    store = _open_store(config)
    try:
        reading, replaced = store.record_manual(args.metric, at, value)
        if reading is None:
            _refuse_compacted(config, store, args.metric)
    finally:
        store.close()
    metric = config.metrics[args.metric]
    from .formatting import format_time, format_value

    def shown(number: float) -> str:
        return format_value(number, metric.unit, metric.decimals, config.settings.currency)

    note = f"; it replaces {shown(replaced)} recorded for that time" if replaced is not None and replaced != value else ""
    print(
        f"recorded {metric.name} = {shown(value)} at {format_time(at, config.settings.timezone, seconds=True)} "
        f"as reading {reading.id}{note}"
    )
    return EXIT_OK


def _refuse_compacted(config, store, metric: str) -> None:
    from .formatting import format_time

    before = store.compacted_before(metric)
    shown = format_time(before, config.settings.timezone) if before else "the retention cut-off"
    raise _Failure(
        f"--at: {metric}'s readings before {shown} are compacted to one row per {config.storage.downsample_to} "
        "([storage] raw_retention_days); nothing was recorded there"
    )


def _duration_option(name: str, text: str) -> float:
    """A positive duration typed on the command line (``30s``, ``5m``, ``1h``; a plain number is seconds)."""
    from .userinput import InputError, parse_duration

    try:
        seconds = parse_duration(text)
    except InputError as exc:
        raise UsageError(f"{name}: {exc}") from None
    if seconds <= 0:
        raise UsageError(f"{name} must be a positive duration, e.g. 30s, 5m or 1h")
    return seconds


def _refuse_negative(metric, value: float, allowed: bool) -> None:
    """A negative count or duration is taken for a mistake unless it is a choice (--allow-negative, allow_negative)."""
    from .userinput import negative_refused

    message = negative_refused(metric, value, allowed, "pass --allow-negative")
    if message:
        raise UsageError(message)


def _typed_value(text: str, metric, config) -> float:
    """A reading's value as typed for ``metric``: a duration (``9d``, ``4h 30m``) for a duration metric, else a number."""
    from .userinput import InputError, parse_value

    try:
        return parse_value(text, metric.unit, currency=config.settings.currency)
    except InputError as exc:
        raise UsageError(f"value: {exc}") from None


def cmd_report(args: argparse.Namespace) -> int:
    from .engine import Engine
    from .history import History
    from .periods import PeriodError, parse_window
    from .report import to_csv, to_json, to_table
    from .scorecard import title_of, to_html, to_markdown

    if args.width is not None and args.width < 0:
        raise UsageError("--width must be 0 (no limit) or a number of columns")
    if args.explain and args.format not in ("table", "json"):
        raise UsageError(f"--explain works with --format table or json, not {args.format}")
    config = _load(args)
    at = _parse_time(args.at, config.settings.timezone)
    if args.window:
        try:
            parse_window(args.window)
        except PeriodError as exc:
            raise UsageError(f"--window: {exc}") from None
    store = _open_viewer(config, instance=args.instance, readonly=args.instance is not None)
    try:
        with contextlib.redirect_stdout(sys.stderr):  # a plugin's print() in fetch or a formula never lands in the report
            if not args.no_collect and at is None and not store.readonly:
                _collect_due(config, store)
            history = History(store)
            history.refresh()
            engine = Engine(config)
            snapshot = engine.evaluate(history, at, window=args.window, health=store.health())
            explanations = _explain(engine, history, snapshot, args.window) if args.explain else None
    finally:
        store.close()
    if args.format == "json":
        from .annotations_cli import report_annotations
        from .explain import as_dict

        notes = report_annotations(config, engine, snapshot)
        print(to_json(snapshot, None if explanations is None else {k: as_dict(e) for k, e in explanations.items()}, annotations=notes))
    elif args.format == "csv":
        sys.stdout.write(to_csv(snapshot))
    elif args.format in ("markdown", "html"):
        render = to_markdown if args.format == "markdown" else to_html
        sys.stdout.write(render(snapshot, config.settings.currency, title_of(snapshot, config.path.name, config.settings.timezone)))
    else:
        from .console import output_width

        title = f"{config.path.name} — KPIs as of {_format_time(snapshot.at, config)}"
        sys.stdout.write(to_table(snapshot, config.settings.currency, title, width=output_width(args.width)))
        if explanations is not None:
            from .explain import one_line

            names = {**{m: metric.name for m, metric in config.metrics.items()}, **{k: kpi.name for k, kpi in config.kpis.items()}}
            sys.stdout.write("\nWhy it moved (change against the previous period, split by input):\n")
            for kid, explanation in explanations.items():
                sys.stdout.write(f"  {one_line(snapshot.kpis[kid], explanation, names, config.settings.currency)}\n")
            from .annotations_cli import report_annotations

            notes = report_annotations(config, engine, snapshot)
            if notes:
                sys.stdout.write("\nAnnotations over the periods shown (kpitui annotations list):\n")
                for note in notes:
                    about = ", ".join(names.get(k, k) for k in note["kpis"]) or "no KPI"
                    sys.stdout.write(f"  {note['at'][:16].replace('T', ' ')}  {note['text']}  ({about})\n")
    return EXIT_OK


def _explain(engine, history, snapshot, window):
    from .explain import explain

    return explain(engine, history, snapshot, window=window)


def _format_time(at: dt.datetime, config) -> str:
    from .formatting import format_time

    return format_time(at, config.settings.timezone)


def _tz(config):
    from zoneinfo import ZoneInfo

    return ZoneInfo(config.settings.timezone)


def _collect_due(config, store) -> None:
    """Poll the sources whose interval has passed since their last success (so a first report has data),
    and those whose last poll failed (the user may just have fixed it: a success clears the error)."""
    from .collector import Collector

    health = store.health()
    now = dt.datetime.now(dt.timezone.utc)
    collector = Collector(config, store)
    try:
        due = [
            sid
            for sid in collector.sources
            if sid not in health
            or health[sid].error is not None
            or health[sid].last_success is None
            or (now - health[sid].last_success).total_seconds() >= config.sources[sid].interval
        ]
        for result in collector.run_once(due):  # a backlog is read to its end: the report counts all of it
            if result.error:
                logging.getLogger("kpitui.report").warning("source %s: %s", result.source, result.error)
    finally:
        collector.close()


def cmd_series(args: argparse.Namespace) -> int:
    """Bucket values of a KPI, or of a metric (by its own aggregation rule), from the stored history."""
    from .engine import Engine
    from .formatting import format_value
    from .history import History
    from .options import nearest

    config = _load(args)
    if args.points < 1 or args.points > 10_000:
        raise UsageError("--points must be between 1 and 10000")
    ids = [*config.metrics, *config.kpis]
    if args.id not in ids:
        hint = nearest(args.id, ids)
        raise UsageError(f"unknown metric or KPI {args.id!r}" + (f" (did you mean {hint!r}?)" if hint else ""))
    is_metric = args.id in config.metrics
    shown = config.metrics[args.id] if is_metric else config.kpis[args.id]
    unit, decimals = shown.unit, shown.decimals
    at = _parse_time(args.at, config.settings.timezone) or dt.datetime.now(dt.timezone.utc)
    store = _open_viewer(config, readonly=True, instance=args.instance)
    try:
        history = History(store)
        history.refresh()
        with contextlib.redirect_stdout(sys.stderr):  # a plugin formula's print() stays out of the output
            engine = Engine(config)
            chart = engine.metric_series if is_metric else engine.series  # a metric by its own aggregation rule
            rows = chart(history, args.id, now=at, grain=args.grain, points=args.points, compare=args.compare or "previous")
    finally:
        store.close()
    tz = _tz(config)
    from .report import _num  # numbers rounded to 6 decimals, as in every JSON document (docs/json.md)

    if args.format == "json":
        from .annotations_cli import series_annotations

        points = [{"start": start.astimezone(tz).isoformat(), "value": _num(value)} for start, value, _ in rows]
        if args.compare:  # the comparison bucket's value and the difference (null when either has no data)
            for point, (_, value, other) in zip(points, rows):
                point.update(compare=_num(other), difference=None if value is None or other is None else _num(value - other))
        notes = series_annotations(config, engine, args.id, rows[0][0], at) if rows else []
        print(json.dumps({"schema": 1, "id": args.id, "kind": "metric" if is_metric else "kpi", "unit": unit or "number", "grain": args.grain, "points": points, "annotations": notes}, indent=2))
    elif args.format == "csv":
        print("start,value")
        for start, value, _ in rows:
            print(f"{start.astimezone(tz).isoformat()},{'' if value is None else _num(value)}")
    else:
        for start, value, _ in rows:
            print(f"{_format_time(start, config)}  {format_value(value, unit or 'number', decimals, config.settings.currency):>12}")
    return EXIT_OK


def cmd_plugins(args: argparse.Namespace) -> int:
    from .config import ConfigError, plugins_dirs_of
    from .options import describe
    from .plugins import load_registry

    config_error = None
    try:
        registry = _load(args).registry
    except ConfigError as exc:  # list plugins even when the config is broken, with its error alongside
        config_error = str(exc)
        registry = exc.registry or load_registry(plugins_dirs_of(getattr(args, "config", None)))
    if args.format == "json":
        data = [
            {
                **p.as_dict(),
                "source_types": [
                    {"type": t, "description": registry.sources[t].description, "options": describe(registry.sources[t].Options), "metric_options": describe(registry.sources[t].MetricOptions)}
                    for t in p.sources
                ],
                "formula_types": [
                    {"type": t, "description": registry.formulas[t].description, "options": describe(registry.formulas[t].Options)}
                    for t in p.formulas
                ],
                "notifier_types": [
                    {"type": t, "description": registry.notifiers[t].description, "options": describe(registry.notifiers[t].Options)}
                    for t in p.notifiers
                ],
            }
            for p in registry.plugins
        ]
        print(json.dumps({"schema": 1, "config_error": config_error, "plugins": data}, indent=2, default=str))
    else:
        for p in registry.plugins:
            status = "ok" if p.ok else "ERROR"
            name = f"{p.distribution} {p.version or ''} ({p.origin} {p.name})" if p.distribution else f"{p.name} {p.version or ''} ({p.origin})"
            print(f"{name} — {status}")
            for t in p.sources:
                print(f"    source  {t:<14} {registry.sources[t].description}")
            for t in p.formulas:
                print(f"    formula {t:<14} {registry.formulas[t].description}")
            for t in p.notifiers:
                print(f"    notifier {t:<13} {registry.notifiers[t].description}")
            for t in p.annotation_sources:
                print(f"    annotations {t:<10} {registry.annotation_sources[t].description}")
            for e in p.errors:
                print(f"    error: {e}")
        if config_error:
            _err(f"config error (plugins listed anyway): {config_error}")
    if getattr(args, "strict", False) and (registry.errors or config_error):
        return EXIT_FAILURE
    return EXIT_OK


def cmd_install(args: argparse.Namespace) -> int:
    from .installer import PipMissing, install

    if not args.packages and not args.editable:
        raise UsageError("install: name at least one package (or -e PATH)")
    if "kpitui" in args.packages:
        raise UsageError("install: kpitui itself is not a plugin; upgrade it the way you installed it")
    try:
        code = install(args.packages, args.editable, args.upgrade)
    except PipMissing as exc:
        raise _Failure(str(exc)) from None
    return EXIT_OK if code == 0 else EXIT_FAILURE


def cmd_uninstall(args: argparse.Namespace) -> int:
    from .installer import PipMissing, uninstall

    if "kpitui" in args.packages:
        raise UsageError("uninstall: that would remove kpitui itself; name only plugins")
    try:
        code = uninstall(args.packages)
    except PipMissing as exc:
        raise _Failure(str(exc)) from None
    return EXIT_OK if code == 0 else EXIT_FAILURE


def cmd_plugin(args: argparse.Namespace) -> int:
    from .scaffold import ScaffoldError, create, names

    try:
        root = create(args.name, Path(args.dir))
    except ScaffoldError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise _Failure(f"cannot write the plugin package: {exc}") from None
    n = names(args.name)
    print(
        f"wrote {root}: source type {n['source']!r}, formula type {n['formula']!r}, tests, README, CI workflow\n"
        f"next: cd {root} && kpitui install -e . && pytest   (the plugin guide: plugins/README.md in kpitui)"
    )
    return EXIT_OK


def cmd_completion(args: argparse.Namespace) -> int:
    from .completion import script

    sys.stdout.write(script(args.shell))
    return EXIT_OK


def cmd_init(args: argparse.Namespace) -> int:
    from .starter import starter_config

    path = Path(args.path)
    if path.is_symlink() and not path.exists():
        # writing would create the link's target, wherever it points
        raise UsageError(f"{path} is a symbolic link to {os.readlink(path)}, which does not exist; refusing to write through it")
    if path.exists() and not args.force:
        raise UsageError(f"{path} already exists; use --force to overwrite it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(starter_config(), encoding="utf-8")
    except OSError as exc:
        raise _Failure(f"cannot write {path}: {exc}") from None
    print(f"wrote {path}; try `kpitui check --config {path}` then `kpitui --config {path}`")
    return EXIT_OK


def cmd_readings(args: argparse.Namespace) -> int:
    from .readings_cli import cmd_readings as run

    return run(args, sys.modules[__name__])


def cmd_matches(args: argparse.Namespace) -> int:
    from .matches import cmd_matches as run

    return run(args, sys.modules[__name__])


def cmd_annotate(args: argparse.Namespace) -> int:
    from .annotations_cli import cmd_annotate as run

    return run(args, sys.modules[__name__])


def cmd_annotations(args: argparse.Namespace) -> int:
    from .annotations_cli import cmd_annotations as run

    return run(args, sys.modules[__name__])


def cmd_alerts(args: argparse.Namespace) -> int:
    from .alerts.commands import cmd_alerts as run

    return run(args, _load, UsageError, _Failure)


def cmd_serve(args: argparse.Namespace) -> int:
    from . import serve_command

    if args.hash_password:
        try:
            print(serve_command.hash_password_command())
        except ValueError as exc:
            raise UsageError(f"--hash-password: {exc}") from None
        return EXIT_OK
    config = _load(args)
    plan = serve_command.prepare(args, config, UsageError)
    _settle_history(config)
    try:
        from .ui.serve import run
    except ImportError as exc:
        raise _Failure(f"serving to browsers needs the serve extra ({exc}): pip install 'kpitui[serve]'") from None
    return run(plan)


COMMANDS = {
    "tui": cmd_tui,
    "check": cmd_check,
    "collect": cmd_collect,
    "record": cmd_record,
    "report": cmd_report,
    "series": cmd_series,
    "plugins": cmd_plugins,
    "init": cmd_init,
    "install": cmd_install,
    "plugin": cmd_plugin,
    "completion": cmd_completion,
    "uninstall": cmd_uninstall,
    "compact": cmd_compact,
    "history": cmd_history,
    "alerts": cmd_alerts,
    "readings": cmd_readings,
    "annotate": cmd_annotate,
    "matches": cmd_matches,
    "annotations": cmd_annotations,
    "serve": cmd_serve,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
