"""The ``silent`` rule on histories with known rates (kpitui.alerts.trigger_health)."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest

from kpitui.alerts.trigger_health import assess, bucket_width
from kpitui.model import Metric, Trigger

NOW = dt.datetime(2026, 3, 11, 18, 0, tzinfo=dt.timezone.utc)
SIGNUPS = Metric(
    id="newsletter_signups",
    name="Newsletter sign-ups",
    trigger=Trigger(
        "A visitor viewed the newsletter thank-you page", 'path == "/newsletter/thank-you" and status < 400'
    ),
)


def hourly(per_day: float, days: int, silent_hours: float, now: dt.datetime = NOW) -> pl.DataFrame:
    """Hourly buckets with exactly per_day/24 events each, for `days` days, ending `silent_hours` before now."""
    end = now - dt.timedelta(hours=silent_hours)
    start = end - dt.timedelta(days=days)
    at, value = [], []
    t = start
    while t + dt.timedelta(hours=1) <= end:
        at.append(t)
        value.append(per_day / 24)
        t += dt.timedelta(hours=1)
    return pl.DataFrame({"at": pl.Series(at, dtype=pl.Datetime("us", "UTC")), "value": value})


def test_eighteen_a_day_silent_for_nine_hours_fires_with_the_triggers_text():
    result = assess(SIGNUPS, hourly(18, 10, 9), NOW)
    assert result.firing is True
    assert result.expected == pytest.approx(18 * 9 / 24)  # the same nine hours of each earlier day
    assert result.probability == pytest.approx(math.exp(-6.75))
    assert result.text == "no newsletter sign-ups for 9h, usually 18 a day: is /newsletter/thank-you still reached?"


def test_the_same_rate_silent_for_four_hours_is_plausible():
    result = assess(SIGNUPS, hourly(18, 10, 4), NOW)
    assert result.firing is False
    assert result.probability == pytest.approx(math.exp(-3.0))


@pytest.mark.parametrize(
    ("per_day", "hours", "fires"),
    [(2, 48, False), (2, 60, True), (240, 0.4, False), (240, 0.5, True)],
)
def test_threshold_is_one_percent_of_the_poisson_tail(per_day, hours, fires):
    # P(no events) = exp(-rate * span) < 0.01  <=>  rate * span > ln(100) = 4.605
    frame = hourly(per_day, 12, hours) if hours >= 1 else hourly(per_day, 12, 0)
    if hours < 1 or not float(hours).is_integer():
        # minute buckets for spans shorter than an hour
        end = NOW - dt.timedelta(hours=hours)
        at = [end - dt.timedelta(minutes=m + 1) for m in range(12 * 24 * 60)]
        frame = pl.DataFrame({"at": pl.Series(at, dtype=pl.Datetime("us", "UTC")), "value": [per_day / 1440] * len(at)})
    result = assess(SIGNUPS, frame, NOW)
    assert result.firing is fires
    assert (per_day * hours / 24 > math.log(100)) is fires


def test_too_little_history_cannot_tell():
    result = assess(SIGNUPS, hourly(100, 2, 12), NOW)
    assert result.firing is None
    assert "needs 3 days of history" in result.text


def test_quiet_nights_are_not_silence():
    # 30 a day, all between 09:00 and 17:00 UTC; at 08:00 the last event was at 16:59 yesterday.
    at, value = [], []
    for d in range(1, 15):
        day = NOW.replace(hour=0) - dt.timedelta(days=d)
        for h in range(9, 17):
            at.append(day + dt.timedelta(hours=h))
            value.append(30 / 8)
    frame = pl.DataFrame({"at": pl.Series(at, dtype=pl.Datetime("us", "UTC")), "value": value})
    morning = NOW.replace(hour=8) - dt.timedelta(days=0)
    assert assess(SIGNUPS, frame.filter(pl.col("at") < morning), morning).firing is False
    # at 13:00 nothing since yesterday 17:00 is four working hours without one of ~15 expected events
    assert assess(SIGNUPS, frame.filter(pl.col("at") < morning), NOW.replace(hour=13)).firing is True


def test_bucket_width_is_the_smallest_gap():
    frame = hourly(24, 3, 0)
    assert bucket_width(frame["at"]) == dt.timedelta(hours=1)
