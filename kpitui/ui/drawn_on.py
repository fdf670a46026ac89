"""Which terminal stream the dashboard draws on, and measures.

Textual's Linux driver writes the screen to standard error (``sys.__stderr__``) and takes its size from standard
output (``shutil.get_terminal_size``). So ``kpitui 2>/dev/null`` or ``kpitui 2>log`` drew the whole dashboard into
the redirect (a blank terminal, the app waiting for keys unseen, or a log full of escape sequences), and
``kpitui >/dev/null`` drew at 80 x 24 whatever the terminal's size. With one of the two on the terminal,
:func:`driver_for` gives a driver that draws on that one and measures it; what kpitui writes to the other still
goes where it was sent.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def driver_for(default: type) -> type:
    """``default`` (Textual's choice), or the same Linux driver drawing on and measuring the one of standard error
    and standard output that is a terminal, when ``default`` is Textual's Linux driver and only one of them is."""
    if default.__module__ != "textual.drivers.linux_driver" or default.__name__ != "LinuxDriver":
        return default  # Windows, or a driver the environment names (TEXTUAL_DRIVER: kpitui serve's web driver)
    err_tty, out_tty = os.isatty(2), os.isatty(1)
    if err_tty == out_tty:
        return default  # both terminals (Textual's own way), or neither (no_terminal says so before this)
    stream = sys.__stderr__ if err_tty else sys.__stdout__

    class TerminalDriver(default):  # type: ignore[valid-type,misc]
        """Textual's Linux driver on the one standard stream that is a terminal."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._file = stream

        def _get_terminal_size(self) -> tuple[int, int]:
            try:
                size = os.get_terminal_size(stream.fileno())  # type: ignore[union-attr]
            except (AttributeError, OSError, ValueError):
                return super()._get_terminal_size()  # type: ignore[no-any-return]
            return size.columns or 80, size.lines or 25

    return TerminalDriver


def no_terminal() -> str | None:
    """Why the dashboard cannot be shown, when neither standard output nor standard error is a terminal (and no
    TEXTUAL_DRIVER names a driver that needs none); else None."""
    if os.environ.get("TEXTUAL_DRIVER") or os.isatty(1) or os.isatty(2):
        return None
    return (
        "kpitui: the dashboard needs a terminal, and standard output and standard error are both redirected "
        "(a file, a pipe or /dev/null): run kpitui in a terminal, or `kpitui report` for the KPIs as text"
    )
