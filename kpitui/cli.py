"""The ``kpitui`` command: its entry point, the parser, and the two commands that start the UI (tui, serve).

Every other subcommand lives in :mod:`kpitui.commands`, one small module per
group. Building the parser imports only those light modules: what a command
needs (the config, the store, the engine, Textual) is imported when it runs,
so ``kpitui --help`` and the dashboard's start stay fast.

Exit codes: 0 success, 1 a runtime failure, 2 a mistake in the config or the
command line. A user's mistake is one clear message on stderr, never a
traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Iterable, NoReturn, Sequence

from . import __version__, commands
from .commands import base
from .commands.base import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError

DEFAULT_HOST, DEFAULT_PORT, DEFAULT_MAX_SESSIONS, DEFAULT_IDLE = "127.0.0.1", 8000, 8, "30m"


def build_parser() -> argparse.ArgumentParser:
    return _build()[0]


class _NotTheTui(Exception):
    """The command line is not one the TUI-only parser reads as the full parser does (see :func:`_parse_tui`)."""


class _TuiOnlyParser(argparse.ArgumentParser):
    """A parser that prints nothing and exits never: anything but a clean parse raises :class:`_NotTheTui`."""

    def error(self, message: str) -> NoReturn:
        raise _NotTheTui(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise _NotTheTui(message)

    def _print_message(self, message: str, file: Any = None) -> None:  # help, usage, version
        raise _NotTheTui(message)


def _parse_tui(argv: list[str]) -> argparse.Namespace | None:
    """``argv`` parsed as the full parser parses it, when it runs the dashboard (``kpitui``, ``kpitui tui …``, options
    alone); ``None`` for anything else (another command, help, the version, a mistake: the full parser says what).

    The full parser declares every subcommand: building it imports their nine modules and makes ~60 parsers, ~15 ms
    of CPU on the way to the dashboard's first frame. This one has the same top-level options and the same ``tui``
    subcommand (made by the same code, :func:`_build`), and nothing else: where it parses without a word, the full
    parser parses to the same namespace (another subcommand's parser is only used when its name is given)."""
    if "_ARGCOMPLETE" in os.environ:
        return None
    parser, found = _build(tui_only=True)
    try:
        args = parser.parse_args(_with_default_command(argv, found))
    except _NotTheTui:
        return None
    return args if getattr(args, "command", None) in (None, "tui") else None


def _build(
    tui_only: bool = False,
) -> tuple[argparse.ArgumentParser, dict[str, Callable[[argparse.Namespace], int]]]:
    """The parser and, per subcommand, the function that runs it (``tui_only``: the ``tui`` subcommand alone, a
    parser that raises instead of printing; :func:`_parse_tui`)."""
    kind = _TuiOnlyParser if tui_only else argparse.ArgumentParser
    common = kind(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="config file (default: ./kpitui.toml, then the user config, then the bundled sample)",
    )
    common.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="log more: debug lines, e.g. every poll of `collect --every` (repeatable)",
    )
    common.add_argument("-q", "--quiet", action="count", default=argparse.SUPPRESS, help="log only warnings and errors")

    parser = kind(
        prog="kpitui",
        description="Objectives, key metrics and KPIs in the terminal.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"kpitui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    tui = sub.add_parser("tui", parents=[common], help="open the dashboard (the default)")
    tui.add_argument("--no-collect", action="store_true", help="only view; leave collecting to `kpitui collect`")
    tui.add_argument(
        "--read-only",
        action="store_true",
        help="refuse adding readings (what `kpitui serve` runs without --allow-write)",
    )
    if tui_only:
        return parser, {"tui": cmd_tui}
    found = {"tui": cmd_tui, **commands.add_parsers(sub, common), "serve": cmd_serve}
    serve = sub.add_parser(
        "serve",
        parents=[common],
        help="serve the dashboard to web browsers (loopback and a token by default)",
        description=(
            "Serve the dashboard to web browsers: each browser session runs its own `kpitui tui` viewing the shared "
            "history. Listens on loopback unless --host says otherwise; every request needs the token printed at start "
            "(or --token-env / [serve] token), or a [serve.users] login. Read-only unless --allow-write."
        ),
    )
    serve.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}; 0.0.0.0 or :: for every interface)",
    )
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)"
    )
    serve.add_argument(
        "--collect", action="store_true", help="also run one collector (`kpitui collect`) for all sessions"
    )
    serve.add_argument(
        "--allow-write", action="store_true", help="let browser sessions add readings (default: read-only)"
    )
    serve.add_argument(
        "--token-env", metavar="VAR", help="take the token from this environment variable instead of generating one"
    )
    serve.add_argument(
        "--max-sessions",
        type=int,
        default=DEFAULT_MAX_SESSIONS,
        metavar="N",
        help=f"concurrent browser sessions (default {DEFAULT_MAX_SESSIONS})",
    )
    serve.add_argument(
        "--idle-timeout",
        default=DEFAULT_IDLE,
        metavar="DURATION",
        help=f"close a session after this long without a key press or resize (default {DEFAULT_IDLE}; 0: never)",
    )
    serve.add_argument(
        "--hash-password",
        action="store_true",
        help="read a password (prompt or stdin) and print its hash for [serve.users], then exit",
    )
    _describe_subcommands(parser)
    return parser, found


def _describe_subcommands(parser: argparse.ArgumentParser) -> None:
    """Each subcommand's ``--help`` opens with its one-line help when it has no description of its own."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, subparser in action.choices.items():
                text = helps.get(name)
                if not subparser.description and text:
                    subparser.description = text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")
                _describe_subcommands(subparser)


def _with_default_command(argv: list[str], commands: Iterable[str]) -> list[str]:
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
    try:
        return _main(argv)
    except KeyboardInterrupt:  # a Ctrl+C during start-up, before the command's own handling below: no traceback
        return 130


def _main(argv: Sequence[str] | None) -> int:
    from .console import degrade_glyphs, literal_output, open_closed_std_streams

    closed = open_closed_std_streams()
    degrade_glyphs(sys.stdout, sys.stderr)
    if "stdout" in closed:
        print("kpitui: standard output is closed: what this command prints goes nowhere", file=sys.stderr)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parse_tui(argv)  # the dashboard's command line, without building every subcommand's parser
    found: dict[str, Callable[[argparse.Namespace], int]] = {"tui": cmd_tui}
    if args is None:
        parser, found = _build()
        if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (kpitui completion SHELL): answer and exit
            from .completion import autocomplete

            autocomplete(parser)
        args = parser.parse_args(_with_default_command(argv, found))
    from . import logs

    args.log_level = logs.level_of(getattr(args, "verbose", 0), getattr(args, "quiet", 0))
    logs.setup(args.log_level)
    command = args.command or "tui"
    if command == "tui":
        _before_the_config()  # kpitui.config's import below makes its dataclasses: the kept code runs them
    from .config import ConfigError

    try:
        if command in ("tui", "serve"):  # Textual draws on the terminal itself
            return found[command](args)
        with literal_output():  # a name, an annotation or a log line's agent printed as it is, never acted on
            return found[command](args)
    except (ConfigError, UsageError) as exc:
        base.err(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except base.Failure as exc:
        base.err(str(exc))
        return EXIT_FAILURE
    except Exception as exc:
        from .failures import explain, handles

        if not handles(exc):
            raise
        base.err(explain(exc, base.opened_history))  # a full disk, a read-only or damaged history: one line, exit 1
        return EXIT_FAILURE


def _before_the_config() -> None:
    """What the TUI's start does before the config is imported and loaded (:func:`main` calls it before its
    ``import`` of :mod:`kpitui.config`, which makes ~80 dataclasses, the config's tables and the model; until
    2026-12-04 both came after that import, and its dataclasses compiled their methods anew at every start with the
    collector running: benchmarks/NOTES.md, start17). Each does nothing the second time."""
    from . import kept_code
    from .location import data_dir
    from .ui import gc_pause

    gc_pause.pause()  # until the first values are painted (kpitui.ui.gc_pause): start-up makes no garbage to speak of
    kept_code.install(data_dir())  # the dataclasses' methods compiled at the last start (kpitui.kept_code)


def cmd_tui(args: argparse.Namespace) -> int:
    from . import kept_code
    from .ui import gc_pause

    _before_the_config()  # done by main() already; here for a direct call
    try:
        return _tui(args)
    finally:
        kept_code.finish(save=False)
        gc_pause.resume()


def _tui(args: argparse.Namespace) -> int:
    from .sqlite_store.writable import unwritable

    config = base.load(args)
    base.settle_history(config)
    collect = not getattr(args, "no_collect", False)
    why = unwritable(config.storage.path) if config.storage.url is None and config.storage.path.exists() else None
    if why is not None:  # view it as it is (kpitui.ui.runtime opens it read-only)
        collect = False
        config.history_notice = base.read_only_notice(config, why)
        base.err(config.history_notice)
    try:
        from .ui.app import run
    except ImportError as exc:
        raise base.Failure(f"the terminal UI is not available ({exc}); try `kpitui report`") from None
    from .ui.preload import Preload, worth_preloading

    # a large history loads while the first frame is drawn: started after Textual's imports, not beside them
    # (two threads importing hold each other back through the GIL: kpitui.ui.preload)
    preload = Preload(config) if worth_preloading(config) else None
    code: int = run(config, collect=collect, read_only=getattr(args, "read_only", False), preload=preload)
    return code


def cmd_serve(args: argparse.Namespace) -> int:
    from . import serve_command

    if args.hash_password:
        try:
            print(serve_command.hash_password_command())
        except ValueError as exc:
            raise base.UsageError(f"--hash-password: {exc}") from None
        return base.EXIT_OK
    config = base.load(args)
    plan = serve_command.prepare(args, config, base.UsageError)
    base.settle_history(config)
    try:
        from .ui.serve import run
    except ImportError as exc:
        raise base.Failure(f"serving to browsers needs the serve extra ({exc}): pip install 'kpitui[serve]'") from None
    code: int = run(plan)
    return code


def __getattr__(name: str) -> Any:
    if name == "COMMANDS":  # every subcommand's name and the function that runs it (built on demand, not at import)
        return _build()[1]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
