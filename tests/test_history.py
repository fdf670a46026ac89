"""The viewer's history follows a store written by someone else: new rows, rewritten rows, deletions."""

from __future__ import annotations

import datetime as dt

from kpitui.api import readings_frame
from kpitui.history import History
from kpitui.store import Store

T = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def rows(frame):
    return sorted(frame.select("metric", "at", "value").iter_rows())


def test_history_follows_writes_rewrites_and_deletions(tmp_path):
    writer = Store(tmp_path / "h.sqlite3")
    reader = Store(tmp_path / "h.sqlite3")
    history = History(reader)
    assert history.refresh() == 0 and history.frame.height == 0

    writer.write(readings_frame([("a", T, 1.0), ("b", T, 2.0)]))
    assert history.refresh() == 2
    writer.write(readings_frame([("a", T, 5.0), ("a", T + dt.timedelta(hours=1), 3.0)]))
    assert history.refresh() == 2
    assert rows(history.frame) == [("a", T, 5.0), ("a", T + dt.timedelta(hours=1), 3.0), ("b", T, 2.0)]

    writer.delete_metric("b")
    history.refresh()
    assert rows(history.frame) == [("a", T, 5.0), ("a", T + dt.timedelta(hours=1), 3.0)]
    assert history.refresh() == 0
    writer.close()
    reader.close()
