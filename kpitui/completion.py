"""Shell completion for bash, zsh and fish, generated from the argument parser by argcomplete.

``kpitui completion SHELL`` prints the script to source (``eval "$(kpitui
completion bash)"``). On each Tab the shell runs ``kpitui`` with argcomplete's
environment (``_ARGCOMPLETE``); :func:`autocomplete` answers from the parser
(subcommands, options, choices) and from the config: metric and KPI ids,
alert ids, window names.

argcomplete is imported only here, and this module only when completing or
printing a script: a normal start-up never pays for it. The config is read
as plain TOML (no plugins load) so a Tab stays quick, and a broken config
just completes nothing.
"""

from __future__ import annotations

import argparse
import tomllib
from typing import Any, Callable, Iterable

SHELLS = ("bash", "zsh", "fish")

#: window names offered for --window (kpitui.periods.WINDOW_NAMES, kept equal by a test: importing
#: kpitui.periods loads polars, too slow for a key press)
WINDOWS = (
    "today",
    "yesterday",
    "week_to_date",
    "month_to_date",
    "quarter_to_date",
    "year_to_date",
    "last_week",
    "last_month",
    "last_quarter",
    "last_year",
    "trailing_7d",
    "trailing_30d",
    "trailing_90d",
    "trailing_12w",
    "trailing_3m",
    "trailing_12m",
)


def _tables(parsed_args: argparse.Namespace | None) -> dict[str, Any]:
    from .config import find_config

    try:
        path, _ = find_config(getattr(parsed_args, "config", None))
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - completion must never fail: no config, no ids
        return {}


def _ids(*tables: str) -> Callable[..., list[str]]:
    def complete(prefix: str = "", parsed_args: argparse.Namespace | None = None, **_: Any) -> list[str]:
        data = _tables(parsed_args)
        found: list[str] = []
        for table in tables:
            value = data.get(table)
            if isinstance(value, dict):
                found += [k for k in value if k.startswith(prefix)]
        return found

    return complete


def _windows(prefix: str = "", **_: Any) -> list[str]:
    return [w for w in WINDOWS if w.startswith(prefix)]


def _attach(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> None:
    """Give the arguments that take ids or windows their completers, in every subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                _attach(sub, (*path, name))
            continue
        dest, command = action.dest, path[0] if path else ""
        if dest == "window":
            action.completer = _windows  # type: ignore[attr-defined]
        elif command == "series" and dest == "id":
            action.completer = _ids("metrics", "kpis")  # type: ignore[attr-defined]
        elif dest == "metric":  # record METRIC, readings list [METRIC]
            action.completer = _ids("metrics")  # type: ignore[attr-defined]
        elif command == "alerts" and dest == "id":
            action.completer = _ids("alerts", "digests", "notifiers")  # type: ignore[attr-defined]
        elif dest == "config":
            from argcomplete.completers import FilesCompleter

            action.completer = FilesCompleter(("toml",))  # type: ignore[attr-defined]


def autocomplete(parser: argparse.ArgumentParser) -> None:
    """Answer a completion request (argcomplete's environment is set) and exit; else return."""
    import argcomplete

    _attach(parser)
    argcomplete.autocomplete(parser, always_complete_options="long")


def script(shell: str, commands: Iterable[str] = ("kpitui",)) -> str:
    """The completion script for ``shell``, to source from the shell's start-up file."""
    from argcomplete.shell_integration import shellcode

    return shellcode(list(commands), shell=shell)
