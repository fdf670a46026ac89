"""Reading a log in chunks (``tail.LineReader``): every complete line once, whatever the budget, none skipped.

A large read of a plain file stops at its last newline instead of reading the partial line and cutting it off;
these chunk sizes make every read take that path and many reads fall back (no newline near the end).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kpitui.builtin.access_log.cursor import TailedFile
from kpitui.builtin.access_log.tail import ChunkBuffers, LineReader


def lines_of(seed: int, count: int, longest: int) -> bytes:
    rng = random.Random(seed)
    return b"".join(b"x" * rng.randint(0, longest) + b"\n" for _ in range(count))


def read_all(
    path: Path, budget: int, max_line_length: int, buffers: ChunkBuffers | None = None
) -> tuple[list[bytes], int, int]:
    """Chunks read one poll after another until the end: (chunks, skipped, polls)."""
    state, chunks, skipped, polls = TailedFile(dev=0, ino=0), [], 0, 0
    size = path.stat().st_size
    while state.offset < size and polls < 10_000:
        polls += 1
        reader = LineReader(budget, max_line_length, buffers)
        with open(path, "rb") as handle:
            reader.tail(handle, state, size)
        chunks.append(reader.data)
        skipped += reader.skipped
    return chunks, skipped, polls


@pytest.mark.slow
@pytest.mark.parametrize("kept", [False, True], ids=["fresh", "kept-buffers"])
@pytest.mark.parametrize(("budget", "longest"), [(40_000, 50), (64 * 1024, 5_000), (100_000, 30_000), (33_000, 17_000)])
def test_chunks_hold_every_line_once(tmp_path: Path, budget: int, longest: int, kept: bool) -> None:
    data = lines_of(budget, 3_000, longest)
    path = tmp_path / "access.log"
    path.write_bytes(data + b"partial line, no newline yet")
    chunks, skipped, polls = read_all(path, budget, 65536, ChunkBuffers() if kept else None)
    assert b"".join(chunks) == data
    assert skipped == 0
    assert all(chunk.endswith(b"\n") for chunk in chunks if chunk)
    assert polls >= len(data) // budget  # each poll read at most its budget


def test_a_line_over_the_limit_is_skipped_once(tmp_path: Path) -> None:
    data = b"a\n" * 100 + b"y" * 50_000 + b"\n" + b"b\n" * 100
    path = tmp_path / "access.log"
    path.write_bytes(data)
    chunks, skipped, _ = read_all(path, 40_000, 256)
    assert b"".join(chunks) == b"a\n" * 100 + b"b\n" * 100
    assert skipped == 1


def test_kept_buffers_read_what_pread_reads_and_never_change_a_chunk_handed_out(tmp_path: Path) -> None:
    """``ChunkBuffers`` against ``os.pread`` over reads that grow, shrink and run past the end of the file; every
    chunk handed out keeps its bytes while later reads reuse the memory, however long it is held."""
    import os

    rng = random.Random(5)
    data = rng.randbytes(1 << 20)
    path = tmp_path / "access.log"
    path.write_bytes(data)
    buffers = ChunkBuffers()
    held: list[tuple[bytes, bytes]] = []  # (chunk, what it held when handed out)
    forever: list[tuple[bytes, bytes]] = []
    with open(path, "rb") as handle:
        fd = handle.fileno()
        for i in range(200):
            offset = rng.randrange(len(data))
            length = rng.choice([rng.randrange(1, 300_000), 200_000, 200_001, 199_999])
            chunk = buffers.pread(fd, length, offset)
            assert chunk == os.pread(fd, length, offset) == data[offset : offset + length]
            if i % 7 == 0:  # kept by a slow reader for the next reads (a chunk counted while the next is read)
                held.append((chunk, bytes(bytearray(chunk))))
            if i % 20 == 0:  # a reader that keeps its chunk to the end
                forever.append((chunk, bytes(bytearray(chunk))))
            assert all(kept == copy for kept, copy in held + forever)
            del chunk  # dropped, as a poll drops its chunk: its memory may be reused
            del held[:-1]
    assert buffers.reused > 100  # most reads went into memory already mapped
    assert all(kept == copy for kept, copy in held + forever)
    buffers.release()
    assert buffers._slots == []


@pytest.mark.parametrize("second", [1 << 20, (1 << 20) + 12_345, 54_321], ids=["same", "longer", "shorter"])
def test_the_next_buffer_is_made_beside_the_first_read(tmp_path: Path, second: int) -> None:
    """A read with ``ahead`` (another chunk follows) has the next chunk's buffer made beside it: the next read,
    with the first chunk still held (being counted), goes into that memory, not fresh pages; every read equals
    ``os.pread``'s and the chunks handed out keep their bytes; ``release`` drops the buffers."""
    import os

    data = random.Random(7).randbytes(4 << 20)
    path = tmp_path / "access.log"
    path.write_bytes(data)
    first = 1 << 20
    buffers = ChunkBuffers()
    with open(path, "rb") as handle:
        fd = handle.fileno()
        a = buffers.pread(fd, first, 0, ahead=True)
        kept_a = bytes(bytearray(a))
        b = buffers.pread(fd, second, first, ahead=True)  # read ahead while the first is in use
        assert buffers.reused == 1  # into the buffer made beside the first read
        assert a == kept_a == data[:first] == os.pread(fd, first, 0)
        assert b == data[first : first + second] == os.pread(fd, second, first)
        del a  # the first chunk counted and dropped: its buffer takes the third
        c = buffers.pread(fd, first, first + second, ahead=True)
        assert buffers.reused == 2
        assert c == data[first + second : 2 * first + second]
        assert b == data[first : first + second]
    buffers.release()
    assert buffers._slots == [] and buffers._spare is None


def test_without_ahead_or_when_the_buffer_cannot_be_made_reads_are_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No chunk to follow (an ordinary poll's read): no buffer is made ahead; and a buffer that could not be made
    (``_touched`` gives nothing) leaves the next read to fresh memory, with the same bytes."""
    import os

    from kpitui.builtin.access_log import tail

    data = random.Random(8).randbytes(3 << 20)
    path = tmp_path / "access.log"
    path.write_bytes(data)
    n = 1 << 20
    with open(path, "rb") as handle:
        fd = handle.fileno()
        buffers = ChunkBuffers()
        a = buffers.pread(fd, n, 0)
        assert buffers._spare is None
        b = buffers.pread(fd, n, n)
        assert buffers.reused == 0 and a == data[:n] and b == data[n : 2 * n]
        monkeypatch.setattr(tail, "_touched", lambda length, out: None)
        buffers = ChunkBuffers()
        a = buffers.pread(fd, n, 0, ahead=True)
        b = buffers.pread(fd, n, n, ahead=True)
        assert buffers.reused == 0 and a == data[:n] and b == data[n : 2 * n] == os.pread(fd, n, n)


def test_a_backlog_read_in_chunks_has_the_second_buffer_made_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through ``LineReader``: a file longer than one poll's budget asks for the next buffer on its first read
    only (every chunk kept here, as by a slow reader); every line is read once, as without kept buffers."""
    from kpitui.builtin.access_log import tail

    data = lines_of(11, 6_000, 200)
    path = tmp_path / "access.log"
    path.write_bytes(data)
    made: list[int] = []
    original = tail._touched

    def counting(length: int, out: list) -> None:
        made.append(length)
        original(length, out)

    monkeypatch.setattr(tail, "_touched", counting)
    buffers = ChunkBuffers()
    state, chunks = TailedFile(dev=0, ino=0), []
    size = path.stat().st_size
    while state.offset < size:
        reader = LineReader(100_000, 65536, buffers)
        with open(path, "rb") as handle:
            reader.tail(handle, state, size)
        chunks.append(reader.data)
    assert b"".join(chunks) == data
    assert len(chunks) > 5 and len(made) == 1
