"""KPI evaluation semantics (issue 11): targets over other windows, progress, partial history,
the start of a period, comparison series, and the rules docs/kpis.md settles. Hand-computed values,
through the real console script where the issue says so."""

from __future__ import annotations

import calendar
import datetime as dt

import polars as pl
import pytest

from kpitui.config import load_config
from kpitui.engine import Engine
from kpitui.formatting import STATUS_SYMBOL
from kpitui.model import Status


def test_not_yet_status_has_a_label_and_a_symbol():
    assert Status.NOT_YET.value == "not_yet"
    assert Status.NOT_YET.label == "not yet scored"
    assert Status.OFF_TRACK.label == "off track"
    assert STATUS_SYMBOL[Status.NOT_YET]


def test_partial_bucket_is_the_running_one_only(write_config):
    path = write_config(
        """
        [metrics.leads]
        name = "Leads"
        [kpis.lead_kpi]
        name = "Leads"
        formula = "sum"
        metrics = ["leads"]
        window = "month_to_date"
        """
    )
    engine = Engine(load_config(path))
    now = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.timezone.utc)
    bucket = engine.partial_bucket("lead_kpi", now=now, grain="month")
    assert bucket is not None and bucket.start == dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc) and bucket.end == now
    assert engine.partial_bucket("lead_kpi", now=now, grain="month", window="last_month") is None
    assert engine.partial_bucket("lead_kpi", now=now, grain="month", offset=1) is None
    # on a bucket edge the running bucket is the one starting at now (a reading stamped now is its own)
    edge = dt.datetime(2026, 12, 2, tzinfo=dt.timezone.utc)
    bucket = engine.partial_bucket("lead_kpi", now=edge, grain="day")
    assert bucket is not None and bucket.start == edge and bucket.end == edge and bucket.closed
    assert engine.partial_bucket("lead_kpi", now=edge, grain="day", window="last_month") is None


# --------------------------------------------------------------------------- through the CLI

import json  # noqa: E402
import textwrap  # noqa: E402

from test_cli import run  # noqa: E402

from kpitui.api import readings_frame  # noqa: E402
from kpitui.store import Store  # noqa: E402

UTC = dt.timezone.utc


def t(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def project(tmp_path, body: str, readings, timezone: str = "UTC"):
    """A config (``body`` under a [kpitui] table) and a real history holding ``readings``."""
    history = tmp_path / "h.sqlite3"
    config = tmp_path / "kpitui.toml"
    config.write_text(
        f'[kpitui]\ntimezone = "{timezone}"\n\n[storage]\npath = "{history}"\n\n' + textwrap.dedent(body),
        encoding="utf-8",
    )
    store = Store(history)
    try:
        if readings:
            store.write(readings_frame(readings), mode="replace")
    finally:
        store.close()
    return config


def report(config, *args) -> dict:
    done = run("report", "--format", "json", "--no-collect", "--config", str(config), *args)
    assert done.returncode == 0, done.stderr
    return {k["id"]: k for k in json.loads(done.stdout)["kpis"]}


def table(config, *args) -> str:
    done = run("report", "--no-collect", "--config", str(config), *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


LEADS = """
[metrics.leads]
name = "Leads"
unit = "count"
[metrics.visits]
name = "Visits"
unit = "count"

[kpis.lead_gen]
name = "Lead Generation"
formula = "sum"
metrics = ["leads"]
unit = "count"
window = "month_to_date"
target = 900

[kpis.conversion]
name = "Conversion"
formula = "ratio"
numerator = "leads"
denominator = "visits"
window = "month_to_date"
target = 0.5

[kpis.h1]
name = "H1 leads"
formula = "sum"
metrics = ["leads"]
window = "year_to_date"
target = { value = 5000, due = 2026-06-30 }
"""


def daily_leads(first: dt.date, last: dt.date, per_day: float = 30, visits: float = 100):
    """``per_day`` leads and ``visits`` visits at 09:00 UTC each day from ``first`` to ``last``."""
    out, day = [], first
    while day <= last:
        at = t(day.year, day.month, day.day, 9)
        out += [("leads", at, per_day), ("visits", at, visits)]
        day += dt.timedelta(days=1)
    return out


@pytest.fixture
def leads(tmp_path):
    return project(tmp_path, LEADS, daily_leads(dt.date(2026, 11, 1), dt.date(2026, 12, 10)))


AT = ["--at", "2026-12-10 12:00"]  # a Thursday; 9.5 days of December's 31 have passed


@pytest.mark.slow
def test_a_target_is_prorated_over_another_window_for_an_additive_kpi(leads):
    """Issue 11 item 7: 900 a month over week_to_date is 900 x 7/31 (December), over
    year_to_date 900 x 12; the score and status follow that target."""
    week = report(leads, *AT, "--window", "week_to_date")["lead_gen"]
    assert week["value"] == 120  # Mon Dec 7 .. Thu Dec 10, 30 a day
    assert week["target_basis"] == "prorated" and week["target"]["value"] == 900
    assert week["applied_target"]["value"] == pytest.approx(900 * 7 / 31, abs=1e-6)
    assert week["progress"] == pytest.approx(120 / (900 * 7 / 31), abs=1e-6)
    assert week["projection"] == pytest.approx(120 / (3.5 / 7), abs=1e-6)  # 240 for the week
    assert week["score"] == 1 and week["status"] == "on_track"

    year = report(leads, *AT, "--window", "year_to_date")["lead_gen"]
    assert year["value"] == 1200  # Nov 1 .. Dec 10
    assert year["applied_target"]["value"] == pytest.approx(10800)
    projection = 1200 / (343.5 / 365)  # Jan 1 .. Dec 10 12:00 of 365 days
    assert year["projection"] == pytest.approx(projection, abs=1e-6)
    assert year["score"] == pytest.approx(projection / 10800, abs=1e-6) and year["status"] == "off_track"

    own = report(leads, *AT)["lead_gen"]
    assert own["target_basis"] == "own" and own["applied_target"]["value"] == 900
    assert report(leads, *AT, "--window", "last_month")["lead_gen"]["target_basis"] == "own"

    assert "203 (prorated)" in table(leads, *AT, "--window", "week_to_date")


@pytest.mark.slow
def test_a_rate_keeps_its_target_over_another_window(leads):
    conversion = report(leads, *AT, "--window", "week_to_date")["conversion"]
    assert conversion["value"] == pytest.approx(0.3)
    assert conversion["target_basis"] == "kept" and conversion["applied_target"]["value"] == 0.5
    assert conversion["score"] == pytest.approx(0.6) and conversion["status"] == "at_risk"


@pytest.mark.slow
def test_progress_is_apart_from_pace(leads):
    """Issue 11 item 8: progress is value ÷ target; the pace figure and the score are separate and labelled."""
    month = report(leads, *AT)["lead_gen"]
    assert month["value"] == 300  # Dec 1 .. Dec 10
    assert month["progress"] == pytest.approx(300 / 900, abs=1e-6)
    assert month["projection"] == pytest.approx(300 / (9.5 / 31), abs=1e-6) and month["on_pace"] is True
    assert month["score"] == 1
    text = table(leads, *AT)
    header = next(line for line in text.splitlines() if line.strip().startswith("KPI"))
    assert "Progress" in header and "On pace for" in header and "Score" in header
    row = next(line for line in text.splitlines() if "Lead Generation" in line)
    assert " 33% " in row and "979 ✓" in row


def test_a_one_off_target_past_due_has_no_projection(leads):
    """Issue 11 item 6: after `due` there is nothing to project to."""
    h1 = report(leads, *AT)["h1"]
    assert h1["value"] == 1200 and h1["projection"] is None and h1["projected_to"] is None and h1["on_pace"] is None
    assert h1["score"] == pytest.approx(1200 / 5000, abs=1e-6)


EXPRESSIONS = """
[metrics.leads]
name = "Leads"
[metrics.reqs]
name = "Requests"
[metrics.visits]
name = "Visits"
[kpis.lead_sum]
name = "Leads + requests"
formula = "expression"
expression = "leads + reqs"
target = 900
[kpis.lead_scaled]
name = "Scaled"
formula = "expression"
expression = "(leads - reqs / 2) * 3"
target = 900
[kpis.lead_offset]
name = "Plus five"
formula = "expression"
expression = "leads + 5"
target = 900
[kpis.lead_product]
name = "Product"
formula = "expression"
expression = "leads * reqs"
target = 900
"""


@pytest.mark.slow
def test_which_expressions_are_projectable(tmp_path):
    """docs/kpis.md: an expression linear in count metrics is additive (projected, prorated); a
    constant term or a product of metrics is not."""
    rows = [("leads", t(2026, 12, d, 9), 20) for d in range(1, 11)] + [
        ("reqs", t(2026, 12, d, 9), 10) for d in range(1, 11)
    ]
    config = project(tmp_path, EXPRESSIONS, rows)
    kpis = report(config, *AT)
    fraction = 9.5 / 31
    assert kpis["lead_sum"]["value"] == 300 and kpis["lead_sum"]["projection"] == pytest.approx(
        300 / fraction, abs=1e-6
    )
    assert kpis["lead_scaled"]["value"] == 450 and kpis["lead_scaled"]["projection"] == pytest.approx(
        450 / fraction, abs=1e-6
    )
    assert kpis["lead_offset"]["value"] == 205 and kpis["lead_offset"]["projection"] is None
    assert kpis["lead_product"]["value"] == 200 * 100 and kpis["lead_product"]["projection"] is None
    week = report(config, *AT, "--window", "week_to_date")
    assert week["lead_sum"]["target_basis"] == "prorated" and week["lead_offset"]["target_basis"] == "kept"


@pytest.mark.slow
def test_partial_history_instead_of_a_change_against_history_that_does_not_reach_back(tmp_path):
    """Issue 11 item 12: the comparison period (Nov 1 .. Nov 10 12:00) starts before the first reading (Nov 5)."""
    config = project(tmp_path, LEADS, daily_leads(dt.date(2026, 11, 5), dt.date(2026, 12, 10)))
    lead = report(config, *AT)["lead_gen"]
    assert lead["value"] == 300 and lead["previous"] == 180  # Nov 5 .. Nov 10: what history there is
    assert lead["partial_history"] is True and lead["change"] is None and lead["change_pct"] is None
    row = next(line for line in table(config, *AT).splitlines() if "Lead Generation" in line)
    assert "partial history" in row and "+66.7%" not in row
    # a day later than the first reading of every metric: the comparison is whole again
    whole = report(config, "--at", "2027-01-10 12:00")["lead_gen"]
    assert whole["partial_history"] is False and whole["previous"] == 300 and whole["change"] == -300


@pytest.mark.slow
def test_at_the_exact_start_of_a_period_a_to_date_kpi_is_not_yet_scored(tmp_path):
    """Issue 11 item 13: Dec 1 00:00 is the start of December: nothing has had time to happen."""
    body = LEADS + '\n[objectives.growth]\ntitle = "Grow"\nkpis = ["lead_gen"]\n'
    config = project(tmp_path, body, daily_leads(dt.date(2026, 10, 1), dt.date(2026, 12, 10)))
    done = run("report", "--format", "json", "--no-collect", "--config", str(config), "--at", "2026-12-01 00:00")
    data = json.loads(done.stdout)
    lead = next(k for k in data["kpis"] if k["id"] == "lead_gen")
    assert (
        lead["status"] == "not_yet"
        and lead["score"] is None
        and lead["progress"] is None
        and lead["projection"] is None
    )
    assert data["objectives"][0]["status"] == "not_yet"
    row = next(line for line in table(config, "--at", "2026-12-01 00:00").splitlines() if "Lead Generation" in line)
    assert "not yet scored" in row and "off track" not in row
    # a second later it is judged as usual
    later = report(config, "--at", "2026-12-01 09:00:01")["lead_gen"]
    assert later["status"] != "not_yet" and later["score"] is not None


# --------------------------------------------------------------------------- the detail chart's comparison line

HOURLY = """
[metrics.hits]
name = "Hits"
[kpis.hits_kpi]
name = "Hits"
formula = "sum"
metrics = ["hits"]
"""


def hourly(first: dt.datetime, last: dt.datetime) -> pl.DataFrame:
    """One reading of 1 every hour on the hour: a bucket's sum is its length in hours."""
    ats = pl.datetime_range(first, last, "1h", time_zone="UTC", eager=True)
    return pl.DataFrame({"metric": ["hits"] * len(ats), "at": ats, "value": [1.0] * len(ats)})


@pytest.mark.parametrize(
    ("grain", "window", "whole"),
    [
        ("hour", "today", lambda start: 1),
        ("day", "month_to_date", lambda start: 24),
        ("week", "month_to_date", lambda start: 168),  # the issue: a week start a month earlier lands mid-week
        ("month", "year_to_date", lambda start: 24 * calendar.monthrange(start.year - 1, start.month)[1]),
        ("quarter", "year_to_date", lambda start: 24 * {1: 90, 4: 91, 7: 92, 10: 92}[start.month]),  # 2025: no leap day
    ],
)
def test_the_comparison_line_compares_whole_buckets_at_every_grain(write_config, grain, window, whole):
    """Issue 11 item 9: every earlier point is a whole bucket (its length in hours here); the running
    bucket compares with as much of the earlier one as has elapsed."""
    config = load_config(write_config(HOURLY))
    now = t(2026, 12, 10, 12, 30)  # a Thursday
    history = hourly(t(2024, 1, 1), t(2026, 12, 31))
    points = Engine(config).series(history, "hits_kpi", now=now, grain=grain, points=6, window=window)
    assert len(points) == 6
    assert [p for _, _, p in points[:-1]] == [whole(s) for s, _, _ in points[:-1]]
    start, value, previous = points[-1]
    assert value == previous  # so far against the same elapsed part of the earlier bucket
    assert (
        value
        == {"hour": 1, "day": 13, "week": 3 * 24 + 13, "month": 9 * 24 + 13, "quarter": (31 + 30 + 9) * 24 + 13}[grain]
    )


# --------------------------------------------------------------------------- the rules docs/kpis.md settles

MONTHLY_HITS = """
[metrics.hits]
name = "Hits"
[kpis.hits_kpi]
name = "Hits"
formula = "sum"
metrics = ["hits"]
window = "month_to_date"
target = 1000
[kpis.hits_7d]
name = "Hits 7d"
formula = "sum"
metrics = ["hits"]
window = "trailing_7d"
"""


def hourly_rows(first: dt.datetime, last: dt.datetime, value: float = 1):
    out, at = [], first
    while at <= last:
        out.append(("hits", at, value))
        at += dt.timedelta(hours=1)
    return out


def test_across_a_dst_change_comparison_and_pace_share_the_wall_clock(tmp_path):
    """New York falls back on Nov 1 2026 (a 25-hour day). As of Nov 2 12:00 local the month to date
    holds 38 hourly readings (Nov 1 00:00 EDT .. Nov 2 12:00 EST, both ends in); the previous period
    is Oct 1 00:00 .. Oct 2 12:00 on the clock (37 readings); the pace projects over the same
    clock: 36 of the month's 720 wall-clock hours have passed."""
    rows = hourly_rows(t(2026, 9, 1), t(2026, 11, 30))
    config = project(tmp_path, MONTHLY_HITS, rows, timezone="America/New_York")
    hits = report(config, "--at", "2026-11-02 12:00")["hits_kpi"]
    assert hits["value"] == 38 and hits["previous"] == 37
    assert hits["previous_period"]["start"] == "2026-10-01T00:00:00-04:00"
    assert hits["previous_period"]["end"] == "2026-10-02T12:00:00-04:00"
    assert hits["projection"] == pytest.approx(38 / (36 / 720), abs=1e-6)


def test_the_previous_period_of_a_trailing_window(tmp_path):
    """trailing_7d on Dec 10 12:30: Dec 4 00:00 .. now; before it the 7 days before, cut at the same
    elapsed time: Nov 27 00:00 .. Dec 3 12:30."""
    config = project(tmp_path, MONTHLY_HITS, hourly_rows(t(2026, 11, 1), t(2026, 12, 31)))
    hits = report(config, "--at", "2026-12-10 12:30")["hits_7d"]
    assert hits["period"]["start"] == "2026-12-04T00:00:00+00:00"
    assert hits["previous_period"]["start"] == "2026-11-27T00:00:00+00:00"
    assert hits["previous_period"]["end"] == "2026-12-03T12:30:00+00:00"
    assert hits["value"] == hits["previous"] == 6 * 24 + 13


WEEKLY = """
[metrics.sales]
name = "Sales"
[kpis.weekly]
name = "Weekly sales"
formula = "sum"
metrics = ["sales"]
window = "week_to_date"
"""


def test_same_period_last_year_of_a_week_is_the_same_week_number(tmp_path):
    """W01 2027 (from Mon Jan 4) compares with W01 2026 (from Mon Dec 29 2025), not with the week
    52 weeks earlier (from Jan 5 2026); W53 2026 with the last week of 2025, W52 (from Dec 22)."""
    day, rows = dt.date(2025, 11, 1), []
    while day <= dt.date(2027, 1, 31):
        rows.append(("sales", t(day.year, day.month, day.day, 9), float(day.toordinal() % 1000)))
        day += dt.timedelta(days=1)
    config = project(tmp_path, WEEKLY, rows)

    def total(*days: dt.date) -> float:
        return float(sum(d.toordinal() % 1000 for d in days))

    w01 = report(config, "--at", "2027-01-06 12:00")["weekly"]  # Wednesday of W01 2027
    assert w01["value"] == total(dt.date(2027, 1, 4), dt.date(2027, 1, 5), dt.date(2027, 1, 6))
    assert w01["last_year"] == total(dt.date(2025, 12, 29), dt.date(2025, 12, 30), dt.date(2025, 12, 31))
    w53 = report(config, "--at", "2026-12-30 12:00")["weekly"]  # Wednesday of W53 2026
    assert w53["last_year"] == total(dt.date(2025, 12, 22), dt.date(2025, 12, 23), dt.date(2025, 12, 24))


RECORDED = """
[sources.manual]
type = "manual"
[metrics.leads]
name = "Leads"
source = "manual"
[kpis.lead_gen]
name = "Lead Generation"
formula = "sum"
metrics = ["leads"]
window = "month_to_date"
[kpis.last_month]
name = "Leads last month"
formula = "sum"
metrics = ["leads"]
window = "last_month"
"""


@pytest.mark.slow
def test_a_reading_stamped_exactly_at_the_report_time_counts(tmp_path):
    """A report as of 12:00 includes a reading at 12:00 (and not one a second later); a complete
    period stays half-open: a reading at Nov 1 00:00 belongs to November, not to October."""
    config = project(tmp_path, RECORDED, [])
    for value, at in ((5, "2026-11-01 00:00"), (7, "2026-11-20 12:00"), (100, "2026-11-20 12:00:01")):
        done = run("record", "leads", str(value), "--at", at, "--config", str(config))
        assert done.returncode == 0, done.stderr
    kpis = report(config, "--at", "2026-11-20 12:00")
    assert kpis["lead_gen"]["value"] == 12
    assert report(config, "--at", "2026-11-20 11:59:59")["lead_gen"]["value"] == 5
    metrics = json.loads(run("report", "--format", "json", "--config", str(config), "--at", "2026-11-20 12:00").stdout)[
        "metrics"
    ]
    assert metrics[0]["latest"] == 7
    assert report(config, "--at", "2026-11-01 00:00")["last_month"]["value"] is None  # October: nothing
    assert report(config, "--at", "2026-12-01 00:00")["last_month"]["value"] == 112


@pytest.mark.slow
def test_two_readings_at_the_same_instant_replace_for_a_manual_metric(tmp_path):
    """Snapshot-like sources (manual `record`, sql, file, http, command, prometheus) replace the value
    of (metric, time); event sources (access_log) add (see docs/kpis.md)."""
    config = project(tmp_path, RECORDED, [])
    for value in (5, 7):
        assert run("record", "leads", str(value), "--at", "2026-11-20 12:00", "--config", str(config)).returncode == 0
    assert report(config, "--at", "2026-11-21 00:00")["lead_gen"]["value"] == 7


GAUGE = """
[metrics.subscribers]
name = "Subscribers"
aggregation = "last"
[kpis.mean_subscribers]
name = "Mean subscribers"
formula = "mean"
metrics = ["subscribers"]
window = "month_to_date"
"""


@pytest.mark.slow
def test_the_mean_of_a_gauge_over_a_period_without_a_reading_is_its_carried_value(tmp_path):
    config = project(
        tmp_path,
        GAUGE,
        [
            ("subscribers", t(2026, 10, 15), 100),
            ("subscribers", t(2026, 11, 10), 140),
            ("subscribers", t(2026, 11, 20), 160),
        ],
    )
    assert (
        report(config, "--at", "2026-12-10 12:00")["mean_subscribers"]["value"] == 160
    )  # no December reading: 160 all along
    assert report(config, "--at", "2026-11-25 12:00")["mean_subscribers"]["value"] == 150  # November's readings
    assert report(config, "--at", "2026-10-01 12:00")["mean_subscribers"]["value"] is None  # before the first reading


FILE_MEAN = """
[sources.orders]
type = "file"
path = "orders.csv"
time_column = "time"

[metrics.order_value]
name = "Order value"
unit = "currency"
source = "orders"
aggregation = "mean"
value_column = "amount"
bucket = "hour"
agg = "mean"

[kpis.avg_order]
name = "Average order"
formula = "mean"
metrics = ["order_value"]
window = "month_to_date"
"""


@pytest.mark.slow
def test_file_agg_mean_then_metric_mean_weighs_each_bucket_the_same(tmp_path):
    """Two orders (10, 20) in the 10:00 hour and one (60) at 11:00: the file source stores the hour
    means 15 and 60; the metric's mean over the month is their mean, 37.5 (not 30 per order)."""
    (tmp_path / "orders.csv").write_text(
        "time,amount\n2026-11-20T10:05:00Z,10\n2026-11-20T10:35:00Z,20\n2026-11-20T11:10:00Z,60\n"
    )
    config = project(tmp_path, FILE_MEAN, [])
    done = run("collect", "--once", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert report(config, "--at", "2026-11-25 12:00")["avg_order"]["value"] == 37.5


# ------------------------------------------- a constant formula (issue 19 item 7; the CLI side is in tests/reliability)


def test_a_plugin_formula_that_is_a_constant_is_one_value_per_period(write_config, builtin_registry):
    """The engine's side of `expression = "5"`: a constant expression (as a plugin may return) is
    evaluated for every period, never an IndexError."""
    from kpitui.api import FormulaType, Input

    class Constant(FormulaType):
        type_name = "constant_test"

        def inputs(self) -> list[Input]:
            return []

        def expression(self, inputs):
            return pl.lit(5.0)

    registry = builtin_registry
    registry.formulas["constant_test"] = Constant
    try:
        path = write_config('[kpis.five]\nname = "Five"\nformula = "constant_test"\n')
        engine = Engine(load_config(path, registry=registry))
        snapshot = engine.evaluate(
            pl.DataFrame(schema={"metric": pl.String, "at": pl.Datetime("us", "UTC"), "value": pl.Float64}),
            t(2026, 11, 25),
        )
        assert snapshot.kpis["five"].value == 5 and snapshot.kpis["five"].error is None
        assert {
            v
            for _, v, _ in engine.series(
                pl.DataFrame(schema={"metric": pl.String, "at": pl.Datetime("us", "UTC"), "value": pl.Float64}),
                "five",
                now=t(2026, 11, 25),
                grain="day",
                points=3,
            )
        } == {5}
    finally:
        del registry.formulas["constant_test"]
