"""Which terminal stream the dashboard draws on.

Textual's Linux driver writes the screen to standard error (``sys.__stderr__``), so ``kpitui 2>/dev/null`` or
``kpitui 2>log`` drew the whole dashboard into the redirect: the terminal stayed blank (keys still went to the
unseen app) or the log filled with escape sequences. With standard output on the terminal, :func:`driver_for`
gives a driver that draws there instead, and what kpitui writes to stderr still goes where it was sent.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def driver_for(default: type) -> type:
    """``default`` (Textual's choice), or the same Linux driver drawing on standard output when ``default`` is
    Textual's Linux driver, standard error is not a terminal and standard output is."""
    if default.__module__ != "textual.drivers.linux_driver" or default.__name__ != "LinuxDriver":
        return default  # Windows, or a driver the environment names (TEXTUAL_DRIVER: kpitui serve's web driver)
    if os.isatty(2) or not os.isatty(1):
        return default

    class StdoutDriver(default):  # type: ignore[valid-type,misc]
        """Textual's Linux driver drawing on standard output."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._file = sys.__stdout__

    return StdoutDriver


def no_terminal() -> str | None:
    """Why the dashboard cannot be shown, when neither standard output nor standard error is a terminal (and no
    TEXTUAL_DRIVER names a driver that needs none); else None."""
    if os.environ.get("TEXTUAL_DRIVER") or os.isatty(1) or os.isatty(2):
        return None
    return (
        "kpitui: the dashboard needs a terminal, and standard output and standard error are both redirected "
        "(a file, a pipe or /dev/null): run kpitui in a terminal, or `kpitui report` for the KPIs as text"
    )
