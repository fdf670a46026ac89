"""A metric deleted and another made after it: SQLite may give the new one the deleted one's id, and an
incremental load must name its rows by the new metric (kpitui/sqlite_store/reads.py)."""

from __future__ import annotations

import datetime as dt
import sqlite3

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


ODD_NAMES = [
    "plain",
    'quote"d',
    "back\\slash",
    "tab\tand\nnewline",
    "\x01control",
    "ünïcödé",
    "emoji \U0001f600",
    "[1,2]",
    "",
    "null",
]


def test_each_metrics_name_is_read_as_written_whatever_its_characters(tmp_path, monkeypatch):
    """The metric names a load reads in one row (SQLite's JSON array, kpitui/sqlite_store/reads.py) are
    those written, character for character, as the table's rows give them; so are they row by row
    (without SQLite's JSON functions), and every load names its rows alike either way."""
    from kpitui.sqlite_store import reads

    with Store(tmp_path / "h.sqlite3") as store:
        for name in ODD_NAMES:
            store.write(readings(name, 2))
        _, seq = store.load()
        store.write(readings("later", 1))
        table = dict(store._conn.execute("SELECT id, name FROM metrics").fetchall())
        assert sorted(table.values()) == sorted([*ODD_NAMES, "later"])
        assert reads._names(store._conn) == table
        full, since = store.load(), store.load_rows(seq)
        ids = store.load_ids()
        real = reads.json.loads
        monkeypatch.setattr(reads.json, "loads", lambda text: [[1.5, "x"]])  # not an id: row by row
        assert reads._names(store._conn) == table
        monkeypatch.setattr(reads.json, "loads", real)

        class NoJson:  # an SQLite built without its JSON functions
            def execute(self, sql, *args):
                if "json" in sql:
                    raise sqlite3.OperationalError("no such function: json_group_array")
                return store._conn.execute(sql, *args)

        assert reads._names(NoJson()) == table
        assert store.load()[0].equals(full[0]) and store.load_rows(seq)[0].equals(since[0])
        assert store.load_ids()[1] == ids[1]
        assert sorted(full[0]["metric"].unique()) == sorted([*ODD_NAMES, "later"])
        assert since[0]["metric"].to_list() == ["later"]
