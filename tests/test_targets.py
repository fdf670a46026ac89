"""Targets, scores, statuses, pace and comparisons, against hand-computed values.

Scores run OKR-style from the baseline (0) to the target (1). Recurring
targets apply to each period of the KPI's window; one-off targets have a due
date. Everything that depends on the engine goes through the real config
loader and :class:`kpitui.engine.Engine`.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from kpitui.api import readings_frame
from kpitui.config import ConfigError, load_config
from kpitui.engine import Engine
from kpitui.model import Kpi, KpiResult, Period, Status, Target, Thresholds
from kpitui.scoring import better, due_end, judge, meets, rollup, score, status

UTC = dt.timezone.utc


def t(*args):
    return dt.datetime(*args, tzinfo=UTC)


NOW = t(2026, 3, 15, 12)  # March to date: 14.5 of 31 days
FRACTION = 14.5 / 31
PROJECTED = 12 / FRACTION  # a = 12 so far in March -> 25.66 by Apr 1

HISTORY = readings_frame(
    [
        ("a", t(2026, 1, 10), 2),
        ("a", t(2026, 1, 20), 10),
        ("a", t(2026, 2, 5), 3),
        ("a", t(2026, 2, 20), 4),
        ("a", t(2026, 3, 1, 10), 5),
        ("a", t(2026, 3, 10, 8), 7),
        ("b", t(2026, 3, 2), 1),
    ]
)


def kpi(
    kid: str,
    target: str,
    window: str = "month_to_date",
    formula: str = 'formula = "sum"\nmetrics = ["a"]',
    extra: str = "",
) -> str:
    return f'[kpis.{kid}]\n{formula}\nwindow = "{window}"\ntarget = {target}\n{extra}\n'


@pytest.fixture
def evaluate(write_config, builtin_registry):
    def run(kpis: str, now: dt.datetime = NOW, settings: str = "", history=HISTORY):
        text = settings + "[metrics.a]\n[metrics.b]\n" + kpis
        config = load_config(write_config(text), registry=builtin_registry)
        return Engine(config).evaluate(history, now)

    return run


# -- scores by kind ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target, value, expected",
    [
        (Target("reach", 100), 0, 0.0),
        (Target("reach", 100), 70, 0.7),
        (Target("reach", 100), 100, 1.0),
        (Target("reach", 100), 250, 1.0),
        (Target("reach", 100, baseline=50), 75, 0.5),
        (Target("reach", 100, baseline=50), 40, 0.0),
        (Target("reach", 10, baseline=30), 20, 0.5),  # downwards: churn from 30 to 10
        (Target("reach", 10, baseline=30), 5, 1.0),
        (Target("above", 100, baseline=60), 80, 0.5),
        (Target("above", 100), 120, 1.0),
        (Target("below", 10, baseline=20), 15, 0.5),
        (Target("below", 10, baseline=20), 10, 1.0),
        (Target("below", 10, baseline=20), 25, 0.0),
        (Target("below", 10), 15, 0.5),  # default baseline: twice the value
        (Target("below", 0), 0.5, 0.5),  # ... or value + 1 for a zero target
        (Target("within", low=10, high=20), 15, 1.0),
        (Target("within", low=10, high=20), 10, 1.0),
        (Target("within", low=10, high=20), 25, 0.5),  # half a range-width outside
        (Target("within", low=10, high=20), 0, 0.0),
        (Target("reach", 100), None, None),
        (None, 5, None),
    ],
)
def test_score_runs_from_baseline_to_target(target, value, expected):
    assert score(target, value) == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    "target, value, expected",
    [
        (Target("reach", 100), 100, True),
        (Target("reach", 100), 99, False),
        (Target("reach", 10, baseline=30), 10, True),
        (Target("reach", 10, baseline=30), 11, False),
        (Target("below", 10), 10, True),
        (Target("below", 10), 10.5, False),
        (Target("within", low=1, high=2), 2, True),
        (Target("within", low=1, high=2), 2.1, False),
        (Target("above", 5), None, None),
    ],
)
def test_meets(target, value, expected):
    assert meets(target, value) is expected


def test_recurring_is_the_default_and_due_makes_it_one_off():
    assert Target("reach", 1).recurring
    assert not Target("reach", 1, due=dt.date(2026, 12, 31)).recurring


# -- statuses and bands ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [(7, Status.ON_TRACK), (6.9, Status.AT_RISK), (4, Status.AT_RISK), (3.9, Status.OFF_TRACK)],
)
def test_default_bands_at_their_edges(evaluate, value, expected):
    history = readings_frame([("a", t(2026, 2, 10), value)])
    snap = evaluate(kpi("k", "{ kind = 'reach', value = 10 }", window="last_month"), history=history)
    assert snap.kpis["k"].score == pytest.approx(value / 10)
    assert snap.kpis["k"].status is expected


def test_bands_per_kpi_and_per_objective(evaluate):
    text = (
        kpi("strict", "14", window="last_month", extra="thresholds = { on_track = 0.9, at_risk = 0.6 }\nweight = 3")
        + kpi("easy", "7", window="last_month")
        + kpi("unscored", "1", window="last_month", extra="weight = 0")
        + '[kpis.untargeted]\nformula = "sum"\nmetrics = ["a"]\nweight = 5\n'
        + '[objectives.default]\nkpis = ["strict", "easy", "unscored", "untargeted"]\n'
        + '[objectives.lenient]\nkpis = ["strict", "easy"]\nthresholds = { on_track = 0.6, at_risk = 0.2 }\n'
    )
    snap = evaluate(text)
    strict = snap.kpis["strict"]
    assert strict.value == 7 and strict.score == 0.5  # February: 3 + 4 of 14
    assert strict.status is Status.OFF_TRACK  # under its own 0.6 band (0.5 is at risk by default)
    assert snap.kpis["easy"].status is Status.ON_TRACK
    default, lenient = snap.objectives
    # weighted mean of the scored KPIs: (0.5 x 3 + 1 x 1) / 4; weight 0 and no target are left out
    assert default.score == pytest.approx(0.625)
    assert default.status is Status.AT_RISK
    assert lenient.score == pytest.approx(0.625)
    assert lenient.status is Status.ON_TRACK


def test_rollup_and_status_without_scores():
    assert rollup([(None, 1.0), (0.5, 0.0)]) is None
    assert rollup([(1.0, 1.0), (0.0, 3.0)]) == 0.25
    assert status(None, 5, True, Thresholds()) is Status.NO_TARGET
    assert status(None, None, True, Thresholds()) is Status.NO_DATA


# -- recurring targets and pace ---------------------------------------------------------------


def test_recurring_reach_scores_the_projection_and_reports_pace(evaluate):
    snap = evaluate(kpi("behind", "30") + kpi("ahead", "20"))
    behind, ahead = snap.kpis["behind"], snap.kpis["ahead"]
    assert behind.value == 12
    assert behind.projection == pytest.approx(PROJECTED)
    assert behind.projected_to == t(2026, 4, 1)
    assert behind.score == pytest.approx(PROJECTED / 30)
    assert behind.on_pace is False and behind.status is Status.ON_TRACK  # 0.86: on track, not on pace
    assert ahead.on_pace is True and ahead.score == 1.0


def test_a_projection_short_of_the_target_has_no_cross_beside_an_on_track_status(evaluate):
    """check12: "On pace for 561 ✗" beside "80% ● on track" gave two verdicts; ✗ read as failing and looked like
    off track's ✖. Short of the target the projection has no mark and the status's colour (TUI, detail, report)."""
    from kpitui.ui.palette import Palette
    from kpitui.ui.view import pace_text

    snap = evaluate(kpi("behind", "30") + kpi("ahead", "20"))
    behind, ahead = snap.kpis["behind"], snap.kpis["ahead"]
    assert behind.on_pace is False and behind.status is Status.ON_TRACK  # 0.86 of the target: on track
    colours = Palette(good="green", warn="yellow", bad="red", accent="blue", muted="grey50", text="white")
    short, met = pace_text(behind, "$", colours), pace_text(ahead, "$", colours)
    assert short.plain == f"{PROJECTED:.0f}" and str(short.style) == "green"  # on track's colour, not bad's red
    assert met.plain == f"{PROJECTED:.0f} ✓" and str(met.style) == "green"


def test_report_table_and_csv_show_the_pace(evaluate):
    import csv

    from kpitui.report import to_csv, to_table

    snap = evaluate(kpi("behind", "30") + kpi("ahead", "20") + kpi("rolling", "5", window="trailing_30d"))
    table = to_table(snap)
    lines = table.splitlines()
    header = next(i for i, line in enumerate(lines) if "On pace for" in line)
    rows = {line.split()[0].lower(): line for line in lines[header + 1 : header + 4]}
    # a whole count so far projects to a whole count (the CSV keeps the exact projection)
    assert f"{PROJECTED:.0f} ✓" in rows["ahead"]
    assert f"{PROJECTED:.0f}" in rows["behind"] and "✓" not in rows["behind"] and "✗" not in rows["behind"]
    assert "✓" not in rows["rolling"] and "✗" not in rows["rolling"]
    by_kpi = {r["kpi"]: r for r in csv.DictReader(to_csv(snap).splitlines())}
    assert float(by_kpi["behind"]["projection"]) == pytest.approx(PROJECTED, rel=1e-5)
    assert (by_kpi["behind"]["on_pace"], by_kpi["ahead"]["on_pace"]) == ("false", "true")
    assert by_kpi["rolling"]["projection"] == by_kpi["rolling"]["on_pace"] == ""


def test_recurring_targets_of_every_kind_use_the_pace_of_an_additive_kpi(evaluate):
    snap = evaluate(
        kpi("above", "{ kind = 'above', value = 30, baseline = 10 }")
        + kpi("budget", "{ kind = 'below', value = 20 }")
        + kpi("band", "{ kind = 'within', low = 20, high = 30 }")
    )
    assert snap.kpis["above"].score == pytest.approx((PROJECTED - 10) / 20)
    budget = snap.kpis["budget"]  # 12 spent so far looks fine; 25.7 by month end does not
    assert budget.score == pytest.approx((40 - PROJECTED) / 20) and budget.on_pace is False
    assert snap.kpis["band"].score == 1.0 and snap.kpis["band"].on_pace is True


def test_recurring_target_applies_to_each_period(evaluate):
    snap = evaluate(kpi("monthly", "10"), now=t(2026, 2, 15, 12))  # February to date: 3, projected to 28 days
    r = snap.kpis["monthly"]
    assert r.value == 3 and r.projection == pytest.approx(3 / (14.5 / 28))
    assert r.projected_to == t(2026, 3, 1)
    # at the last instant the projection is the value: the period is (almost) over
    end = evaluate(kpi("monthly", "10"), now=t(2026, 2, 28, 23, 59)).kpis["monthly"]
    assert end.value == 7 and end.projection == pytest.approx(7, rel=1e-3) and end.on_pace is False


def test_no_pace_where_a_kpi_cannot_be_projected(evaluate):
    snap = evaluate(
        kpi("rate", "{ kind = 'above', value = 10 }", formula='formula = "ratio"\nnumerator = "a"\ndenominator = "b"')
        + kpi("complete", "5", window="last_month")
        + kpi("rolling", "5", window="trailing_30d")
    )
    for kid, value in (("rate", 12), ("complete", 7), ("rolling", 16)):
        r = snap.kpis[kid]
        assert r.value == value and r.projection is None and r.on_pace is None and r.score == 1.0
    untargeted = evaluate('[kpis.plain]\nformula = "sum"\nmetrics = ["a"]\n').kpis["plain"]
    assert untargeted.projection == pytest.approx(PROJECTED) and untargeted.on_pace is None


# -- one-off targets with a due date ---------------------------------------------------------


YTD_DAYS = 31 + 28 + 14.5  # Jan 1 .. Mar 15 12:00
YTD = 2 + 10 + 3 + 4 + 5 + 7


def test_one_off_target_is_scored_on_the_projection_to_its_due_date(evaluate):
    snap = evaluate(
        kpi("h1", "{ value = 100, due = 2026-06-30 }", window="year_to_date")
        + kpi("easy", "{ value = 70, due = 2026-06-30 }", window="year_to_date")
    )
    r = snap.kpis["h1"]
    projected = YTD / (YTD_DAYS / 181)  # Jan 1 .. Jul 1 00:00 is 181 days
    assert r.value == YTD
    assert r.projection == pytest.approx(projected)
    assert r.projected_to == t(2026, 7, 1)
    assert r.score == pytest.approx(projected / 100) and r.on_pace is False
    assert snap.kpis["easy"].on_pace is True and snap.kpis["easy"].score == 1.0


def test_one_off_target_due_inside_the_period(evaluate):
    r = evaluate(kpi("sprint", "{ value = 16, due = 2026-03-20 }")).kpis["sprint"]
    assert r.projection == pytest.approx(12 / (14.5 / 20))  # Mar 1 .. Mar 21 00:00
    assert r.projected_to == t(2026, 3, 21) and r.on_pace is True


def test_after_the_due_date_the_value_counts_as_it_is(evaluate):
    r = evaluate(kpi("h1", "{ value = 100, due = 2026-06-30 }", window="year_to_date"), now=t(2026, 7, 2)).kpis["h1"]
    assert r.value == YTD and r.score == pytest.approx(YTD / 100)
    assert r.status is Status.OFF_TRACK and r.on_pace is None
    assert r.projection is None and r.projected_to is None  # past due: nothing left to project to (docs/kpis.md)
    # on the due day itself the projection still counts (the target falls due at its end)
    due_day = evaluate(
        kpi("h1", "{ value = 100, due = 2026-06-30 }", window="year_to_date"), now=t(2026, 6, 30, 12)
    ).kpis["h1"]
    assert due_day.projected_to == t(2026, 7, 1) and due_day.on_pace is False


def test_one_off_target_on_a_kpi_that_cannot_be_projected(evaluate):
    formula = 'formula = "ratio"\nnumerator = "a"\ndenominator = "b"'
    r = evaluate(kpi("rate", "{ value = 24, due = 2026-12-31 }", formula=formula)).kpis["rate"]
    assert r.value == 12 and r.projection is None and r.on_pace is None and r.score == 0.5


def test_due_dates_end_at_local_midnight(evaluate):
    assert due_end(dt.date(2026, 6, 30), "America/New_York") == t(2026, 7, 1, 4)
    assert due_end(dt.date(2026, 12, 31), "America/New_York") == t(2027, 1, 1, 5)
    ny = '[kpitui]\ntimezone = "America/New_York"\n'
    r = evaluate(kpi("h1", "{ value = 100, due = 2026-06-30 }", window="year_to_date"), settings=ny).kpis["h1"]
    assert r.projected_to == t(2026, 7, 1, 4)
    # elapsed on the local wall clock (docs/kpis.md): NOW is 08:00 EDT on Mar 15, after the spring-forward
    wall = lambda *args: dt.datetime(*args)  # noqa: E731
    local_now = NOW.astimezone(ZoneInfo("America/New_York")).replace(tzinfo=None)
    assert local_now == wall(2026, 3, 15, 8)
    assert r.projection == pytest.approx(YTD / ((local_now - wall(2026, 1, 1)) / (wall(2026, 7, 1) - wall(2026, 1, 1))))


def test_judge_without_a_target_or_a_value():
    j = judge(None, 10, start=t(2026, 3, 1), period_end=t(2026, 4, 1), now=t(2026, 3, 16, 12))
    assert j.score is None and j.on_pace is None and j.projection == pytest.approx(20)
    j = judge(Target("reach", 5), None, start=t(2026, 3, 1), period_end=t(2026, 4, 1), now=t(2026, 3, 2))
    assert (j.score, j.projection, j.on_pace) == (None, None, None)
    j = judge(Target("reach", 5), 3, start=t(2026, 3, 1), period_end=t(2026, 4, 1), now=t(2026, 3, 1))
    assert j.projection is None and j.score == pytest.approx(0.6)  # no time has passed: no pace yet


# -- comparisons: is the change an improvement? ---------------------------------------------------


def result(target: Target | None, value, previous, last_year=None) -> KpiResult:
    k = Kpi(id="k", name="k", formula="sum", params=None, target=target)
    period = Period(t(2026, 3, 1), t(2026, 3, 15))
    return KpiResult(k, period, period, value, previous, last_year, None, None, None, Status.NO_TARGET, None)


@pytest.mark.parametrize(
    "target, value, previous, expected",
    [
        (None, 12, 3, True),  # no target: higher is better
        (None, 3, 12, False),
        (Target("reach", 100), 12, 3, True),
        (Target("above", 100), 3, 12, False),
        (Target("below", 10), 12, 3, False),  # lower is better: the colours invert
        (Target("below", 10), 3, 12, True),
        (Target("reach", 10, baseline=30), 20, 25, True),  # a downward reach target
        (Target("within", low=5, high=10), 12, 4, False),  # 2 outside now, 1 outside before
        (Target("within", low=5, high=10), 11, 14, True),
        (Target("within", low=5, high=10), 6, 9, None),  # inside both times
        (Target("within", low=5, high=10), 12, 3, None),  # 2 outside either way
        (None, 5, 5, None),  # no change
        (None, 5, None, None),
        (None, None, 5, None),
    ],
)
def test_better(target, value, previous, expected):
    assert better(result(target, value, previous)) is expected


def test_better_against_last_year_through_the_engine(evaluate):
    history = readings_frame([("a", t(2025, 3, 1), 20), ("a", t(2026, 2, 2), 1), ("a", t(2026, 3, 2), 10)])
    snap = evaluate(kpi("costs", "{ kind = 'below', value = 15 }") + kpi("sales", "5"), history=history)
    costs, sales = snap.kpis["costs"], snap.kpis["sales"]
    assert (costs.value, costs.previous, costs.last_year) == (10, 1, 20)
    assert better(costs) is False and better(costs, "last_year") is True
    assert better(sales) is True and better(sales, "last_year") is False
    # history from the day after last year's March began: that March is only partly covered, nothing to compare
    later = readings_frame([("a", t(2025, 3, 2), 20), ("a", t(2026, 3, 2), 10)])
    partial = evaluate(kpi("costs", "{ kind = 'below', value = 15 }"), history=later).kpis["costs"]
    assert partial.partial_last_year and better(partial, "last_year") is None


# -- config ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target, message",
    [
        ("{ kind = 'above', value = 10, baseline = 10 }", "baseline must be below the value"),
        ("{ kind = 'below', value = 10, baseline = 5 }", "baseline must be above the value"),
        ("{ kind = 'within', low = 10 }", "needs both low and high"),
        ("{ kind = 'within', low = 10, high = 5 }", "low must not be greater than high"),
        ("{ kind = 'reach', value = 10, baseline = 10 }", "baseline and value must differ"),
        ("{ value = 10, due = '2026-12-31' }", "due must be a TOML date"),
        ("{ kind = 'reech', value = 10 }", "did you mean 'reach'"),
        ("{ kind = 'above' }", "needs a value"),
        ("{ value = 1, thresholds = 2 }", "unknown key 'thresholds'"),
    ],
)
def test_bad_targets_are_rejected_with_a_clear_message(write_config, builtin_registry, target, message):
    text = "[metrics.a]\n" + kpi("k", target)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(write_config(text), registry=builtin_registry)
    assert "[kpis.k.target]" in str(info.value)


def test_target_forms(write_config, builtin_registry):
    text = (
        "[metrics.a]\n"
        + kpi("n", "5")
        + kpi("d", "{ direction = 'down', value = 3 }")
        + kpi("w", "{ low = 1, high = 2 }")
        + kpi("due", "{ value = 9, due = 2026-12-31 }")
    )
    kpis = load_config(write_config(text), registry=builtin_registry).kpis
    assert kpis["n"].target == Target("reach", 5.0)
    assert kpis["d"].target == Target("below", 3.0)
    assert kpis["w"].target == Target("within", low=1.0, high=2.0)
    assert kpis["due"].target == Target("reach", 9.0, due=dt.date(2026, 12, 31))


def test_bad_thresholds_are_rejected(write_config, builtin_registry):
    text = "[metrics.a]\n" + kpi("k", "5", extra="thresholds = { on_track = 0.3, at_risk = 0.5 }")
    with pytest.raises(ConfigError, match="at_risk <= on_track"):
        load_config(write_config(text), registry=builtin_registry)


def test_a_projection_is_never_more_precise_than_the_value_it_projects():
    """17 sign-ups so far project to a whole number of sign-ups, not 411.74 (found on the browser screenshot)."""
    import dataclasses

    from kpitui.formatting import format_projection

    start = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    period = Period(start, start + dt.timedelta(days=1), "Dec 2026 to date")
    kpi = Kpi(id="k", name="K", formula="sum", params=None)
    result = KpiResult(
        kpi, period, period, 17.0, None, None, None, None, None, Status.NO_TARGET, None, projection=411.74
    )
    assert format_projection(result) == "412"
    assert format_projection(dataclasses.replace(result, value=17.5)) == "411.74"  # the value itself has decimals
    money = dataclasses.replace(result, kpi=dataclasses.replace(kpi, unit="currency"), projection=411.74)
    assert format_projection(money) == "$411.74"  # currency keeps its cents
