"""KPI evaluation semantics (issue 11): targets over other windows, progress, partial history,
the start of a period, comparison series, and the rules docs/kpis.md settles. Hand-computed values,
through the real console script where the issue says so."""

from __future__ import annotations

import calendar
import datetime as dt

import polars as pl

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
    assert engine.partial_bucket("lead_kpi", now=dt.datetime(2026, 12, 2, tzinfo=dt.timezone.utc), grain="day") is None


# --------------------------------------------------------------------------- through the CLI

import json  # noqa: E402
import textwrap  # noqa: E402

import pytest  # noqa: E402

from kpitui.api import readings_frame  # noqa: E402
from kpitui.store import Store  # noqa: E402

from test_cli import run  # noqa: E402

UTC = dt.timezone.utc


def t(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def project(tmp_path, body: str, readings, timezone: str = "UTC"):
    """A config (``body`` under a [kpitui] table) and a real history holding ``readings``."""
    history = tmp_path / "h.sqlite3"
    config = tmp_path / "kpitui.toml"
    config.write_text(f'[kpitui]\ntimezone = "{timezone}"\n\n[storage]\npath = "{history}"\n\n' + textwrap.dedent(body), encoding="utf-8")
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


def test_a_rate_keeps_its_target_over_another_window(leads):
    conversion = report(leads, *AT, "--window", "week_to_date")["conversion"]
    assert conversion["value"] == pytest.approx(0.3)
    assert conversion["target_basis"] == "kept" and conversion["applied_target"]["value"] == 0.5
    assert conversion["score"] == pytest.approx(0.6) and conversion["status"] == "at_risk"


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


def test_which_expressions_are_projectable(tmp_path):
    """docs/kpis.md: an expression linear in count metrics is additive (projected, prorated); a
    constant term or a product of metrics is not."""
    rows = [("leads", t(2026, 12, d, 9), 20) for d in range(1, 11)] + [("reqs", t(2026, 12, d, 9), 10) for d in range(1, 11)]
    config = project(tmp_path, EXPRESSIONS, rows)
    kpis = report(config, *AT)
    fraction = 9.5 / 31
    assert kpis["lead_sum"]["value"] == 300 and kpis["lead_sum"]["projection"] == pytest.approx(300 / fraction, abs=1e-6)
    assert kpis["lead_scaled"]["value"] == 450 and kpis["lead_scaled"]["projection"] == pytest.approx(450 / fraction, abs=1e-6)
    assert kpis["lead_offset"]["value"] == 205 and kpis["lead_offset"]["projection"] is None
    assert kpis["lead_product"]["value"] == 200 * 100 and kpis["lead_product"]["projection"] is None
    week = report(config, *AT, "--window", "week_to_date")
    assert week["lead_sum"]["target_basis"] == "prorated" and week["lead_offset"]["target_basis"] == "kept"


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


def test_at_the_exact_start_of_a_period_a_to_date_kpi_is_not_yet_scored(tmp_path):
    """Issue 11 item 13: Dec 1 00:00 is the start of December: nothing has had time to happen."""
    body = LEADS + '\n[objectives.growth]\ntitle = "Grow"\nkpis = ["lead_gen"]\n'
    config = project(tmp_path, body, daily_leads(dt.date(2026, 10, 1), dt.date(2026, 12, 10)))
    done = run("report", "--format", "json", "--no-collect", "--config", str(config), "--at", "2026-12-01 00:00")
    data = json.loads(done.stdout)
    lead = next(k for k in data["kpis"] if k["id"] == "lead_gen")
    assert lead["status"] == "not_yet" and lead["score"] is None and lead["progress"] is None and lead["projection"] is None
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
    assert value == {"hour": 1, "day": 13, "week": 3 * 24 + 13, "month": 9 * 24 + 13, "quarter": (31 + 30 + 9) * 24 + 13}[grain]
