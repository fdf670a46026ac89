"""What every command shares: exit codes, the two errors a command raises, and opening the config and the history.

Imports only the standard library at the top: everything a command needs is
imported when it runs (``kpitui --help`` stays fast).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from ..config import Config
    from ..history_store import HistoryStore
    from ..model import Metric

    #: what ``add_parsers`` adds each command to
    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

#: what runs a command: its parsed arguments in, the exit code out
Run = Callable[[argparse.Namespace], int]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A command-line mistake: printed, exit code 2."""


class Failure(Exception):
    """A runtime failure with a message for the user (exit code 1)."""


#: the history file the command opened (named in the advice for a damaged file)
opened_history: Path | None = None


def err(message: str) -> None:
    # One line, and no control characters: a table name or an error body may hold "\r" or an escape sequence.
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)
    print(f"kpitui: {shown}", file=sys.stderr)


def parse_time(text: str | None, timezone: str = "UTC") -> dt.datetime | None:
    """ISO time; a naive one is in the config's time zone."""
    if text is None:
        return None
    from ..periods import PeriodError, parse_time

    try:
        return parse_time(text, timezone)
    except PeriodError as exc:
        raise UsageError(f"--at: {exc}") from None


def load(args: argparse.Namespace) -> Config:
    import logging

    from ..config import load_config

    config = load_config(getattr(args, "config", None))
    from .. import logs

    # log lines on the config's clock; only collect's output is its log (stdout), the others log to stderr
    logs.setup(
        getattr(args, "log_level", logging.INFO),
        config.settings.timezone,
        info_to_stdout=getattr(args, "command", None) == "collect",
    )
    if config.is_sample and getattr(args, "command", None) not in (None, "tui"):
        print(
            f"kpitui: no config found (./kpitui.toml or {_user_config()}); using the bundled sample. "
            "`kpitui init` writes a starter.",
            file=sys.stderr,
        )
    return config


def _user_config() -> str:
    from ..config import user_config_path

    return str(user_config_path())


def settle_history(config: Config) -> None:
    """First use of a config's own default history: adopt the old shared one or say why not (once)."""
    from ..location import settle

    notice = settle(config)
    if notice:
        config.history_notice = notice
        err(notice)


def open_store(config: Config, readonly: bool = False, instance: str | None = None) -> HistoryStore:
    from ..history_store import open_history

    global opened_history
    if config.storage.url is not None:  # a PostgreSQL history (kpitui.postgres_store): no file to settle
        store = open_history(config, readonly=readonly, instance_filter=instance)
        if instance is not None:
            known = store.instances()  # type: ignore[attr-defined]
            if instance not in known:  # a typo, or a collector that has not written yet: say so, show nothing
                err(
                    f"--instance {instance}: no collector has written to {store.where} as {instance!r} "
                    f"(its instances: {', '.join(known) or 'none yet'}); showing no readings"
                )
        return store
    opened_history = config.storage.path
    settle_history(config)
    return open_history(config, readonly=readonly, instance_filter=instance)


def read_only_notice(config: Config, why: str, store: HistoryStore | None = None) -> str:
    """One line: the history cannot be written, so it is shown as it is and nothing is collected."""
    path = config.storage.path
    text = f"history file {path} cannot be written ({why}): showing it read-only; nothing is collected or recorded"
    wal = Path(f"{path}-wal")
    if (
        store is not None and getattr(store, "immutable", False) and wal.exists() and wal.stat().st_size > 0
    ):  # the -wal is not read
        text += f" (writes still in {wal.name} are not shown)"
    return text


def open_viewer(config: Config, *, readonly: bool = False, instance: str | None = None) -> HistoryStore:
    """The history for a command that shows it: read-only, saying so, when it cannot be written."""
    from ..store import unwritable

    why = None if config.storage.url is not None else unwritable(config.storage.path)
    store = open_store(config, readonly=readonly or why is not None, instance=instance)
    if why is not None:
        err(read_only_notice(config, why, store))
    return store


def duration_option(name: str, text: str) -> float:
    """A positive duration typed on the command line (``30s``, ``5m``, ``1h``; a plain number is seconds)."""
    from ..userinput import InputError, parse_duration

    try:
        seconds = parse_duration(text)
    except InputError as exc:
        raise UsageError(f"{name}: {exc}") from None
    if seconds <= 0:
        raise UsageError(f"{name} must be a positive duration, e.g. 30s, 5m or 1h")
    return seconds


def refuse_negative(metric: Metric, value: float, allowed: bool) -> None:
    """A negative count or duration is taken for a mistake unless it is a choice (--allow-negative, allow_negative)."""
    from ..userinput import negative_refused

    message = negative_refused(metric, value, allowed, "pass --allow-negative")
    if message:
        raise UsageError(message)


def refuse_future(at: dt.datetime, now: dt.datetime, allowed: bool, config: Config) -> None:
    """A reading's time more than a few minutes after now is taken for a mistake unless it is a choice
    (--allow-future), and more than a day after now always (:func:`kpitui.userinput.future_refused`)."""
    from ..userinput import future_refused

    message = future_refused(at, now, allowed, "pass --allow-future", config.settings.timezone)
    if message:
        raise UsageError(f"--at: {message}")


def typed_value(text: str, metric: Metric, config: Config) -> float:
    """A reading's value as typed for ``metric``: a duration (``9d``, ``4h 30m``) for a duration metric,
    else a number."""
    from ..userinput import InputError, parse_value

    try:
        return parse_value(text, metric.unit, currency=config.settings.currency)
    except InputError as exc:
        raise UsageError(f"value: {exc}") from None


def format_time(at: dt.datetime, config: Config) -> str:
    from ..formatting import format_time

    return format_time(at, config.settings.timezone)


def tz(config: Config) -> ZoneInfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo(config.settings.timezone)
