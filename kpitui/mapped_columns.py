"""Columns of fixed-width numbers kept in files as their raw bytes, read back mapped, not copied.

polars 2 no longer memory-maps the Arrow files it reads (``read_ipc`` copies
every column: ~0.1 s per 80 MB on a loaded machine). The viewer's index cache
(:mod:`kpitui.index_cache`) keeps its columns instead as the bare values
buffer of an Arrow array (``Int64`` or ``Float64``, no nulls, native byte
order) and hands polars a memory map of the file through the Arrow C data
interface (the ``__arrow_c_array__`` PyCapsule protocol, public in polars):
the series points into the mapped pages, which are read when touched, and the
file is unmapped when polars lets go of the last reference to it.

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
import itertools
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

#: what each array handed to polars keeps alive (its mapping), by the key in its ``private_data``
_held: dict[int, tuple[mmap.mmap, Any]] = {}
_keys = itertools.count(1)
_lock = threading.Lock()


def _release_schema(schema: Any) -> None:
    schema.contents.release = _SchemaRelease()


def _release_array(array: Any, held: dict[int, tuple[mmap.mmap, Any]] = _held) -> None:
    """Called by polars (any thread, the GIL taken by ctypes) when it drops the array: unmap it."""
    try:
        held.pop(array.contents.private_data or 0, None)
    finally:
        array.contents.release = _ArrayRelease()


# module-level: the callbacks must live as long as any array handed out
_RELEASE_SCHEMA = _SchemaRelease(_release_schema)
_RELEASE_ARRAY = _ArrayRelease(_release_array)

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


def _address(mapping: mmap.mmap) -> int:
    """The address of a read-only mapping's first byte (``ctypes.from_buffer`` wants a writable one)."""
    view = _Buffer()
    if ctypes.pythonapi.PyObject_GetBuffer(ctypes.py_object(mapping), ctypes.byref(view), 0) != 0:
        raise OSError("no buffer")
    try:
        return int(view.buf)
    finally:
        ctypes.pythonapi.PyBuffer_Release(ctypes.byref(view))


class _Mapped:
    """One mapped file offered to polars as an Arrow array (``__arrow_c_array__``), once."""

    def __init__(self, mapping: mmap.mmap, fmt: bytes, rows: int) -> None:
        self.mapping, self.fmt, self.rows = mapping, fmt, rows

    def __arrow_c_array__(self, requested_schema: object = None) -> tuple[object, object]:
        buffers = (ctypes.c_void_p * 2)(None, _address(self.mapping))
        with _lock:
            key = next(_keys)
            _held[key] = (self.mapping, buffers)
        self.schema = _Schema(self.fmt, b"", None, 0, 0, None, None, _RELEASE_SCHEMA, None)
        self.array = _Array(self.rows, 0, 0, 2, 0, buffers, None, None, _RELEASE_ARRAY, key)
        # no capsule destructor: polars moves both out at once (the release callbacks are then its own to call)
        return (
            _capsule_new(ctypes.addressof(self.schema), b"arrow_schema", None),
            _capsule_new(ctypes.addressof(self.array), b"arrow_array", None),
        )


def read(path: Path, name: str, dtype: Any, rows: int) -> pl.Series | None:
    """The ``rows`` values of ``dtype`` in ``path`` as a series mapped from the file, or ``None`` when
    the file is not exactly that long."""
    fmt = FORMATS[dtype]
    with open(path, "rb") as file:
        size = file.seek(0, 2)
        if size != rows * WIDTH:
            return None
        if rows == 0:
            return pl.Series(name, [], dtype)
        mapping = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    series = pl.Series(_Mapped(mapping, fmt, rows)).alias(name)
    return series if series.dtype == dtype and series.len() == rows else None


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
