"""Tailing one access log: the cursor, rotation (rename, copytruncate, gzip) and a file's identity by its head hash.

Each poll reads the bytes appended since the cursor up to the last complete
line (a partial last line waits for the next poll). One poll reads at most
:data:`MAX_POLL_BYTES` (64 MiB) and then says ``more_pending``: the collector
stores that chunk with its cursor and polls again at once, so one ``kpitui
collect --once`` takes in a whole backlog, and a crash in the middle loses
nothing.

Rotation
    *Rename* (``PATH`` gets a new inode, or is missing for a moment): the old
    file's remainder is read from ``PATH.1`` (or ``PATH.2``) found by its inode,
    (an inode match is confirmed by the head hash: a compressed and deleted
    rotated file's inode is soon another log's), and re-checked on the next
    polls while it stays at ``PATH.1`` (the server
    writes to it until it reopens its log); then the new ``PATH`` from 0. *copytruncate* (same inode, but
    smaller than the offset, or its first bytes changed): the remainder is
    read from the copy at ``PATH.1`` when its head matches (then ``PATH`` from
    0). Lines the server writes between logrotate's copy and its truncate are
    lost: a limit of copytruncate itself, whoever reads the log.
    *Compressed* (logrotate's ``compress`` without ``delaycompress``, or a
    rotated file compressed later): when the old inode is gone, the rotated
    file whose first ``fp_len`` bytes hash to the cursor's ``fp`` (``PATH.1.gz``,
    ``PATH.2.gz``, … decompressed) is the same file, and its unread tail is read
    from it from the cursor's offset. When that file is found at ``PATH.N``
    with N > 1 (it rotated more than once between polls), ``PATH.1`` …
    ``PATH.(N-1)`` came after it and were never seen: they are read whole. A
    file that was empty when last polled has no head to match; its remainder
    is lost if it is compressed before the next poll. On the very first poll with
    ``import_rotated = true``, ``PATH.N`` and ``PATH.N.gz`` (N = 1, 2, ...)
    are imported oldest first before ``PATH``; each is known by its inode and its head hash, so one that
    logrotate compresses while the import is under way (``PATH.1`` -> ``PATH.2.gz``) is read on from the ``.gz``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import gzip
import hashlib
import io
import os
import re
import stat
import sys
import threading
import zlib
from pathlib import Path
from typing import Any, Callable, Iterator

from kpitui.api import SourceError

from .cursor import Cursor, TailedFile

MAX_POLL_BYTES = 64 * 1024 * 1024
FINGERPRINT_BYTES = 1024
MAX_ROTATED = 100
#: seconds a log may be missing before that is the source's error (the default ``missing_grace``)
MISSING_GRACE = 300.0


# --- reading files -----------------------------------------------------------------------


def open_log(path: Path) -> Any:
    """``path`` opened for reading in binary; a FIFO, socket or device is refused (``OSError``) instead of blocking
    the poll (and its thread, past the source's timeout) until something writes to it."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device"
            raise OSError(errno.EINVAL, f"it is {kind}, not a log file", str(path))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        raw = io.FileIO(fd, "rb", closefd=True)
        raw.name = os.fspath(path)  # as open(path) names it: progress says which file is read
        return io.BufferedReader(raw)
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def _open_any(path: Path, compressed: bool | None = None) -> Iterator[Any]:
    """A rotated log, compressed (``.gz``, or ``compressed``) or not; both handles closed after."""
    with open_log(path) as raw:
        if compressed if compressed is not None else path.name.endswith(".gz"):
            with gzip.open(raw, "rb") as handle:
                yield handle
        else:
            yield raw


def _is(path: Path, item: TailedFile) -> bool:
    try:
        return item.same(path.stat())
    except OSError:
        return False


def _content_size(path: Path) -> int:
    """A file's size; for a ``.gz`` its uncompressed size from the gzip trailer (modulo 4 GiB, so at least the
    file's)."""
    try:
        size = path.stat().st_size
        if not path.name.endswith(".gz") or size < 18:
            return size
        with open_log(path) as handle:
            handle.seek(-4, os.SEEK_END)
            return max(size, int.from_bytes(handle.read(4), "little"))
    except OSError:
        return 0


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def _fingerprint(handle: Any, length: int) -> str:
    handle.seek(0)
    return hashlib.sha256(handle.read(length)).hexdigest()[:32]


def _head_matches(path: Path, item: TailedFile) -> bool:
    """Whether ``path`` still begins with what ``item`` read (its first ``fp_len`` bytes hash to ``fp``).

    A (device, inode) alone does not name a file for long: once logrotate
    compresses a rotated log and deletes it, the file system hands its inode to
    the next new file (the new ``PATH``, the next ``PATH.1``). Every match by
    inode is confirmed by the head hash, so a recycled inode is never read from
    another file's offset.
    """
    if not item.fp_len:
        return True  # nothing read from it yet: nothing to compare
    try:
        with _open_any(path) as handle:
            return _fingerprint(handle, item.fp_len) == item.fp
    except (OSError, EOFError, zlib.error):
        return False


def _queued(path: Path, st: os.stat_result) -> TailedFile:
    """A rotated file queued to be read whole, known by its identity and its head (its first
    :data:`FINGERPRINT_BYTES` bytes, decompressed for a ``.gz``): logrotate may compress it into a new file
    (``PATH.1`` -> ``PATH.2.gz``) before it is read, and that file is then found by the head
    (:meth:`LogTailer._find`)."""
    item = TailedFile(dev=st.st_dev, ino=st.st_ino, name=path.name)
    try:
        with _open_any(path) as handle:
            head = handle.read(FINGERPRINT_BYTES)
    except (OSError, EOFError, zlib.error):
        return item  # unreadable or a corrupt gzip: reading it says so (skipped)
    if head:
        item.fp, item.fp_len = hashlib.sha256(head).hexdigest()[:32], len(head)
    return item


def _once(queued: list[TailedFile]) -> list[TailedFile]:
    """``queued`` without a ``.gz`` whose head is a plain file's: logrotate's compress writes ``PATH.1.gz`` beside
    ``PATH.1`` and deletes ``PATH.1`` after, so for a moment the one file is both; the plain one is read (whole
    while it is there; once deleted, on from the ``.gz``, found by the head: :meth:`LogTailer._find`)."""
    plain = {item.fp for item in queued if item.fp_len == FINGERPRINT_BYTES and not item.compressed}
    return [item for item in queued if not (item.compressed and item.fp_len == FINGERPRINT_BYTES and item.fp in plain)]


def _rotated(path: Path) -> list[tuple[int, Path]]:
    """``PATH.N`` and ``PATH.N.gz`` beside ``path``, as (N, path), newest (N = 1) first."""
    pattern = re.compile(re.escape(path.name) + r"\.(\d+)(\.gz)?$")
    found: list[tuple[int, Path]] = []
    try:
        with os.scandir(path.parent) as entries:
            for entry in entries:
                match = pattern.match(entry.name)
                if match and entry.is_file():
                    found.append((int(match.group(1)), Path(entry.path)))
    except OSError:
        return []
    return sorted(found)[:MAX_ROTATED]


def _same_content(handle: Any, tail: TailedFile, st: os.stat_result) -> bool:
    """Whether the file at another (device, inode) is the one ``tail`` was reading, known by its content.

    A device number changes when a reboot renumbers an LVM, btrfs, overlay or
    loop device: same inode, same bytes. So the same inode number whose first
    ``fp_len`` bytes hash to ``fp`` is the same file; so is another inode whose
    first full :data:`FINGERPRINT_BYTES` match (a copy put in its place). A
    rotated log is a new file with other first lines, so it never matches.
    """
    if not tail.fp_len or st.st_size < tail.offset:
        return False
    if st.st_ino != tail.ino and tail.fp_len < FINGERPRINT_BYTES:
        return False
    return _fingerprint(handle, tail.fp_len) == tail.fp


def _replaced(handle: Any, tail: TailedFile, size: int) -> bool:
    """Whether the file at the same inode no longer holds what we read (truncated or rewritten)."""
    if size < tail.offset:
        return True
    return bool(tail.fp_len) and _fingerprint(handle, tail.fp_len) != tail.fp


#: a large read of a plain file stops at the last newline found in its last this many bytes
_TAIL_WINDOW = 16 * 1024


class ChunkBuffers:
    """Memory kept for a backlog's large reads, so that each 64 MiB chunk is read into pages already mapped.

    ``os.pread`` makes a new ``bytes`` each time: 64 MiB of fresh pages that the kernel maps and zeroes one
    by one (16,384 page faults) before it copies the file into them, and unmaps when the chunk is dropped:
    ~3x the CPU of the copy alone, taken from the count running beside the read. A backlog holds two chunks
    at once (the one counted, the one read ahead), so two buffers take turns. Each is an :class:`io.BytesIO`:
    its contents are written through :meth:`io.BytesIO.getbuffer` and handed out by
    :meth:`io.BytesIO.getvalue`, which returns the buffer itself as ``bytes`` (polars scans those without a
    copy). CPython's ``BytesIO`` copies its buffer before writing to it while anything else holds it, so a
    chunk handed out is never changed; a buffer whose last chunk is still held is not picked (a fresh read
    instead), so that copy is not paid either.

    The second buffer is made while the first chunk is read (``ahead``: a chunk follows this one), in a thread
    that touches its pages with the GIL released (:func:`_touched`): the backlog's first read is serial (nothing
    to count yet, one core idle), while the read ahead of the second chunk runs beside the first count, which
    keeps both cores busy; its 16,384 page faults (~35-50 ms of CPU) move from the second to the first.
    """

    def __init__(self) -> None:
        self._slots: list[list[Any]] = []  # [BytesIO or None, the bytes it last handed out or None]
        self._lock = threading.Lock()  # one read at a time (a poll's own, or the one read ahead)
        self._spare: tuple[threading.Thread, list[io.BytesIO]] | None = None  # the second buffer, being made
        self.reused = 0  # reads into memory already mapped (for tests and profiles)

    def pread(self, fd: int, length: int, offset: int, *, ahead: bool = False) -> bytes:
        """``length`` bytes of ``fd`` at ``offset`` (fewer at the end of the file), as ``os.pread`` reads them.

        ``ahead``: another chunk follows this one (the file holds more than this poll may read), to be read
        while this one is in use: the first such read has the buffer for the next made beside it."""
        with self._lock:
            slot = self._free()
            if ahead and slot is not None and len(self._slots) == 1 and slot[0] is None and self._spare is None:
                made: list[io.BytesIO] = []
                thread = threading.Thread(
                    target=_touched, args=(length, made), name="kpitui-access-log-buffer", daemon=True
                )
                thread.start()
                self._spare = (thread, made)
            return os.pread(fd, length, offset) if slot is None else self._pread(slot, fd, length, offset)

    def _pread(self, slot: list[Any], fd: int, length: int, offset: int) -> bytes:
        if slot[0] is None:  # the first read: a BytesIO made from the bytes holds them without a copy
            slot[1] = data = os.pread(fd, length, offset)
            slot[0] = io.BytesIO(data)
            return data
        buffer: io.BytesIO = slot[0]
        buffer.seek(0)
        buffer.truncate(length)  # shorter: the memory stays
        if buffer.seek(0, io.SEEK_END) < length:  # longer: grown (only the new pages mapped)
            buffer.seek(length - 1)
            buffer.write(b"\0")
        with buffer.getbuffer() as view:
            got = os.preadv(fd, [view], offset)
        buffer.truncate(got)
        slot[1] = data = buffer.getvalue()  # the buffer itself, not a copy
        self.reused += 1
        return data

    def _free(self) -> list[Any] | None:
        if not hasattr(os, "preadv") or not hasattr(sys, "getrefcount"):
            return None
        for slot in self._slots:
            # held by the slot, the BytesIO and getrefcount's argument only: no chunk in use is in it
            if slot[1] is None or sys.getrefcount(slot[1]) <= 3:
                slot[1] = None  # now held by the BytesIO alone: written in place
                return slot
        if len(self._slots) == 2:  # both chunks still held (a slow reader): the older buffer is left to it
            self._slots.pop(0)
        spare, self._spare = self._spare, None
        if spare is not None:  # the buffer made beside the first read (done by now: it takes less than a read)
            spare[0].join()
        self._slots.append([spare[1][0] if spare is not None and spare[1] else None, None])
        return self._slots[-1]

    def release(self) -> None:
        """Give the memory back (a backlog is read): chunks handed out stay valid."""
        with self._lock:
            self._slots = []
            self._spare = None  # a buffer still being made is dropped when its thread ends


def _touched(length: int, out: list[io.BytesIO]) -> None:
    """A ``BytesIO`` of ``length`` zero bytes whose pages are all mapped, appended to ``out`` (nothing on failure).

    ``bytes(length)`` comes from ``calloc``: pages the kernel maps on first touch. ``ctypes.memset`` writes them
    through the buffer's writable view without the GIL (``BytesIO``'s own zero-fill holds it for as long, and
    would hold up the read beside it). The ``BytesIO`` holds the only reference to its bytes, so it writes to them
    in place later (:meth:`ChunkBuffers._pread`)."""
    try:
        import ctypes

        buffer = io.BytesIO(bytes(length))
        with buffer.getbuffer() as view:
            start = ctypes.c_char.from_buffer(view)  # its first byte (no array type made per length)
            ctypes.memset(ctypes.addressof(start), 0, length)
            del start  # the view is released when the block ends: nothing else may export it
        out.append(buffer)
    except Exception:  # noqa: BLE001 - an optimisation: the read that needs a buffer makes its own
        pass


def _read_lines(
    handle: Any, offset: int, want: int, buffers: ChunkBuffers | None = None, *, ahead: bool = False
) -> bytes:
    """``want`` bytes at ``offset`` of a plain file cut after its last complete line, read as such; ``b""`` when
    that does not apply (a small read, a gzip stream, no newline near the end, a shorter file).

    The partial last line is left unread instead of read and cut off: a chunk is not copied a second time (a
    64 MiB chunk read and sliced costs ~2x the CPU of reading it once, all of it before the count can start).
    With ``buffers`` the chunk is read into memory kept from an earlier chunk (:class:`ChunkBuffers`); ``ahead``:
    another chunk follows this one.
    """
    if want < 2 * _TAIL_WINDOW or not isinstance(handle, io.BufferedReader):
        return b""
    fd = handle.fileno()
    tail = os.pread(fd, _TAIL_WINDOW, offset + want - _TAIL_WINDOW)
    cut = tail.rfind(b"\n") + 1
    if len(tail) < _TAIL_WINDOW or not cut:
        return b""
    length = want - _TAIL_WINDOW + cut
    data = buffers.pread(fd, length, offset, ahead=ahead) if buffers is not None else os.pread(fd, length, offset)
    return data if len(data) == length and data.endswith(b"\n") else b""


class LineReader:
    """Collects the complete lines to parse in one poll, from one or more files, within a byte budget."""

    def __init__(self, budget: int, max_line_length: int, buffers: ChunkBuffers | None = None):
        self.budget = budget
        self.buffers = buffers  # memory kept for large reads (a backlog's chunks)
        self.max_line_length = max_line_length
        self.pieces: list[bytes] = []
        self.skipped = 0  # over-long lines dropped while reading
        self.current: str | None = None  # the name of the file read last (for progress)
        self.advanced = 0  # bytes the offsets moved on (for progress)
        #: ``(data, what was built from it)`` when the chunk was prepared beside the previous count (:meth:`prepare`)
        self.prepared: tuple[bytes, Any] | None = None
        self.result: Any = None  # what was made of ``prepared`` in the thread that read ahead (:meth:`execute`)
        self.worker: threading.Thread | None = None  # that thread, while it may still be at it

    def read(self, handle: Any, state: TailedFile, *, limit: int | None, final: bool) -> bool:
        """Read complete lines from ``state.offset`` up to ``limit`` bytes (``None``: to EOF); True at the end.

        ``final``: the file will not grow (a rotated file), so a last line
        without a newline is complete. A line longer than ``max_line_length``
        with no newline in sight is skipped as it arrives (``state.discard``),
        so one huge line can never stall the tail.
        """
        while self.budget > 0:
            want = self.budget if limit is None else min(self.budget, limit - state.offset)
            if want <= 0:
                return True
            ahead = limit is not None and limit - state.offset > self.budget  # more than this poll may read
            data = b"" if final else _read_lines(handle, state.offset, want, self.buffers, ahead=ahead)
            short = len(data) < want  # read up to the last newline: a partial line was left unread
            if not data:
                handle.seek(state.offset)
                data = handle.read(want)
                short = False
            at_end = len(data) < want or (limit is not None and state.offset + len(data) >= limit)
            if not data:
                return True
            self.current = Path(str(getattr(handle, "name", "") or "")).name or self.current
            self.budget -= want if short else len(data)  # as if the partial line had been read too
            start = 0
            if state.discard:  # the rest of an over-long line: drop it through its newline
                newline = data.find(b"\n")
                if newline < 0:
                    state.offset += len(data)
                    self.advanced += len(data)
                    continue
                state.discard = False
                start = newline + 1
            chunk = data[start:] if start else data
            if final and at_end and chunk and not chunk.endswith(b"\n"):
                self.pieces.append(chunk + b"\n")
                used = len(chunk)
            else:
                used = chunk.rfind(b"\n") + 1
                if used:
                    self.pieces.append(chunk[:used] if used < len(chunk) else chunk)
                elif len(chunk) >= self.max_line_length:
                    self.skipped += 1
                    state.discard = True
                    used = len(chunk)
            state.offset += start + used
            self.advanced += start + used
            if short or start + used < len(data):
                return False  # a partial last line: wait for the rest (or a bigger budget)
        return False

    def tail(self, handle: Any, state: TailedFile, size: int, *, final: bool = False) -> bool:
        """:meth:`read` up to ``size``, then the file's head hash (``fp``) kept up to date: over the bytes it holds,
        read yet or not (a live log still waiting behind a first run's import is found by it after a rotation)."""
        done = self.read(handle, state, limit=size, final=final)
        have = max(state.offset, size)
        if state.fp_len < FINGERPRINT_BYTES and have > state.fp_len:
            state.fp_len = min(FINGERPRINT_BYTES, have)
            state.fp = _fingerprint(handle, state.fp_len)
        return done

    @property
    def data(self) -> bytes:
        return self.pieces[0] if len(self.pieces) == 1 else b"".join(self.pieces)

    def prepare(self, build: Callable[[bytes], Any]) -> None:
        """``build(data)`` kept as :attr:`prepared` (with the bytes it was built from); nothing kept if it raises."""
        data = self.data
        try:
            self.prepared = (data, build(data)) if data else None
        except Exception:  # noqa: BLE001 - an optimisation: the poll builds it again and reports what fails
            self.prepared = None

    def execute(self, run: Callable[[Any], Any]) -> None:
        """``run`` of what :meth:`prepare` built, kept as :attr:`result` (nothing kept if it raises)."""
        if self.prepared is None:
            return
        try:
            self.result = run(self.prepared[1])
        except BaseException:  # noqa: BLE001 - the poll runs it again and reports what fails (a Ctrl+C: polars
            self.result = None  # raises KeyboardInterrupt in this thread too; the main thread has its own, and stops)

    def executed(self) -> Any:
        """What :meth:`execute` kept, once the thread running it (:attr:`worker`) is done; ``None`` if nothing."""
        if self.worker is not None:
            self.worker.join()
            self.worker = None
        return self.result


# --- following the log through rotations -----------------------------------------------------------


class LogTailer:
    """Reads one access log at ``path`` from a cursor: the rotated files it left behind first, then ``PATH`` itself."""

    def __init__(self, path: Path, *, import_rotated: bool, missing_grace: float):
        self.path = path
        self.import_rotated = import_rotated
        self.missing_grace = missing_grace

    def read(self, state: Cursor, reader: LineReader, *, first: bool, now: dt.datetime) -> None:
        """Read what was appended since ``state`` into ``reader`` (within its budget), moving ``state`` on."""
        if first and self.import_rotated:
            queued = []
            for _, rotated in reversed(_rotated(self.path)):  # oldest (highest N) first
                try:
                    st = rotated.stat()
                except OSError:
                    continue
                queued.append(_queued(rotated, st))
            state.backlog.extend(_once(queued))
        self._read_backlog(state, reader)
        self._read_live(state, reader, first=first, now=now)
        self._read_backlog(state, reader)  # files a rotation queued just now

    def pending_bytes(self, state: Cursor) -> int:
        """About how many bytes are left to read: rotated files queued or being drained, and the live log."""
        left = 0
        for item in [*state.backlog, *([state.prev] if state.prev is not None else [])]:
            path = self._find(item) if item.name else next((p for p in self._rotated_names() if _is(p, item)), None)
            if path is not None:
                left += max(0, _content_size(path) - item.offset)
        try:
            st = self.path.stat()
        except OSError:
            return left
        offset = state.file.offset if state.file is not None and state.file.same(st) else 0
        return left + max(0, st.st_size - offset)

    def _read_backlog(self, state: Cursor, reader: LineReader) -> None:
        """Rotated files imported on the first run, oldest first (over several polls if large)."""
        while state.backlog and reader.budget > 0:
            item = state.backlog[0]
            path = self._find(item)
            if path is None:  # rotated away meanwhile (renamed ones are found by identity)
                state.backlog.pop(0)
                continue
            try:
                with _open_any(path) as handle:
                    done = reader.read(handle, item, limit=None, final=True)
            except (OSError, EOFError, zlib.error):  # unreadable or a corrupt gzip: count it, move on
                reader.skipped += 1
                done = True
            if not done:
                return
            state.backlog.pop(0)

    def _find(self, item: TailedFile) -> Path | None:
        """The rotated file with ``item``'s identity (names shift when the log rotates again)."""
        candidates = [self.path.with_name(item.name)] if item.name else []
        candidates += [p for _, p in _rotated(self.path)]
        for candidate in candidates:
            try:
                st = candidate.stat()
            except OSError:
                continue
            same = item.same(st) or (st.st_ino == item.ino and candidate.name == item.name)  # or on a renumbered device
            if same and _head_matches(candidate, item):
                item.dev = st.st_dev
                return candidate
        if item.fp_len < FINGERPRINT_BYTES:
            return None  # a short head could begin another file too: only a full one names a file by its content
        for _, candidate in _rotated(self.path):  # compressed meanwhile (PATH.1 -> PATH.2.gz): a new file, same head
            try:
                st = candidate.stat()
            except OSError:
                continue
            plain = not candidate.name.endswith(".gz")
            if (plain and st.st_size < item.offset) or not _head_matches(candidate, item):
                continue
            item.dev, item.ino, item.name = st.st_dev, st.st_ino, candidate.name
            return candidate
        return None

    def _read_live(self, state: Cursor, reader: LineReader, *, first: bool, now: dt.datetime) -> None:
        """The current file, after finishing whatever rotation left behind."""
        try:
            handle = open_log(self.path)
        except FileNotFoundError:
            handle = None
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        if handle is None and first and not state.backlog and not reader.pieces:
            raise SourceError(f"access log {self.path} does not exist")
        if handle is None:
            self._check_missing(state, reader, now)
        else:
            state.missing = None
        try:
            st = os.fstat(handle.fileno()) if handle else None
            if (
                state.file is not None
                and st is not None
                and not state.file.same(st)
                and _same_content(handle, state.file, st)
            ):
                state.file.dev, state.file.ino = (
                    st.st_dev,
                    st.st_ino,
                )  # a renumbered device (reboot, LVM, overlay, loop)
            if state.file is not None:
                renamed = st is None or not state.file.same(st)  # rename rotation, or PATH gone for a moment
                if (
                    st is None or renamed or _replaced(handle, state.file, st.st_size)
                ):  # else copytruncate / rewritten in place
                    if state.prev is not None:  # an older rotation still being drained: finish it first
                        self._drain_prev(state, reader)
                    old, state.file = state.file, None
                    found = self._find_renamed(old) if renamed else None
                    if found is not None:
                        state.prev = old
                        self._queue_newer(state, found[0])
                    else:  # copied (copytruncate), or renamed and compressed at once: found by its head
                        state.prev = self._moved(old, state)
            if state.prev is not None:
                self._drain_prev(state, reader)
            if handle is None or st is None:
                return
            if state.file is None:
                state.file = TailedFile(dev=st.st_dev, ino=st.st_ino)
            reader.tail(handle, state.file, st.st_size)
        finally:
            if handle is not None:
                handle.close()

    def _check_missing(self, state: Cursor, reader: LineReader, now: dt.datetime) -> None:
        """PATH is gone: note since when; past ``missing_grace`` (and with nothing else to read) it is an error.

        Rotation leaves PATH missing for a moment, so a short gap is quiet; a
        log deleted for good must not read ``0 readings`` forever. The error
        clears at the first poll that finds the file again.
        """
        moment = now.timestamp()
        if state.missing is None:
            state.missing = moment
            return
        gone = moment - state.missing
        if gone <= self.missing_grace or reader.pieces or state.backlog:
            return  # a rotated file drained or queued this poll: PATH may yet come back
        raise SourceError(
            f"access log {self.path} has been missing for {_ago(gone)} (deleted or moved, and not recreated); "
            "counting resumes when it is back"
        )

    def _rotated_names(self) -> list[Path]:
        return [self.path.with_name(f"{self.path.name}.{n}") for n in (1, 2)]

    def _find_renamed(self, old: TailedFile) -> tuple[int, Path] | None:
        """(N, PATH.N) for N = 1 or 2 when it is ``old`` itself (same device and inode): a rename rotation."""
        for n, candidate in enumerate(self._rotated_names(), start=1):
            try:
                if old.same(candidate.stat()) and _head_matches(candidate, old):
                    return n, candidate
            except OSError:
                continue
        return None

    def _queue_newer(self, state: Cursor, n: int) -> None:
        """The file we were reading is now PATH.n: PATH.1 .. PATH.(n-1) came after it, unseen; read them whole."""
        queued = []
        for m, path in reversed(_rotated(self.path)):  # oldest first
            if m >= n:
                continue
            try:
                st = path.stat()
            except OSError:
                continue
            queued.append(_queued(path, st))
        state.backlog.extend(_once(queued))

    def _drain_prev(self, state: Cursor, reader: LineReader) -> None:
        """Read what was appended to the rotated file; forget it once it is fully read and no longer at PATH.1."""
        prev = state.prev
        assert prev is not None
        if prev.compressed:  # complete: read it to its end, wherever later rotations moved it
            path = self._find(prev)
            if path is None:
                state.prev = None
                return
            try:
                with _open_any(path, compressed=True) as handle:
                    done = reader.read(handle, prev, limit=None, final=True)
            except (OSError, EOFError, zlib.error):  # a corrupt gzip: count it, move on
                reader.skipped += 1
                done = True
            if done:
                state.prev = None
            return
        for candidate in self._rotated_names():
            try:
                with open_log(candidate) as handle:
                    st = os.fstat(handle.fileno())
                    if prev.same(st) and (not prev.fp_len or _fingerprint(handle, prev.fp_len) == prev.fp):
                        done = reader.tail(handle, prev, st.st_size)
                        if done and candidate.name.endswith(".2"):
                            state.prev = None  # rotated twice: it will not grow any more
                        return
            except OSError:
                continue
        # gone from PATH.1 and PATH.2: compressed meanwhile (found by its head), or deleted
        state.prev = self._moved(prev, None)
        if state.prev is not None:
            self._drain_prev(state, reader)

    def _moved(self, old: TailedFile, state: Cursor | None) -> TailedFile | None:
        """The rotated file that holds what ``old`` read, found by its head hash, as a tail to drain from ``old``'s
        offset.

        This finds a copy (copytruncate's ``PATH.1``) and a file compressed by
        rotation (``PATH.1.gz``, or ``PATH.2.gz`` after two rotations). With
        ``state`` (the rotation was just noticed), the rotated files newer than
        the one found were never seen: they are queued to be read whole.
        """
        if not old.fp_len:
            return None  # nothing was read from it: nothing to match, nothing to resume
        for n, candidate in _rotated(self.path):
            compressed = candidate.name.endswith(".gz")
            try:
                opener: Any = gzip.open if compressed else open
                with opener(candidate, "rb") as handle:
                    st = os.stat(candidate)
                    if not compressed and st.st_size < old.offset:
                        continue
                    if _fingerprint(handle, old.fp_len) != old.fp:
                        continue
            except (OSError, EOFError, zlib.error):
                continue
            found = TailedFile(dev=st.st_dev, ino=st.st_ino, offset=old.offset, fp=old.fp, fp_len=old.fp_len,
                          discard=old.discard, name=candidate.name)  # fmt: skip
            if state is not None:
                self._queue_newer(state, n)
            return found
        return None
