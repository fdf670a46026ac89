"""Columns kept as raw values and read back mapped (kpitui.mapped_columns): the same values, no copy,
mapped for the life of the process, its pages handed back on request."""

from __future__ import annotations

import gc
import math
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings, strategies as st

from kpitui import mapped_columns


def save(path: Path, series: pl.Series) -> bool:
    with open(path, "wb") as out:
        return mapped_columns.write(out, series)


def mapped(path: Path) -> bool:
    """Whether this process maps ``path`` (Linux: /proc/self/maps)."""
    return str(path) in Path("/proc/self/maps").read_text()


floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
ints = st.integers(-(2**63), 2**63 - 1)


@settings(max_examples=40, deadline=None)
@given(chunks=st.lists(st.one_of(st.lists(ints, max_size=20)), min_size=1, max_size=4), data=st.data())
def test_integer_and_float_columns_read_back_the_same_chunk_by_chunk(tmp_path_factory, chunks, data):
    folder = tmp_path_factory.mktemp("cols")
    whole = pl.concat([pl.Series("x", c, pl.Int64) for c in chunks], rechunk=False)
    assert save(folder / "i.col", whole)
    back = mapped_columns.read(folder / "i.col", "key", pl.Int64, whole.len())
    assert back is not None and back.name == "key" and back.to_list() == whole.to_list()
    values = pl.Series("v", data.draw(st.lists(floats, min_size=whole.len(), max_size=whole.len())), pl.Float64)
    sliced = values.slice(1) if values.len() else values  # an array with an offset
    assert save(folder / "f.col", sliced)
    back = mapped_columns.read(folder / "f.col", "value", pl.Float64, sliced.len())
    assert back is not None
    assert [(math.isnan(a), a if not math.isnan(a) else 0) for a in back.to_list()] == [
        (math.isnan(a), a if not math.isnan(a) else 0) for a in sliced.to_list()
    ]


def test_a_wrong_length_nulls_or_another_dtype_are_refused(tmp_path):
    assert save(tmp_path / "c.col", pl.Series([1.0, 2.0, 3.0]))
    assert mapped_columns.read(tmp_path / "c.col", "v", pl.Float64, 4) is None
    assert mapped_columns.read(tmp_path / "c.col", "v", pl.Float64, 2) is None
    assert mapped_columns.read(tmp_path / "c.col", "v", pl.Float64, 3).to_list() == [1.0, 2.0, 3.0]
    assert not save(tmp_path / "n.col", pl.Series([1.0, None]))
    assert not save(tmp_path / "s.col", pl.Series(["a"]))
    assert not save(tmp_path / "i32.col", pl.Series([1], dtype=pl.Int32))
    assert (tmp_path / "n.col").stat().st_size == 0
    assert save(tmp_path / "e.col", pl.Series([], dtype=pl.Int64))
    assert mapped_columns.read(tmp_path / "e.col", "k", pl.Int64, 0).len() == 0


def resident_kb(path: Path) -> int:
    """The resident size of this process's mappings of ``path`` (Linux: /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if line[:1].isalnum() and "-" in line.split(" ", 1)[0] and ":" not in line.split(" ", 1)[0]:
            inside = line.rstrip().endswith(str(path)) or line.rstrip().endswith(f"{path} (deleted)")
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs /proc/self/smaps")
def test_the_pages_go_back_and_the_values_stay_readable_from_the_file(tmp_path):
    path = tmp_path / "big.col"
    assert save(path, pl.int_range(0, 100_000, eager=True))
    series = mapped_columns.read(path, "key", pl.Int64, 100_000)
    part = series.slice(10, 5)  # shares the mapping
    frame = pl.DataFrame({"key": series}).lazy().filter(pl.col("key") % 7 == 0).collect()
    assert int(series.sum()) == 4_999_950_000 and resident_kb(path) >= 700
    del series
    gc.collect()
    path.unlink()  # as a newer cache prunes it: still readable through the mapping
    mapped_columns.drop_pages()
    assert resident_kb(path) == 0
    assert part.to_list() == [10, 11, 12, 13, 14] and frame.height == 14_286 and int(part.sum()) == 60


SHUT_DOWN_WHILE_READING = """
import sys, threading, time
from pathlib import Path
import polars as pl
from kpitui import mapped_columns
path = Path(sys.argv[1])
def read_forever():
    while True:
        mapped_columns.read(path, "v", pl.Int64, 1_000_000).sum()
for _ in range(3):
    threading.Thread(target=read_forever, daemon=True).start()
time.sleep(0.2)
"""


@pytest.mark.slow
def test_the_process_exits_cleanly_while_daemon_threads_read_mapped_columns(tmp_path):
    """polars drops arrays from its own threads: a release callback written in Python, entered from one
    of them while the interpreter shut down, aborted the process (exit 134, a third of these runs)."""
    path = tmp_path / "v.col"
    assert save(path, pl.int_range(0, 1_000_000, eager=True))
    script = tmp_path / "reader.py"
    script.write_text(SHUT_DOWN_WHILE_READING)
    runs = [subprocess.Popen([sys.executable, str(script), str(path)], stderr=subprocess.PIPE) for _ in range(12)]
    outcomes = [(run.wait(timeout=120), run.stderr.read().decode()[-300:]) for run in runs if run.stderr]
    assert outcomes == [(0, "")] * 12


def test_a_mapping_handed_to_polars_outlives_the_module_that_holds_it(tmp_path):
    """The interpreter clears a module's globals at shut-down while daemon threads may still read a mapped
    column inside polars: the mapping must not be closed by that (it was unmapped under the read: SIGSEGV)."""
    path = tmp_path / "v.col"
    assert save(path, pl.int_range(0, 1000, eager=True))
    before = len(mapped_columns._held)
    series = mapped_columns.read(path, "v", pl.Int64, 1000)
    mapping = mapped_columns._held[before][0]
    base = sys.getrefcount(mapping)
    mapped_columns._held.pop(before)  # as the module's teardown drops its list
    assert sys.getrefcount(mapping) == base - 1 >= 3  # this name, the argument and the reference never dropped
    assert not mapping.closed and series is not None and series.sum() == sum(range(1000))
