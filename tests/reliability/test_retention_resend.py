"""Retention never inflates old totals when a replace-mode source re-sends compacted periods (issue 19 item 1).

Compaction leaves one row per bucket, at the bucket's start. A snapshot-like
source (``file``, ``sql``) re-reads its whole export every poll and writes the
original times again; those rows used to sit beside the compacted row and the
next compaction summed both (30, 60, 90, 120 for the same day). The store now
closes each metric's compacted past to replace-mode writes.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kpitui import retention
from kpitui.api import readings_frame
from kpitui.config import parse_config
from kpitui.store import Store

from .conftest import run_kpitui

TZ = "America/New_York"
UTC = dt.timezone.utc


def old_day(days: int = 200) -> dt.datetime:
    """Local midnight ``days`` ago."""
    local = dt.datetime.now(ZoneInfo(TZ)) - dt.timedelta(days=days)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def day_total(config: Path, day: dt.datetime, grain: str = "day") -> float | None:
    at = (day + dt.timedelta(hours=23)).strftime("%Y-%m-%dT%H:%M:%S")
    result = run_kpitui(
        "series",
        "revenue",
        "--grain",
        grain,
        "--points",
        "1" if grain == "day" else "24",
        "--at",
        at,
        "--format",
        "json",
        "--config",
        str(config),
    )
    assert result.returncode == 0, result.stderr
    values = [row["value"] or 0 for row in json.loads(result.stdout)["points"]]
    return sum(values)


def header(tmp_path: Path, grain: str) -> str:
    return (
        f'[kpitui]\ntimezone = "{TZ}"\n\n[storage]\npath = "{(tmp_path / "h.sqlite3").as_posix()}"\n'
        f'raw_retention_days = 90\ndownsample_to = "{grain}"\n\n'
    )


@pytest.mark.slow
@pytest.mark.parametrize("days", [200, 500])  # hourly rows (inside the 13-month horizon), daily rows
def test_a_file_source_re_reading_a_compacted_day_does_not_inflate_it(tmp_path, figures, days):
    day = old_day(days)
    orders = tmp_path / "orders.csv"
    times = [day.replace(hour=h, minute=12) for h in (9, 13, 17)]
    orders.write_text("at,amount\n" + "".join(f"{t.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ},10\n" for t in times))
    config = tmp_path / "kpitui.toml"
    config.write_text(
        header(tmp_path, "day")
        + '[sources.orders]\ntype = "file"\npath = "orders.csv"\ntime_column = "at"\n\n'
        + (
            '[metrics.revenue]\nunit = "currency"\naggregation = "sum"\nsource = "orders"\nvalue_column = '
            '"amount"\nbucket = "hour"\n'
        )
    )
    totals = []
    for k in range(4):
        collect = run_kpitui("collect", "--once", "--config", str(config))
        assert collect.returncode == 0, collect.stderr
        totals.append(day_total(config, day))
        with orders.open("a") as handle:  # a new order now: the file changed, so the next poll re-reads it all
            handle.write(f"{dt.datetime.now(UTC) - dt.timedelta(minutes=5 + k):%Y-%m-%dT%H:%M:%SZ},1\n")
    assert totals == [30, 30, 30, 30]
    with Store(tmp_path / "h.sqlite3", readonly=True) as store:
        frame = store.load()[0]
        old = frame.filter(pl.col("at") < dt.datetime.now(UTC) - dt.timedelta(days=100))
        if days > 397:
            assert old.rows() and old.height == 1 and old["n"][0] == 3  # one daily row, nothing beside it
        else:
            assert old.height == 3 and old["n"].to_list() == [1, 1, 1]  # one row per hour: nothing to merge
    figures(polls=4, resends=3, day_total=30, days_ago=days)


@pytest.mark.slow
@pytest.mark.parametrize("grain", ["hour", "day"])
def test_a_sql_source_returning_raw_rows_does_not_inflate_them(tmp_path, figures, grain):
    day = old_day()
    db = sqlite3.connect(tmp_path / "shop.db")
    db.execute("CREATE TABLE orders (at TEXT, amount REAL)")
    # four orders inside one hour, so hour down-sampling has something to merge too
    rows = [(day.replace(hour=9, minute=m).astimezone(UTC).isoformat(), 1.0) for m in (5, 20, 35, 50)]
    db.executemany("INSERT INTO orders VALUES (?, ?)", rows)
    db.commit()
    db.close()
    config = tmp_path / "kpitui.toml"
    config.write_text(
        header(tmp_path, grain)
        + '[sources.shop]\ntype = "sql"\nurl = "sqlite:///shop.db"\n\n'
        + (
            '[metrics.revenue]\nunit = "number"\naggregation = "sum"\nsource = "shop"\nquery = "SELECT at, amount '
            'FROM orders"\n'
        )
    )
    totals = []
    for _ in range(4):
        collect = run_kpitui("collect", "--once", "--config", str(config))
        assert collect.returncode == 0, collect.stderr
        totals.append(day_total(config, day, "hour"))
    assert totals == [4, 4, 4, 4]
    figures(polls=4, resends=3, grain=grain)


@pytest.mark.slow
def test_recording_into_a_compacted_past_is_refused_in_one_line(tmp_path):
    day = old_day()
    config = tmp_path / "kpitui.toml"
    config.write_text(header(tmp_path, "day") + '[metrics.revenue]\nunit = "number"\naggregation = "sum"\n')
    for minute in (1, 2):
        at = day.replace(hour=10, minute=minute).strftime("%Y-%m-%dT%H:%M")
        assert run_kpitui("record", "revenue", "5", "--at", at, "--config", str(config)).returncode == 0
    assert run_kpitui("compact", "--config", str(config)).returncode == 0
    again = run_kpitui(
        "record",
        "revenue",
        "5",
        "--at",
        day.replace(hour=10, minute=1).strftime("%Y-%m-%dT%H:%M"),
        "--config",
        str(config),
    )
    assert again.returncode == 1 and len(again.stderr.strip().splitlines()) == 1, again.stderr
    assert "compacted to one row per day" in again.stderr and "nothing was recorded" in again.stderr
    assert day_total(config, day) == 10
    # recent readings are untouched by the rule
    assert run_kpitui("record", "revenue", "1", "--config", str(config)).returncode == 0


# -- the property: however often old rows are re-sent, nothing changes -------------------------------

NOW = dt.datetime(2026, 2, 10, 15, 30, tzinfo=UTC)
RULES = ("sum", "mean", "last", "min", "max", "count")


def make_config(tmp: Path, grain: str, rule: str):
    text = header(tmp, grain) + f'[metrics.revenue]\nunit = "number"\naggregation = "{rule}"\n'
    path = tmp / "kpitui.toml"
    path.write_text(text)
    return parse_config(text, path)


_old_rows = st.lists(
    st.tuples(st.integers(100 * 24 * 60, 130 * 24 * 60), st.integers(-50, 50)), min_size=1, max_size=30
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=_old_rows,
    grain=st.sampled_from(["hour", "day"]),
    rule=st.sampled_from(RULES),
    resends=st.lists(st.sampled_from(["all", "some", "shifted"]), min_size=1, max_size=5),
)
def test_replace_mode_re_sends_never_change_compacted_values(tmp_path_factory, rows, grain, rule, resends):
    tmp = tmp_path_factory.mktemp("resend")
    config = make_config(tmp, grain, rule)
    sent = readings_frame([("revenue", NOW - dt.timedelta(minutes=m), float(v)) for m, v in rows])
    with Store(config.storage.path) as store:
        store.write(sent, mode="replace")
        retention.compact(store, config, now=NOW)
        kept = store.load()[0].sort("at")
        for how in resends:
            again = {
                "all": sent,
                "some": sent.head(max(1, sent.height // 2)),
                "shifted": sent.with_columns(pl.col("value") + 1),
            }[how]
            store.write(again, mode="replace")
            before = store.compacted_before("revenue")  # None: no bucket had two rows, nothing compacted
            closed = 0 if before is None else again.unique(["metric", "at"]).filter(pl.col("at") < before).height
            assert store.last_compacted == closed
            retention.compact(store, config, now=NOW)
            now = store.load()[0].sort("at")
            if before is None:  # no bucket had two rows: every row is still one raw reading, as last sent
                assert now["n"].to_list() == [1] * now.height and now.height == kept.height
            else:  # the compacted past is exactly as the first compaction left it
                assert now.filter(pl.col("at") < before).equals(kept.filter(pl.col("at") < before))
                assert kept.filter(pl.col("at") >= before).height == 0


def test_a_history_compacted_before_the_fix_gets_its_compacted_past_closed(tmp_path):
    """Schema 2 -> 3: a metric with compacted rows is closed up to its last one plus 25 h."""
    from kpitui.store import _MIGRATIONS, APPLICATION_ID

    path = tmp_path / "old.sqlite3"
    raw = sqlite3.connect(path)
    for step in _MIGRATIONS[:2]:
        raw.executescript(step)
    raw.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    raw.execute("PRAGMA user_version = 2")
    raw.execute("INSERT INTO metrics (id, name) VALUES (1, 'a'), (2, 'b')")
    day = int(dt.datetime(2025, 6, 1, tzinfo=UTC).timestamp()) * 10**6
    raw.execute(
        "INSERT INTO readings (metric_id, at, value, seq, n) VALUES (1, ?, 30, 1, 3), (2, ?, 1, 2, 1)", (day, day)
    )
    raw.execute("UPDATE meta SET value = 2 WHERE key = 'seq'")
    raw.commit()
    raw.close()
    with Store(path) as store:
        assert store.compacted_before("a") == dt.datetime(2025, 6, 2, 1, tzinfo=UTC)
        assert store.compacted_before("b") is None
        start = dt.datetime(2025, 6, 1, 9, tzinfo=UTC)
        store.write(readings_frame([("a", start, 10.0), ("b", start, 10.0)]))
        assert store.last_compacted == 1
        assert sorted(store.load()[0].select("metric", "value").iter_rows()) == [("a", 30.0), ("b", 1.0), ("b", 10.0)]
