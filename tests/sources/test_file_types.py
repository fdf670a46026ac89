"""The ``file`` source never lets a sample decide a column's type: a value column is Float64 whatever its first rows
hold.

A CSV (or NDJSON, or JSON) whose value column holds whole numbers for more
than the rows polars samples and then ``19.99`` must read, through the CLI,
with sums equal to a plain-Python total of the file.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from pathlib import Path

import pytest
from test_cli import run

ROWS = 12_000  # more than polars' (and kpitui's former) 10,000-row inference sample


def rows(seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    start = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    out = [{"time": (start + dt.timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"), "fee": rng.randint(1, 50),
            "qty": rng.randint(1, 3)} for i in range(ROWS)]  # fmt: skip
    out += [
        {"time": "2026-03-09T10:00:00Z", "fee": 19.99, "qty": 1.5},
        {"time": "2026-03-09T11:00:00Z", "fee": "n/a", "qty": 2},  # not a number: skipped and counted, not fatal
        {"time": "2026-03-09T12:00:00Z", "fee": " 7.25 ", "qty": 2},
    ]
    return out


def write(path: Path, data: list[dict], fmt: str) -> None:
    if fmt == "csv":
        with path.open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=["time", "fee", "qty"])
            writer.writeheader()
            writer.writerows(data)
    elif fmt == "ndjson":
        path.write_text("".join(json.dumps(r) + "\n" for r in data))
    else:
        path.write_text(json.dumps(data))


def as_number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "ndjson", "json"])
def test_value_column_is_numeric_whatever_its_first_rows_hold(tmp_path: Path, fmt: str) -> None:
    data = rows()
    write(tmp_path / f"fees.{fmt}", data, fmt)
    cfg = tmp_path / "kpitui.toml"
    cfg.write_text(
        f"""
[storage]
path = "{tmp_path / "h.sqlite3"}"

[sources.fees]
type = "file"
path = "fees.{fmt}"
time_column = "time"

[metrics.fees]
source = "fees"
value_column = "fee"

[metrics.big_orders]
source = "fees"
value_column = "fee"
filter = "qty > 1.25"
"""
    )
    collected = run("collect", "--once", "--config", str(cfg))
    assert collected.returncode == 0, collected.stderr
    assert "error" not in collected.stderr
    assert "1 skipped" in collected.stdout  # the "n/a": counted, not fatal
    assert "1 skipped (a line, time, value or metric it could not take, or a time more than a day ahead)" in (
        collected.stdout
    )  # and said what it is

    def total(metric: str) -> float:
        result = run("series", metric, "--grain", "day", "--points", "10", "--at", "2026-03-10T00:00:00",
                     "--format", "json", "--config", str(cfg))  # fmt: skip
        assert result.returncode == 0, result.stderr
        return sum(row["value"] or 0 for row in json.loads(result.stdout)["points"])

    fees = [(as_number(r["fee"]), as_number(r["qty"])) for r in data]
    assert total("fees") == pytest.approx(sum(f for f, _ in fees if f is not None))
    assert total("big_orders") == pytest.approx(sum(f for f, q in fees if f is not None and q > 1.25))


@pytest.mark.slow
def test_nan_and_infinite_values_are_skipped_and_counted_not_a_whole_bucket_lost(tmp_path: Path) -> None:
    """``NaN``, ``inf`` and ``-inf`` in a value column are not numbers anyone measured: like ``n/a`` they are
    skipped and counted. They were read as floats, so the bucket's sum became NaN (or a max infinite), the
    store refused that reading, and the bucket read 0: the 10 beside a NaN was lost without a word."""
    (tmp_path / "orders.csv").write_text(
        "time,amount\n"
        "2026-11-01T00:00:00Z,10\n"
        "2026-11-01T00:30:00Z,NaN\n"
        "2026-11-01T01:00:00Z,inf\n"
        "2026-11-01T01:10:00Z,-inf\n"
        "2026-11-01T01:30:00Z,1e6\n"
        "2026-11-01T01:40:00Z,2.5\n"
        "2026-11-01T02:00:00Z,7\n"
        "2026-11-01T02:20:00Z,nan\n"
    )
    cfg = tmp_path / "kpitui.toml"
    cfg.write_text(
        f'[kpitui]\ntimezone = "UTC"\n[storage]\npath = "{tmp_path / "h.sqlite3"}"\n'
        '[sources.f]\ntype = "file"\npath = "orders.csv"\ntime_column = "time"\n'
        '[metrics.amount]\nsource = "f"\nvalue_column = "amount"\nbucket = "hour"\n'
        '[metrics.biggest]\nunit = "number"\naggregation = "max"\nsource = "f"\nvalue_column = "amount"\n'
        'bucket = "hour"\nagg = "max"\n'
    )
    collected = run("collect", "--once", "--config", str(cfg))
    assert collected.returncode == 0, collected.stderr
    assert "4 skipped" in collected.stdout, collected.stdout
    for metric, expected in (("amount", [10.0, 1000002.5, 7.0]), ("biggest", [10.0, 1e6, 7.0])):
        at = ("--at", "2026-11-01 02:59")
        shown = run("series", metric, "--grain", "hour", "--points", "3", *at, "--format", "json", "--config", str(cfg))
        assert shown.returncode == 0, shown.stderr
        assert [p["value"] for p in json.loads(shown.stdout)["points"]] == expected, metric


def test_a_row_stamped_more_than_a_day_ahead_is_skipped_and_said_so(tmp_path):
    """Sources keep a reading up to a day ahead (clocks, zones) and skip one later, as `record` refuses it: the
    poll's line says what its skipped count is; the report counts the kept row only once its time has come."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    (tmp_path / "events.csv").write_text(
        "time,event\n"
        + "".join(f"{(now + ahead).isoformat()},trial\n" for ahead in (dt.timedelta(hours=-2), dt.timedelta(days=3)))
    )
    cfg = tmp_path / "kpitui.toml"
    cfg.write_text(
        f'[storage]\npath = "{tmp_path / "h.sqlite3"}"\n[sources.product]\ntype = "file"\npath = "events.csv"\n'
        'time_column = "time"\n[metrics.trials]\nsource = "product"\ntrigger = "A trial started"\n'
        'condition = \'event == "trial"\'\nbucket = "hour"\n'
    )
    collected = run("collect", "--once", "--config", str(cfg))
    assert collected.returncode == 0, collected.stderr
    assert "product: 1 readings, 1 skipped (a line, time, value or metric it could not take, or a time more than " \
        "a day ahead)" in collected.stdout, collected.stdout  # fmt: skip
