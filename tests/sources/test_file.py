"""The ``file`` source against real export files (CSV, Parquet, NDJSON, JSON) on disk."""

from __future__ import annotations

import datetime as dt
import json
import os
import tomllib
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from kpitui.api import READINGS_SCHEMA, OptionError, SourceError, readings_frame
from kpitui.builtin import file as file_module
from kpitui.builtin.file import FileSource
from kpitui.config_tables import MetricTable
from kpitui.options import field_names

NOW = dt.datetime(2024, 3, 5, 12, 0, tzinfo=dt.timezone.utc)
REPO = Path(__file__).resolve().parents[2]

EVENTS_CSV = """\
time,path,method,amount,visitor
2024-03-01T09:15:00Z,/newsletter/thank-you,GET,,a
2024-03-01T10:30:00Z,/pricing,GET,,b
2024-03-01T23:30:00Z,/newsletter/thank-you,GET,,c
2024-03-02T08:00:00Z,/retainer/submit,POST,1200,d
2024-03-02T09:00:00Z,/newsletter/thank-you,GET,,e
2024-03-02T12:00:00Z,/retainer/submit,POST,800,f
2024-03-02T12:30:00Z,/retainer/submit,GET,,g
"""

SIGNUPS = {"trigger": "A visitor viewed /newsletter/thank-you", "condition": 'path == "/newsletter/thank-you"'}
RETAINERS = {
    "trigger": "A visitor POSTed the retainer form",
    "condition": 'method == "POST" and startswith(path, "/retainer/submit")',
}


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.timezone.utc)


def readings(result) -> dict[tuple[str, dt.datetime], float]:
    assert dict(result.readings.schema) == READINGS_SCHEMA
    return {(m, at): v for m, at, v in result.readings.iter_rows()}


@pytest.fixture
def events(tmp_path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(EVENTS_CSV)
    return path


def test_registers_through_the_hook():
    assert file_module.register_metric_sources() == [FileSource]
    assert FileSource.type_name == "file" and FileSource.mode == "replace" and FileSource.uses_condition


def test_event_table_counts_rows_matching_each_trigger_per_day(events, make_source):
    source = make_source(
        FileSource, {"path": "events.csv", "time_column": "time"}, {"signups": SIGNUPS, "retainers": RETAINERS}
    )
    result = source.fetch(None, NOW)
    assert readings(result) == {
        ("signups", utc(2024, 3, 1)): 2.0,
        ("signups", utc(2024, 3, 2)): 1.0,
        ("retainers", utc(2024, 3, 2)): 2.0,
    }
    assert result.skipped == 0


@pytest.mark.parametrize(
    ("agg", "expected"),
    [("sum", 2000.0), ("count", 2.0), ("last", 800.0), ("mean", 1000.0), ("min", 800.0), ("max", 1200.0)],
)
def test_value_column_aggregates_filtered_rows_per_bucket(events, make_source, agg, expected):
    source = make_source(
        FileSource,
        {"path": "events.csv", "time_column": "time"},
        {"retainer_value": {"value_column": "amount", "filter": 'method == "POST"', "agg": agg}},
    )
    assert readings(source.fetch(None, NOW)) == {("retainer_value", utc(2024, 3, 2)): expected}


def test_value_column_also_honours_the_trigger_condition_and_hour_buckets(events, make_source):
    source = make_source(
        FileSource,
        {"path": "events.csv", "time_column": "time"},
        {"first_retainer": {"value_column": "amount", "bucket": "hour", **RETAINERS, "condition": 'visitor == "d"'}},
    )
    assert readings(source.fetch(None, NOW)) == {("first_retainer", utc(2024, 3, 2, 8)): 1200.0}


def test_day_buckets_follow_kpituis_time_zone(events, make_source):
    source = make_source(
        FileSource, {"path": "events.csv", "time_column": "time"}, {"signups": SIGNUPS}, timezone="America/New_York"
    )
    # 09:15Z and 23:30Z on 1 March are both 1 March in New York (UTC-5); 09:00Z on 2 March is 2 March.
    assert readings(source.fetch(None, NOW)) == {
        ("signups", utc(2024, 3, 1, 5)): 2.0,
        ("signups", utc(2024, 3, 2, 5)): 1.0,
    }


def test_naive_times_are_read_in_the_files_time_zone_and_offsets_are_honoured(tmp_path, make_source):
    (tmp_path / "visits.csv").write_text(
        "when;page\n"
        "2024-07-01 09:00:00;/a\n"  # Paris summer time: 07:00Z
        "2024-07-01T10:30;/a\n"  # 08:30Z
        "2024-07-01T10:30:00+00:00;/a\n"  # an explicit offset wins: 10:30Z
        "2024-07-01T12:00:00.250Z;/a\n"  # 12:00:00.25Z
        "2024-07-02;/a\n"  # a date: local midnight, 1 July 22:00Z
    )
    source = make_source(
        FileSource,
        {"path": "visits.csv", "time_column": "when", "timezone": "Europe/Paris", "separator": ";"},
        {"visits": {"condition": 'page == "/a"', "bucket": "hour"}},
    )
    assert readings(source.fetch(None, NOW)) == {
        ("visits", utc(2024, 7, 1, 7)): 1.0,
        ("visits", utc(2024, 7, 1, 8)): 1.0,
        ("visits", utc(2024, 7, 1, 10)): 1.0,
        ("visits", utc(2024, 7, 1, 12)): 1.0,
        ("visits", utc(2024, 7, 1, 22)): 1.0,
    }


def test_time_format_reads_custom_times(tmp_path, make_source):
    (tmp_path / "sales.csv").write_text("day,total\n05/03/2024 10:00,12.5\n05/03/2024 18:00,7.5\n06/03/2024 01:00,3\n")
    source = make_source(
        FileSource,
        {"path": "sales.csv", "time_column": "day", "time_format": "%d/%m/%Y %H:%M"},
        {"revenue": {"value_column": "total"}},
    )
    assert readings(source.fetch(None, NOW)) == {("revenue", utc(2024, 3, 5)): 20.0, ("revenue", utc(2024, 3, 6)): 3.0}


def test_unix_seconds_in_a_numeric_column(tmp_path, make_source):
    (tmp_path / "t.csv").write_text("ts,n\n1709287200,1\n1709290800,2\n")  # 2024-03-01 10:00Z and 11:00Z
    source = make_source(
        FileSource, {"path": "t.csv", "time_column": "ts"}, {"n": {"value_column": "n", "bucket": "hour"}}
    )
    assert readings(source.fetch(None, NOW)) == {("n", utc(2024, 3, 1, 10)): 1.0, ("n", utc(2024, 3, 1, 11)): 2.0}


@pytest.mark.parametrize("fmt", ["parquet", "ndjson", "json"])
def test_every_format_reads_the_same_readings(tmp_path, make_source, fmt):
    frame = pl.read_csv(EVENTS_CSV.encode())
    if fmt == "parquet":  # a real datetime column, as Parquet exports have
        frame = frame.with_columns(pl.col("time").str.to_datetime(time_zone="UTC"))
        frame.write_parquet(tmp_path / "events.parquet")
    elif fmt == "ndjson":
        frame.write_ndjson(tmp_path / "events.ndjson")
    else:
        (tmp_path / "events.json").write_text(frame.write_json())
        assert json.loads((tmp_path / "events.json").read_text())[0]["path"] == "/newsletter/thank-you"
    (tmp_path / "events.csv").write_text(EVENTS_CSV)
    metrics = {"signups": SIGNUPS, "retainer_value": {"value_column": "amount", **RETAINERS}}
    from_csv = make_source(FileSource, {"path": "events.csv", "time_column": "time"}, metrics)
    other = make_source(FileSource, {"path": f"events.{fmt}", "time_column": "time"}, metrics)
    expected = from_csv.fetch(None, NOW).readings.sort("metric", "at")
    assert_frame_equal(other.fetch(None, NOW).readings.sort("metric", "at"), expected)
    assert len(expected) == 3


def test_unchanged_file_is_not_reread_and_a_grown_one_replaces_bucket_values(events, make_source):
    source = make_source(FileSource, {"path": "events.csv", "time_column": "time"}, {"signups": SIGNUPS})
    first = source.fetch(None, NOW)
    assert json.loads(first.cursor).keys() >= {"mtime_ns", "size"}

    again = source.fetch(first.cursor, NOW)
    assert again.cursor == first.cursor
    assert again.readings.is_empty() and dict(again.readings.schema) == READINGS_SCHEMA

    with events.open("a") as f:
        f.write("2024-03-02T15:00:00Z,/newsletter/thank-you,GET,,h\n")
    grown = source.fetch(first.cursor, NOW)
    assert grown.cursor != first.cursor
    # replace mode: the whole bucket's value, not the increment
    assert readings(grown) == {("signups", utc(2024, 3, 1)): 2.0, ("signups", utc(2024, 3, 2)): 2.0}


def test_a_config_change_rereads_an_unchanged_file(events, make_source):
    before = make_source(FileSource, {"path": "events.csv", "time_column": "time"}, {"signups": SIGNUPS})
    cursor = before.fetch(None, NOW).cursor
    after = make_source(
        FileSource, {"path": "events.csv", "time_column": "time"}, {"signups": SIGNUPS, "retainers": RETAINERS}
    )
    assert readings(after.fetch(cursor, NOW))[("retainers", utc(2024, 3, 2))] == 2.0


def test_unreadable_times_and_values_are_counted_as_skipped(tmp_path, make_source):
    (tmp_path / "e.csv").write_text(
        "time,amount\n2024-03-01T10:00:00Z,5\nyesterday,7\n2024-03-01T11:00:00Z,n/a\n2024-03-01T12:00:00Z,1\n"
    )
    source = make_source(FileSource, {"path": "e.csv", "time_column": "time"}, {"amount": {"value_column": "amount"}})
    result = source.fetch(None, NOW)
    assert readings(result) == {("amount", utc(2024, 3, 1)): 6.0}
    assert result.skipped == 2


def test_a_time_format_that_matches_nothing_fails_clearly(events, make_source):
    source = make_source(
        FileSource, {"path": "events.csv", "time_column": "time", "time_format": "%d/%m/%Y"}, {"signups": SIGNUPS}
    )
    with pytest.raises(
        SourceError, match=r"no value of column 'time' could be read as a time.*%d/%m/%Y.*2024-03-01T09:15:00Z"
    ):
        source.fetch(None, NOW)


def test_missing_file_fails_at_fetch_but_not_at_load(make_source):
    source = make_source(FileSource, {"path": "later.csv", "time_column": "time"}, {"signups": SIGNUPS})
    with pytest.raises(SourceError, match="later.csv: no such file"):
        source.fetch(None, NOW)


def test_columns_and_conditions_are_checked_against_the_file_at_load(events, make_source):
    with pytest.raises(OptionError, match="time_column 'tme' is not a column.*did you mean 'time'"):
        make_source(FileSource, {"path": "events.csv", "time_column": "tme"}, {"signups": SIGNUPS})
    with pytest.raises(OptionError, match="metric v: value_column 'amout'.*did you mean 'amount'"):
        make_source(FileSource, {"path": "events.csv", "time_column": "time"}, {"v": {"value_column": "amout"}})
    with pytest.raises(OptionError, match="metric signups: trigger condition"):
        make_source(
            FileSource, {"path": "events.csv", "time_column": "time"}, {"signups": {**SIGNUPS, "condition": "pth == 1"}}
        )


def test_a_column_that_disappears_fails_the_fetch(events, make_source):
    source = make_source(FileSource, {"path": "events.csv", "time_column": "time"}, {"v": {"value_column": "amount"}})
    events.write_text("time,total\n2024-03-01T10:00:00Z,1\n")
    with pytest.raises(SourceError, match="value_column 'amount' is not a column"):
        source.fetch(None, NOW)


def test_a_corrupt_file_fails_with_the_format_named(tmp_path, make_source):
    (tmp_path / "bad.parquet").write_bytes(b"this is not parquet")
    source = make_source(FileSource, {"path": "bad.parquet", "time_column": "time"}, {"v": {"value_column": "x"}})
    with pytest.raises(SourceError, match="cannot read bad.parquet as parquet"):
        source.fetch(None, NOW)


@pytest.mark.parametrize(
    ("source", "metric", "message"),
    [
        ({"path": "x.xlsx", "time_column": "t"}, {"value_column": "v"}, "cannot tell the format"),
        ({"path": "x.csv", "time_column": "t", "separator": "::"}, {"value_column": "v"}, "separator"),
        ({"path": "x.csv", "time_column": "t", "timezone": "Mars/Olympus"}, {"value_column": "v"}, "IANA time zone"),
        ({"path": "x.csv", "time_column": "t", "format": "parqet"}, {"value_column": "v"}, "did you mean 'parquet'"),
        ({"path": "x.csv", "time_column": "t"}, {"filter": "a == 1"}, "filter needs value_column"),
        ({"path": "x.csv", "time_column": "t"}, {"agg": "max", **SIGNUPS}, "needs value_column"),
        ({"path": "x.csv", "time_column": "t"}, {}, "set value_column, or give it a trigger with a condition"),
        ({"path": "x.csv", "time_column": "t"}, {"value_column": "v", "bucket": "week"}, "one of 'hour', 'day'"),
    ],
)
def test_bad_options_are_rejected_at_load(make_source, source, metric, message):
    with pytest.raises(OptionError, match=message):
        make_source(FileSource, source, {"m": metric})


def test_example_tables_are_valid(tmp_path, make_source):
    example = FileSource.example()
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "events.csv").write_text(EVENTS_CSV)
    source = make_source(FileSource, example["source"], {"signups": {**example["metric"], **SIGNUPS}})
    assert readings(source.fetch(None, NOW))[("signups", utc(2024, 3, 1))] == 2.0


def test_the_committed_csv_example_reads(make_source):
    folder = REPO / "examples" / "file_csv"
    config = tomllib.loads((folder / "kpitui.toml").read_text())
    ((source_id, table),) = ((k, v) for k, v in config["sources"].items() if v.get("type") == "file")
    source_table = {k: v for k, v in table.items() if k not in ("type", "interval", "timeout", "enabled")}
    metrics = {}
    for metric_id, metric in config["metrics"].items():
        if metric.get("source") != source_id:
            continue
        options = {k: v for k, v in metric.items() if k not in field_names(MetricTable)}
        metrics[metric_id] = {**options, **{k: metric[k] for k in ("trigger", "condition") if k in metric}}
    assert len(metrics) >= 3
    result = make_source(FileSource, source_table, metrics, config_dir=folder).fetch(None, NOW)
    got = readings(result)
    assert result.skipped == 0
    assert {m for m, _ in got} == set(metrics), "every example metric has readings"
    assert all(v > 0 for v in got.values())


def test_one_collect_reads_many_metrics_quickly(tmp_path, make_source):
    n = 200_000
    frame = pl.DataFrame(
        {
            "time": pl.datetime_range(
                utc(2024, 1, 1), utc(2024, 1, 1) + dt.timedelta(minutes=n - 1), "1m", eager=True, time_zone="UTC"
            ),
            "path": pl.Series(["/a", "/b", "/c", "/d"] * (n // 4)),
            "amount": pl.Series(range(n), dtype=pl.Float64),
        }
    )
    frame.write_csv(tmp_path / "big.csv")
    metrics = {f"m{i}": {"condition": f'path == "/{c}"'} for i, c in enumerate("abcd")}
    metrics["total"] = {"value_column": "amount"}
    source = make_source(FileSource, {"path": "big.csv", "time_column": "time"}, metrics)
    started = os.times().elapsed
    got = source.fetch(None, NOW).readings
    assert os.times().elapsed - started < 10
    days = got.filter(pl.col("metric") == "m0")
    assert days["value"].sum() == n // 4
    expected_total = readings_frame([("total", utc(2024, 1, 1), float(sum(range(1440))))])
    assert_frame_equal(got.filter(pl.col("metric") == "total").sort("at").head(1), expected_total)
