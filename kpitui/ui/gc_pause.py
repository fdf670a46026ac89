"""Python's cyclic garbage collector paused while the TUI starts, resumed once the first values are painted.

A start makes objects that nearly all live as long as the process (modules,
classes, functions, the config, the widgets: ~88,000 tracked by the collector
once the sample's first values are shown) and little cyclic garbage, but the
collector keeps walking them as they are made: over the sample's start ~215
collections, 0.10-0.13 s of CPU (70-100 ms of it before the first frame; its
one full collection 30-40 ms; load 8), on the thread that happened to
allocate, holding back the frame and, through the GIL, the worker that
imports polars and loads the history. Paused, only cycles are freed later than
they would have been (~21,000 objects over the sample's start, found by the
first collection after :func:`resume`); reference counting frees everything
else as before.

``kpitui`` (:func:`kpitui.cli.main`) calls :func:`pause` before it imports the
config; the app calls :func:`resume` :data:`RESUME_DELAY` after the first values
are painted (or their evaluation failed), when the history cannot be opened,
at the latest :data:`RESUME_AFTER` seconds after it mounted, and
``cmd_tui`` on the way out. A collector
that was already off (the embedding program's choice) stays off. Nothing here
imports Textual.
"""

from __future__ import annotations

import gc
import threading

#: the latest the collector resumes after the app has mounted, first values or not (seconds)
RESUME_AFTER = 10.0
#: how long after the first values are painted it resumes (seconds): its first collection walks every
#: object the start made (60-90 ms of CPU at load 10, holding the GIL), kept clear of writing the values out
RESUME_DELAY = 1.0

_lock = threading.Lock()
_paused = False


def pause() -> None:
    """Turn the cyclic collector off until :func:`resume`, unless it is off already."""
    global _paused
    with _lock:
        if not _paused and gc.isenabled():
            gc.disable()
            _paused = True


def resume() -> None:
    """Turn the collector back on if :func:`pause` turned it off (once; later calls do nothing)."""
    global _paused
    with _lock:
        if _paused:
            _paused = False
            gc.enable()


def paused() -> bool:
    """Whether :func:`pause` has the collector off now."""
    return _paused
