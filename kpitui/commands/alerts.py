"""``kpitui alerts [list|test ID]``: its arguments here; what it does is :func:`kpitui.alerts.commands.cmd_alerts`,
imported only when the command runs."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from . import base

if TYPE_CHECKING:
    from .base import Run, Subparsers


def add_parsers(sub: Subparsers, common: argparse.ArgumentParser) -> dict[str, Run]:
    alerts = sub.add_parser(
        "alerts", parents=[common], help="list alert rules, their state and deliveries; `alerts test ID` sends a test"
    )
    alerts.add_argument("action", nargs="?", choices=("list", "test"), default="list", help="list (default) or test")
    alerts.add_argument("id", nargs="?", help="with test: an alert, digest or notifier id")
    alerts.add_argument("--format", choices=("table", "json"), default="table", help="table (default) or json")
    return {"alerts": cmd_alerts}


def cmd_alerts(args: argparse.Namespace) -> int:
    from ..alerts.commands import cmd_alerts as run

    return run(args, base.load, base.UsageError, base.Failure)
