"""Reading a backlog's next chunk in a thread while this one is counted.

A backlog is taken in chunk by chunk, each committed with its cursor before
the next poll reads on (a crash loses and double-counts nothing). Reading a
64 MiB chunk (~50 ms of copying from the page cache) used to wait for the
previous chunk's count and commit; now a poll that stops at its byte budget
starts reading the next chunk at once, from the position it is about to
return, and the next poll takes those bytes when it starts from that very
position (the cursor the store hands back after the commit). From any other
position (the commit failed, another collector moved the cursor, a cursor
was reset) the bytes read ahead are dropped and the poll reads for itself.

The thread then builds the chunk's query (``prepare``) and, once the poll
before has counted its own chunk (:meth:`ReadAhead.release`), counts this one
(``execute``): the next chunk's count runs while this poll returns, is checked
and is committed with its cursor, instead of after (5-7 ms a chunk with a core
or both idle). One chunk is counted at a time, as before, and the next read
starts when the poll that takes this chunk starts, as before.

Nothing read ahead is stored until its own poll returns it with its own
cursor. Bytes read ahead are the file's bytes at the moment they were read,
as a poll at that moment would have read them: a rotation or truncation
after that is found by the next poll from the cursor, as always.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from .cursor import Cursor
from .tail import ChunkBuffers, LineReader, LogTailer


def position(state: Cursor) -> str:
    """Where ``state`` reads from next: the files' places and the missing log's time, not the visitor state or the
    progress (a poll's count changes those, not where it reads)."""
    return json.dumps(
        [
            state.file.as_dict() if state.file else None,
            state.prev.as_dict() if state.prev else None,
            [item.as_dict() for item in state.backlog],
            state.missing,
        ],
        separators=(",", ":"),
    )


@dataclass
class _Ahead:
    start: str  # the position the read started from
    state: Cursor  # the places after the read
    reader: LineReader
    thread: threading.Thread = field(init=False)
    failed: bool = False
    read: threading.Event = field(default_factory=threading.Event)  # the read (and ``prepare``) is over
    go: threading.Event = field(default_factory=threading.Event)  # the chunk before is counted: count this one
    abandoned: bool = False  # no poll will take it: no count


class ReadAhead:
    """The next chunk of one log, read in a thread (at most one at a time)."""

    def __init__(
        self,
        tailer: LogTailer,
        budget: int,
        max_line_length: int,
        buffers: ChunkBuffers | None = None,
        *,
        prepare: Callable[[bytes], Any] | None = None,
        execute: Callable[[Any], Any] | None = None,
    ):
        self.tailer = tailer
        #: what the poll taking a chunk does first with its bytes (the source builds its query), done in the thread
        #: after the read; ``execute`` (the query's collect) then waits for :meth:`release`. Their results are the
        #: reader's (:meth:`LineReader.prepare`, :meth:`LineReader.execute`); either failing leaves it to the poll
        self.prepare = prepare
        self.execute = execute
        self.buffers = buffers  # the source's memory for large reads, shared with its polls' own reads
        self.budget = budget
        self.max_line_length = max_line_length
        self._ahead: _Ahead | None = None
        self.taken = 0  # chunks a poll took from here (for tests and profiles)
        self.executed = 0  # chunks whose query ran here (``execute``) and gave a result (for tests and profiles)
        self._lock = threading.Lock()  # fetches of one instance may overlap (a left-behind one)

    def start(self, state: Cursor, now: dt.datetime) -> None:
        """Begin reading the chunk after ``state`` (a copy is read; ``state`` is not touched)."""
        places = Cursor(
            file=copy.copy(state.file),
            prev=copy.copy(state.prev),
            backlog=[copy.copy(item) for item in state.backlog],
            missing=state.missing,
        )
        ahead = _Ahead(position(places), places, LineReader(self.budget, self.max_line_length, self.buffers))

        def read() -> None:
            # BaseException: on a Ctrl+C polars raises KeyboardInterrupt in whichever thread calls it (the main
            # thread has its own and stops); the poll that wants these bytes reads them itself and reports
            try:
                self.tailer.read(places, ahead.reader, first=False, now=now)
                if self.prepare is not None:
                    ahead.reader.prepare(self.prepare)
            except BaseException:  # noqa: BLE001
                ahead.failed = True
            ahead.read.set()
            if ahead.failed or self.execute is None or ahead.reader.prepared is None:
                return
            ahead.go.wait()  # one count at a time: this one starts when the chunk before it is counted
            if not ahead.abandoned:
                ahead.reader.execute(self.execute)
                if ahead.reader.result is not None:
                    with self._lock:
                        self.executed += 1

        ahead.thread = threading.Thread(target=read, name="kpitui-access-log-read-ahead", daemon=True)
        with self._lock:
            self._ahead = ahead
        ahead.thread.start()

    def take(self, state: Cursor) -> LineReader | None:
        """The chunk read ahead from exactly where ``state`` is, moving ``state``'s places on; ``None`` (and the
        bytes dropped) when there is none, it failed, or it started elsewhere."""
        with self._lock:
            ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        ahead.read.wait()  # not its count: the poll starts the next read first, then waits (LineReader.executed)
        if ahead.failed or ahead.start != position(state):
            _abandon(ahead)
            return None
        state.file, state.prev, state.backlog = ahead.state.file, ahead.state.prev, ahead.state.backlog
        state.missing = ahead.state.missing
        self.taken += 1
        ahead.reader.worker = ahead.thread
        ahead.go.set()  # the poll taking it counts no other chunk
        return ahead.reader

    def release(self) -> None:
        """The poll that started the chunk read ahead has counted its own chunk: that one's count may start."""
        with self._lock:
            ahead = self._ahead
        if ahead is not None:
            ahead.go.set()

    def drop(self) -> None:
        """Forget any chunk read ahead (its thread ends on its own, without counting it)."""
        with self._lock:
            ahead, self._ahead = self._ahead, None
        if ahead is not None:
            _abandon(ahead)


def _abandon(ahead: _Ahead) -> None:
    ahead.abandoned = True
    ahead.go.set()
