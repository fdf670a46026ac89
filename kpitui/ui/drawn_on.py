"""Which terminal stream the dashboard draws on, and measures.

Textual's Linux driver writes the screen to standard error (``sys.__stderr__``) and takes its size from standard
output (``shutil.get_terminal_size``). So ``kpitui 2>/dev/null`` or ``kpitui 2>log`` drew the whole dashboard into
the redirect (a blank terminal, the app waiting for keys unseen, or a log full of escape sequences), and
``kpitui >/dev/null`` drew at 80 x 24 whatever the terminal's size. With one of the two on the terminal,
:func:`driver_for` gives a driver that draws on that one and measures it; what kpitui writes to the other still
goes where it was sent.

Textual also reads its keys from standard input. With that redirected (``kpitui </dev/null``: a script, a service
wrapper, ``nohup``) the dashboard was drawn but got no key (``q`` did nothing, what was typed was echoed over it) and
its input thread spun on the end of the redirect at a core's worth of CPU. :func:`driver_for` then gives a driver
that reads its keys from the process's terminal (``/dev/tty``); with none, :func:`no_terminal` says so instead.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def driver_for(default: type) -> type:
    """``default`` (Textual's choice), or the same Linux driver drawing on and measuring the one of standard error
    and standard output that is a terminal, when ``default`` is Textual's Linux driver and only one of them is, and
    reading its keys from the process's terminal when standard input is not one."""
    if default.__module__ != "textual.drivers.linux_driver" or default.__name__ != "LinuxDriver":
        return default  # Windows, or a driver the environment names (TEXTUAL_DRIVER: kpitui serve's web driver)
    err_tty, out_tty, in_tty = os.isatty(2), os.isatty(1), os.isatty(0)
    if not err_tty and not out_tty:
        return default  # neither (no_terminal says so before this)
    if err_tty and out_tty and in_tty:
        return default  # all three on the terminal: Textual's own way
    stream = sys.__stderr__ if err_tty else sys.__stdout__
    keys = None if in_tty else keys_terminal()

    class TerminalDriver(default):  # type: ignore[valid-type,misc]
        """Textual's Linux driver on the one standard stream that is a terminal, its keys read from the terminal."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._file = stream
            if keys is not None:
                self.fileno = keys
                self.input_tty = True

        def _get_terminal_size(self) -> tuple[int, int]:
            try:
                size = os.get_terminal_size(stream.fileno())  # type: ignore[union-attr]
            except (AttributeError, OSError, ValueError):
                return super()._get_terminal_size()  # type: ignore[no-any-return]
            return size.columns or 80, size.lines or 25

    return TerminalDriver


_keys: list[int | None] = []


def keys_terminal() -> int | None:
    """A descriptor of the process's terminal (``/dev/tty``) to read keys from, opened once; ``None`` when the process
    has no terminal (started without one: a service, ``setsid``)."""
    if not _keys:
        fd: int | None = None
        try:
            fd = os.open("/dev/tty", os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            pass
        if fd is not None and not os.isatty(fd):
            os.close(fd)
            fd = None
        _keys.append(fd)
    return _keys[0]


def no_terminal() -> str | None:
    """Why the dashboard cannot be shown, when neither standard output nor standard error is a terminal, or standard
    input is not one and the process has no terminal to read keys from (and no TEXTUAL_DRIVER names a driver that
    needs none); else None."""
    if os.environ.get("TEXTUAL_DRIVER"):
        return None
    if os.isatty(1) or os.isatty(2):
        if os.isatty(0) or os.name != "posix" or keys_terminal() is not None:
            return None
        return (
            "kpitui: the dashboard reads its keys from the terminal, and standard input is redirected while this "
            "process has no terminal of its own (/dev/tty): run kpitui in a terminal, or `kpitui report` for the KPIs "
            "as text"
        )
    return (
        "kpitui: the dashboard needs a terminal, and standard output and standard error are both redirected "
        "(a file, a pipe or /dev/null): run kpitui in a terminal, or `kpitui report` for the KPIs as text"
    )
