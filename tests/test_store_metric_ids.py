"""A metric deleted and another made after it: SQLite may give the new one the deleted one's id, and an
incremental load must name its rows by the new metric (kpitui/sqlite_store/reads.py)."""

from __future__ import annotations

import datetime as dt

from kpitui.api import readings_frame
from kpitui.store import Store

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def readings(metric: str, count: int):
    return readings_frame([(metric, T0 + dt.timedelta(minutes=k), float(k)) for k in range(count)])


def test_an_incremental_load_names_a_new_metric_that_took_a_deleted_ones_id(tmp_path):
    # SQLite gives a new metric the highest id plus one, so after deleting the metric with the highest
    # id the next new metric takes its id: an incremental load must not name its rows after the old one.
    with Store(tmp_path / "h.sqlite3") as store:
        store.write(readings("a", 3))
        _, seq = store.load()
        store.write(readings("b", 3))
        new, seq = store.load(since=seq)  # the incremental load remembers the names it saw: b
        assert set(new["metric"]) == {"b"}
        store.delete_metric("b")
        _, seq = store.load()  # after a delete a reader loads from 0 (the generation moved on)
        store.write(readings("c", 2))
        new, seq = store.load(since=seq)
        assert set(new["metric"]) == {"c"}
        assert sorted(store.load()[0]["metric"].unique()) == ["a", "c"]
