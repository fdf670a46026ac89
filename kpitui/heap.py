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
import os
import struct
import sys
import threading
from typing import Any, Callable, Iterator


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


# -- polars' allocator --------------------------------------------------------------------------------------
#
# polars allocates through its own jemalloc (symbols prefixed ``_rjem_``), which keeps the pages its threads
# free for a while (``dirty_decay_ms:500,muzzy_decay_ms:1000``, set by polars; a freed page still counts as
# resident until the kernel takes it back) and reuses them only in the arena that freed them. A step that
# frees a lot and is followed by one that allocates a lot in other threads (a full load's decode then the
# index; the first evaluation then the fold; the fold's key pieces then its value pieces) adds both up on
# the peak. jemalloc purges on request (``mallctl("arena.<all>.purge")``), but polars exports no symbol
# of it: its address is read from the library file's symbol table (ELF) and checked against an exported
# one (the module's ``PyInit_`` function, through the dynamic loader), and the call is made only when
# jemalloc then answers its version. Anything else (another allocator or platform, a stripped library,
# a symbol not found): :func:`purge_polars` does nothing.

_MALLCTL = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t
)
#: what a step must have left kept for :func:`purge_polars` to give it back where a caller passes it (a fold or a
#: full load of a small history frees little: no purge, no faults)
WORTH_PURGING = 32 << 20
#: MALLCTL_ARENAS_ALL: every arena
_PURGE_ALL = b"arena.4096.purge"
_lookup = threading.Lock()


def _symbols(path: str, names: tuple[bytes, ...]) -> dict[bytes, tuple[int, int]]:
    """``{name: (value, type)}`` of those of ``names`` in the ELF file ``path``'s symbol table (``.symtab``;
    64-bit little-endian only): the first entry of each name found, read in pieces from the end (where a
    Rust library's linker left jemalloc's: ~1 ms, against ~35 ms to read the 35 MB of names through),
    never the whole table in memory."""
    found: dict[bytes, tuple[int, int]] = {}
    with open(path, "rb") as file:
        head = file.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:  # ELFCLASS64, little-endian
            return found
        (shoff,) = struct.unpack_from("<Q", head, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", head, 0x3A)
        file.seek(shoff)
        table = file.read(shentsize * shnum)
        sections = [struct.unpack_from("<IIQQQQIIQQ", table, i * shentsize) for i in range(shnum)]
        for _, kind, _, _, offset, size, link, _, _, entsize in sections:
            if kind != 2 or entsize != 24 or link >= shnum:  # SHT_SYMTAB
                continue
            where = {}  # name -> its index in the string table
            for at, block in _pieces(file, sections[link][4], sections[link][5], 1 << 20, 256):
                for name in names:
                    hit = block.find(b"\0" + name + b"\0")
                    if name not in where and 0 <= hit < 1 << 20:  # the overlap is the next piece's
                        where[name] = at + hit + 1
                if len(where) == len(names):
                    break
            wanted = {struct.pack("<I", index): name for name, index in where.items()}
            for at, block in _pieces(file, offset, size - size % 24, 24 << 16, 0):
                for pattern, name in wanted.items():
                    hit = block.find(pattern)
                    while hit != -1 and name not in found:
                        if hit % 24 == 0:
                            (info,) = struct.unpack_from("<B", block, hit + 4)
                            (value,) = struct.unpack_from("<Q", block, hit + 8)
                            found[name] = (value, info & 0xF)
                        hit = block.find(pattern, hit + 1)
                if len(found) == len(wanted):
                    break
            return found
    return found


def _pieces(file: Any, offset: int, size: int, piece: int, overlap: int) -> Iterator[tuple[int, bytes]]:
    """``(start, bytes)`` of the ``size`` bytes at ``offset`` in ``file``, ``piece`` at a time (and ``overlap``
    more), the last piece first."""
    for start in reversed(range(0, size, piece)):
        file.seek(offset + start)
        yield start, file.read(min(piece + overlap, size - start))


_resolved: dict[str, Any] = {}  # the library's path -> its checked mallctl (or None)


def _polars_mallctl() -> Any:
    """jemalloc's ``mallctl`` inside polars' library, checked (see above), or ``None`` (also while polars is not
    loaded: nothing is remembered then). Callers hold ``_lookup``."""
    runtime = sys.modules.get("polars._plr")
    path = getattr(runtime, "__file__", None)
    if not path:
        return None
    if path not in _resolved:
        _resolved[path] = _find_mallctl(path)
    return _resolved[path]


def _find_mallctl(path: str) -> Any:
    if not sys.platform.startswith("linux") or os.environ.get("KPITUI_POLARS_PURGE", "").strip() == "0":
        return None  # (``KPITUI_POLARS_PURGE=0``: never call into polars' allocator; README, Benchmarks)
    # two exported functions: their addresses through the dynamic loader less their values in the file give
    # the library's load base, the same for both (else the table read is not the one loaded)
    exported = (b"PyInit__polars_runtime", b"PyInit__expr_nodes")
    try:
        symbols = _symbols(path, (*exported, b"_rjem_mallctl"))
        if len(symbols) != 3 or any(kind != 2 for _, kind in symbols.values()):  # STT_FUNC each
            return None
        library = ctypes.CDLL(path)  # already loaded: the same handle, nothing run
        bases = {
            (ctypes.cast(getattr(library, name.decode()), ctypes.c_void_p).value or 0) - symbols[name][0]
            for name in exported
        }
        if len(bases) != 1:
            return None
        (base,) = bases
        mallctl = _MALLCTL(base + symbols[b"_rjem_mallctl"][0])
        version = ctypes.c_char_p()
        length = ctypes.c_size_t(ctypes.sizeof(version))
        if mallctl(b"version", ctypes.byref(version), ctypes.byref(length), None, 0) != 0:
            return None
        text = version.value or b""
        if not (text[:1].isdigit() and b"." in text):
            return None
        return mallctl
    except (OSError, ValueError, AttributeError, IndexError, struct.error):
        return None


def kept_by_polars() -> int | None:
    """The bytes polars' allocator keeps of what was freed (resident, not in use: its dirty and muzzy pages,
    every arena), or ``None`` when it cannot say."""
    with _lookup:
        mallctl = _polars_mallctl()
    if mallctl is None:
        return None
    epoch = ctypes.c_uint64(1)
    counts = [ctypes.c_size_t() for _ in range(3)]
    length = ctypes.c_size_t(ctypes.sizeof(counts[0]))
    if mallctl(b"epoch", None, None, ctypes.byref(epoch), ctypes.sizeof(epoch)) != 0:
        return None
    for name, count in zip((b"stats.arenas.4096.pdirty", b"stats.arenas.4096.pmuzzy", b"arenas.page"), counts):
        if mallctl(name, ctypes.byref(count), ctypes.byref(length), None, 0) != 0:
            return None
    return (counts[0].value + counts[1].value) * counts[2].value


def purge_polars(*, at_least: int = 0) -> None:
    """Give back to the system the pages polars' allocator keeps from what its threads freed (the live
    memory is untouched; a page used again later is a fresh one, zeroed by the kernel). ~1-5 ms, and
    the pages given back are faulted in again as they are reused; nothing where it cannot.

    ``at_least``: only when that many bytes are kept (:func:`kept_by_polars`, a few µs): a step that
    freed little is not worth the faults."""
    with _lookup:
        mallctl = _polars_mallctl()
    if mallctl is None:
        return
    if at_least > 0:
        kept = kept_by_polars()
        if kept is not None and kept < at_least:
            return
    mallctl(_PURGE_ALL, None, None, None, 0)
