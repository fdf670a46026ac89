"""The viewer's index cache (kpitui.index_cache): a history started from it, with the rows written
since taken in as a delta, answers every request exactly as a fresh full load does -- after writes,
rewrites, increments, deletions, compaction and manual-reading edits -- and a cache that is damaged,
stale or of another store is never used."""

from __future__ import annotations

import datetime as dt
import os
import stat
import sys
import tempfile
from pathlib import Path

import polars as pl
import pytest
from compaction_rollups import one_row as hourly
from hypothesis import HealthCheck, given, settings, strategies as st

from kpitui import history as history_module, index_cache, mapped_columns
from kpitui.api import readings_frame
from kpitui.history import History
from kpitui.manual_readings import UnknownReading
from kpitui.pipeline import REQUESTS_SCHEMA, View, aggregate, refold
from kpitui.store import Store, StoreError

T = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
T_US = (T - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)
US = 1_000_000
AGGS = ("sum", "count", "mean", "last", "first", "min", "max", "p90")
REQUESTS = [
    (m, agg, additive, T_US + s * US, T_US + (s + length) * US)
    for m in "abc"
    for agg in AGGS
    for additive in (True, False)
    for s, length in ((0, 13), (2, 5), (5, 0), (11, 3), (-100, 200))
]


def answers(view: View) -> list:
    frame = pl.DataFrame([(i, *r) for i, r in enumerate(REQUESTS)], schema=REQUESTS_SCHEMA, orient="row")
    return aggregate(view, frame, set(AGGS)).collect().sort("req")["value"].to_list()


def start(store: Store) -> History:
    """A viewer's first refresh, as the TUI starts (and its cache written, when it writes one)."""
    history = History(store, index_cache=True, background=False)
    history.refresh()
    if history.saving is not None:
        history.saving.join()
    return history


def assert_fresh(history: History, store: Store) -> None:
    """The history holds what a full load of the store (no cache) holds, and answers alike."""
    fresh = History(store)
    fresh.refresh()
    assert history.height == fresh.height
    assert sorted(history.frame.rows()) == sorted(fresh.frame.rows())
    assert answers(history.view()) == answers(fresh.view())


def at(second: int) -> dt.datetime:
    return T + dt.timedelta(seconds=second)


step = st.one_of(
    st.tuples(
        st.sampled_from(["replace", "add"]),
        st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 12), st.integers(-3, 3).map(float)), max_size=8),
    ),
    st.just(("delete", "c")),
    st.just(("compact", None)),
    st.tuples(st.just("manual"), st.tuples(st.sampled_from("ab"), st.integers(0, 12), st.integers(-3, 3))),
    st.just(("unmanual", None)),
    st.just(("start", None)),
    st.just(("view", None)),
)


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=10), reuse=st.integers(1, 20), save=st.integers(1, 10))
def test_a_start_from_the_cache_equals_a_fresh_load(steps, reuse, save):
    """Any mix of writes, increments, deletions, compaction and manual readings (added, corrected,
    deleted) between viewer starts, with a viewer left open that refreshes and folds (and saves its
    folded base as the cache): every start answers as a fresh load, whether it used the cache or not;
    and a start that used it took in exactly the rows written since as its delta."""
    # per example, undone after it: a module-wide patch left REUSE_ROWS at the last example's (as low as 1)
    # for the tests after this one, which then found their cache "too far behind" now and then
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as tmp:
        patch.setattr(index_cache, "REUSE_ROWS", reuse)
        patch.setattr(history_module, "FOLD_SAVE_ROWS", save)
        writer = Store(Path(tmp) / "h.sqlite3", snapshot_rows=3)
        viewer = Store(Path(tmp) / "h.sqlite3", snapshot_rows=3)
        manual: list[int] = []
        open_viewer: History | None = None
        try:
            used = 0
            for kind, arg in steps:
                if kind in ("replace", "add") and arg:
                    writer.write(readings_frame([(m, at(s), v) for m, s, v in arg]), mode=kind)
                elif kind == "delete":
                    writer.delete_metric(arg)
                elif kind == "compact":
                    writer.compact(at(6), hourly)
                elif kind == "manual":
                    metric, second, value = arg
                    reading, _ = writer.record_manual(metric, at(second), float(value))
                    if reading is not None:
                        manual.append(reading.id)
                elif kind == "unmanual" and manual:
                    try:
                        writer.delete_manual([manual.pop()])
                    except (StoreError, UnknownReading):  # down-sampled since, or replaced by a later one
                        pass
                if kind == "view" and open_viewer is None:  # a viewer left open from now on
                    open_viewer = History(viewer, index_cache=True, background=False, fold_rows=1)
                if open_viewer is not None:  # it refreshes after every step: a fold when due, its base saved
                    saved = open_viewer.saving_fold
                    open_viewer.refresh()
                    if open_viewer.saving is not None:
                        open_viewer.saving.join()
                    assert_fresh(open_viewer, viewer)
                    if open_viewer.saving_fold is not saved and open_viewer.saving_fold.result():
                        # a start now takes the folded base: every row through the viewer's, none since
                        history = start(viewer)
                        assert history.from_cache and history.cached_seq == open_viewer.seq
                        assert history.view().changes.height == 0
                since = writer.load(since=0)[1]
                top = viewer.index_stamp()[2]  # what index_cache.load counts rows since against
                assert all(viewer.rows_since(s) <= top - s for s in range(top + 1))
                history = start(viewer)
                if history.from_cache:
                    used += 1
                    assert history.view().changes.height == viewer.load(since=history.cached_seq)[0].height
                    assert history.seq == since
                assert_fresh(history, viewer)
        finally:
            writer.close()
            viewer.close()


def test_the_second_start_reads_the_cache_and_the_rows_since(tmp_path):
    store = Store(tmp_path / "h.sqlite3")
    store.write(readings_frame([(m, at(s), float(s)) for m in "abc" for s in range(10)]))
    first = start(store)
    assert not first.from_cache and (tmp_path / "h.sqlite3-index").is_dir()
    store.write(readings_frame([("a", at(3), 30.0), ("b", at(20), 2.0)]))
    store.write(readings_frame([("c", at(4), 1.5)]), mode="add")
    second = start(store)
    assert second.from_cache and second.view().changes.height == 3
    assert_fresh(second, store)
    # the cache is private
    folder = tmp_path / "h.sqlite3-index"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
    # and a later refresh goes on from it as any history does
    store.write(readings_frame([("a", at(11), 1.0)]))
    second.refresh()
    assert_fresh(second, store)
    store.close()


@pytest.mark.parametrize("background", [False, True])
def test_a_fold_over_the_mapped_cache_gives_its_pages_back_piece_by_piece(tmp_path, monkeypatch, background):
    """The fold after a start from the cache moves the mapped keys a few rows at a time and hands their
    pages back after each piece and after the key's copy (``drop_pages``: they are read again from the
    file if needed; the untouched values and running totals are not copied, the new base reads them
    from the mapping); the folded history answers as a fresh load, and so do later refreshes."""
    store = Store(tmp_path / "h.sqlite3")
    store.write(readings_frame([(m, at(s), float(s) + 0.25) for m in "abcdefghij" for s in range(12)]))
    first = start(store)
    assert not first.from_cache
    # the segments' order follows the load (and the hash of their names): the one grown is the first of them,
    # so that the segments after it move
    grown = next(iter(first.view().base.places))
    # a rewrite, a row past its last and a new metric: the touched segments re-indexed, the rest copied
    store.write(readings_frame([(grown, at(4), 9.0), (grown, at(30), 1.0), ("k", at(1), 2.0)]))
    monkeypatch.setattr(refold, "PIECE_ROWS", 5)
    drops: list[int] = []
    real = mapped_columns.drop_pages
    monkeypatch.setattr(mapped_columns, "drop_pages", lambda: (drops.append(1), real())[1])
    history = History(store, index_cache=True, background=background, fold_rows=1)
    history.refresh(fold=False)
    assert history.from_cache and history.view().changes.height == 3
    before = history.view().base
    assert history.fold_due()
    history.wait()
    history.refresh()  # adopts the fold
    assert history.view().changes.height == 0
    # before the merge, after each piece of the moved keys (the segments after the grown one's: one run) and
    # after the key's copy
    after = history.view().base.places
    moved = [m for m, (_, _, _, shift) in before.places.items() if m != grown and after[m][3] != shift]
    assert moved and len(drops) >= 1 + -(-12 * len(moved) // 5) + 1
    assert_fresh(history, store)
    store.write(readings_frame([("a", at(40), 3.0)]))
    history.refresh()
    assert_fresh(history, store)
    store.close()


def test_the_first_rows_of_a_history_opened_empty_are_cached(tmp_path):
    """A viewer opened on an empty history (the bundled sample's first start: its demo source back-fills
    ~90,000 readings after the first values) loads everything when the first rows arrive, and saves that
    index as the cache: the empty load's save (which saves nothing) no longer stops it, so the next start
    maps the cache instead of loading every reading again."""
    store = Store(tmp_path / "h.sqlite3")
    history = History(store, index_cache=True, background=False)
    assert history.refresh() == 0
    if history.saving is not None:
        history.saving.join()
    assert not (tmp_path / "h.sqlite3-index").exists() or not list((tmp_path / "h.sqlite3-index").iterdir())
    store.write(readings_frame([(m, at(s), float(s) + 0.5) for m in "abc" for s in range(20)]))
    assert history.refresh() == 60  # the first rows: a full load
    assert history.saving is not None
    history.saving.join()
    later = start(store)
    assert later.from_cache and later.cached_seq == store.load()[1] and later.view().changes.height == 0
    assert_fresh(later, store)
    store.close()


def test_a_fold_of_a_small_history_saves_once_half_of_it_came_since(tmp_path):
    """Under ``FOLD_SAVE_ROWS`` rows since the cache, a fold still saves when they are half the index or more
    (the sample's demo back-fill after its first session cached a few thousand rows): a later start maps
    that cache instead of reading those rows one by one before its first values."""
    store = Store(tmp_path / "h.sqlite3")
    store.write(readings_frame([(m, at(s), float(s)) for m in "ab" for s in range(10)]))  # 20 rows
    assert not start(store).from_cache
    history = History(store, index_cache=True, background=False, fold_rows=1)
    history.refresh(fold=False)
    store.write(readings_frame([("a", at(30 + s), 1.0) for s in range(9)]))  # 9 of 29 rows since: under half
    history.refresh(fold=False)
    assert history.fold_due() and history.saving_fold is None
    store.write(readings_frame([("c", at(s), 2.0) for s in range(12)]))  # 21 of 41 rows since the cache
    history.refresh(fold=False)
    assert history.fold_due()
    assert history.saving_fold is not None and history.saving_fold.result()
    later = start(store)
    assert later.from_cache and later.cached_seq == store.load()[1] and later.view().changes.height == 0
    assert_fresh(later, store)
    store.close()


@pytest.mark.parametrize("background", [False, True])
def test_a_fold_saves_its_base_as_the_cache_once_enough_rows_came_since(tmp_path, monkeypatch, background):
    """A viewer started from the cache folds the rows since into its base; once at least
    ``FOLD_SAVE_ROWS`` rows were read since the cache, that base is saved as the new cache: the next
    start takes in only what was written after the fold (not everything since the first cache, which a
    store fed by a collector soon has more than ``REUSE_ROWS`` of: a full load every start)."""
    monkeypatch.setattr(history_module, "FOLD_SAVE_ROWS", 3)
    store = Store(tmp_path / "h.sqlite3")
    store.write(readings_frame([(m, at(s), float(s) + 0.25) for m in "abcd" for s in range(12)]))
    assert not start(store).from_cache
    first_seq = store.load()[1]
    store.write(readings_frame([("a", at(3), 9.0), ("b", at(30), 1.0)]))  # 2 rows: under FOLD_SAVE_ROWS
    history = History(store, index_cache=True, background=background, fold_rows=1)
    history.refresh(fold=False)
    assert history.from_cache and history.cached_seq == first_seq and history.view().changes.height == 2
    assert history.fold_due()
    history.wait()
    assert history.saving_fold is None  # 2 rows since the cache: not worth writing the whole index again
    store.write(readings_frame([("c", at(4), 2.5), ("e", at(1), 7.0)]))  # 4 rows read since the cache now
    history.refresh(fold=False)  # adopts the first fold, the 2 new rows in the delta
    assert history.fold_due()
    history.wait()
    assert history.saving_fold is not None and history.saving_fold.result()
    folded_seq = store.load()[1]
    store.write(readings_frame([("d", at(5), 4.0)]))  # after the fold: the next start's delta
    later = start(store)
    assert later.from_cache and later.cached_seq == folded_seq and later.view().changes.height == 1
    assert_fresh(later, store)
    history.refresh()
    assert_fresh(history, store)
    # one cache in the folder: the full load's was removed when the fold's was saved
    assert len(list((tmp_path / "h.sqlite3-index").glob("*.json"))) == 1
    store.close()


def test_a_fold_saves_no_cache_for_a_read_only_store_or_after_a_deletion(tmp_path, monkeypatch):
    monkeypatch.setattr(history_module, "FOLD_SAVE_ROWS", 1)
    store = Store(tmp_path / "h.sqlite3")
    store.write(readings_frame([(m, at(s), float(s)) for m in "ab" for s in range(10)]))
    assert not start(store).from_cache
    store.write(readings_frame([("a", at(3), 9.0)]))
    readonly = Store(tmp_path / "h.sqlite3", readonly=True)
    history = History(readonly, index_cache=True, background=False, fold_rows=1)
    history.refresh()
    assert history.from_cache and history.saving_fold is None
    readonly.close()
    # rows deleted between the fold and its save: the store does not take the cache (its generation moved on)
    history = History(store, index_cache=True, fold_rows=1)
    history.refresh(fold=False)
    real = index_cache.save

    def deleted_first(store_, readings, seq, generation):
        store.delete_metric("b")
        return real(store_, readings, seq, generation)

    monkeypatch.setattr(history_module, "save_cache", deleted_first)
    assert history.fold_due()
    history.wait()
    assert history.saving_fold is not None and not history.saving_fold.result()
    after = start(store)
    assert not after.from_cache
    assert_fresh(after, store)
    history.refresh()
    assert_fresh(history, store)
    store.close()


def cached(tmp_path: Path) -> Store:
    store = Store(tmp_path / "h.sqlite3")
    store.write(readings_frame([(m, at(s), float(s) + 0.5) for m in "ab" for s in range(10)]))
    assert not start(store).from_cache
    store.write(readings_frame([("a", at(2), 7.0)]))
    return store


def column(tmp_path: Path, name: str) -> Path:
    (path,) = (tmp_path / "h.sqlite3-index").glob(f"*.{name}.col")
    return path


@pytest.mark.parametrize("name", ["key", "value", "total"])
def test_a_damaged_column_is_not_used(tmp_path, name):
    store = cached(tmp_path)
    path = column(tmp_path, name)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x40  # one bit of a value near the end, the file's length unchanged
    path.write_bytes(bytes(data))
    history = start(store)
    assert not history.from_cache
    assert_fresh(history, store)
    assert start(store).from_cache  # the full load wrote a good cache again


def test_a_truncated_or_missing_file_is_not_used(tmp_path):
    store = cached(tmp_path)
    path = column(tmp_path, "total")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    history = start(store)
    assert not history.from_cache
    assert_fresh(history, store)
    column(tmp_path, "value").unlink()
    history = start(store)
    assert not history.from_cache
    assert_fresh(history, store)


def test_a_cache_from_before_a_deletion_or_of_another_store_is_not_used(tmp_path):
    store = cached(tmp_path)
    store.delete_metric("b")  # the generation moves on: stale
    history = start(store)
    assert not history.from_cache
    assert_fresh(history, store)
    # another store with the same readings, given this one's cache files: its meta names no cache
    other = Store(tmp_path / "other" / "h.sqlite3")
    other.write(store.load()[0])
    (tmp_path / "other" / "h.sqlite3-index").mkdir(mode=0o700)
    for path in (tmp_path / "h.sqlite3-index").iterdir():
        (tmp_path / "other" / "h.sqlite3-index" / path.name).write_bytes(path.read_bytes())
    assert not start(other).from_cache
    other.close()
    store.close()


def test_a_header_of_another_polars_version_byte_order_or_sequence_is_not_used(tmp_path):
    store = cached(tmp_path)
    (header,) = (tmp_path / "h.sqlite3-index").glob("*.json")
    text = header.read_text()
    header.write_text(text.replace(f'"polars": "{pl.__version__}"', '"polars": "0.0.1"'))
    assert not start(store).from_cache
    (header,) = (tmp_path / "h.sqlite3-index").glob("*.json")  # format 2's float sums: not read as format 3's
    header.write_text(header.read_text().replace(f'"format": {index_cache.FORMAT}', '"format": 2'))
    assert not start(store).from_cache
    (header,) = (tmp_path / "h.sqlite3-index").glob("*.json")
    other = "big" if sys.byteorder == "little" else "little"  # the raw columns are in the writer's byte order
    header.write_text(header.read_text().replace(f'"byteorder": "{sys.byteorder}"', f'"byteorder": "{other}"'))
    assert not start(store).from_cache
    (header,) = (tmp_path / "h.sqlite3-index").glob("*.json")
    top = store.load()[1]
    header.write_text(header.read_text().replace(f'"seq": {top}', f'"seq": {top + 5}'))  # past what the store holds
    history = start(store)
    assert not history.from_cache
    assert_fresh(history, store)


def test_too_many_rows_since_means_a_full_load(tmp_path, monkeypatch):
    store = cached(tmp_path)
    monkeypatch.setattr(index_cache, "REUSE_ROWS", 1)
    history = start(store)
    assert not history.from_cache
    assert_fresh(history, store)


def test_the_rows_since_are_counted_only_when_the_sequence_numbers_leave_room_for_too_many(tmp_path, monkeypatch):
    """``index_cache.load`` counts the rows since the cache only when at least ``REUSE_ROWS`` sequence
    numbers were handed out since it (fewer numbers cannot hold that many rows); when it counts, the
    count decides: many rewrites of the same few rows are few rows since, and the cache is used."""
    store = cached(tmp_path)
    seq = start(store).cached_seq
    counted: list[int] = []
    real = store.rows_since
    monkeypatch.setattr(store, "rows_since", lambda s: counted.append(s) or real(s))
    for value in range(6):  # a dozen sequence numbers more, on two rows
        store.write(readings_frame([("a", at(1), float(value)), ("b", at(2), float(value))]))
    numbers, rows = store.index_stamp()[2] - seq, real(seq)
    assert numbers >= 12 and rows == 3  # and a@2, written after the cache
    monkeypatch.setattr(index_cache, "REUSE_ROWS", numbers + 1)
    history = start(store)
    assert history.from_cache and counted == []
    assert_fresh(history, store)
    monkeypatch.setattr(index_cache, "REUSE_ROWS", numbers)
    history = start(store)
    assert history.from_cache and counted == [seq]
    assert_fresh(history, store)
    monkeypatch.setattr(index_cache, "REUSE_ROWS", rows)
    history = start(store)
    assert not history.from_cache and counted == [seq, seq]
    assert_fresh(history, store)


def test_a_read_only_store_uses_the_cache_and_writes_none(tmp_path):
    store = cached(tmp_path)
    store.close()
    readonly = Store(tmp_path / "h.sqlite3", readonly=True)
    history = start(readonly)
    assert history.from_cache and history.saving is None
    assert_fresh(history, readonly)
    readonly.close()
    os.chmod(tmp_path, 0o700)
    fresh = Store(tmp_path / "new.sqlite3")
    fresh.write(readings_frame([("a", at(1), 1.0)]))
    fresh.close()
    ro = Store(tmp_path / "new.sqlite3", readonly=True)
    assert not index_cache.save(ro, History(ro).view().base, 0, 0)
    assert not (tmp_path / "new.sqlite3-index").exists()
    ro.close()


def test_a_new_store_where_a_deleted_one_was_never_reads_its_cache_and_removes_it(tmp_path):
    """A history deleted by hand (the file, not its ``-index`` folder) and a new one made at the same path:
    the stale folder goes when the new file is made, and even put back, it is never read (the token check)."""
    path = tmp_path / "h.sqlite3"
    old = Store(path)
    old.write(readings_frame([(m, at(s), 100.0 + s) for m in "ab" for s in range(10)]))
    assert not start(old).from_cache and start(old).from_cache  # the cache is written, then read
    old.close()
    folder = tmp_path / "h.sqlite3-index"
    stale = {p.name: p.read_bytes() for p in folder.iterdir()}
    (folder / "notes.txt").write_text("mine")  # not a cache file: never removed
    for name in ("h.sqlite3", "h.sqlite3-wal", "h.sqlite3-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    new = Store(path)
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    new.write(readings_frame([("a", at(1), 5.0), ("b", at(2), 6.0)]))
    for name, data in stale.items():  # the old files back beside the new store: its meta names no cache
        (folder / name).write_bytes(data)
    history = start(new)
    assert not history.from_cache
    assert_fresh(history, new)
    assert sorted(history.frame["value"].to_list()) == [5.0, 6.0]
    new.close()


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()} if folder.is_dir() else {}


def test_a_one_shot_history_reads_the_cache_and_writes_none(tmp_path, monkeypatch):
    """``kpitui report``'s history (:func:`kpitui.history.one_shot`): from the cache, the rows since in its delta,
    answers as a fresh load; no fold started even with a delta due one, no cache written or replaced."""
    monkeypatch.setattr(history_module, "FOLD_ROWS", 1)
    monkeypatch.setattr(history_module, "FOLD_SAVE_ROWS", 1)
    store = Store(tmp_path / "h.sqlite3")
    store.write(readings_frame([(m, at(s), float(s)) for m in "abc" for s in range(10)]))
    folder = tmp_path / "h.sqlite3-index"
    # no cache yet: a full load, and none written
    shot = history_module.one_shot(store)
    assert not shot.from_cache and shot.saving is None and not folder.exists()
    assert_fresh(shot, store)
    assert start(store).saving is not None  # a viewer's start writes one
    cached = _files(folder)
    assert cached
    store.write(readings_frame([("a", at(3), 30.0), ("b", at(20), 2.0)]))
    store.write(readings_frame([("c", at(4), 1.5)]), mode="add")
    shot = history_module.one_shot(store)
    assert shot.from_cache and shot.view().changes.height == 3
    assert not shot.folding and shot.saving is None and shot.saving_fold is None
    assert_fresh(shot, store)
    assert _files(folder) == cached
    store.close()


def test_the_report_from_the_cache_prints_what_a_full_load_prints(tmp_path):
    """The whole command: ``kpitui report`` over a store whose cache is behind it (rows written since, a
    reading rewritten) prints the same JSON, byte for byte, as over the same store with no cache (a full
    load), and leaves the cache's files as they were."""
    import shutil
    import subprocess

    def report(config: Path) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "kpitui", "report", "--format", "json", "--at", "2026-01-01T00:01:00",
             "--no-collect", "--config", str(config)],
            capture_output=True, text=True, timeout=120, env={**os.environ, "KPITUI_LOAD_PLUGINS": ""},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    kpis = "\n".join(
        f'[kpis.k{i}]\nformula = "{formula}"\n{inputs}\nwindow = "{window}"\n'
        for i, (formula, inputs, window) in enumerate(
            [
                ("sum", 'metrics = ["a", "b"]', "trailing_1d"),
                ("sum", 'metrics = ["c"]', "today"),
                ("mean", 'metrics = ["a", "c"]', "year_to_date"),
                ("ratio", 'numerator = "b"\ndenominator = "c"', "today"),
                ("growth", 'of = "a"', "today"),
            ]
        )
    )
    metrics = "\n".join(f'[metrics.{m}]\nunit = "number"\naggregation = "sum"\n' for m in "abc")
    for name in ("cached", "full"):
        where = tmp_path / name
        where.mkdir()
        (where / "kpitui.toml").write_text(f'[storage]\npath = "{where / "h.sqlite3"}"\n\n{metrics}\n{kpis}')
        store = Store(where / "h.sqlite3")
        store.write(readings_frame([(m, at(-3000 * s), float(s % 7) - 2.5) for m in "abc" for s in range(50)]))
        start(store).view()  # the cache of these rows
        store.write(readings_frame([("a", at(-3000), 30.0), ("b", at(30), 2.0)]))  # a rewrite, a new reading
        store.write(readings_frame([("c", at(-6000), 1.5)]), mode="add")
        store.close()
    shutil.rmtree(tmp_path / "full" / "h.sqlite3-index")
    cached = _files(tmp_path / "cached" / "h.sqlite3-index")
    from_cache = report(tmp_path / "cached" / "kpitui.toml")
    assert from_cache == report(tmp_path / "full" / "kpitui.toml")
    assert _files(tmp_path / "cached" / "h.sqlite3-index") == cached
    assert not (tmp_path / "full" / "h.sqlite3-index").exists()
