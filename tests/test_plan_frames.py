"""The plan kept per local wall-clock hour (``Planner.plan``'s frames) equals the plan worked out whole.

``Planner.plan`` works out the first plan of an hour whole and, for the next ones in that hour, only
the periods that end at now (to-date windows' current, comparison and last-year periods, the
sparklines' last buckets), from the window starts kept in ``periods.ToDate``. Here both are asked for
thousands of instants, one after the other as a clock moves (5 s, minutes, hours on, and set back),
in zones whose clocks change (Europe/London, America/New_York, Australia/Lord_Howe's 30-minute
change, America/Santiago's skipped midnight), with Sunday, Wednesday and Monday weeks and fiscal
years starting in April and July, around every clock change, local midnights at month ends, leap
days, fiscal year and week starts; every row, every KPI's plan and every slot must be the same, down
to each datetime's zone and ``fold`` (compared through ``repr``).
"""

from __future__ import annotations

import datetime as dt
import random
from zoneinfo import ZoneInfo

import pytest

from kpitui import periods
from kpitui.config import load_config
from kpitui.engine import Engine

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
WINDOWS = (
    "today",
    "yesterday",
    "week_to_date",
    "last_week",
    "month_to_date",
    "last_month",
    "quarter_to_date",
    "last_quarter",
    "year_to_date",
    "last_year",
    "trailing_7d",
    "trailing_30d",
    "trailing_12w",
    "trailing_3m",
)
CALENDARS = [  # (zone, week start, fiscal year start)
    ("Europe/London", "monday", 1),
    ("America/New_York", "sunday", 4),
    ("Australia/Lord_Howe", "wednesday", 7),
    ("America/Santiago", "monday", 1),
]


def _config(tmp_path, zone: str, week_start: str, fiscal: int):
    kpis = []
    for i, window in enumerate(WINDOWS):
        kpis.append(f'[kpis.s{i}]\nformula = "sum"\nmetrics = ["a"]\nwindow = "{window}"\n')
        kpis.append(f'[kpis.g{i}]\nformula = "growth"\nof = "s{i}"\nwindow = "{window}"\n')
        kpis.append(f'[kpis.c{i}]\nformula = "cumulative"\nof = "a"\nwindow = "{window}"\n')
    kpis.append('[kpis.hourly]\nformula = "sum"\nmetrics = ["a"]\nwindow = "week_to_date"\ngrain = "hour"\n')
    kpis.append('[kpis.monthly]\nformula = "cumulative"\nof = "a"\nwindow = "trailing_90d"\ngrain = "month"\n')
    path = tmp_path / "kpitui.toml"
    path.write_text(
        f'[kpitui]\ntimezone = "{zone}"\nweek_start = "{week_start}"\nfiscal_year_start = {fiscal}\n\n'
        "[metrics.a]\n\n" + "\n".join(kpis),
        encoding="utf-8",
    )
    return load_config(path)


def _transitions(zone: str, years: range) -> list[dt.datetime]:
    """The instants the zone's offset changes (they fall on a quarter hour)."""
    tz = ZoneInfo(zone)
    out = []
    at = dt.datetime(years.start, 1, 1, tzinfo=UTC)
    stop = dt.datetime(years.stop, 1, 1, tzinfo=UTC)
    step = dt.timedelta(minutes=15)
    before = at.astimezone(tz).utcoffset()
    while at < stop:
        at += step
        offset = at.astimezone(tz).utcoffset()
        if offset != before:
            out.append(at)
            before = offset
    return out


def _local(zone: str, *fields: int) -> dt.datetime:
    """A local wall time as an instant (a skipped one: where ``periods`` puts it, the transition)."""
    cal = periods.Calendar(zone)
    return periods.truncate_datetime(dt.datetime(*fields, tzinfo=ZoneInfo(zone)), "hour", cal).astimezone(UTC)


def _instants(zone: str, rng: random.Random) -> list[dt.datetime]:
    """Clock readings in the order a clock could show them: moving on by 5 s, by minutes and hours,
    and set back, around clock changes, local month ends, leap days, fiscal year and week starts."""
    tiny, second = dt.timedelta(microseconds=1), dt.timedelta(seconds=1)
    edges = _transitions(zone, range(2024, 2026))
    months = [_local(zone, year, month, 1) for year in (2024, 2025) for month in range(1, 13)]  # and quarters
    edges += [_local(zone, 2024, 2, 29, 12), _local(zone, 2024, 3, 1), _local(zone, 2025, 3, 1)]
    day = _local(zone, 2025, 12, 29)
    edges += [day + dt.timedelta(days=d) for d in range(6)]  # week and year starts, and the hours between
    out: list[dt.datetime] = []
    for edge in months:
        out += [edge - 5 * second, edge - tiny, edge, edge + tiny, edge + 5 * second, edge - tiny]
    for edge in edges:
        for delta in (-3600 * second, -5 * second, -tiny, 0 * second, tiny, 5 * second, 1800 * second,
                      -5 * second, 3600 * second, 10 * second, -tiny):  # fmt: skip
            out.append(edge + delta)
    start = dt.datetime(2024, 1, 1, tzinfo=UTC)
    for _ in range(40):
        at = start + dt.timedelta(microseconds=rng.randrange(3 * 366 * 86_400 * 10**6))
        for _ in range(4):
            out.append(at)
            at += rng.choice((5 * second, 5 * second, 60 * second, 20 * 60 * second, 3 * 3600 * second, -40 * second))
    return out


def _same(engine: Engine, now: dt.datetime, window: str | None, offset: int) -> None:
    kept = engine.planner.plan(now, window, offset)
    whole, _ = engine.planner.fresh(now, window, offset)
    assert repr(kept.rows) == repr(whole.rows), (now, window, offset)
    assert repr(kept.plans) == repr(whole.plans), (now, window, offset)
    assert kept.slots == whole.slots, (now, window, offset)


@pytest.mark.slow
@pytest.mark.parametrize(("zone", "week_start", "fiscal"), CALENDARS)
def test_the_plan_kept_per_hour_equals_the_plan_worked_out_whole(tmp_path, zone, week_start, fiscal):
    engine = Engine(_config(tmp_path, zone, week_start, fiscal))
    rng = random.Random(zone)
    instants = _instants(zone, rng)
    for now in instants:
        _same(engine, now, None, 0)
    # the clock as another zone shows it, a window setting, and complete periods back
    for now in instants[::7]:
        _same(engine, now.astimezone(ZoneInfo("Asia/Kolkata")), None, 0)
        _same(engine, now, "week_to_date", 0)
        _same(engine, now, "month_to_date", 1)


def test_the_hours_first_plan_is_kept_and_the_next_ones_reuse_it(tmp_path):
    """Within an hour only the first plan is worked out whole (else the frames would save nothing)."""
    engine = Engine(_config(tmp_path, "Europe/London", "monday", 1))
    calls = []
    fresh = engine.planner.fresh

    def spy(*args):
        calls.append(args[0])
        return fresh(*args)

    engine.planner.fresh = spy  # type: ignore[method-assign]
    now = dt.datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # the hour before London's clocks go forward
    for i in range(12):
        engine.planner.plan(now + dt.timedelta(seconds=5 * i))
    engine.planner.plan(now + dt.timedelta(minutes=30))  # 02:00 BST: another hour
    assert calls == [now, now + dt.timedelta(minutes=30)]


@pytest.mark.slow
@pytest.mark.parametrize("zone", ["Europe/London", "Australia/Lord_Howe", "America/Santiago", "America/New_York"])
def test_to_date_parts_equal_the_period_functions(zone):
    """``ToDate`` (kept per unit) against ``resolve``, ``previous`` and ``same_period_last_year``."""
    cal = periods.Calendar(zone, week_start=3, fiscal_year_start=10)
    rng = random.Random(zone)
    start = dt.datetime(2023, 1, 1, tzinfo=UTC)
    instants = [start + dt.timedelta(seconds=rng.randrange(4 * 366 * 86_400)) for _ in range(400)]
    instants += [
        t + d for t in _transitions(zone, range(2024, 2026)) for d in (dt.timedelta(seconds=-1), dt.timedelta(0))
    ]
    for name in ("today", "week_to_date", "month_to_date", "quarter_to_date", "year_to_date", "trailing_30d",
                 "trailing_12w", "trailing_3m"):  # fmt: skip
        for now in instants:
            parts = periods.ToDate.of(name, now, cal)
            local = now.astimezone(cal.tz)
            wall = local.replace(tzinfo=None, fold=0)
            assert repr(parts.current(local)) == repr(periods.resolve(name, now, cal)), (name, now)
            assert repr(parts.previous(wall)) == repr(periods.previous(name, now, cal)), (name, now)
            assert repr(parts.last_year(wall)) == repr(periods.same_period_last_year(name, now, cal)), (name, now)


@pytest.mark.parametrize("minutes", [0, 1e-6, 30, 59.99])
def test_in_the_repeated_hour_an_hourly_sparkline_ends_with_the_hour_holding_now(tmp_path, minutes):
    """London's clocks go back at 01:00 UTC on 2024-10-27 (02:00 BST -> 01:00 GMT): its hours are UTC's,
    so the 14 hourly buckets as of ``now`` in the second 01:xx are the 14 UTC hours up to ``now``'s.
    (The buckets before the last used to be cut at the wall time after the last one's start, which
    in the repeated hour is the first pass: 13 buckets, the last one the first 01:xx, ``now``'s readings
    left out.)"""
    engine = Engine(_config(tmp_path, "Europe/London", "monday", 1))
    hour = dt.datetime(2024, 10, 27, 1, tzinfo=UTC)
    now = hour + dt.timedelta(minutes=minutes)
    plan = engine.planner.plan(now)
    kpi = plan.plans["s0"]  # today, by hour
    assert kpi.grain == "hour"
    assert [p.astimezone(UTC) for p in kpi.points] == [hour - dt.timedelta(hours=k) for k in range(13, -1, -1)]
    micros = [int((hour - dt.timedelta(hours=k) - EPOCH).total_seconds()) * 10**6 for k in range(13, -1, -1)]
    now_us = (now - EPOCH) // dt.timedelta(microseconds=1)
    bounds = [plan.slots[(row, 0)] for row in kpi.spark]
    assert bounds == [*zip(micros, micros[1:]), (micros[-1], now_us + 1)]
