"""The ``kpitui`` subcommands that run headless, one small module per group.

============  ==============================================================
module        commands
============  ==============================================================
setup         ``check``, ``init``, ``completion``
collect       ``collect``, ``compact``
readings      ``record``, ``readings [list|edit|delete]``
report        ``report``, ``series``
history       ``history backup|check|recover|copy|init``
plugins       ``plugins``, ``install``, ``uninstall``, ``plugin new``
alerts        ``alerts [list|test]`` (run by :mod:`kpitui.alerts.commands`)
annotations   ``annotate``, ``annotations [list|edit|delete]``
matches       ``matches METRIC``
base          what they share: exit codes, errors, opening the config and history
============  ==============================================================

Each module's ``add_parsers(sub, common)`` declares its commands' arguments
and returns, per command, the function that runs it. At the top level these
modules import only the standard library (and :mod:`.base`): a command imports
what it needs when it runs, so building the parser stays cheap.
``tui`` and ``serve``, which start the UI, are in :mod:`kpitui.cli`.
"""

# No ``from __future__ import annotations`` here: it would bind the name ``annotations`` in this package,
# and ``from . import annotations`` would then return that instead of the submodule.

import argparse

from .base import Run


def add_parsers(
    sub: "argparse._SubParsersAction[argparse.ArgumentParser]", common: argparse.ArgumentParser
) -> dict[str, Run]:
    from . import alerts, annotations, collect, history, matches, plugins, readings, report, setup

    found: dict[str, Run] = {}
    for group in (setup, collect, readings, report, history, plugins, alerts, annotations, matches):
        found.update(group.add_parsers(sub, common))
    return found
