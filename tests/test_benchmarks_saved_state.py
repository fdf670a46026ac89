"""The benchmark's saved store state (benchmarks.bench_states.saved_state): each 10M start begins from the state the
figure names, and putting it back rewrites only what a start changed."""

from __future__ import annotations

import os

from benchmarks import bench_states


def _tree(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_restore_puts_back_exactly_the_saved_state_and_rewrites_only_what_changed(tmp_path, monkeypatch):
    live = tmp_path / "live"
    (live / "history.sqlite3-index").mkdir(parents=True)
    store = live / "history.sqlite3"
    big = bench_states.SMALL + 10
    store.write_bytes(b"s" * big)
    (live / "history.sqlite3-wal").write_bytes(b"")
    (live / "history.sqlite3-shm").write_bytes(b"m" * 100)
    (live / "history.sqlite3-index" / "a.json").write_text("{}")
    (live / "history.sqlite3-index" / "a.value.col").write_bytes(b"v" * big)
    (live / "history.sqlite3-index" / "a.key.col").write_bytes(b"k" * big)
    (live / "other.txt").write_text("not the store's")
    restore = bench_states.saved_state(store, tmp_path / "saved")
    want = _tree(live)

    # a start changes the WAL's index in place (same size), writes a new cache and drops the old one,
    # rewrites a big column in place with the same size
    (live / "history.sqlite3-shm").write_bytes(b"x" * 100)
    (live / "history.sqlite3-index" / "b.json").write_text("{}")
    (live / "history.sqlite3-index" / "b.value.col").write_bytes(b"w" * big)
    (live / "history.sqlite3-index" / "a.value.col").unlink()
    column = live / "history.sqlite3-index" / "a.key.col"
    column.write_bytes(b"K" * big)
    os.utime(column, ns=(1, 1))
    untouched = store.stat().st_ino
    copied = []
    real_copy = bench_states.shutil.copy2
    monkeypatch.setattr(bench_states.shutil, "copy2", lambda a, b: (copied.append(b.name), real_copy(a, b))[1])
    restore()

    assert _tree(live) == want
    assert store.stat().st_ino == untouched  # the big file no start changed is not written again
    assert sorted(copied) == ["a.json", "a.key.col", "a.value.col", "history.sqlite3-shm", "history.sqlite3-wal"]
    restore()  # and again from a restored state: only the small files
    assert _tree(live) == want
    assert sorted(copied[5:]) == ["a.json", "history.sqlite3-shm", "history.sqlite3-wal"]
