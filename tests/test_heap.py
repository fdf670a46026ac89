"""kpitui.heap.trim: the C heap's free pages, in the middle of the heap, go back to the system."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kpitui import heap


def _anon_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/self/status")


@pytest.mark.skipif(not sys.platform.startswith("linux") or heap._malloc_trim() is None, reason="glibc only")
def test_trim_gives_back_freed_blocks_below_a_live_one():
    mib = 1 << 20
    first = b"\x01" * (8 * mib)  # a private mapping; freeing it moves glibc's threshold up: the next blocks are heap
    del first
    blocks = [b"\x01" * (4 * mib) for _ in range(10)]  # as a full load's snapshot parts: touched, resident
    before = _anon_kb()
    del blocks[:9]  # freed below the tenth, which keeps the heap's top: glibc keeps their pages
    freed = _anon_kb()
    heap.trim()
    after = _anon_kb()
    assert before - after >= 24 * 1024, (before, freed, after)
    assert blocks[0][0] == 1  # the live block is untouched


def test_trim_without_the_call_does_nothing(monkeypatch):
    monkeypatch.setattr(heap, "_malloc_trim", lambda: None)
    heap.trim()  # no C library call: nothing happens, nothing raises
