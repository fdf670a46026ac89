"""The ``command`` source: each metric is the number a program prints.

A metric runs ``command`` with ``/bin/sh -c`` (pipes and variables work), or
``argv`` directly (no shell, no quoting surprises). Its reading is the first
number in the standard output, or, with ``json_path``, the number at that
path of the JSON it prints. The value is stamped with the start of the current
``bucket``, so running it again in that hour or day replaces it.

Commands run in the config file's folder (or ``cwd``), each in its own
process group: past the source's ``timeout`` (or when kpitui cancels the
fetch) the whole group is killed, so a script's children do not linger.
Standard output is read up to 16 MiB: a command printing more is killed and
fails with that error (memory stays bounded). A non-zero exit fails with the exit code and
the last lines of standard error. ``env`` adds environment variables whose
values are secrets (``API_TOKEN = "${SHOP_TOKEN}"``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import selectors
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpitui import hookimpl
from kpitui.api import FetchResult, MetricSource, OptionError, Secret, SourceError, readings_frame
from kpitui.model import Metric

from ._sourcekit import (
    WATCH_EVERY,
    Bucket,
    Deadline,
    JsonPath,
    as_number,
    clip,
    collect_errors,
    fail,
    first_number,
    reveal,
    tail,
    truncate,
)

SHELL = "/bin/sh"
#: the most standard output a command may print (the number, or a JSON document)
MAX_OUTPUT_BYTES = 16 * 2**20
#: the end of standard error kept to show (its last lines)
MAX_STDERR_BYTES = 64 * 2**10
READ_CHUNK = 256 * 2**10


@dataclass(frozen=True)
class CommandOptions:
    """``cwd``: the folder commands run in (default: the config file's folder).
    ``env``: extra environment variables, as secrets."""

    cwd: str | None = None
    env: dict[str, Secret] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandMetricOptions:
    """``command``: a shell command line, or ``argv``: the program and its arguments.
    ``json_path``: read the number at this path of JSON output (default: the first number
    printed). ``bucket``: ``hour`` or ``day``."""

    command: str | None = None
    argv: list[str] | None = None
    json_path: str | None = None
    bucket: Bucket = "hour"

    def validate(self) -> None:
        if (self.command is None) == (self.argv is None):
            raise OptionError("set either command (run by /bin/sh) or argv (a list: program, arguments)", "command")
        if self.command is not None and not self.command.strip():
            raise OptionError("command must not be empty", "command")
        if self.argv is not None and (not self.argv or not self.argv[0]):
            raise OptionError("argv must start with the program to run", "argv")
        if self.json_path is not None:
            JsonPath.compile(self.json_path, "json_path")


def _collect(proc: subprocess.Popen[bytes], deadline: Deadline) -> tuple[bytes, bytes]:
    """Read the process's stdout (at most :data:`MAX_OUTPUT_BYTES`) and the end of its stderr until it exits.

    Past the deadline (or on cancellation), or past the output limit, the whole
    process group is killed and the fetch fails; memory stays bounded whatever
    the command prints.
    """
    out, err = bytearray(), bytearray()
    streams = {proc.stdout: out, proc.stderr: err}
    problem = None
    with selectors.DefaultSelector() as selector:
        for stream in streams:
            os.set_blocking(stream.fileno(), False)  # type: ignore[union-attr]
            selector.register(stream, selectors.EVENT_READ)  # type: ignore[arg-type]
        while selector.get_map() and problem is None:
            if deadline.expired:
                problem = f"timed out after {deadline.seconds:g}s (the source's timeout); the process group was killed"
                break
            for key, _ in selector.select(min(deadline.remaining(), WATCH_EVERY)):
                chunk = os.read(key.fd, READ_CHUNK)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffer = streams[key.fileobj]  # type: ignore[index]
                buffer += chunk
                if key.fileobj is proc.stderr:
                    del buffer[: max(0, len(buffer) - MAX_STDERR_BYTES)]  # only its last lines are shown
                elif len(buffer) > MAX_OUTPUT_BYTES:
                    problem = (
                        f"the command printed more than {MAX_OUTPUT_BYTES // 2**20} MiB, the most a source reads; "
                        "the process group was killed (print just the number)"
                    )
                    break
    for stream in streams:
        stream.close()  # type: ignore[union-attr]
    if problem is None:
        try:
            proc.wait(max(deadline.remaining(), 0.1))  # both pipes closed, but it may still run
        except subprocess.TimeoutExpired:
            problem = f"timed out after {deadline.seconds:g}s (the source's timeout); the process group was killed"
    if problem is not None:
        _kill_group(proc)
        proc.kill()
        proc.wait()
        raise fail(problem)
    return bytes(out), bytes(err)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)  # start_new_session: the group id is the pid
        else:  # pragma: no cover
            proc.kill()
    except ProcessLookupError:
        pass


class CommandSource(MetricSource):
    type_name = "command"
    description = "Numbers printed by a command or script (first number, or a JSON path)."
    Options = CommandOptions
    MetricOptions = CommandMetricOptions
    mode = "replace"
    default_interval = 300.0
    default_timeout = 30.0

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"source": {}, "metric": {"command": "wc -l < exports/members.txt"}}

    def fetch(self, cursor: str | None, now: dt.datetime) -> FetchResult:
        deadline = Deadline(self.spec.timeout)
        rows: list[tuple[str, dt.datetime, float]] = []
        errors: list[str] = []
        for metric in self.metrics:
            try:
                value = self._read(metric, deadline)
            except SourceError as exc:
                errors.append(f"metric {metric.id}: {exc}")
                continue
            rows.append((metric.id, truncate(now, metric.options.bucket, self.context.timezone), value))
        collect_errors(errors)
        return FetchResult(readings_frame(rows), cursor)

    def _read(self, metric: Metric, deadline: Deadline) -> float:
        opts: CommandMetricOptions = metric.options
        stdout = self._run(opts, deadline)
        if opts.json_path is not None:
            try:
                document = json.loads(stdout)
            except ValueError:
                raise fail(f"the output is not JSON: {clip(stdout, 120)!r}") from None
            return as_number(
                JsonPath.compile(opts.json_path).find(document, "the output"), f"the value at {opts.json_path!r}"
            )
        number = first_number(stdout)
        if number is None:
            raise fail(f"no number in the output: {clip(stdout, 120)!r}")
        return number

    def _run(self, opts: CommandMetricOptions, deadline: Deadline) -> str:
        args = [SHELL, "-c", opts.command] if opts.command is not None else list(opts.argv or ())
        cwd = self.context.path(self.options.cwd) if self.options.cwd else self.context.config_dir
        if not Path(cwd).is_dir():
            raise fail(f"cwd {str(cwd)!r} is not a folder")
        env = {**os.environ, **{name: reveal(value, multiline=True) for name, value in self.options.env.items()}}
        timeout = deadline.remaining()
        if timeout <= 0:
            raise fail(f"not run: the source's {deadline.seconds:g}s timeout ran out")
        try:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise fail(f"program not found: {args[0]!r}") from None
        except OSError as exc:
            raise fail(f"cannot run {args[0]!r}: {exc.strerror or exc}") from None
        out, err = _collect(proc, deadline)
        stdout = out.decode("utf-8", "replace")
        if proc.returncode != 0:
            if proc.returncode < 0:
                try:
                    how = f"was killed by {signal.Signals(-proc.returncode).name}"
                except ValueError:
                    how = f"was killed by signal {-proc.returncode}"
            else:
                how = f"exited with code {proc.returncode}"
            stderr = tail(err.decode("utf-8", "replace"))
            raise fail(f"command {how}" + (f"; stderr:\n{stderr}" if stderr else " (nothing on stderr)"))
        return stdout


@hookimpl
def register_metric_sources() -> list[type[MetricSource]]:
    return [CommandSource]
