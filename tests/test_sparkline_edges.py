"""A complete window's sparkline on its own edge: at exactly the start of a day, week, month, quarter
or year, ``yesterday`` (``last_week`` ...) ends where ``today`` (``week_to_date`` ...) is a zero-length
period so far. Both sparklines end at the same instant, but the complete window's last bucket is the
last one *before* that instant, the to-date window's the new one starting there. Each KPI's points and
values are checked against buckets worked out by hand from the readings (UTC calendar), from a fresh
evaluation and from the TUI's refresh 5 s after the one before the edge."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from kpitui.config import load_config
from kpitui.engine import SPARK_POINTS, Engine
from kpitui.engine.planning import sparkline as _sparkline
from kpitui.pipeline import View

UTC = dt.timezone.utc
FIRST = dt.datetime(2024, 10, 1, tzinfo=UTC)
HOURS = 24 * 830  # to 2027-01-09


def _readings() -> list[tuple[dt.datetime, float]]:
    return [(FIRST + dt.timedelta(hours=h), float(h % 97 + 1)) for h in range(HOURS)]


def _add_months(d: dt.datetime, n: int) -> dt.datetime:
    index = d.year * 12 + d.month - 1 + n
    return dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _buckets(end: dt.datetime, grain: str, points: int) -> list[tuple[dt.datetime, dt.datetime]]:
    """The ``points`` buckets of ``grain`` ending at ``end``, by hand (``end`` is a bucket edge but for weeks)."""
    out = []
    for i in range(points, 0, -1):
        if grain == "hour":
            start, stop = end - dt.timedelta(hours=i), end - dt.timedelta(hours=i - 1)
        elif grain == "day":
            start, stop = end - dt.timedelta(days=i), end - dt.timedelta(days=i - 1)
        else:
            months = {"week": 0, "month": 1, "quarter": 3, "year": 12}[grain]
            if months == 0:  # Monday weeks; the last one holds the day before ``end`` and is cut there
                day = end - dt.timedelta(days=1)
                monday = dt.datetime(day.year, day.month, day.day, tzinfo=UTC) - dt.timedelta(days=day.weekday())
                start = monday - dt.timedelta(weeks=i - 1)
                stop = min(start + dt.timedelta(weeks=1), end)
            else:
                start, stop = _add_months(end, -months * i), _add_months(end, -months * (i - 1))
        out.append((start, stop))
    return out


def _sum(readings: list[tuple[dt.datetime, float]], start: dt.datetime, stop: dt.datetime) -> float:
    return sum(v for at, v in readings if start <= at < stop)


CASES = [  # (to-date window, complete window, its default grain, an edge of both, the complete period's start)
    ("today", "yesterday", "hour", dt.datetime(2026, 3, 11, tzinfo=UTC), dt.datetime(2026, 3, 10, tzinfo=UTC)),
    ("week_to_date", "last_week", "day", dt.datetime(2026, 3, 9, tzinfo=UTC), dt.datetime(2026, 3, 2, tzinfo=UTC)),
    ("month_to_date", "last_month", "day", dt.datetime(2026, 3, 1, tzinfo=UTC), dt.datetime(2026, 2, 1, tzinfo=UTC)),
    (
        "quarter_to_date",
        "last_quarter",
        "week",
        dt.datetime(2026, 4, 1, tzinfo=UTC),
        dt.datetime(2026, 1, 1, tzinfo=UTC),
    ),
    ("year_to_date", "last_year", "month", dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2025, 1, 1, tzinfo=UTC)),
]


@pytest.mark.slow
@pytest.mark.parametrize(("running", "complete", "grain", "edge", "start"), CASES)
def test_a_complete_windows_sparkline_on_its_edge_ends_with_its_own_last_bucket(
    tmp_path, running, complete, grain, edge, start
):
    path = tmp_path / "kpitui.toml"
    path.write_text(
        f"""
[kpitui]
timezone = "UTC"
week_start = "monday"

[metrics.a]

[kpis.running]
formula = "sum"
metrics = ["a"]
window = "{running}"

[kpis.complete]
formula = "sum"
metrics = ["a"]
window = "{complete}"
"""
    )
    readings = _readings()
    frame = pl.DataFrame(
        {"metric": ["a"] * len(readings), "at": [at for at, _ in readings], "value": [v for _, v in readings]}
    )
    view = View.from_frame(frame)
    config = load_config(path)
    refreshed = Engine(config)  # the TUI's: every 5 s, across the edge
    refreshed.evaluate(view, edge - dt.timedelta(seconds=5))
    for edge_now in (edge, edge + dt.timedelta(seconds=5)):
        _sparkline.cache_clear()
        snapshot = Engine(config).evaluate(view, edge_now)
        assert refreshed.evaluate(view, edge_now) == snapshot
        series = snapshot.kpis["complete"].series
        expected = [(start, _sum(readings, start, stop)) for start, stop in _buckets(edge, grain, SPARK_POINTS)]
        assert [(at.astimezone(UTC), v) for at, v in series] == expected, edge_now
        assert snapshot.kpis["complete"].value == _sum(readings, start, edge)
        # the to-date KPI's last bucket is the new one, so far (at the edge itself: nothing elapsed yet)
        # (a week bucket starts on its Monday, before a quarter's start on a Wednesday)
        new = edge - dt.timedelta(days=edge.weekday()) if grain == "week" else edge
        last_at, last_value = snapshot.kpis["running"].series[-1]
        assert last_at.astimezone(UTC) == new
        assert last_value == _sum(readings, new, edge_now + dt.timedelta(microseconds=1))
