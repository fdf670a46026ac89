"""Columns of fixed-width numbers kept in files as their raw bytes, read back mapped, not copied.

polars 2 no longer memory-maps the Arrow files it reads (``read_ipc`` copies
every column: ~0.1 s per 80 MB on a loaded machine). The viewer's index cache
(:mod:`kpitui.index_cache`) keeps its columns instead as the bare values
buffer of an Arrow array (``Int64`` or ``Float64``, no nulls, native byte
order) and hands polars a memory map of the file through the Arrow C data
interface (the ``__arrow_c_array__`` PyCapsule protocol, public in polars):
the series points into the mapped pages, which are read when touched.

The mapping is kept for the life of the process, and the release callback
polars calls when it drops the array is a native function that does nothing
(``getpid``, whose argument is ignored), not Python: polars drops arrays from
its own threads, and a Python callback entered from a thread without the GIL
while the interpreter shuts down ends that thread inside Rust's frames, which
aborts the process ("FATAL: exception not rethrown", exit 134: a TUI quit
while a daemon thread was reading the cache). A process maps one cache per
history it opens; :func:`drop_pages` hands the pages back to the page cache
once the history stops reading them (they are read again, from the file, if
anything still does).

Only for files nobody changes while they are mapped: the cache's files are
written once under new names and only ever unlinked (an unlinked file stays
readable through its mapping). A file cut short under a running mapping makes
the process fail on a read past its new end (SIGBUS), as any mapped file does.

No third-party module is needed: the C structures are declared with
:mod:`ctypes`, and the columns are written from polars' own Arrow stream export
(``__arrow_c_stream__``), chunk by chunk, without a copy.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import threading
from pathlib import Path
from typing import IO, Any

import polars as pl

#: the dtypes kept this way, with their Arrow C format strings (8 bytes a value)
FORMATS: dict[Any, bytes] = {pl.Int64: b"l", pl.Float64: b"g"}
WIDTH = 8


class _Schema(ctypes.Structure):
    pass


class _Array(ctypes.Structure):
    pass


class _Stream(ctypes.Structure):
    pass


_SchemaRelease = ctypes.CFUNCTYPE(None, ctypes.POINTER(_Schema))
_ArrayRelease = ctypes.CFUNCTYPE(None, ctypes.POINTER(_Array))
_Schema._fields_ = [
    ("format", ctypes.c_char_p),
    ("name", ctypes.c_char_p),
    ("metadata", ctypes.c_char_p),
    ("flags", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("children", ctypes.c_void_p),
    ("dictionary", ctypes.c_void_p),
    ("release", _SchemaRelease),
    ("private_data", ctypes.c_void_p),
]
_Array._fields_ = [
    ("length", ctypes.c_int64),
    ("null_count", ctypes.c_int64),
    ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.c_void_p),
    ("dictionary", ctypes.c_void_p),
    ("release", _ArrayRelease),
    ("private_data", ctypes.c_void_p),
]
_Stream._fields_ = [
    ("get_schema", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_Stream), ctypes.POINTER(_Schema))),
    ("get_next", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_Stream), ctypes.POINTER(_Array))),
    ("get_last_error", ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.POINTER(_Stream))),
    ("release", ctypes.CFUNCTYPE(None, ctypes.POINTER(_Stream))),
    ("private_data", ctypes.c_void_p),
]

#: every mapping handed to polars, with its buffers table, for the life of the process
_held: list[tuple[mmap.mmap, Any]] = []
_lock = threading.Lock()


def _native_noop() -> int | None:
    """The address of a C function that ignores its argument and touches nothing, or ``None``."""
    try:
        return ctypes.cast(ctypes.CDLL(None).getpid, ctypes.c_void_p).value
    except (OSError, AttributeError, TypeError):  # no C library to look in (not a POSIX system)
        return None


_NOOP = _native_noop()
_RELEASE_SCHEMA = _SchemaRelease(_NOOP) if _NOOP else None
_RELEASE_ARRAY = _ArrayRelease(_NOOP) if _NOOP else None

_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


class _Buffer(ctypes.Structure):
    _fields_ = [
        ("buf", ctypes.c_void_p),
        ("obj", ctypes.c_void_p),
        ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p),
        ("internal", ctypes.c_void_p),
    ]


_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes = [ctypes.py_object]
_incref.restype = None


def _immortal(mapping: mmap.mmap) -> None:
    """One more reference to ``mapping``, never dropped: it is never unmapped, not even at shut-down."""
    _incref(mapping)


def _address(mapping: mmap.mmap) -> int:
    """The address of a read-only mapping's first byte (``ctypes.from_buffer`` wants a writable one)."""
    view = _Buffer()
    if ctypes.pythonapi.PyObject_GetBuffer(ctypes.py_object(mapping), ctypes.byref(view), 0) != 0:
        raise OSError("no buffer")
    try:
        return int(view.buf)
    finally:
        ctypes.pythonapi.PyBuffer_Release(ctypes.byref(view))


class _Offer:
    """One mapped file offered to polars as an Arrow array (``__arrow_c_array__``), once.

    The method polars calls is a C callable (a :func:`functools.partial` of ``tuple``) over capsules
    made beforehand: polars calls it from Rust, and Python code run there could, at shut-down, end
    the thread inside Rust's frames as the release callback could (see the module's docstring)."""

    def __init__(self, mapping: mmap.mmap, fmt: bytes, rows: int) -> None:
        buffers = (ctypes.c_void_p * 2)(None, _address(mapping))
        with _lock:
            _held.append((mapping, buffers))
        # a reference nobody drops: at shut-down the interpreter clears this module's globals, and with them
        # ``_held``, while a daemon thread may still be inside polars reading the mapping (its GIL let go).
        # The mapping's last reference gone, it is unmapped under that read: a SIGSEGV at exit (one of the
        # 12 readers of tests/test_mapped_columns.py in a CI run at load 17). Kept for the life of the
        # process, the mapping goes with the process.
        _immortal(mapping)
        self.schema = _Schema(fmt, b"", None, 0, 0, None, None, _RELEASE_SCHEMA, None)
        self.array = _Array(rows, 0, 0, 2, 0, buffers, None, None, _RELEASE_ARRAY, None)
        # no capsule destructor: polars moves both out at once (the release callbacks are then its own to call)
        capsules = (
            _capsule_new(ctypes.addressof(self.schema), b"arrow_schema", None),
            _capsule_new(ctypes.addressof(self.array), b"arrow_array", None),
        )
        self.__arrow_c_array__ = functools.partial(tuple, capsules)


def read(path: Path, name: str, dtype: Any, rows: int) -> pl.Series | None:
    """The ``rows`` values of ``dtype`` in ``path`` as a series mapped from the file, or ``None`` when
    the file is not exactly that long."""
    fmt = FORMATS[dtype]
    if _NOOP is None:
        return None
    with open(path, "rb") as file:
        size = file.seek(0, 2)
        if size != rows * WIDTH:
            return None
        if rows == 0:
            return pl.Series(name, [], dtype)
        mapping = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    series = pl.Series(_Offer(mapping, fmt, rows)).alias(name)
    return series if series.dtype == dtype and series.len() == rows else None


def drop_pages() -> None:
    """Hand every mapping's pages back to the page cache (the process's resident size falls; a page
    still read is read again from the file, which nobody changes)."""
    with _lock:
        for mapping, _ in _held:
            mapping.madvise(mmap.MADV_DONTNEED)


def write(out: IO[bytes], series: pl.Series) -> bool:
    """Write the values of ``series`` (one of :data:`FORMATS`, no nulls) to ``out`` as raw bytes, chunk
    by chunk, straight from polars' memory; ``False`` (nothing written) for another dtype or nulls."""
    if series.dtype not in FORMATS or series.null_count():
        return False
    capsule = series.__arrow_c_stream__()
    stream = _Stream.from_address(_capsule_pointer(capsule, b"arrow_array_stream"))
    try:
        while True:
            array = _Array()
            if stream.get_next(ctypes.byref(stream), ctypes.byref(array)) != 0:
                raise OSError("the Arrow stream failed")
            if not array.release:
                return True  # the end of the stream
            try:
                if array.length:
                    start = array.buffers[1] + array.offset * WIDTH
                    out.write((ctypes.c_char * (array.length * WIDTH)).from_address(start))
            finally:
                array.release(ctypes.byref(array))
    finally:
        if stream.release:
            stream.release(ctypes.byref(stream))
