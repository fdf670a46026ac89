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
