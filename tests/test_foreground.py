"""A background fold waits behind the foreground (refreshes and evaluations), runs at a lower priority,
never starves, and hands over a base whose first reads are worked out: the numbers stay those of a fresh load."""

from __future__ import annotations

import datetime as dt
import os
import sys
import threading
import time

import polars as pl
import pytest

from kpitui import foreground as foreground_module, history as history_module
from kpitui.api import readings_frame
from kpitui.config import parse_config
from kpitui.engine import Engine
from kpitui.foreground import Foreground
from kpitui.history import History
from kpitui.pipeline import View, fold, refold
from kpitui.store import Store

T = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

CONFIG = """
[metrics.a]
[metrics.b]
aggregation = "last"
[metrics.c]
[kpis.total]
formula = "sum"
metrics = ["a", "c"]
window = "today"
[kpis.level]
formula = "sum"
metrics = ["b"]
window = "this_week"
"""


def test_the_foreground_is_waited_for_at_most_the_cap():
    gate = Foreground(cap=0.2)
    assert not gate.busy and gate.wait()  # idle: at once
    with gate:
        assert gate.busy
        with gate:  # a refresh inside an evaluation's thread, or two threads
            pass
        assert gate.busy
        t0 = time.perf_counter()
        assert not gate.wait()  # busy all along: the cap, then the caller goes on
        assert 0.15 <= time.perf_counter() - t0 < 2.0
    assert not gate.busy

    done: list[float] = []

    def waiter() -> None:
        t0 = time.perf_counter()
        assert gate.wait()
        done.append(time.perf_counter() - t0)

    slow = Foreground(cap=5.0)
    gate = slow  # the waiter's
    with slow:
        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.05)
        assert not done  # still waiting while the foreground runs
    thread.join(5)
    assert done and done[0] < 4.0  # woken when the foreground left, not at the cap


def _written(store: Store, rows: dict[tuple[str, dt.datetime], float], batch: list[tuple[str, dt.datetime, float]]):
    store.write(readings_frame(batch))
    for metric, at, value in batch:
        rows[(metric, at)] = value


def _batch(k: int) -> list[tuple[str, dt.datetime, float]]:
    """Rows of three metrics, some new, some rewriting earlier ones (k-dependent values)."""
    out = []
    for i in range(40):
        metric = "abc"[i % 3]
        at = T + dt.timedelta(minutes=(7 * i + 3 * k) % 300)
        out.append((metric, at, float((i * 31 + k * 17) % 23 - 11)))
    return out


def test_a_fold_finishes_while_the_foreground_never_rests_and_keeps_every_number(tmp_path, monkeypatch):
    """The foreground held all along (an evaluation that never ends): each of the fold's steps waits the cap,
    then goes on; the fold finishes, and what it hands over answers as a fresh load does."""
    monkeypatch.setattr(refold, "PIECE_ROWS", 50)  # many pieces: many small copies between the pauses
    path = tmp_path / "h.sqlite3"
    writer = Store(path)
    rows: dict[tuple[str, dt.datetime], float] = {}
    _written(
        writer,
        rows,
        [(m, T + dt.timedelta(minutes=i), float(i % 7)) for m in "abcdefghijklmnopqrst" for i in range(120)],
    )
    history = History(Store(path), fold_rows=30)
    history.foreground.cap = 0.02
    history.refresh()
    waits: list[bool] = []
    wait = history.foreground.wait
    monkeypatch.setattr(history.foreground, "wait", lambda: waits.append(wait()) or waits[-1])
    _written(writer, rows, _batch(1))
    history.refresh(fold=False)
    held = history.view()
    with history.foreground:  # never left while the fold runs
        assert history.fold_due() and history.folding
        t0 = time.perf_counter()
        history.wait()
        took = time.perf_counter() - t0
    assert len(waits) >= 5 and not any(waits)  # every step waited, and the foreground was never idle
    assert took < len(waits) * 0.02 + 5.0  # the cap per step: never starved
    # the fold alone (no pauses) builds the same base
    alone = fold(held).base
    _written(writer, rows, _batch(2))
    history.refresh(fold=False)
    view = history.view()
    assert not history.folding and view.base.height == alone.height
    for name in ("key", "value", "total"):
        assert getattr(view.base, name).equals(getattr(alone, name))
    assert view.base.maxima.equals(alone.maxima)
    # against the rows written, by hand, and a fresh load's evaluation
    assert sorted(history.frame.select("metric", "at", "value").iter_rows()) == sorted(
        (m, at, v) for (m, at), v in rows.items()
    )
    config = parse_config(CONFIG, tmp_path / "kpitui.toml")
    now = T + dt.timedelta(hours=3)
    fresh = History(Store(path))
    fresh.refresh()
    assert Engine(config).evaluate(history, now) == Engine(config).evaluate(fresh, now)
    writer.close()
    history.store.close()
    fresh.store.close()


@pytest.mark.parametrize("share", [refold.TOUCHED_SHARE, 0.0])  # only the touched segments, or every row
def test_a_fold_pauses_between_its_steps_and_builds_the_same_index(share):
    base = [(m, T + dt.timedelta(minutes=i), float(i % 5)) for m in "abcdef" for i in range(100)]
    view = View.from_frame(readings_frame(base))
    new = readings_frame([("a", T + dt.timedelta(minutes=3), 9.0), ("b", T + dt.timedelta(hours=9), 1.0)])
    written = view.write(new.with_columns(pl.col("at").dt.epoch("us"), n=pl.lit(1, pl.Int64)))
    pauses: list[int] = []
    paused = fold(written, share=share, pause=lambda: pauses.append(1))
    alone = fold(written, share=share)
    assert len(pauses) >= 2
    for name in ("key", "value", "total"):
        assert getattr(paused.base, name).equals(getattr(alone.base, name))
    assert paused.base.segments.equals(alone.base.segments)
    assert sorted(paused.frame().rows()) == sorted(alone.frame().rows())


def test_the_engine_evaluates_inside_the_historys_foreground(tmp_path):
    writer = Store(tmp_path / "h.sqlite3")
    writer.write(readings_frame([("a", T, 1.0)]))
    history = History(Store(tmp_path / "h.sqlite3"))
    history.refresh()
    seen: list[bool] = []
    view = history.view

    def watched() -> View:
        seen.append(history.foreground.busy)
        return view()

    history.view = watched  # type: ignore[method-assign]
    Engine(parse_config(CONFIG, tmp_path / "kpitui.toml")).evaluate(history, T + dt.timedelta(hours=1))
    assert seen == [True] and not history.foreground.busy
    writer.close()
    history.store.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_the_fold_thread_runs_below_the_foreground(tmp_path):
    history = History(Store(tmp_path / "h.sqlite3"))
    assert history._executor is not None
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    fold_thread = history._executor.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
    assert fold_thread.result() == min(19, own + history_module.FOLD_NICE)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own  # the caller's own is untouched
    history.store.close()


def test_a_background_folds_base_is_handed_over_with_its_first_reads_worked_out(tmp_path):
    path = tmp_path / "h.sqlite3"
    writer = Store(path)
    writer.write(readings_frame([(m, T + dt.timedelta(minutes=i), float(i)) for m in "abc" for i in range(50)]))
    history = History(Store(path), fold_rows=5)
    history.refresh()
    writer.write(readings_frame(_batch(3)))
    history.refresh(fold=False)
    assert history.fold_due()
    history.wait()
    history.refresh(fold=False)
    base = history.view().base
    assert {"ranges", "first_blocks", "bounds", "places", "firsts"} <= set(vars(base))
    fresh = History(Store(path))
    fresh.refresh()
    rebuilt = fresh.view().base
    assert base.ranges == rebuilt.ranges and base.bounds == rebuilt.bounds and base.places == rebuilt.places
    assert base.firsts == rebuilt.firsts and base.first_blocks == rebuilt.first_blocks
    writer.close()
    history.store.close()
    fresh.store.close()


def test_the_cap_is_a_short_wait():
    assert 0 < foreground_module.PAUSE_CAP <= 0.1  # a few dozen steps: a fold is delayed a second or two at most
