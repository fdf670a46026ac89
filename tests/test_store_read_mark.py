"""A write moves the wal-index's read mark to the snapshot it committed before it returns (issue 18 item 4).

The first read after a commit writes a read mark into the ``-shm`` header page. Left to the next read (a
collector's cursor read seconds later) that dirties the page again after the kernel may have written it
back: one more 4 KiB page on disk every round. Read from the ``-shm`` file (SQLite's WAL-index format:
``mxFrame`` at byte 16 of the header, ``aReadMark[0..4]`` at byte 100)."""

from __future__ import annotations

import datetime as dt
import sqlite3
import struct
from pathlib import Path

from kpitui.api import readings_frame
from kpitui.store import Store

T0 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc)


def _wal_index(path: Path) -> tuple[int, list[int]]:
    """(mxFrame, the read marks) of the history at ``path``, from its ``-shm`` file."""
    head = Path(f"{path}-shm").read_bytes()[:120]
    (mx_frame,) = struct.unpack_from("=I", head, 16)
    return mx_frame, list(struct.unpack_from("=5I", head, 100))


def test_a_poll_leaves_the_read_mark_at_the_frame_it_committed(tmp_path):
    path = tmp_path / "h.sqlite3"
    store = Store(path)
    try:
        for k in range(1, 6):
            store.write(
                readings_frame([("signups", T0 + dt.timedelta(hours=k), float(k))]),
                source="web",
                cursor=f"c{k}",
                set_cursor=True,
                expect_cursor=store.cursor("web"),
                polled_at=T0 + dt.timedelta(hours=k),
            )
            mx_frame, marks = _wal_index(path)
            assert mx_frame > 0
            assert mx_frame in marks[1:]  # the next read (the cursor's) finds its mark: it writes nothing
        store.record_health("web", ok=False, error="503")  # any write, not only a poll's
        mx_frame, marks = _wal_index(path)
        assert mx_frame in marks[1:]
        assert store.cursor("web") == "c5"
    finally:
        store.close()
    with sqlite3.connect(path) as con:  # and the file is whole
        assert con.execute("PRAGMA quick_check").fetchone()[0] == "ok"
