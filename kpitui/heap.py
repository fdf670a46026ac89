"""Handing the C heap's free pages back to the system (glibc's ``malloc_trim``).

A full load reads the columnar snapshot's parts from the store as Python
``bytes`` (~8 MiB each, ~96 MB for ten million readings; SQLite assembles
each in a buffer of its own first) and frees each once it is decoded. glibc
serves blocks of that size from its heap once one has been freed (its
threshold for a private mapping moves up to the freed size), and returns a
heap's free pages to the system only from its top: the freed parts stayed
resident until the last one went, under the whole index being built (about
100 MB of a `kpitui report`'s peak, benchmarks/NOTES.md "Memory: a full
load's blobs and the fold's mapped base"). :func:`trim` asks glibc to give back
every free page now.

Elsewhere (musl, macOS, a glibc without the call) it does nothing.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own symbols: the C library's, if it has one
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def trim() -> None:
    """Give the C heap's free pages back to the system (a few ms at most; nothing freed is lost)."""
    call = _malloc_trim()
    if call is not None:
        call(0)
