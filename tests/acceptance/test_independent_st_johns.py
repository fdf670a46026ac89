"""Independent checks of kpitui's figures in St. John's, Newfoundland: a half-hour negative offset with
DST (hour buckets of the access log fall on :30 UTC), ISO weeks from Monday (the same week number a year
earlier), a fiscal year from July, day buckets of distinct visitors. See test_independent_new_york.py.
"""

from __future__ import annotations

import datetime as dt

import pytest

from .checks import Tally, compare_explanations, compare_report, compare_rollups, compare_series
from .oracle import UTC, Book, Calendar, log_buckets, log_lines, readings
from .scenario import kpitui, make_export, make_log, report, series

CAL = Calendar("America/St_Johns", "monday", 7)
CONFIG = """
[kpitui]
timezone = "America/St_Johns"
week_start = "monday"
fiscal_year_start = 7

[storage]
path = "h.sqlite3"

[sources.exp]
type = "file"
path = "export.csv"
time_column = "time"

[sources.web]
type = "access_log"
path = "access.log"
bucket = "hour"

[sources.webday]
type = "access_log"
path = "access.log"
bucket = "day"

[metrics.sales]
unit = "count"
source = "exp"
value_column = "sales"
bucket = "hour"

[metrics.revenue]
unit = "currency"
source = "exp"
value_column = "revenue"
bucket = "day"

[metrics.subscribers]
unit = "number"
aggregation = "last"
source = "exp"
value_column = "subscribers"
agg = "last"
bucket = "day"

[metrics.hits]
unit = "count"
source = "web"
trigger = "Any successful request"
condition = 'status >= 200 and status < 300'

[metrics.visitors]
unit = "count"
source = "webday"
trigger = "A human visitor"
condition = 'not contains(lower(agent), "bot") and not startswith(agent, "curl")'
distinct = "client"

[metrics.notfound]
unit = "count"
source = "webday"
trigger = "A missing page"
condition = 'status == 404'

[kpis.k_sales]
formula = "sum"
metrics = ["sales"]
window = "week_to_date"
target = 120

[kpis.k_rev]
formula = "sum"
metrics = ["revenue"]
window = "quarter_to_date"
target = { kind = "below", value = 90000 }

[kpis.k_hits]
formula = "cumulative"
of = "hits"
window = "month_to_date"
target = 300

[kpis.k_visitors]
formula = "sum"
metrics = ["visitors"]
window = "trailing_2w"

[kpis.k_nf]
formula = "ratio"
numerator = "notfound"
denominator = "hits"
window = "last_week"

[kpis.k_subs]
formula = "growth"
of = "subscribers"
window = "year_to_date"

[kpis.k_rev_growth]
formula = "growth"
of = "revenue"
mode = "absolute"
window = "last_quarter"

[kpis.k_subs_mean]
formula = "mean"
metrics = ["subscribers"]
window = "week_to_date"
target = { kind = "above", value = 2000, baseline = 1000 }

[kpis.k_rev_due]
formula = "sum"
metrics = ["revenue"]
window = "year_to_date"
target = { value = 250000, baseline = 50000, due = 2026-04-30 }

[kpis.k_rev_past_due]
formula = "sum"
metrics = ["revenue"]
window = "year_to_date"
target = { value = 150000, due = 2026-01-31 }

[objectives.o]
title = "All"
kpis = ["k_sales", "k_rev", "k_hits"]
"""
AGGS = {"sales": "sum", "revenue": "sum", "subscribers": "last", "hits": "sum", "visitors": "sum", "notfound": "sum"}
SPECS = {
    "k_sales": dict(
        formula="sum",
        metrics=["sales"],
        window="week_to_date",
        unit="count",
        additive=True,
        target=dict(kind="reach", value=120),
    ),
    "k_rev": dict(
        formula="sum",
        metrics=["revenue"],
        window="quarter_to_date",
        unit="currency",
        additive=True,
        target=dict(kind="below", value=90000),
    ),
    "k_hits": dict(
        formula="cumulative",
        of="hits",
        window="month_to_date",
        unit="count",
        additive=True,
        target=dict(kind="reach", value=300),
    ),
    "k_visitors": dict(formula="sum", metrics=["visitors"], window="trailing_2w", unit="count", additive=True),
    "k_nf": dict(formula="ratio", numerator="notfound", denominator="hits", window="last_week", unit="ratio"),
    "k_subs": dict(formula="growth", of="subscribers", window="year_to_date", unit="percent"),
    "k_rev_due": dict(
        formula="sum",
        metrics=["revenue"],
        window="year_to_date",
        unit="currency",
        additive=True,
        target=dict(kind="reach", value=250000, baseline=50000, due="2026-04-30"),
    ),
    "k_rev_past_due": dict(
        formula="sum",
        metrics=["revenue"],
        window="year_to_date",
        unit="currency",
        additive=True,
        target=dict(kind="reach", value=150000, due="2026-01-31"),
    ),
    "k_rev_growth": dict(formula="growth", of="revenue", mode="absolute", window="last_quarter", unit="currency"),
    "k_subs_mean": dict(
        formula="mean",
        metrics=["subscribers"],
        window="week_to_date",
        unit="number",
        target=dict(kind="above", value=2000, baseline=1000),
    ),
}

OBJECTIVES = {"o": ["k_sales", "k_rev", "k_hits"]}


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    d = tmp_path_factory.mktemp("st_johns")
    make_export(23, dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2026, 3, 20, tzinfo=UTC)).write(d / "export.csv")
    lines = make_log(
        5, dt.datetime(2026, 2, 20, tzinfo=UTC), dt.datetime(2026, 3, 18, 12, tzinfo=UTC), [-150, -210, 0, 60, 345]
    )
    (d / "access.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = d / "k.toml"
    config.write_text(CONFIG, encoding="utf-8")
    kpitui(config, "collect", "--once")
    return config, Book(CAL, readings(d / "h.sqlite3"), AGGS)


def test_hour_and_day_buckets_of_the_log_on_a_half_hour_clock(history):
    config, book = history
    lines, _ = log_lines(config.parent / "access.log")
    tally = Tally()
    for metric, bucket, keep, distinct in [
        ("hits", "hour", lambda line: 200 <= line["status"] < 300, False),
        ("notfound", "day", lambda line: line["status"] == 404, False),
        (
            "visitors",
            "day",
            lambda line: "bot" not in line["agent"].lower() and not line["agent"].startswith("curl"),
            True,
        ),
    ]:
        expected = log_buckets(CAL, lines, bucket, keep, distinct)
        tally.check(metric, got=dict(book.rows[metric]), expected=expected)
    assert not any(at.minute != 30 for at, _ in book.rows["hits"])  # local hours start at :30 UTC
    assert not tally.mismatches, tally.mismatches


@pytest.mark.slow
@pytest.mark.parametrize(
    "at",
    [
        "2026-03-18 08:45",
        "2026-03-08 03:30",  # just after the spring-forward (02:00 -> 03:00)
        "2026-03-08 01:59:59",
        "2026-03-09 00:00",  # a Monday: the week starts, not yet scored
        "2026-01-01 00:30",  # a new calendar year inside the fiscal year
    ],
)
def test_every_report_figure_matches_the_oracle(history, at):
    config, book = history
    tally = Tally()
    doc = report(config, at, "--explain")
    compare_report(book, SPECS, doc, tally)
    compare_rollups(book, OBJECTIVES, doc, tally)
    compare_explanations(book, SPECS, doc, tally)
    assert tally.compared > 100 and not tally.mismatches, tally.mismatches


@pytest.mark.slow
def test_series_on_a_half_hour_clock(history):
    config, book = history
    at = "2026-03-08 05:10"
    now = dt.datetime.fromisoformat(at).replace(tzinfo=CAL.tz).astimezone(UTC)
    tally = Tally()
    for ident, grain in [
        ("hits", "hour"),
        ("k_hits", "day"),
        ("visitors", "day"),
        ("k_sales", "week"),
        ("revenue", "quarter"),
        ("subscribers", "year"),
    ]:
        compare_series(
            book, SPECS, ident, grain, series(config, ident, at, "--grain", grain, "--points", "8"), now, tally
        )
    assert tally.compared > 80 and not tally.mismatches, tally.mismatches
