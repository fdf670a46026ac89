"""A backlog's next chunk is read in a thread while this one is counted (``readahead.ReadAhead``).

The chunk read ahead is used only by a poll that starts exactly where it was read from; counts still equal the
plain-Python reference (what ``grep -c`` says) when a poll is repeated from an older cursor (a commit that failed),
and when the log rotates or is copied and truncated between the read ahead and the poll that takes it. The thread
also counts the chunk it read, once the poll before has counted its own (one count at a time), and the poll that
takes the chunk uses that count, or counts for itself when it failed.
"""

from __future__ import annotations

import json
import random
import shutil
import threading
from pathlib import Path

import pytest
from test_access_log import NOW, Tail, batches, combined, make_source, random_lines, reference, write

from kpitui.builtin.access_log.cursor import Cursor
from kpitui.builtin.access_log.readahead import ReadAhead, position
from kpitui.builtin.access_log.tail import LineReader, LogTailer

BUDGET = 40 * 1024  # a few dozen polls for the logs below, each read up to its last newline


def drain(tail: Tail, log: Path, limit: int = 500) -> int:
    """Poll until the live log is read to its end and a poll finds nothing; the number of polls."""
    polls = 0
    while polls < limit:
        polls += 1
        got = tail.poll()
        if not got and json.loads(tail.cursor or "{}").get("file", {}).get("offset") == log.stat().st_size:
            return polls
    raise AssertionError("the backlog never ended")


def test_each_poll_of_a_backlog_takes_the_chunk_read_ahead(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = random_lines(6000, seed=41)
    write(log, lines)
    source = make_source(log)
    source.max_poll_bytes = BUDGET
    tail = Tail(source)
    polls = drain(tail, log)
    assert polls > 10
    assert source._ahead is not None and source._ahead.taken >= polls - 2  # all but the first and the last
    assert source._ahead.executed >= polls - 2  # ...each counted in the thread that read it
    assert tail.counts() == reference(lines)
    assert tail.skipped == 0


@pytest.mark.parametrize("distinct", [False, True])
def test_a_count_that_failed_ahead_is_counted_by_its_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, distinct: bool
) -> None:
    """The query of a chunk read ahead fails in the thread (every other one): its poll counts it again, the same."""
    import kpitui.builtin.access_log.source as source_module

    log = tmp_path / "access.log"
    lines = random_lines(5000, seed=61)
    write(log, lines)
    collect, calls = source_module._collect, []

    def failing(query):  # type: ignore[no-untyped-def]
        calls.append(threading.current_thread().name)
        if len(calls) % 2:
            raise RuntimeError("failed ahead")
        return collect(query)

    monkeypatch.setattr(source_module, "_collect", failing)
    source = make_source(log, distinct={"errors": "client"} if distinct else None)
    source.max_poll_bytes = BUDGET
    tail = Tail(source)
    polls = drain(tail, log)
    assert source._ahead is not None and source._ahead.taken >= polls - 2
    assert 0 < source._ahead.executed < source._ahead.taken  # some counted ahead, some by their poll
    assert all(name == "kpitui-access-log-read-ahead" for name in calls)
    if not distinct:
        assert tail.counts() == reference(lines)
    whole = Tail(make_source(log, distinct={"errors": "client"} if distinct else None))
    whole.poll()
    assert tail.counts() == whole.counts()


def test_the_chunk_read_ahead_is_counted_only_after_the_chunk_before(tmp_path: Path) -> None:
    """``execute`` waits for ``release`` (the poll before counted its chunk), or for the poll that takes the chunk;
    a chunk dropped is never counted."""
    log = tmp_path / "access.log"
    write(log, random_lines(3000, seed=67))
    tailer = LogTailer(log, import_rotated=False, missing_grace=300)
    state = Cursor()
    tailer.read(state, LineReader(BUDGET, 65536), first=True, now=NOW)
    ran = threading.Event()

    def execute(prepared: bytes) -> int:
        ran.set()
        return len(prepared)

    ahead = ReadAhead(tailer, BUDGET, 65536, prepare=bytes, execute=execute)
    ahead.start(state, NOW)
    assert not ran.wait(0.3)  # read and prepared, but the chunk before is still being counted
    ahead.release()
    assert ran.wait(10)
    taken = ahead.take(Cursor.load(state.dump()))  # type: ignore[arg-type]
    assert taken is not None and taken.prepared is not None
    assert taken.executed() == len(taken.data) == len(taken.prepared[1]) > BUDGET // 2

    ran.clear()
    ahead.start(state, NOW)
    ahead.drop()  # e.g. the source closed mid-backlog
    assert not ran.wait(0.3)
    assert ahead.take(state) is None

    ahead.start(state, NOW)  # the poll taking a chunk counts no other: its count may start then
    taken = ahead.take(Cursor.load(state.dump()))  # type: ignore[arg-type]
    assert taken is not None and taken.executed() == len(taken.data)


def test_a_poll_repeated_from_an_older_cursor_reads_for_itself(tmp_path: Path) -> None:
    """The collector could not commit a chunk: the next poll starts from the old cursor, not from the read ahead."""
    log = tmp_path / "access.log"
    lines = random_lines(4000, seed=43)
    write(log, lines)
    source = make_source(log)
    source.max_poll_bytes = BUDGET
    tail = Tail(source)
    tail.poll()
    before, first = tail.cursor, tail.last
    tail.poll()  # read ahead from `before`'s position; this poll's result is not committed...
    second = tail.last
    repeated = source.fetch(before, NOW)  # ...so the same cursor is polled again
    assert repeated.readings.equals(second)  # type: ignore[union-attr]
    assert first is not None and not repeated.readings.equals(first)
    tail.cursor = repeated.cursor
    drain(tail, log)
    assert tail.counts() == reference(lines)


def test_a_rename_rotation_after_the_read_ahead_loses_and_double_counts_nothing(tmp_path: Path) -> None:
    log, old = tmp_path / "access.log", tmp_path / "access.log.1"
    a, b, c = batches(3, size=1500)
    write(log, a)
    source = make_source(log)
    source.max_poll_bytes = BUDGET
    tail = Tail(source)
    tail.poll()  # a backlog: the next chunk is being read ahead from the old file
    write(log, b, "a")
    log.rename(old)
    write(log, c)
    drain(tail, log)
    assert tail.counts() == reference(a + b + c)
    assert tail.skipped == 0


def test_a_copytruncate_after_the_read_ahead_loses_and_double_counts_nothing(tmp_path: Path) -> None:
    log, copy = tmp_path / "access.log", tmp_path / "access.log.1"
    a, b, c = batches(3, size=1500)
    write(log, a)
    source = make_source(log)
    source.max_poll_bytes = BUDGET
    tail = Tail(source)
    tail.poll()
    tail.poll()
    write(log, b, "a")
    shutil.copyfile(log, copy)
    with log.open("r+b") as handle:
        handle.truncate(0)
    write(log, c, "a")
    drain(tail, log)
    assert tail.counts() == reference(a + b + c)
    assert tail.skipped == 0


def test_the_chunk_read_ahead_is_the_chunk_a_poll_would_read(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write(log, random_lines(3000, seed=47))
    tailer = LogTailer(log, import_rotated=False, missing_grace=300)
    state = Cursor()
    tailer.read(state, LineReader(BUDGET, 65536), first=True, now=NOW)
    ahead = ReadAhead(tailer, BUDGET, 65536)
    ahead.start(state, NOW)
    elsewhere = Cursor.load(state.dump())
    assert elsewhere is not None and elsewhere.file is not None
    elsewhere.file.offset -= 1
    assert ahead.take(elsewhere) is None  # started from another position: dropped
    assert elsewhere.file.offset == state.file.offset - 1  # type: ignore[union-attr]

    ahead.start(state, NOW)
    mine = Cursor.load(state.dump())
    assert mine is not None and position(mine) == position(state)
    taken = ahead.take(mine)
    direct = LineReader(BUDGET, 65536)
    tailer.read(state, direct, first=False, now=NOW)
    assert taken is not None and taken.data == direct.data and len(direct.data) > BUDGET // 2
    assert position(mine) == position(state)
    assert ahead.take(mine) is None  # taken once


def edge_lines(count: int, seed: int) -> list[bytes]:
    """Good lines with the edge cases a chunk boundary may fall next to: malformed lines, quotes inside a request,
    long lines (valid and over ``max_line_length``), CRLF line ends, bytes that are not UTF-8, blank lines."""
    rng = random.Random(seed)
    good = random_lines(count, seed=seed)
    odd = [
        b"",
        b"\r",
        b'"""""""""""""""""""""',
        b"\x16\x03\x01\x02\x00 \xff\xfe binary noise",
        combined(path='/q"uote').encode(),  # a quote inside the request: one piece too many
        combined(path="/a b c").encode(),  # spaces inside the request: not METHOD TARGET PROTOCOL
        combined(agent="y" * 5000).encode(),  # valid, but longer than max_line_length below
        combined(agent="z" * 1500, status=503).encode(),  # long and valid
        combined(agent="caf\xe9").encode("latin-1"),  # invalid UTF-8 inside a field: kept, replaced
        combined(status=500).encode() + b"\r",  # CRLF line end
        combined(status=503).encode()[:60],  # cut short
    ]
    out = []
    for line in good:
        out.append(line.encode())
        if rng.random() < 0.05:
            out.append(rng.choice(odd))
    return out


def test_a_backlog_of_edge_lines_in_small_chunks_counts_as_the_whole_log_at_once(tmp_path: Path) -> None:
    """A backlog read ahead in small chunks: the readings and the malformed lines add up to one poll of the whole
    file, chunk boundaries falling mid-line and next to every kind of edge line; and the good lines' counts equal
    the plain-Python reference."""
    log = tmp_path / "access.log"
    lines = edge_lines(5000, seed=53)
    log.write_bytes(b"".join(line + b"\n" for line in lines))
    whole = Tail(make_source(log, max_line_length=4096))
    whole.poll()
    source = make_source(log, max_line_length=4096)
    source.max_poll_bytes = 7 * 1024 + 13  # an odd budget: boundaries fall anywhere in a line
    chunked = Tail(source)
    polls = drain(chunked, log)
    assert polls > 50
    assert source._ahead is not None and source._ahead.taken >= polls - 2  # all but the first and the last
    assert chunked.counts() == whole.counts()
    assert chunked.skipped == whole.skipped > 0
    # a CRLF line reads as its LF line; a line over max_line_length is malformed
    decoded = [line.decode("utf-8", "replace").removesuffix("\r") for line in lines if len(line) <= 4096]
    assert whole.counts() == reference(decoded)


def test_a_backlog_read_into_kept_buffers_counts_as_the_whole_log_at_once(tmp_path: Path) -> None:
    """Chunks large enough to be read into the memory kept between a backlog's polls (``tail.ChunkBuffers``),
    read ahead, with edge lines at their boundaries: the same readings and malformed lines as one poll of the whole
    file; the memory is reused while the backlog lasts and given back once it is read."""
    log = tmp_path / "access.log"
    lines = edge_lines(8000, seed=59)
    log.write_bytes(b"".join(line + b"\n" for line in lines))
    whole = Tail(make_source(log, max_line_length=4096))
    whole.poll()
    source = make_source(log, max_line_length=4096)
    source.max_poll_bytes = 33 * 1024 + 17  # over the 32 KiB a read needs to stop at its last newline
    chunked = Tail(source)
    reused = []
    fetch = source.fetch

    def noted(cursor, now):  # type: ignore[no-untyped-def]
        result = fetch(cursor, now)
        reused.append((source._buffers.reused, len(source._buffers._slots)))
        return result

    source.fetch = noted  # type: ignore[method-assign]
    polls = drain(chunked, log)
    assert polls > 20
    assert source._ahead is not None and source._ahead.taken >= polls - 2
    assert chunked.counts() == whole.counts()
    assert chunked.skipped == whole.skipped > 0
    assert reused[-3][0] >= polls - 6  # all but the first reads into each buffer, and the short last ones
    assert all(slots == 2 for _, slots in reused[2:-3])  # two buffers while the backlog lasts
    assert reused[-1][1] == 0  # caught up: given back


def test_a_ctrl_c_inside_the_read_ahead_thread_ends_it_quietly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """polars raises a Ctrl+C's KeyboardInterrupt in whichever thread calls it: the read-ahead thread ends without a
    traceback on stderr, and the poll reads or counts that chunk itself (the main thread has its own interrupt)."""
    log = tmp_path / "access.log"
    write(log, random_lines(3000, seed=71))
    tailer = LogTailer(log, import_rotated=False, missing_grace=300)
    state = Cursor()
    tailer.read(state, LineReader(BUDGET, 65536), first=True, now=NOW)
    uncaught: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: uncaught.append(args.exc_value))

    def interrupted(_: object) -> object:
        raise KeyboardInterrupt

    ahead = ReadAhead(tailer, BUDGET, 65536, prepare=interrupted, execute=len)
    ahead.start(state, NOW)
    assert ahead.take(Cursor.load(state.dump())) is None  # type: ignore[arg-type]  # the poll reads for itself

    ahead = ReadAhead(tailer, BUDGET, 65536, prepare=bytes, execute=interrupted)
    ahead.start(state, NOW)
    taken = ahead.take(Cursor.load(state.dump()))  # type: ignore[arg-type]
    assert taken is not None and taken.executed() is None  # the poll counts it itself
    assert uncaught == []
