"""Buckets of a grain (hour ... year): truncating, shifting, their starts, ends and labels, in Python and in polars."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from ..model import Period
from .calendars import _MONTH_SPAN, Calendar, _aware, _check_grain, _localize, _utc, _wall, _wall_shift, _wall_truncate
from .labels import _unit_label

if TYPE_CHECKING:
    import polars as pl
else:
    from kpitui.lazy import polars as pl


def truncate_datetime(value: datetime, grain: str, cal: Calendar) -> datetime:
    """The local start of the ``grain`` bucket holding ``value`` (pure Python twin of :func:`truncate`)."""
    _check_grain(grain)
    tz = cal.tz
    local = _aware(value, "value").astimezone(tz)
    wall = _wall_truncate(local.replace(tzinfo=None), grain, cal)
    return _localize(wall, tz, fold=local.fold if grain == "hour" else 0)


def shift(value: datetime, grain: str, n: int, cal: Calendar) -> datetime:
    """``value`` moved ``n`` grains later (earlier if negative).

    Days and longer move the local wall clock (same time of day; month ends
    clipped: Jan 31 + 1 month = Feb 28) and re-localise; hours are elapsed hours.
    """
    _check_grain(grain)
    tz = cal.tz
    value = _aware(value, "value")
    if n == 0:
        return value.astimezone(tz)
    if grain == "hour":
        return (_utc(value) + timedelta(hours=n)).astimezone(tz)
    return _localize(_wall_shift(_wall(value, tz), grain, n), tz)


def bucket_end(value: datetime, grain: str, cal: Calendar) -> datetime:
    """The end (= the next bucket's start) of the ``grain`` bucket holding ``value``.

    Prefer this to ``shift(start, grain, 1)``: where local midnight is skipped
    (America/Santiago, Asia/Beirut, America/Havana …) a day bucket starts at
    01:00 and shifting that wall time would give 01:00 the next day.
    """
    _check_grain(grain)
    tz = cal.tz
    local = _aware(value, "value").astimezone(tz)
    if grain == "hour":
        start, step, nxt = truncate_datetime(local, "hour", cal), 1, local
        while _utc(nxt) <= _utc(local):  # a bucket can be 30 or 90 minutes (Lord Howe)
            nxt = truncate_datetime(_utc(start) + timedelta(hours=step), "hour", cal)
            step += 1
        return nxt
    wall = _wall_truncate(local.replace(tzinfo=None), grain, cal)
    while True:
        wall = _wall_shift(wall, grain, 1)
        nxt = _localize(wall, tz)
        if _utc(nxt) > _utc(local):  # a skipped local day (Samoa 2011) has no bucket
            return nxt


def bucket_starts(period: Period, grain: str, cal: Calendar) -> list[datetime]:
    """Starts of the ``grain`` buckets covering ``[period.start, period.end)``.

    The first start may precede ``period.start`` (a week bucket of a month);
    an empty period has no buckets.
    """
    _check_grain(grain)
    tz = cal.tz
    start = _utc(_aware(period.start, "period.start"))
    end = _utc(_aware(period.end, "period.end"))
    out: list[datetime] = []
    if start >= end:
        return out
    if grain == "hour":
        s = truncate_datetime(start, "hour", cal)
        while _utc(s) < end:
            out.append(s)
            s = bucket_end(s, "hour", cal)
        return out
    wall = _wall_truncate(start.astimezone(tz).replace(tzinfo=None), grain, cal)
    while True:
        s = _localize(wall, tz)
        if _utc(s) >= end:
            return out
        if not out or _utc(s) > _utc(out[-1]):  # a skipped local day (Samoa 2011) yields nothing
            out.append(s)
        wall = _wall_shift(wall, grain, 1)


def bucket_label(value: datetime, grain: str, cal: Calendar) -> str:
    """A short label for the bucket starting at ``value``: "14:00", "2026-11-24", "W48 2026",
    "Nov 2026", "Q4 2026" / "Q3 FY2027", "2026" / "FY2027"."""
    _check_grain(grain)
    local = _aware(value, "value").astimezone(cal.tz)
    if grain == "hour":
        return f"{truncate_datetime(local, 'hour', cal):%H:%M}"
    return _unit_label(_wall_truncate(local.replace(tzinfo=None), grain, cal), grain, cal)


# --------------------------------------------------------------------------- polars


def truncate(expr: pl.Expr, grain: str, cal: Calendar) -> pl.Expr:
    """Map a tz-aware Datetime expression (any zone, any time unit) to the local start of its
    ``grain`` bucket, as ``Datetime("us", cal.timezone)``.

    Same rules as :func:`truncate_datetime`: weeks follow ``week_start``,
    quarters and years ``fiscal_year_start``; an hour keeps the offset of its
    instant (two buckets for the repeated hour); a bucket start the clocks skip
    becomes the transition instant. The column must be tz-aware (store UTC).
    """
    _check_grain(grain)
    tz = cal.timezone
    local = expr.dt.convert_time_zone(tz).dt.cast_time_unit("us")
    wall = local.dt.replace_time_zone(None)
    if grain == "hour":
        start = wall.dt.truncate("1h")
    elif grain == "day":
        start = wall.dt.truncate("1d")
    elif grain == "week":
        back = (wall.dt.weekday().cast(pl.Int32) - 1 - cal.week_start) % 7  # weekday(): Monday = 1
        start = wall.dt.truncate("1d") - pl.duration(days=back)
    elif grain == "month":
        start = wall.dt.truncate("1mo")
    else:
        # Move fiscal starts onto calendar ones, truncate, move back (naive: no DST involved).
        lag = (cal.fiscal_year_start - 1) % _MONTH_SPAN[grain]
        start = wall.dt.truncate("1mo")
        if lag:
            start = start.dt.offset_by(f"-{lag}mo")
        start = start.dt.truncate("1q" if grain == "quarter" else "1y")
        if lag:
            start = start.dt.offset_by(f"{lag}mo")
    if grain == "hour":
        is_first = wall.dt.replace_time_zone(tz, ambiguous="earliest") == local
        ambiguous: Literal["earliest", "latest"] | pl.Expr = (
            pl.when(is_first).then(pl.lit("earliest")).otherwise(pl.lit("latest"))
        )
    else:
        ambiguous = "earliest"
    localized = start.dt.replace_time_zone(tz, ambiguous=ambiguous, non_existent="null")
    # A start the clocks skip: localise the same wall time a day earlier and add 24 elapsed hours,
    # which lands on the transition when the gap begins at the bucket start (always, for
    # hour-aligned transitions; _localize is exact in every case).
    day_before = (start - timedelta(days=1)).dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
    skipped = day_before + timedelta(days=1)
    return localized.fill_null(skipped)
