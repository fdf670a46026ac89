"""The ``command`` notifier: runs a program with the alert as JSON on standard input.

``argv`` is the program and its arguments (no shell), ``command`` a shell
line run by ``/bin/sh -c``. The program also gets the main fields as
environment variables: ``KPITUI_ALERT``, ``KPITUI_KIND``, ``KPITUI_TITLE``,
``KPITUI_TEXT``, ``KPITUI_KEY`` (the idempotency key), ``KPITUI_SUBJECT``,
``KPITUI_AT``, plus ``env`` (secrets). Exit status 0 is success; past the
timeout the program's whole process group is killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import dataclass, field
from typing import Any

from kpitui.api import Notification, Notifier, NotifierError, OptionError, Secret

from ._common import clip, reveal


@dataclass(frozen=True)
class CommandNotifierOptions:
    argv: list[str] | None = field(default=None, metadata={"help": "the program and its arguments"})
    command: str | None = field(default=None, metadata={"help": "or a shell command line (/bin/sh -c)"})
    cwd: str | None = field(default=None, metadata={"help": "folder to run in (default: the config file's folder)"})
    env: dict[str, Secret] = field(default_factory=dict, metadata={"help": "extra environment variables (secrets)"})

    def validate(self) -> None:
        if (self.argv is None) == (self.command is None):
            raise OptionError("set either argv (a list: program, arguments) or command (run by /bin/sh)", "argv")
        if self.argv is not None and not self.argv:
            raise OptionError("argv must name a program", "argv")


class CommandNotifier(Notifier):
    type_name = "command"
    description = "run a program with the alert as JSON on stdin and KPITUI_* variables"
    Options = CommandNotifierOptions
    default_timeout = 30.0

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"argv": ["notify-send", "kpitui"]}

    def send(self, notification: Notification) -> None:
        o = self.options
        env = {**os.environ, **{name: reveal(value) for name, value in o.env.items()}}
        env.update(
            {
                "KPITUI_ALERT": notification.name,
                "KPITUI_KIND": notification.kind,
                "KPITUI_TITLE": notification.title,
                "KPITUI_TEXT": notification.text,
                "KPITUI_KEY": notification.key,
                "KPITUI_SUBJECT": notification.subject or "",
                "KPITUI_AT": notification.at.isoformat(),
            }
        )
        args = o.argv if o.argv is not None else ["/bin/sh", "-c", o.command]
        cwd = self.context.path(o.cwd) if o.cwd else self.context.config_dir
        payload = json.dumps(
            {**notification.as_dict(), "markdown": notification.markdown, "html": notification.html}, ensure_ascii=False
        )
        try:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise NotifierError(clip(f"cannot run {args[0]}: {exc.strerror or exc}")) from None
        try:
            _, err = proc.communicate(payload.encode(), timeout=self.timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
            raise NotifierError(f"{args[0]} did not finish within {self.timeout:g}s; killed") from None
        if proc.returncode != 0:
            last = err.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise NotifierError(
                clip(f"{args[0]} exited with status {proc.returncode}" + (f": {' '.join(last)}" if last else ""))
            )
