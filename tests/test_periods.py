"""Calendar windows, grains, previous periods and bucketing (kpitui.periods).

Expected values are worked out by hand (2026 DST dates: Europe/London 29 Mar
and 25 Oct at 01:00 UTC; America/New_York 8 Mar 07:00 UTC and 1 Nov 06:00 UTC;
Pacific/Auckland 4 Apr 14:00 UTC and 26 Sep 14:00 UTC; America/Santiago skips
local midnight on 6 Sep, 04:00 UTC; America/Havana repeats 00:00-01:00 on 1 Nov,
from 04:00 UTC).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from kpitui.model import Period, Settings
from kpitui.periods import (
    GRAINS,
    WINDOW_NAMES,
    Calendar,
    PeriodError,
    Window,
    bucket_end,
    bucket_label,
    bucket_starts,
    default_grain,
    parse_window,
    previous,
    resolve,
    same_period_last_year,
    shift,
    truncate,
    truncate_datetime,
)

UTC = timezone.utc
CAL = Calendar()
FY_APRIL = Calendar(fiscal_year_start=4)
LONDON = Calendar("Europe/London")
NEW_YORK = Calendar("America/New_York")
KOLKATA = Calendar("Asia/Kolkata")
AUCKLAND = Calendar("Pacific/Auckland")
SANTIAGO = Calendar("America/Santiago")
HAVANA = Calendar("America/Havana")

NOW = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)  # a Tuesday


def u(*args: int) -> datetime:
    """An aware UTC datetime."""
    return datetime(*args, tzinfo=UTC)


def local(cal: Calendar, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=cal.tz, fold=fold)


def span(p: Period) -> tuple[datetime, datetime]:
    """A period's bounds as UTC instants (Python compares same-zone datetimes by wall clock)."""
    return p.start.astimezone(UTC), p.end.astimezone(UTC)


def utcs(values: list[datetime]) -> list[datetime]:
    return [v.astimezone(UTC) for v in values]


# --------------------------------------------------------------------------- calendar


class TestCalendar:
    def test_defaults_and_tz(self):
        assert CAL.tz == ZoneInfo("UTC")
        assert LONDON.tz.key == "Europe/London"

    def test_from_settings(self):
        cal = Calendar.from_settings(Settings(timezone="Asia/Kolkata", week_start=6, fiscal_year_start=7))
        assert cal == Calendar("Asia/Kolkata", 6, 7)

    def test_unknown_timezone_suggests(self):
        with pytest.raises(PeriodError, match=r"unknown time zone 'Europe/Lodnon' \(did you mean 'Europe/London'\?\)"):
            Calendar("Europe/Lodnon")

    @pytest.mark.parametrize(
        "kwargs", [{"week_start": 7}, {"week_start": -1}, {"fiscal_year_start": 0}, {"fiscal_year_start": 13}]
    )
    def test_out_of_range_settings(self, kwargs):
        with pytest.raises(PeriodError):
            Calendar(**kwargs)


# --------------------------------------------------------------------------- parsing


class TestParseWindow:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("today", Window("today", "day")),
            ("yesterday", Window("yesterday", "day", to_date=False, complete=True)),
            ("wtd", Window("week_to_date", "week")),
            ("MTD", Window("month_to_date", "month")),
            ("qtd", Window("quarter_to_date", "quarter")),
            ("ytd", Window("year_to_date", "year")),
            ("week", Window("week_to_date", "week")),
            ("month", Window("month_to_date", "month")),
            ("quarter", Window("quarter_to_date", "quarter")),
            ("year", Window("year_to_date", "year")),
            ("month-to-date", Window("month_to_date", "month")),
            ("last_month", Window("last_month", "month", to_date=False, complete=True)),
            ("last_quarter", Window("last_quarter", "quarter", to_date=False, complete=True)),
            ("trailing_30d", Window("trailing_30d", "day", 30)),
            ("trailing_12w", Window("trailing_12w", "week", 12)),
            ("trailing_3m", Window("trailing_3m", "month", 3)),
            ("last_7_days", Window("trailing_7d", "day", 7)),
            ("Trailing 6 months", Window("trailing_6m", "month", 6)),
        ],
    )
    def test_accepted(self, text, expected):
        assert parse_window(text) == expected

    def test_every_listed_name_parses_to_itself(self):
        for name in WINDOW_NAMES:
            assert parse_window(name).name == name

    def test_typo_suggests_nearest(self):
        with pytest.raises(PeriodError) as err:
            parse_window("month_to_dat")
        msg = str(err.value)
        assert msg.startswith("unknown window 'month_to_dat' (did you mean 'month_to_date'?); valid: ")
        assert "trailing_<N>d" in msg and "year_to_date" in msg

    def test_bad_trailing_unit_suggests_days(self):
        with pytest.raises(PeriodError, match=r"did you mean 'trailing_30d'\?"):
            parse_window("trailing_30x")

    def test_zero_length_trailing(self):
        with pytest.raises(PeriodError, match="between 1 and"):
            parse_window("trailing_0d")

    def test_unknown_without_suggestion_lists_valid(self):
        with pytest.raises(PeriodError) as err:
            parse_window("fortnight")
        assert "did you mean" not in str(err.value)
        assert "valid: today, yesterday" in str(err.value)

    def test_is_a_value_error(self):
        assert issubclass(PeriodError, ValueError)

    def test_unknown_grain(self):
        with pytest.raises(PeriodError, match=r"unknown grain 'mnth' \(did you mean 'month'\?\)"):
            truncate_datetime(NOW, "mnth", CAL)


# --------------------------------------------------------------------------- resolving


class TestResolve:
    def test_month_to_date(self):
        p = resolve("month_to_date", NOW, CAL)
        assert span(p) == (u(2026, 11, 1), NOW)
        assert p.label == "Nov 2026 to date"
        assert p.start.tzinfo == CAL.tz and p.end.tzinfo == CAL.tz

    def test_month_to_date_at_the_first_instant_is_empty(self):
        p = resolve("mtd", u(2026, 12, 1), CAL)
        assert span(p) == (u(2026, 12, 1), u(2026, 12, 1))
        assert p.label == "Dec 2026 to date"

    def test_last_month_across_new_year(self):
        p = resolve("last_month", u(2026, 1, 15, 9), CAL)
        assert span(p) == (u(2025, 12, 1), u(2026, 1, 1))
        assert p.label == "Dec 2025"

    def test_today_and_yesterday(self):
        assert span(resolve("today", NOW, CAL)) == (u(2026, 11, 24), NOW)
        assert resolve("today", NOW, CAL).label == "2026-11-24 to date"
        y = resolve("yesterday", NOW, CAL)
        assert span(y) == (u(2026, 11, 23), u(2026, 11, 24))
        assert y.label == "2026-11-23"

    def test_quarter_boundaries(self):
        p = resolve("qtd", NOW, CAL)
        assert span(p) == (u(2026, 10, 1), NOW)
        assert p.label == "Q4 2026 to date"
        q = resolve("last_quarter", NOW, CAL)
        assert span(q) == (u(2026, 7, 1), u(2026, 10, 1))
        assert q.label == "Q3 2026"
        # the first instant of a quarter belongs to it
        assert span(resolve("qtd", u(2026, 4, 1), CAL))[0] == u(2026, 4, 1)
        assert span(resolve("qtd", u(2026, 3, 31, 23, 59, 59), CAL))[0] == u(2026, 1, 1)

    def test_year_to_date(self):
        p = resolve("ytd", NOW, CAL)
        assert span(p) == (u(2026, 1, 1), NOW)
        assert p.label == "2026 to date"

    def test_offsets_step_back_whole_complete_periods(self):
        expected = [
            ((u(2026, 11, 1), NOW), "Nov 2026 to date"),
            ((u(2026, 10, 1), u(2026, 11, 1)), "Oct 2026"),
            ((u(2026, 9, 1), u(2026, 10, 1)), "Sep 2026"),
            ((u(2026, 8, 1), u(2026, 9, 1)), "Aug 2026"),
        ]
        for offset, (bounds, label) in enumerate(expected):
            p = resolve("month_to_date", NOW, CAL, offset)
            assert (span(p), p.label) == (bounds, label), offset
        # a complete window steps back from the last complete period
        assert span(resolve("last_month", NOW, CAL, 2)) == (u(2026, 8, 1), u(2026, 9, 1))
        assert span(resolve("today", NOW, CAL, 2)) == (u(2026, 11, 22), u(2026, 11, 23))
        q = resolve("qtd", u(2026, 2, 10), CAL, 1)
        assert (span(q), q.label) == ((u(2025, 10, 1), u(2026, 1, 1)), "Q4 2025")
        assert span(resolve("ytd", NOW, CAL, 1)) == (u(2025, 1, 1), u(2026, 1, 1))

    def test_negative_offset_rejected(self):
        with pytest.raises(PeriodError, match="offset"):
            resolve("mtd", NOW, CAL, -1)

    def test_naive_now_rejected(self):
        with pytest.raises(PeriodError, match="timezone-aware"):
            resolve("mtd", datetime(2026, 11, 24), CAL)

    def test_accepts_window_objects_and_any_input_zone(self):
        now_kolkata = NOW.astimezone(ZoneInfo("Asia/Kolkata"))
        assert resolve(parse_window("mtd"), now_kolkata, CAL) == resolve("mtd", NOW, CAL)


class TestWeeks:
    SUNDAY = Calendar(week_start=6)

    def test_week_to_date_monday_vs_sunday(self):
        sunday_noon = u(2026, 11, 29, 12)
        monday = resolve("wtd", sunday_noon, CAL)
        assert span(monday) == (u(2026, 11, 23), sunday_noon)
        assert monday.label == "W48 2026 to date"
        sunday = resolve("wtd", sunday_noon, self.SUNDAY)
        assert span(sunday) == (u(2026, 11, 29), sunday_noon)
        assert sunday.label == "W48 2026 to date"  # its 4th day, Wed Dec 2, is day 336
        saturday = resolve("wtd", u(2026, 11, 28, 12), self.SUNDAY)
        assert span(saturday)[0] == u(2026, 11, 22)
        assert saturday.label == "W47 2026 to date"

    def test_last_week(self):
        assert span(resolve("last_week", NOW, CAL)) == (u(2026, 11, 16), u(2026, 11, 23))
        assert span(resolve("last_week", NOW, self.SUNDAY)) == (u(2026, 11, 15), u(2026, 11, 22))
        assert resolve("last_week", NOW, CAL).label == "W47 2026"

    def test_week_labels_at_year_ends_follow_iso(self):
        assert resolve("last_week", u(2027, 1, 5), CAL).label == "W53 2026"  # Dec 28 2026 .. Jan 3 2027
        assert resolve("wtd", u(2026, 1, 1), CAL).label == "W01 2026 to date"  # week of Mon Dec 29 2025
        assert span(resolve("wtd", u(2026, 1, 1), CAL))[0] == u(2025, 12, 29)
        day = datetime(2020, 1, 1, tzinfo=UTC)
        for i in range(0, 8 * 366, 5):  # Monday weeks are ISO weeks
            d = day + timedelta(days=i)
            iso = d.isocalendar()
            assert bucket_label(d, "week", CAL) == f"W{iso.week:02d} {iso.year}"


class TestFiscalYear:
    def test_year_to_date_starts_in_april_of_the_previous_year(self):
        p = resolve("year_to_date", u(2026, 2, 10), FY_APRIL)
        assert span(p) == (u(2025, 4, 1), u(2026, 2, 10))
        assert p.label == "FY2026 to date"  # named after the year it ends in

    def test_quarters_follow_the_fiscal_year(self):
        q1 = resolve("qtd", u(2026, 5, 10), FY_APRIL)
        assert span(q1)[0] == u(2026, 4, 1)
        assert q1.label == "Q1 FY2027 to date"
        q4 = resolve("last_quarter", u(2026, 5, 10), FY_APRIL)
        assert span(q4) == (u(2026, 1, 1), u(2026, 4, 1))
        assert q4.label == "Q4 FY2026"
        q2 = resolve("qtd", u(2026, 8, 1), FY_APRIL)
        assert (span(q2)[0], q2.label) == (u(2026, 7, 1), "Q2 FY2027 to date")

    def test_last_fiscal_year(self):
        p = resolve("last_year", u(2026, 2, 10), FY_APRIL)
        assert span(p) == (u(2024, 4, 1), u(2025, 4, 1))
        assert p.label == "FY2025"

    def test_july_fiscal_year(self):
        july = Calendar(fiscal_year_start=7)
        assert span(resolve("ytd", u(2026, 6, 30), july))[0] == u(2025, 7, 1)
        assert resolve("ytd", u(2026, 6, 30), july).label == "FY2026 to date"
        assert resolve("ytd", u(2026, 7, 1), july).label == "FY2027 to date"
        assert resolve("qtd", u(2026, 9, 30), july).label == "Q1 FY2027 to date"

    def test_quarter_starts_for_every_fiscal_start(self):
        for fs in range(1, 13):
            cal = Calendar(fiscal_year_start=fs)
            for month in range(1, 13):
                start = truncate_datetime(u(2026, month, 15), "quarter", cal)
                assert (start.month - fs) % 3 == 0 and start.day == 1
                assert 0 <= (month - start.month) % 12 < 3
                ystart = truncate_datetime(u(2026, month, 15), "year", cal)
                assert ystart.month == fs
                assert ystart.year == (2026 if month >= fs else 2025)

    def test_calendar_year_labels_have_no_fy(self):
        assert resolve("last_year", NOW, CAL).label == "2025"
        assert bucket_label(u(2026, 5, 1), "quarter", CAL) == "Q2 2026"
        assert bucket_label(u(2026, 5, 1), "quarter", FY_APRIL) == "Q1 FY2027"
        assert bucket_label(u(2026, 5, 1), "year", FY_APRIL) == "FY2027"


class TestTrailing:
    def test_trailing_30d(self):
        p = resolve("trailing_30d", NOW, CAL)
        assert span(p) == (u(2026, 10, 26), NOW)  # midnight today minus 29 days
        assert p.label == "last 30 days"

    def test_trailing_30d_offsets_are_the_30_days_before(self):
        p1 = resolve("trailing_30d", NOW, CAL, 1)
        assert span(p1) == (u(2026, 9, 26), u(2026, 10, 26))
        assert p1.label == "2026-09-26 to 2026-10-25"
        assert span(resolve("trailing_30d", NOW, CAL, 2)) == (u(2026, 8, 27), u(2026, 9, 26))

    def test_trailing_weeks_and_months_are_whole_units(self):
        w = resolve("trailing_4w", NOW, CAL)
        assert span(w) == (u(2026, 11, 2), NOW)  # this week (from Nov 23) and the 3 before
        assert w.label == "last 4 weeks"
        m = resolve("trailing_3m", NOW, CAL)
        assert span(m) == (u(2026, 9, 1), NOW)
        m1 = resolve("trailing_3m", NOW, CAL, 1)
        assert (span(m1), m1.label) == ((u(2026, 6, 1), u(2026, 9, 1)), "Jun 2026 to Aug 2026")

    def test_trailing_days_across_fall_back_are_local_days(self):
        now = u(2026, 11, 10, 12)
        p = resolve("trailing_30d", now, LONDON)
        assert span(p)[0] == u(2026, 10, 11, 23)  # Oct 12 00:00 BST
        assert p.start == local(LONDON, 2026, 10, 12)
        assert span(p)[1] - span(p)[0] == timedelta(days=29, hours=13)


# --------------------------------------------------------------------------- comparisons


class TestPrevious:
    def test_month_to_date_same_elapsed_time(self):
        p = previous("month_to_date", NOW, CAL)
        assert span(p) == (u(2026, 10, 1), u(2026, 10, 24, 14))
        assert p.label == "Oct 2026 to Oct 24 14:00"

    def test_march_31_clips_to_the_end_of_february(self):
        p = previous("mtd", u(2026, 3, 31, 10), CAL)
        assert span(p) == (u(2026, 2, 1), u(2026, 3, 1))
        assert p.label == "Feb 2026"

    def test_leap_february(self):
        # 28 days 12 hours into March 2024 -> Feb 29 12:00 (leap day exists)
        assert span(previous("mtd", u(2024, 3, 29, 12), CAL)) == (u(2024, 2, 1), u(2024, 2, 29, 12))
        # 29 days 12 hours -> past the end of February: clipped
        assert span(previous("mtd", u(2024, 3, 30, 12), CAL)) == (u(2024, 2, 1), u(2024, 3, 1))

    def test_elapsed_time_not_same_date(self):
        # 59 days into 2025 -> 59 days into 2024, a leap year: Feb 29
        assert span(previous("ytd", u(2025, 3, 1), CAL)) == (u(2024, 1, 1), u(2024, 2, 29))

    def test_today_compares_with_yesterday_until_the_same_time(self):
        p = previous("today", NOW, CAL)
        assert span(p) == (u(2026, 11, 23), u(2026, 11, 23, 14))
        assert p.label == "2026-11-23 to 14:00"

    def test_trailing_30d_previous(self):
        p = previous("trailing_30d", NOW, CAL)
        assert span(p) == (u(2026, 9, 26), u(2026, 10, 25, 14))

    def test_complete_periods_compare_with_the_whole_period_before(self):
        assert span(previous("last_month", NOW, CAL)) == (u(2026, 9, 1), u(2026, 10, 1))
        assert span(previous("mtd", NOW, CAL, 1)) == (u(2026, 9, 1), u(2026, 10, 1))
        assert span(previous("yesterday", NOW, CAL)) == (u(2026, 11, 22), u(2026, 11, 23))
        p = previous("last_quarter", u(2026, 5, 10), FY_APRIL)
        assert (span(p), p.label) == ((u(2025, 10, 1), u(2026, 1, 1)), "Q3 FY2026")

    def test_same_wall_clock_time_across_a_dst_change(self):
        # Nov 3 09:00 EST; Nov 1 was the fall-back day: compare with Oct 1 .. Oct 3 09:00 EDT
        p = previous("mtd", u(2026, 11, 3, 14), NEW_YORK)
        assert p.start == local(NEW_YORK, 2026, 10, 1)
        assert p.end == local(NEW_YORK, 2026, 10, 3, 9)
        assert span(p) == (u(2026, 10, 1, 4), u(2026, 10, 3, 13))


class TestSamePeriodLastYear:
    def test_leap_day_clips_to_feb_28(self):
        p = same_period_last_year("today", u(2024, 2, 29, 10), CAL)
        assert span(p) == (u(2023, 2, 28), u(2023, 2, 28, 10))
        y = same_period_last_year("yesterday", u(2024, 3, 1, 8), CAL)
        assert span(y) == (u(2023, 2, 28), u(2023, 3, 1))
        assert y.label == "2023-02-28"

    def test_month_to_date(self):
        p = same_period_last_year("mtd", NOW, CAL)
        assert span(p) == (u(2025, 11, 1), u(2025, 11, 24, 14))
        assert p.label == "Nov 2025 to Nov 24 14:00"
        assert span(same_period_last_year("mtd", u(2024, 2, 29, 10), CAL)) == (u(2023, 2, 1), u(2023, 2, 28, 10))

    def test_complete_and_offset(self):
        p = same_period_last_year("last_month", NOW, CAL)
        assert (span(p), p.label) == ((u(2025, 10, 1), u(2025, 11, 1)), "Oct 2025")
        assert span(same_period_last_year("mtd", NOW, CAL, 1)) == (u(2025, 10, 1), u(2025, 11, 1))
        fy = same_period_last_year("last_year", u(2026, 2, 10), FY_APRIL)
        assert (span(fy), fy.label) == ((u(2023, 4, 1), u(2024, 4, 1)), "FY2024")

    def test_weeks_move_back_52_weeks(self):
        p = same_period_last_year("last_week", NOW, CAL)
        assert span(p) == (u(2025, 11, 17), u(2025, 11, 24))  # still Monday to Monday
        assert p.label == "W47 2025"


def test_default_grain():
    assert [default_grain(w) for w in ("today", "yesterday")] == ["hour", "hour"]
    assert [default_grain(w) for w in ("wtd", "last_week", "mtd", "last_month", "trailing_30d", "trailing_4w")] == [
        "day"
    ] * 6
    assert [default_grain(w) for w in ("qtd", "last_quarter", "trailing_90d", "trailing_3m")] == ["week"] * 4
    assert [default_grain(w) for w in ("ytd", "last_year", "trailing_12m")] == ["month"] * 3
    assert default_grain(parse_window("trailing_60m")) == "quarter"


# --------------------------------------------------------------------------- shift and truncate


class TestShift:
    def test_month_end_clipping(self):
        assert shift(u(2026, 1, 31, 9), "month", 1, CAL) == u(2026, 2, 28, 9)
        assert shift(u(2026, 3, 31), "month", -1, CAL) == u(2026, 2, 28)
        assert shift(u(2024, 2, 29), "year", 1, CAL) == u(2025, 2, 28)
        assert shift(u(2026, 11, 30), "quarter", -1, CAL) == u(2026, 8, 30)
        assert shift(u(2026, 11, 24), "week", -2, CAL) == u(2026, 11, 10)

    def test_days_keep_the_local_time_of_day_across_dst(self):
        got = shift(u(2026, 3, 28, 12), "day", 1, LONDON)  # 12:00 GMT -> 12:00 BST
        assert got == local(LONDON, 2026, 3, 29, 12)
        assert got.astimezone(UTC) == u(2026, 3, 29, 11)

    def test_nonexistent_time_moves_to_first_valid_instant(self):
        got = shift(local(LONDON, 2026, 3, 28, 1, 30), "day", 1, LONDON)  # 01:30 on Mar 29 is skipped
        assert got.astimezone(UTC) == u(2026, 3, 29, 1)  # 02:00 BST
        assert got.utcoffset() == timedelta(hours=1)

    def test_ambiguous_time_takes_first_occurrence(self):
        got = shift(local(LONDON, 2026, 10, 24, 1, 30), "day", 1, LONDON)
        assert got.astimezone(UTC) == u(2026, 10, 25, 0, 30)  # 01:30 BST, not GMT

    def test_hours_are_elapsed(self):
        got = shift(u(2026, 10, 25, 0, 30), "hour", 1, LONDON)  # 01:30 BST + 1h = 01:30 GMT
        assert got.astimezone(UTC) == u(2026, 10, 25, 1, 30)
        assert got.utcoffset() == timedelta(0)


class TestTimeZones:
    @pytest.mark.parametrize(
        ("cal", "day", "hours"),
        [
            (LONDON, (2026, 3, 29), 23),
            (LONDON, (2026, 10, 25), 25),
            (LONDON, (2026, 6, 1), 24),
            (NEW_YORK, (2026, 3, 8), 23),
            (NEW_YORK, (2026, 11, 1), 25),
            (AUCKLAND, (2026, 4, 5), 25),
            (AUCKLAND, (2026, 9, 27), 23),
            (KOLKATA, (2026, 3, 29), 24),
            (SANTIAGO, (2026, 9, 6), 23),
            (HAVANA, (2026, 11, 1), 25),
        ],
    )
    def test_day_bucket_lengths(self, cal, day, hours):
        noon = local(cal, *day, 12)
        start = truncate_datetime(noon, "day", cal)
        end = bucket_end(noon, "day", cal)
        assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=hours)
        assert len(bucket_starts(Period(start, end), "hour", cal)) == hours

    def test_day_buckets_through_fall_back(self):
        p = Period(u(2026, 10, 24, 12), u(2026, 10, 26, 12))
        assert utcs(bucket_starts(p, "day", LONDON)) == [u(2026, 10, 23, 23), u(2026, 10, 24, 23), u(2026, 10, 26)]

    def test_hourly_buckets_through_spring_forward(self):
        day = resolve("yesterday", u(2026, 3, 30, 12), LONDON)
        starts = bucket_starts(day, "hour", LONDON)
        assert utcs(starts) == [u(2026, 3, 29, h) for h in range(23)]
        assert [s.hour for s in starts][:4] == [0, 2, 3, 4]

    def test_hourly_buckets_through_fall_back(self):
        day = resolve("yesterday", u(2026, 10, 26, 12), LONDON)
        starts = bucket_starts(day, "hour", LONDON)
        assert utcs(starts) == [u(2026, 10, 24, 23)] + [u(2026, 10, 25, h) for h in range(24)]
        assert [s.hour for s in starts][:5] == [0, 1, 1, 2, 3]
        assert [s.utcoffset() for s in starts[1:3]] == [timedelta(hours=1), timedelta(0)]
        # each instant of the repeated hour lands in the bucket with its own offset
        assert truncate_datetime(u(2026, 10, 25, 0, 40), "hour", LONDON).astimezone(UTC) == u(2026, 10, 25, 0)
        assert truncate_datetime(u(2026, 10, 25, 1, 40), "hour", LONDON).astimezone(UTC) == u(2026, 10, 25, 1)

    def test_new_york_month_starts_at_local_midnight(self):
        p = resolve("mtd", u(2026, 11, 1, 12), NEW_YORK)  # Nov 1 is the fall-back day; midnight is EDT
        assert span(p)[0] == u(2026, 11, 1, 4)
        q = resolve("last_month", u(2026, 12, 2, 12), NEW_YORK)
        assert span(q) == (u(2026, 11, 1, 4), u(2026, 12, 1, 5))

    def test_kolkata_half_hour_offset(self):
        now = u(2026, 11, 24, 20)  # Nov 25 01:30 IST
        assert span(resolve("today", now, KOLKATA))[0] == u(2026, 11, 24, 18, 30)
        assert truncate_datetime(now, "hour", KOLKATA).astimezone(UTC) == u(2026, 11, 24, 19, 30)
        p = resolve("mtd", u(2026, 11, 30, 20), KOLKATA)  # Dec 1 01:30 IST
        assert (span(p)[0], p.label) == (u(2026, 11, 30, 18, 30), "Dec 2026 to date")

    def test_auckland_new_year_comes_first(self):
        now = u(2026, 12, 31, 12)  # Jan 1 2027 01:00 NZDT
        p = resolve("ytd", now, AUCKLAND)
        assert (span(p)[0], p.label) == (u(2026, 12, 31, 11), "2027 to date")
        assert span(resolve("ytd", now, CAL))[0] == u(2026, 1, 1)

    def test_santiago_skipped_midnight_starts_at_the_transition(self):
        p = resolve("today", u(2026, 9, 6, 15), SANTIAGO)  # 12:00 -03
        assert span(p)[0] == u(2026, 9, 6, 4)
        assert p.start.hour == 1 and p.start.utcoffset() == timedelta(hours=-3)
        assert span(resolve("yesterday", u(2026, 9, 7, 15), SANTIAGO)) == (u(2026, 9, 6, 4), u(2026, 9, 7, 3))


class TestBuckets:
    def test_bucket_end_after_a_skipped_midnight(self):
        start = truncate_datetime(u(2026, 9, 6, 15), "day", SANTIAGO)  # Sep 6 01:00 -03
        assert bucket_end(start, "day", SANTIAGO) == local(SANTIAGO, 2026, 9, 7)
        # shift moves the wall clock: 01:00 the next day, not the next bucket
        assert shift(start, "day", 1, SANTIAGO) == local(SANTIAGO, 2026, 9, 7, 1)

    def test_bucket_end_of_the_repeated_hour(self):
        first = bucket_end(u(2026, 10, 25, 0, 10), "hour", LONDON)  # in 01:00 BST
        assert first.astimezone(UTC) == u(2026, 10, 25, 1)  # 01:00 GMT
        assert bucket_end(first, "hour", LONDON).astimezone(UTC) == u(2026, 10, 25, 2)
        assert bucket_end(u(2026, 2, 27, 12), "month", CAL) == u(2026, 3, 1)

    def test_week_buckets_of_a_month_start_before_it(self):
        starts = bucket_starts(resolve("last_month", NOW, CAL), "week", CAL)
        assert utcs(starts) == [u(2026, 9, 28), u(2026, 10, 5), u(2026, 10, 12), u(2026, 10, 19), u(2026, 10, 26)]
        sunday = bucket_starts(resolve("last_month", NOW, Calendar(week_start=6)), "week", Calendar(week_start=6))
        assert utcs(sunday)[0] == u(2026, 9, 27)

    def test_month_and_fiscal_quarter_buckets(self):
        p = resolve("ytd", u(2026, 2, 10), FY_APRIL)
        quarters = [u(2025, 4, 1), u(2025, 7, 1), u(2025, 10, 1), u(2026, 1, 1)]
        assert utcs(bucket_starts(p, "quarter", FY_APRIL)) == quarters
        assert len(bucket_starts(p, "month", FY_APRIL)) == 11

    def test_empty_period_has_no_buckets(self):
        assert bucket_starts(Period(NOW, NOW), "day", CAL) == []

    def test_bucket_labels(self):
        assert bucket_label(u(2026, 11, 24, 14, 20), "hour", LONDON) == "14:00"
        assert bucket_label(NOW, "day", CAL) == "2026-11-24"
        assert bucket_label(NOW, "week", CAL) == "W48 2026"
        assert bucket_label(NOW, "month", CAL) == "Nov 2026"
        assert bucket_label(NOW, "year", CAL) == "2026"


# --------------------------------------------------------------------------- polars


def _frame(start: datetime, end: datetime, every: str = "10m") -> pl.DataFrame:
    return pl.DataFrame({"at": pl.datetime_range(start, end, every, time_zone="UTC", eager=True)})


class TestTruncateExpr:
    def test_dtype_is_local_microseconds(self):
        out = _frame(u(2026, 1, 1), u(2026, 1, 2)).select(truncate(pl.col("at"), "day", LONDON))
        assert out.schema["at"] == pl.Datetime("us", "Europe/London")

    def test_hand_values_across_fall_back(self):
        frame = pl.DataFrame(
            {"at": [u(2026, 10, 24, 23, 30), u(2026, 10, 25, 0, 30), u(2026, 10, 25, 1, 30), u(2026, 10, 25, 23, 59)]}
        )
        got = frame.select(
            hour=truncate(pl.col("at"), "hour", LONDON),
            day=truncate(pl.col("at"), "day", LONDON),
            week=truncate(pl.col("at"), "week", Calendar("Europe/London", week_start=6)),
        )
        assert utcs(got["hour"].to_list()) == [
            u(2026, 10, 24, 23),  # 00:00 BST
            u(2026, 10, 25, 0),  # 01:00 BST
            u(2026, 10, 25, 1),  # 01:00 GMT: the repeated hour is its own bucket
            u(2026, 10, 25, 23),
        ]
        assert utcs(got["day"].to_list()) == [u(2026, 10, 24, 23)] * 4  # all on Sunday Oct 25 local
        assert utcs(got["week"].to_list()) == [u(2026, 10, 24, 23)] * 4  # Sunday weeks start that day

    def test_other_input_zone_and_unit(self):
        frame = pl.DataFrame({"at": [datetime(2026, 2, 10, 9, tzinfo=ZoneInfo("Asia/Tokyo"))]}).with_columns(
            pl.col("at").dt.cast_time_unit("ns")
        )
        got = frame.select(truncate(pl.col("at"), "year", Calendar("America/New_York", fiscal_year_start=4)))
        assert got.schema["at"] == pl.Datetime("us", "America/New_York")
        assert utcs(got["at"].to_list()) == [u(2025, 4, 1, 4)]  # Apr 1 2025 00:00 EDT

    def test_havana_repeated_midnight_takes_the_first(self):
        got = pl.DataFrame({"at": [u(2026, 11, 1, 4, 30), u(2026, 11, 1, 5, 30), u(2026, 11, 1, 15)]}).select(
            truncate(pl.col("at"), "day", HAVANA)
        )
        assert utcs(got["at"].to_list()) == [u(2026, 11, 1, 4)] * 3  # 00:00 -04, not 00:00 -05

    def test_santiago_skipped_midnight(self):
        got = pl.DataFrame({"at": [u(2026, 9, 6, 15)]}).select(truncate(pl.col("at"), "day", SANTIAGO))
        assert utcs(got["at"].to_list()) == [u(2026, 9, 6, 4)]

    @pytest.mark.parametrize(
        ("cal", "around"),
        [
            (LONDON, u(2026, 3, 29)),
            (Calendar("Europe/London", week_start=6, fiscal_year_start=4), u(2026, 10, 25)),
            (NEW_YORK, u(2026, 11, 1, 6)),
            (Calendar("America/New_York", week_start=2, fiscal_year_start=10), u(2026, 3, 8, 7)),
            (KOLKATA, u(2026, 12, 31, 18)),
            (AUCKLAND, u(2026, 4, 4, 14)),
            (Calendar("Pacific/Auckland", week_start=6, fiscal_year_start=7), u(2026, 9, 26, 14)),
            (SANTIAGO, u(2026, 9, 6, 4)),
            (Calendar("America/Havana", week_start=6, fiscal_year_start=11), u(2026, 11, 1, 4)),
        ],
    )
    def test_agrees_with_truncate_datetime_across_dst(self, cal, around):
        frame = _frame(around - timedelta(days=2), around + timedelta(days=2), "17m")
        got = frame.select(**{g: truncate(pl.col("at"), g, cal) for g in GRAINS})
        instants = frame["at"].to_list()
        for grain in GRAINS:
            expected = [truncate_datetime(t, grain, cal).astimezone(UTC) for t in instants]
            assert utcs(got[grain].to_list()) == expected, grain

    def test_lazy_frames(self):
        lazy = _frame(u(2026, 3, 28), u(2026, 3, 30), "1h").lazy()
        out = lazy.group_by(truncate(pl.col("at"), "day", LONDON).alias("day")).agg(pl.len()).sort("day").collect()
        assert out["len"].to_list() == [24, 23, 2]  # Mar 28 GMT, Mar 29 (23h), Mar 30 from 23:00Z
