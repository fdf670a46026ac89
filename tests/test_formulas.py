"""Formula types, windows, calendars and gaps, checked against hand-computed values.

Every case goes through the real config loader and :class:`kpitui.engine.Engine`.
"""

from __future__ import annotations

import datetime as dt

import pytest

from kpitui.api import readings_frame
from kpitui.config import ConfigError, load_config
from kpitui.engine import Engine

UTC = dt.timezone.utc


def t(*args, tz=UTC):
    return dt.datetime(*args, tzinfo=tz)


NOW = t(2026, 3, 15, 12)  # a Sunday; March to date is 14.5 of 31 days

BASE = """
[metrics.a]
[metrics.b]
[metrics.views]
[metrics.sales]
[metrics.signups]
[metrics.members]
[metrics.d]
unit = "duration"
[metrics.web]
unit = "number"
aggregation = "mean"
[metrics.phone]
unit = "number"
aggregation = "mean"
[metrics.g]
aggregation = "last"

[kpis.leads]
formula = "sum"
metrics = ["a", "b"]
"""

HISTORY = readings_frame(
    [
        ("a", t(2025, 2, 3), 4),  # Feb 2025 to date
        ("a", t(2025, 3, 3), 2),  # Mar 2025 to date
        ("a", t(2026, 1, 10), 2),  # Jan to date (before Jan 15 12:00)
        ("a", t(2026, 1, 20), 10),  # rest of January
        ("a", t(2026, 2, 5), 3),  # Feb to date
        ("a", t(2026, 2, 20), 4),  # rest of February
        ("a", t(2026, 3, 1, 10), 5),
        ("a", t(2026, 3, 10, 8), 7),
        ("b", t(2026, 3, 2), 1),
        ("views", t(2026, 3, 3), 600),
        ("views", t(2026, 3, 9), 400),
        ("sales", t(2026, 3, 4), 200),
        ("signups", t(2026, 3, 5), 50),
        ("members", t(2026, 3, 6), 10),
        ("d", t(2026, 3, 2), 10),
        ("d", t(2026, 3, 3), 40),
        ("d", t(2026, 3, 4), 20),
        ("d", t(2026, 3, 5), 30),
        ("d", t(2026, 2, 2), 5),
        ("web", t(2026, 3, 2), 8),
        ("web", t(2026, 3, 3), 6),
        ("phone", t(2026, 3, 4), 9),
        ("g", t(2026, 2, 10), 100),
        ("g", t(2026, 3, 5), 120),
    ]
)


@pytest.fixture
def evaluate(write_config, builtin_registry):
    """Evaluate BASE plus ``kpis`` (TOML) over HISTORY (or ``history``) as of ``now``."""

    def run(kpis: str, now: dt.datetime = NOW, history=HISTORY, settings: str = "", **kwargs):
        config = load_config(write_config(settings + BASE + kpis), registry=builtin_registry)
        return Engine(config).evaluate(history, now, **kwargs)

    return run


def by_day(series):
    return {(at.month, at.day): v for at, v in series}


# -- growth ----------------------------------------------------------------------------------


GROWTH = """
[kpis.growth]
formula = "growth"
of = "a"

[kpis.growth_abs]
formula = "growth"
of = "a"
mode = "absolute"
unit = "count"

[kpis.leads_growth]
formula = "growth"
of = "leads"

[kpis.a_total]
formula = "sum"
metrics = ["a"]

[kpis.a_total_growth]
formula = "growth"
of = "a_total"
"""


def test_growth_percent_against_the_previous_period(evaluate):
    r = evaluate(GROWTH).kpis["growth"]
    assert r.kpi.unit == "percent"
    assert r.value == pytest.approx((12 - 3) / 3 * 100)  # Mar 1..15 12:00 against Feb 1..15 12:00
    assert r.previous == pytest.approx((3 - 2) / 2 * 100)  # Feb to date against Jan to date
    assert r.last_year == pytest.approx((2 - 4) / 4 * 100)  # Mar 2025 to date against Feb 2025 to date
    assert r.change == pytest.approx(300 - 50)


def test_growth_absolute_and_of_a_kpi(evaluate):
    snap = evaluate(GROWTH)
    assert snap.kpis["growth_abs"].value == 9
    assert snap.kpis["growth_abs"].previous == 1
    assert snap.kpis["a_total_growth"].value == pytest.approx((12 - 3) / 3 * 100)  # of a KPI: a_total = a
    # leads = a + b, and b's first reading (Mar 2) is after February's start: the history covers only part
    # of the period compared with, so no percentage (not +333% against a February without b)
    leads = snap.kpis["leads_growth"]
    assert leads.value is None and leads.partial_history


def test_growth_sparkline_compares_each_bucket_with_the_one_before(evaluate):
    snap = evaluate(GROWTH)
    absolute = by_day(snap.kpis["growth_abs"].series)
    assert absolute[(3, 10)] == 7 and absolute[(3, 11)] == -7 and absolute[(3, 12)] == 0
    percent = by_day(snap.kpis["growth"].series)
    assert percent[(3, 10)] is None  # from 0: no percentage
    assert percent[(3, 11)] == -100


def test_growth_at_period_boundaries(evaluate):
    # the last instant of March: March to date against the whole of February (clipped)
    late = evaluate(GROWTH, now=t(2026, 3, 31, 23)).kpis["growth"]
    assert late.value == pytest.approx((12 - 7) / 7 * 100)
    # a complete window on the 1st: all of March against all of February, February against January
    whole = evaluate(GROWTH.replace('of = "a"\n', 'of = "a"\nwindow = "last_month"\n', 1), now=t(2026, 4, 1)).kpis[
        "growth"
    ]
    assert whole.value == pytest.approx((12 - 7) / 7 * 100)
    assert whole.previous == pytest.approx((7 - 12) / 12 * 100)
    # evaluated one period back: February against January, both whole
    feb = evaluate(GROWTH, window="month_to_date", offset=1).kpis["growth_abs"]
    assert feb.value == 7 - 12 and feb.previous == 12 - 0  # December: a has history (2025), so 0


def test_growth_options_are_validated(write_config, builtin_registry):
    with pytest.raises(ConfigError, match=r"mode must be one of 'percent', 'absolute'.*did you mean 'percent'"):
        load_config(
            write_config(BASE + '[kpis.x]\nformula = "growth"\nof = "a"\nmode = "percnt"\n'), registry=builtin_registry
        )
    with pytest.raises(ConfigError, match="unknown metric or KPI 'aa'"):
        load_config(write_config(BASE + '[kpis.x]\nformula = "growth"\nof = "aa"\n'), registry=builtin_registry)


# -- cumulative ------------------------------------------------------------------------------


CUMULATIVE = """
[kpis.running]
formula = "cumulative"
of = "a"
grain = "day"

[kpis.rolling]
formula = "cumulative"
of = "a"
window = "trailing_7d"
"""


def test_cumulative_window_value_is_the_total_and_points_run_to_date(evaluate):
    r = evaluate(CUMULATIVE).kpis["running"]
    assert r.value == 12 and r.previous == 3
    days = by_day(r.series)
    assert len(r.series) == 14
    assert days[(3, 2)] == 5  # Mar 1..2: the Mar 1 reading
    assert days[(3, 9)] == 5
    assert days[(3, 10)] == 12
    assert days[(3, 15)] == 12 == r.value  # the last point is the headline value
    assert r.projection == pytest.approx(12 / (14.5 / 31))  # a running total is projectable


def test_cumulative_restarts_with_each_window_period(evaluate):
    days = by_day(evaluate(CUMULATIVE, now=t(2026, 3, 5, 12)).kpis["running"].series)
    assert len(days) == 14 and min(days) == (2, 20)
    assert days[(2, 20)] == 7  # Feb 1..20 (the Feb 20 00:00 reading included)
    assert days[(2, 28)] == 7
    assert days[(3, 1)] == 5  # a new month starts from zero
    assert days[(3, 5)] == 5


def test_cumulative_over_a_trailing_window_rolls(evaluate):
    r = evaluate(CUMULATIVE).kpis["rolling"]
    assert r.value == 7  # Mar 9 00:00 .. now
    days = by_day(r.series)
    assert days[(3, 10)] == 7  # Mar 4..10
    assert days[(3, 8)] == 0  # Mar 2..8: nothing
    assert days[(3, 3)] == 5  # Feb 25..Mar 3 holds the Mar 1 reading
    assert r.projection is None  # trailing windows have no period end to project to


def test_cumulative_detail_chart(write_config, builtin_registry):
    config = load_config(write_config(BASE + CUMULATIVE), registry=builtin_registry)
    chart = Engine(config).series(HISTORY, "running", now=NOW, grain="day", points=20)
    points = {(at.month, at.day): (v, p) for at, v, p in chart}
    assert points[(3, 15)] == (12, 3)  # to date, and February to the same day
    assert points[(2, 25)][0] == 7


# -- funnel ----------------------------------------------------------------------------------


FUNNEL = """
[kpis.funnel]
formula = "funnel"
steps = ["views", "sales", "signups", "members"]

[kpis.funnel_pct]
formula = "funnel"
steps = ["views", "sales", "signups", "members"]
percent = true
unit = "percent"

[kpis.of_kpis]
formula = "funnel"
steps = ["views", "leads"]
"""


def test_funnel_overall_conversion_and_each_step(evaluate):
    snap = evaluate(FUNNEL)
    r = snap.kpis["funnel"]
    assert r.value == pytest.approx(10 / 1000)
    assert r.parts == pytest.approx({"views→sales": 0.2, "sales→signups": 0.25, "signups→members": 0.2})
    assert list(r.parts) == ["views→sales", "sales→signups", "signups→members"]  # funnel order
    assert r.previous is None  # no views before March: no data, not zero
    pct = snap.kpis["funnel_pct"]
    assert pct.value == pytest.approx(1.0)
    assert pct.parts["sales→signups"] == pytest.approx(25.0)


def test_funnel_parts_through_a_kpi_and_division_by_zero(evaluate):
    snap = evaluate(FUNNEL)
    assert snap.kpis["of_kpis"].parts == {"views→leads": pytest.approx(13 / 1000)}
    april = evaluate(FUNNEL, now=t(2026, 4, 2)).kpis["funnel"]  # April: every step is 0
    assert april.value is None and set(april.parts.values()) == {None}


def test_funnel_needs_two_distinct_steps(write_config, builtin_registry):
    for steps, message in ((["views"], "at least two"), (["views", "views"], "twice")):
        text = BASE + f'[kpis.x]\nformula = "funnel"\nsteps = {steps!r}\n'.replace("'", '"')
        with pytest.raises(ConfigError, match=message):
            load_config(write_config(text), registry=builtin_registry)


# -- percentile ------------------------------------------------------------------------------


PERCENTILE = """
[kpis.p90]
formula = "percentile"
of = "d"

[kpis.median]
formula = "percentile"
of = "d"
p = 50

[kpis.p999]
formula = "percentile"
of = "d"
p = 99.9
"""


def test_percentile_of_raw_readings(evaluate):
    snap = evaluate(PERCENTILE)
    assert snap.kpis["p90"].value == pytest.approx(37)  # 10 20 30 40: 30 + 0.7 x 10
    assert snap.kpis["median"].value == pytest.approx(25)
    assert snap.kpis["p999"].value == pytest.approx(39.97)  # 30 + 0.997 x 10
    assert snap.kpis["p90"].previous == 5  # one reading in Feb to date
    assert by_day(snap.kpis["p90"].series)[(3, 6)] is None  # no reading that day: no data


@pytest.mark.parametrize("p", [150, -1, 0.0000001])
def test_percentile_p_is_validated(write_config, builtin_registry, p):
    with pytest.raises(ConfigError, match="p must be a percentile"):
        load_config(
            write_config(BASE + f'[kpis.x]\nformula = "percentile"\nof = "d"\np = {p}\n'), registry=builtin_registry
        )


# -- weighted sum and mean -------------------------------------------------------------------


WEIGHTED = """
[kpis.score]
formula = "weighted_sum"
weights = { a = 1, b = 5 }

[kpis.net]
formula = "weighted_sum"
weights = { a = 1, b = -2 }

[kpis.csat]
formula = "weighted_mean"
weights = { web = 2, phone = 1 }
"""


def test_weighted_sum(evaluate):
    snap = evaluate(WEIGHTED)
    r = snap.kpis["score"]
    assert r.value == 12 + 5 * 1
    assert r.previous == 3  # b has no data before March: counts as zero beside a
    assert snap.kpis["net"].value == 12 - 2
    assert r.projection == pytest.approx(17 / (14.5 / 31))


def test_weighted_mean_leaves_out_metrics_without_data(evaluate):
    snap = evaluate(WEIGHTED)
    assert snap.kpis["csat"].value == pytest.approx((2 * 7 + 1 * 9) / 3)  # web mean 7, phone 9
    days = by_day(snap.kpis["csat"].series)
    assert days[(3, 2)] == 8  # only web that day
    assert days[(3, 4)] == 9  # only phone
    assert days[(3, 6)] is None  # neither


@pytest.mark.parametrize(
    "formula, weights, message",
    [
        ("weighted_sum", "{}", "at least one"),
        ("weighted_mean", "{ web = -1, phone = 2 }", "must not be negative"),
        ("weighted_mean", "{ web = 0 }", "not all be zero"),
        ("weighted_sum", '{ web = "x" }', "must be a number"),
    ],
)
def test_weights_are_validated(write_config, builtin_registry, formula, weights, message):
    text = BASE + f'[kpis.x]\nformula = "{formula}"\nweights = {weights}\n'
    with pytest.raises(ConfigError, match=message):
        load_config(write_config(text), registry=builtin_registry)


def test_new_types_are_registered_as_a_builtin_plugin(builtin_registry):
    info = next(p for p in builtin_registry.plugins if p.name == "builtin:analytics")
    assert info.ok and info.formulas == [
        "growth",
        "cumulative",
        "funnel",
        "percentile",
        "weighted_sum",
        "weighted_mean",
    ]


# -- windows and calendars -------------------------------------------------------------------


CALENDAR_KPIS = """
[kpis.wtd]
formula = "sum"
metrics = ["a"]
window = "week_to_date"

[kpis.qtd]
formula = "sum"
metrics = ["a"]
window = "quarter_to_date"

[kpis.ytd]
formula = "sum"
metrics = ["a"]
window = "year_to_date"
"""


def test_week_to_date_follows_week_start(evaluate):
    history = readings_frame(
        [
            ("a", t(2026, 3, 14, 23), 1),
            ("a", t(2026, 3, 15, 0), 10),
            ("a", t(2026, 3, 9, 0), 100),
            ("a", t(2026, 3, 8, 6), 1000),
            ("a", t(2026, 3, 8, 13), 5000),
            ("a", t(2026, 3, 2, 6), 7),
        ]
    )
    monday = evaluate(CALENDAR_KPIS, history=history).kpis["wtd"]
    assert monday.period.start == t(2026, 3, 9)
    assert monday.value == 111  # Monday Mar 9 00:00 (boundary, included) .. Sunday noon
    assert monday.previous == 1007  # Mon Mar 2 .. Sun Mar 8 12:00: the 13:00 reading is after the cut
    sunday = evaluate(CALENDAR_KPIS, history=history, settings='[kpitui]\nweek_start = "sunday"\n').kpis["wtd"]
    assert sunday.period.start == t(2026, 3, 15)
    assert sunday.value == 10  # the week began at Sunday 00:00; Saturday 23:00 is last week
    assert sunday.previous == 1000  # Sun Mar 8 00:00 .. 12:00; Mar 2 belongs to the week before


def test_quarter_and_year_to_date_follow_the_fiscal_year(evaluate):
    history = readings_frame(
        [
            ("a", t(2025, 12, 31, 23), 1),
            ("a", t(2026, 1, 1), 2),
            ("a", t(2026, 2, 1), 4),
            ("a", t(2025, 4, 1), 8),
            ("a", t(2025, 3, 31, 23), 16),
        ]
    )
    calendar = evaluate(CALENDAR_KPIS, history=history).kpis
    assert calendar["qtd"].value == 6 and calendar["ytd"].value == 6  # from Jan 1 00:00
    fiscal = evaluate(CALENDAR_KPIS, history=history, settings="[kpitui]\nfiscal_year_start = 4\n").kpis
    # FY2026 runs Apr 2025 .. Mar 2026; its Q4 is Jan .. Mar 2026
    assert fiscal["qtd"].period.start == t(2026, 1, 1) and fiscal["qtd"].value == 6
    assert (
        fiscal["ytd"].period.start == t(2025, 4, 1) and fiscal["ytd"].value == 15
    )  # the Mar 31 23:00 reading is FY2025
    assert fiscal["ytd"].period.label == "FY2026 to date"
    may = evaluate(CALENDAR_KPIS, history=history, now=t(2026, 5, 1), settings="[kpitui]\nfiscal_year_start = 4\n").kpis
    assert may["qtd"].period.start == t(2026, 4, 1) and may["qtd"].value == 0
    assert may["qtd"].previous == 2  # Jan 1 00:00 .. Jan 31 00:00 (30 days, as Apr 1 .. May 1): Feb 1 is out
    assert may["ytd"].value == 0 and may["ytd"].last_year == 8  # Apr 1 2025 00:00 .. May 1 2025


def test_time_zone_moves_every_boundary(evaluate):
    ny = "America/New_York"
    history = readings_frame(
        [("a", t(2026, 1, 1, 3), 1), ("a", t(2026, 1, 1, 6), 2), ("a", t(2026, 3, 9, 3), 4), ("a", t(2026, 3, 9, 5), 8)]
    )
    snap = evaluate(CALENDAR_KPIS, history=history, settings=f'[kpitui]\ntimezone = "{ny}"\n').kpis
    # 03:00 UTC on Jan 1 is still Dec 31 in New York; Mar 9 03:00 UTC is Sunday Mar 8 evening
    assert snap["ytd"].value == 2 + 4 + 8
    assert snap["qtd"].value == 14
    assert snap["wtd"].period.start.utcoffset() == dt.timedelta(hours=-4)  # Monday Mar 9 00:00 EDT
    assert snap["wtd"].value == 8


WINDOWS_AT_A_BOUNDARY = {
    # now = Wednesday 2026-04-01 00:00, the first instant of April, Q2 and a new month: one reading a day at noon
    "today": 0,
    "yesterday": 1,
    "week_to_date": 2,  # Mon Mar 30, Tue Mar 31
    "month_to_date": 0,
    "quarter_to_date": 0,
    "year_to_date": 90,  # Jan 31 + Feb 28 + Mar 31
    "last_week": 7,
    "last_month": 31,
    "last_quarter": 90,
    "last_year": 365,
    "trailing_7d": 6,  # today (empty so far) and the 6 days before
    "trailing_4w": 23,  # this week (Mar 30 ..) and the 3 before: Mar 9 ..
    "trailing_3m": 59,  # this month (empty so far), February and March
}


@pytest.mark.parametrize("window, expected", WINDOWS_AT_A_BOUNDARY.items())
def test_every_window_at_a_period_boundary(write_config, builtin_registry, window, expected):
    days = (dt.date(2025, 1, 1) + dt.timedelta(days=i) for i in range(455))
    history = readings_frame([("a", dt.datetime.combine(d, dt.time(12), UTC), 1) for d in days])
    text = BASE + f'[kpis.w]\nformula = "sum"\nmetrics = ["a"]\nwindow = "{window}"\n'
    config = load_config(write_config(text), registry=builtin_registry)
    r = Engine(config).evaluate(history, t(2026, 4, 1)).kpis["w"]
    assert r.value == expected


# -- gaps ------------------------------------------------------------------------------------


GAPS = """
[metrics.s]
[metrics.c]
aggregation = "count"
[metrics.level]
aggregation = "last"
[metrics.m]
unit = "duration"
[metrics.lo]
unit = "number"
aggregation = "min"
[metrics.hi]
unit = "number"
aggregation = "max"

[kpis.s_today]
formula = "sum"
metrics = ["s"]
window = "today"
[kpis.c_today]
formula = "sum"
metrics = ["c"]
window = "today"
[kpis.level_today]
formula = "sum"
metrics = ["level"]
window = "today"
[kpis.m_today]
formula = "mean"
metrics = ["m"]
window = "today"
[kpis.lo_today]
formula = "sum"
metrics = ["lo"]
window = "today"
[kpis.hi_today]
formula = "sum"
metrics = ["hi"]
window = "today"
"""


def _today(kpis):
    return {kid.removesuffix("_today"): r for kid, r in kpis.items()}


@pytest.fixture
def gaps(evaluate):
    day = t(2026, 3, 10)
    history = readings_frame(
        [(m, day + dt.timedelta(hours=h), v) for m in ("s", "c", "level", "m", "lo", "hi") for h, v in ((1, 4), (2, 6))]
    )
    return _today(evaluate(GAPS, now=t(2026, 3, 12, 12), history=history).kpis)  # today (Mar 12) has no reading


def test_gap_sum_and_count_are_zero_once_the_metric_has_history(gaps):
    for kid in ("s", "c"):
        assert gaps[kid].value == 0
        assert gaps[kid].previous == 0  # yesterday to noon: nothing, but after the first reading
        assert gaps[kid].last_year is None  # a year ago: before the first reading, no data
        assert {v for _, v in gaps[kid].series} == {0}  # every hour today


def test_gap_last_carries_the_latest_reading_forward(gaps):
    assert gaps["level"].value == 6 and gaps["level"].previous == 6
    assert gaps["level"].last_year is None


def test_gap_mean_min_max_have_no_data(gaps):
    for kid in ("m", "lo", "hi"):
        assert gaps[kid].value is None and gaps[kid].previous is None


def test_aggregations_over_a_period_with_readings(evaluate):
    day = t(2026, 3, 10)
    history = readings_frame(
        [
            (m, day + dt.timedelta(hours=h), v)
            for m in ("s", "c", "level", "m", "lo", "hi")
            for h, v in ((1, 4), (2, 6), (3, 2))
        ]
    )
    snap = _today(evaluate(GAPS, now=t(2026, 3, 10, 12), history=history).kpis)
    assert (snap["s"].value, snap["c"].value, snap["level"].value) == (12, 3, 2)
    assert (snap["m"].value, snap["lo"].value, snap["hi"].value) == (4, 2, 6)


# A growth's earlier period, when the period it compares is itself cut at an elapsed time (the previous
# period of a to-date window, the running bucket of a chart), is cut the same way: the same wall-clock
# elapsed time, clipped to the whole period before (as "vs previous" is), never the end moved back on
# the calendar. Found by an independent check against DuckDB (helper check14): the previous value of a
# trailing_2m growth as of Nov 15 13:30 compared Aug 1 .. Sep 15 13:30 with Jun 1 .. Jul 15 13:30,
# while the same growth as of Sep 15 13:30 compared it with Jun 1 .. Jul 16 13:30.
GROWTH_ELAPSED = HISTORY.vstack(readings_frame([("a", t(2026, 2, 28, 18), 6)]))


def test_growth_previous_is_the_growth_as_of_the_previous_period_end(evaluate):
    # as of Apr 30 12:00: April to date against Mar 1 .. Mar 30 12:00 (a = 5 + 7 = 12)
    late = evaluate(GROWTH, now=t(2026, 4, 30, 12), history=GROWTH_ELAPSED).kpis["growth_abs"]
    assert late.value == 0 - 12
    # ... whose own earlier period is the same 29.5 days from Feb 1, clipped: all of February (3 + 4 + 6),
    # not Feb 1 .. Feb 28 12:00 (7, without the 6 of Feb 28 18:00)
    assert late.previous == 12 - 13
    then = evaluate(GROWTH, now=t(2026, 3, 30, 12), history=GROWTH_ELAPSED).kpis["growth_abs"]
    assert then.value == late.previous


def test_growth_of_a_running_bucket_equals_the_headline(evaluate, write_config, builtin_registry):
    now = t(2026, 3, 31, 12)
    config = load_config(write_config(BASE + GROWTH), registry=builtin_registry)
    chart = Engine(config).series(GROWTH_ELAPSED, "growth_abs", now=now, grain="month", points=2)
    headline = evaluate(GROWTH, now=now, history=GROWTH_ELAPSED).kpis["growth_abs"]
    assert headline.value == 12 - 13  # March to date against all of February (clipped)
    assert chart[-1][1] == headline.value


def test_a_week_a_year_earlier_is_the_week_with_the_same_number(write_config, builtin_registry):
    # Weeks from Friday: W46 2026 starts Friday Nov 13; W46 2025 starts Friday Nov 14 2025, as the
    # report's last_year of a week window has it. The chart's "a year earlier" moved the bucket 12
    # months back instead: Thursday Nov 13 .. Thursday Nov 20 2025, a span that is no week at all.
    config = load_config(write_config('[kpitui]\nweek_start = "friday"\n' + BASE), registry=builtin_registry)
    history = readings_frame(
        [
            ("a", t(2025, 11, 13, 12), 100),  # Thursday: the week before W46 2025
            ("a", t(2025, 11, 14, 12), 7),  # Friday: W46 2025
            ("a", t(2025, 11, 20, 12), 5),  # Thursday: still W46 2025
            ("a", t(2025, 11, 21, 12), 1000),  # Friday: W47 2025
            ("a", t(2026, 11, 13, 12), 3),
        ]
    )
    now = t(2026, 11, 19, 23)  # Thursday, W46 2026 so far (6 days and 23 hours)
    chart = Engine(config).metric_series(history, "a", now=now, grain="week", points=1, compare="last_year")
    assert chart[-1][:2] == (t(2026, 11, 13).astimezone(chart[-1][0].tzinfo), 3)
    assert chart[-1][2] == 7 + 5  # Friday Nov 14 .. Thursday Nov 20 23:00 2025 (not 100 + 7 from Thursday Nov 13)
