"""``kpitui collect`` and ``kpitui compact``: polling sources into the history, and down-sampling old readings."""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import sys
import threading
from typing import TYPE_CHECKING

from .base import EXIT_FAILURE, EXIT_OK, Failure, duration_option, load, open_store

if TYPE_CHECKING:
    import logging
    from typing import Callable

    from ..collector import PollResult
    from ..progress import ProgressBars
    from .base import Run, Subparsers


def add_parsers(sub: Subparsers, common: argparse.ArgumentParser) -> dict[str, Run]:
    collect = sub.add_parser("collect", parents=[common], help="poll sources into the history")
    mode = collect.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="poll every source once and exit")
    mode.add_argument(
        "--every",
        metavar="DURATION",
        help="poll every source this often, e.g. 30s, 5m, 1h (default: each source's own interval)",
    )

    compact = sub.add_parser(
        "compact", parents=[common], help="down-sample readings older than [storage] raw_retention_days"
    )
    compact.add_argument("--dry-run", action="store_true", help="only say what would be replaced")
    return {"collect": cmd_collect, "compact": cmd_compact}


def _log() -> logging.Logger:
    import logging  # here, not at the top: building the parser (kpitui --help) imports this module

    return logging.getLogger("kpitui.collect")


#: what a poll's skipped readings are (source_polls and the sources' own counts): said in its line, as a number
#: alone did not ("1 skipped": of what?)
SKIPPED_WHY = "a line, time, value or metric it could not take, or a time more than a day ahead"


class PollLog:
    """Logs each poll of ``collect``: errors and recoveries always; a poll that stored nothing only with --verbose.

    ``every_poll``: an INFO line for each poll whatever it did (``collect --once``).
    """

    def __init__(self, every_poll: bool = False) -> None:
        self.every_poll = every_poll
        self.failures: dict[str, int] = {}
        self.log = _log()

    def __call__(self, result: PollResult) -> None:
        if result.error:
            self.failures[result.source] = self.failures.get(result.source, 0) + 1
            self.log.error("%s: error: %s", result.source, result.error)
            return
        failed = self.failures.pop(result.source, 0)
        skipped = f", {result.skipped} skipped ({SKIPPED_WHY})" if result.skipped else ""
        chunks = f" ({result.polls} chunks)" if getattr(result, "polls", 1) > 1 else ""
        pending = ", more pending" if getattr(result, "more_pending", False) else ""
        summary = f"{result.source}: {result.written} readings{skipped} in {result.seconds:.2f}s{chunks}{pending}"
        if failed:
            self.log.warning("%s (recovered after %d failed poll%s)", summary, failed, "" if failed == 1 else "s")
        elif result.written or result.skipped or pending or self.every_poll:
            self.log.info("%s", summary)
        else:
            self.log.debug("%s", summary)


def held(bars: ProgressBars, log: Callable[[PollResult], None]) -> Callable[[PollResult], None]:
    """``log`` with the progress bars taken off the screen while it prints."""

    def call(result: PollResult) -> None:
        with bars.hold():
            log(result)

    return call


def cmd_collect(args: argparse.Namespace) -> int:
    from ..collector import Collector

    every = None if args.every is None else duration_option("--every", args.every)
    stop = threading.Event()
    if not args.once:  # from the start: a stop (systemctl stop) while still starting is a clean exit too
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    config = load(args)
    store = open_store(config)
    collector = Collector(config, store)
    tz = config.settings.timezone
    if not collector.sources and not (config.alerts or config.digests):
        print("nothing to collect: no enabled source has metrics", file=sys.stderr)
        return EXIT_OK
    alerts = None
    if config.alerts or config.digests:  # kpitui.alerts: evaluated after each round of polls, delivered in threads
        from ..alerts.commands import CollectAlerts

        alerts = CollectAlerts(config, store)
    if config.logging is not None:  # a rotating log file, for a collector left running or run by cron
        from .. import logs

        try:
            logs.add_file(config.logging, tz)
        except OSError as exc:
            raise Failure(f"[logging] file {config.logging.file}: {exc}") from None
    from ..progress import ProgressBars, wanted

    bars = ProgressBars(sys.stderr) if wanted(sys.stderr, getattr(args, "quiet", 0)) else None
    if bars is not None:  # a backlog's progress as a bar on the terminal (never when stderr is piped)
        collector.on_progress = bars.update
    try:
        if args.once:
            results = collector.run_once()
            if bars is not None:
                bars.close()
            poll_log = PollLog(every_poll=True)
            for result in results:
                poll_log(result)
            if alerts is not None:
                alerts(results)
            if config.storage.raw_retention_days is not None:
                changed, message = collector.compact()
                if changed:
                    print_compaction(message)
            # cron, a systemd timer or a CI job runs --once: a source that failed is a failure to them,
            # even when the others stored their readings (each failed poll was logged above, by name)
            return EXIT_FAILURE if any(r.error for r in results) else EXIT_OK
        _log().info("collecting %s into %s (Ctrl+C stops)", ", ".join(collector.sources), store.where)
        try:
            on_result: Callable[[PollResult], None] = PollLog()
            if bars is not None:
                on_result = held(bars, on_result)
            collector.run_forever(stop, every=every, on_result=on_result, on_compact=print_compaction, on_round=alerts)
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
            from .. import logs

            logs.close()


def print_compaction(message: str) -> None:
    _log().info("%s", message)


def cmd_compact(args: argparse.Namespace) -> int:
    from ..retention import compact, describe, describe_kept
    from ..store import StoreError

    config = load(args)
    if config.storage.raw_retention_days is None:
        print(describe(None, config))
        return EXIT_OK
    store = open_store(config)
    try:
        now = dt.datetime.now(dt.timezone.utc)
        from ..progress import command_bar

        with command_bar("compact", getattr(args, "quiet", 0), unit="metrics") as report:  # a bar on a terminal only
            result = compact(store, config, now=now, dry_run=args.dry_run, progress=report)
    except StoreError as exc:
        raise Failure(str(exc)) from None
    finally:
        store.close()
    print(describe(result, config, now))
    for line in describe_kept(config, now):
        print(line)
    return EXIT_OK
