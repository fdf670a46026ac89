"""``kpitui serve``: its options (declared in :mod:`kpitui.cli`), checked into a :class:`ServePlan` before anything
listens.

The web server itself (aiohttp + textual-serve) is :mod:`kpitui.ui.serve`,
started by the CLI once the plan is sound; this module stays headless. The
one collector ``--collect`` asks for is a ``kpitui collect`` child process
(:func:`start_collector`), never one per browser session.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .serve_auth import AuthError, check_token, generate_token, hash_password, is_loopback


@dataclass
class ServePlan:
    host: str
    port: int
    config_path: Path
    token: str
    #: the token was generated here: print it once in the URL (a token from the environment is never printed)
    token_generated: bool
    users: dict[str, str]
    allow_write: bool
    collect: bool
    max_sessions: int
    idle_seconds: float | None
    app_argv: list[str]
    collector_argv: list[str] | None
    #: environment variables that hold the token: removed from the sessions' and the collector's environment
    secret_env: list[str] = field(default_factory=list)

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def kpitui_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "kpitui", *args]


def hash_password_command(stdin: TextIO | None = None) -> str:
    """The hash of a password typed at a prompt (twice) or read as one line from a pipe."""
    import getpass

    stdin = stdin or sys.stdin
    if stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise ValueError("the two passwords differ")
    else:
        password = stdin.readline().rstrip("\r\n")
    if not password:
        raise ValueError("empty password")
    return hash_password(password)


def prepare(args: argparse.Namespace, config: Any, usage_error: type[Exception]) -> ServePlan:
    """Check the options and the config; a mistake is ``usage_error`` (exit 2) with one clear line."""
    from .userinput import InputError, parse_duration

    if not 0 <= args.port <= 65535:
        raise usage_error(f"--port: {args.port} is not a port number (0-65535)")
    if args.max_sessions < 1:
        raise usage_error(f"--max-sessions: {args.max_sessions}: at least 1")
    try:
        idle = parse_duration(args.idle_timeout)
    except InputError as exc:
        raise usage_error(f"--idle-timeout: {exc}") from None
    host = args.host.strip()
    if not host:
        raise usage_error("--host: empty address")
    serve = config.serve
    secret_env: list[str] = []
    try:
        if args.token_env:
            name = args.token_env
            value = os.environ.get(name)
            if not value:
                raise usage_error(f"--token-env: environment variable {name} is not set or empty")
            token, generated = check_token(value, f"--token-env {name}"), False
            secret_env.append(name)
        elif serve is not None and serve.token is not None:
            from .options import OptionError

            try:
                token = check_token(serve.token.reveal(), f"{config.path}: [serve] token")
            except OptionError as exc:
                raise usage_error(f"{config.path}: [serve] token: {exc}") from None
            generated = False
            secret_env.extend(serve.token.references)
        else:
            token, generated = generate_token(), True
    except AuthError as exc:
        raise usage_error(str(exc)) from None
    app_argv = kpitui_argv("tui", "--config", str(config.path), "--no-collect")
    if not args.allow_write:
        app_argv.append("--read-only")
    return ServePlan(
        host=host,
        port=args.port,
        config_path=config.path,
        token=token,
        token_generated=generated,
        users=dict(serve.users) if serve is not None else {},
        allow_write=args.allow_write,
        collect=args.collect,
        max_sessions=args.max_sessions,
        idle_seconds=idle or None,
        app_argv=app_argv,
        collector_argv=kpitui_argv("collect", "--config", str(config.path)) if args.collect else None,
        secret_env=secret_env,
    )


def child_environment(plan: ServePlan) -> dict[str, str]:
    """This process's environment without the token's variables."""
    return {k: v for k, v in os.environ.items() if k not in plan.secret_env}


def start_collector(plan: ServePlan) -> subprocess.Popen[bytes] | None:
    """The one ``kpitui collect`` for every session (its output goes to this process's)."""
    if plan.collector_argv is None:
        return None
    return subprocess.Popen(plan.collector_argv, env=child_environment(plan), stdin=subprocess.DEVNULL)


def stop_collector(process: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
