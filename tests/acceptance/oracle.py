"""An independent oracle for kpitui's figures: calendars, windows and aggregations by hand.

Nothing here imports kpitui. Readings come from the history file with plain SQL
(``sqlite3``), times are turned local with ``zoneinfo``, and every rule is the
one docs/kpis.md states, written out again in plain Python: periods, the
previous period cut at the same wall-clock elapsed time, the same period a year
earlier, gap rules per aggregation, the built-in formulas, targets, scores,
progress and pace. The acceptance tests compare ``kpitui report``/``series``
JSON with it, number by number.
"""

from __future__ import annotations

import datetime as dt
import math
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def readings(history: Path) -> dict[str, list[tuple[dt.datetime, float]]]:
    """Every reading per metric name, oldest first, from the ``readings`` table alone.

    The history must not be held open by a writer (no staged rows: README, "Reading the file with SQL")."""
    con = sqlite3.connect(f"file:{history}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT m.name, r.at, r.value FROM readings r JOIN metrics m ON m.id = r.metric_id ORDER BY m.name, r.at"
        ).fetchall()
        staged = con.execute("SELECT count(*) FROM meta WHERE key GLOB 'staged:*' AND staged IS NOT NULL").fetchone()
    finally:
        con.close()
    assert staged[0] == 0, "a writer left staged rows: the readings table is not the whole history"
    out: dict[str, list[tuple[dt.datetime, float]]] = {}
    for name, at, value in rows:
        out.setdefault(name, []).append((dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=at), value))
    return out


@dataclass(frozen=True)
class Calendar:
    timezone: str
    week_start: str = "monday"
    fiscal_year_start: int = 1

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    # -- wall clock <-> instants ------------------------------------------------------------
    def local(self, instant: dt.datetime) -> dt.datetime:
        """The naive wall-clock time of an instant."""
        return instant.astimezone(self.tz).replace(tzinfo=None)

    def instant(self, wall: dt.datetime) -> dt.datetime:
        """A naive wall-clock time as an instant; a repeated hour reads as its first pass (fold=0)."""
        return wall.replace(tzinfo=self.tz, fold=0).astimezone(UTC)

    # -- units on the wall clock ------------------------------------------------------------
    def start(self, unit: str, wall: dt.datetime) -> dt.datetime:
        day = dt.datetime(wall.year, wall.month, wall.day)
        if unit == "day":
            return day
        if unit == "week":
            back = (wall.weekday() - WEEKDAYS.index(self.week_start)) % 7
            return day - dt.timedelta(days=back)
        if unit == "month":
            return dt.datetime(wall.year, wall.month, 1)
        months = {"quarter": 3, "year": 12}[unit]
        index = wall.year * 12 + wall.month - 1 - (self.fiscal_year_start - 1)
        index -= index % months
        index += self.fiscal_year_start - 1
        return dt.datetime(index // 12, index % 12 + 1, 1)

    def add(self, unit: str, wall: dt.datetime, n: int) -> dt.datetime:
        if unit == "day":
            return wall + dt.timedelta(days=n)
        if unit == "week":
            return wall + dt.timedelta(days=7 * n)
        months = {"month": 1, "quarter": 3, "year": 12}[unit] * n
        return add_months(wall, months)


def add_months(wall: dt.datetime, months: int) -> dt.datetime:
    index = wall.year * 12 + wall.month - 1 + months
    year, month = index // 12, index % 12 + 1
    last = (dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return wall.replace(year=year, month=month, day=min(wall.day, last))


@dataclass(frozen=True)
class Period:
    """[start, end) on the wall clock, or [start, end] when ``closed`` (a period as of now)."""

    start: dt.datetime
    end: dt.datetime
    closed: bool
    #: the instant a period as of now ends at (the wall clock of a repeated hour names two)
    until: dt.datetime | None = None
    #: the instant it starts at, when the wall clock does not say (an hour bucket in a repeated hour)
    since: dt.datetime | None = None


TO_DATE = {"today": "day", "week_to_date": "week", "month_to_date": "month", "quarter_to_date": "quarter"}
TO_DATE["year_to_date"] = "year"
COMPLETE = {"yesterday": "day", "last_week": "week", "last_month": "month", "last_quarter": "quarter"}
COMPLETE["last_year"] = "year"
TRAILING_UNITS = {"d": "day", "w": "week", "m": "month"}


def window_unit(window: str) -> tuple[str, int, str]:
    """(kind, units, unit): ('to_date', 1, 'month'), ('complete', 1, 'week'), ('trailing', 30, 'day')."""
    if window in TO_DATE:
        return "to_date", 1, TO_DATE[window]
    if window in COMPLETE:
        return "complete", 1, COMPLETE[window]
    assert window.startswith("trailing_"), window
    spec = window.removeprefix("trailing_")
    return "trailing", int(spec[:-1]), TRAILING_UNITS[spec[-1]]


def periods(cal: Calendar, window: str, now: dt.datetime) -> tuple[Period, Period]:
    """The window's period as of ``now`` (an instant) and the previous period it is compared with."""
    wall = cal.local(now)
    kind, n, unit = window_unit(window)
    here = cal.start(unit, wall)
    if kind == "complete":
        start = cal.add(unit, here, -1)
        return Period(start, here, False), Period(cal.add(unit, start, -1), start, False)
    start = here if kind == "to_date" else cal.add(unit, here, -(n - 1))
    current = Period(start, wall, True, now)
    prev_start = cal.add(unit, start, -n)
    prev_end = prev_start + (wall - start)
    if prev_end >= start:
        return current, Period(prev_start, start, False)
    return current, Period(prev_start, prev_end, True)


def shifted(cal: Calendar, window: str, now: dt.datetime, back: int) -> Period:
    """The window's period ``back`` periods before the one as of ``now`` (0: that one), a to-date or
    trailing one cut at the same wall-clock elapsed time and clipped to its own end."""
    wall = cal.local(now)
    kind, n, unit = window_unit(window)
    here = cal.start(unit, wall)
    if kind == "complete":
        start = cal.add(unit, here, -1 - back)
        return Period(start, cal.add(unit, start, 1), False)
    start = here if kind == "to_date" else cal.add(unit, here, -(n - 1))
    if back == 0:
        return Period(start, wall, True, now)
    begin = cal.add(unit, start, -n * back)
    end = begin + (wall - start)
    stop = cal.add(unit, begin, n)
    return Period(begin, stop, False) if end >= stop else Period(begin, end, True)


def last_year(cal: Calendar, window: str, period: Period) -> Period:
    kind, n, unit = window_unit(window)
    if unit == "week":  # the week with the same number a year earlier (same length); week 53 -> the year's last
        year, week = week_number(cal, period.start)
        weeks = week_number(cal, first_week(cal, year) - dt.timedelta(days=1))[1]  # the weeks of year - 1
        start = first_week(cal, year - 1) + dt.timedelta(days=7 * (min(week, weeks) - 1))
        return Period(start, start + (period.end - period.start), period.closed)
    return Period(add_months(period.start, -12), add_months(period.end, -12), period.closed)


def end_instant(cal: Calendar, period: Period) -> dt.datetime:
    return period.until if period.until is not None else cal.instant(period.end)


def first_week(cal: Calendar, year: int) -> dt.datetime:
    """Week 1 of a year: the week (from ``week_start``) holding January 4, so that at least four of its days
    are in the year (ISO 8601 for a Monday start)."""
    return cal.start("week", dt.datetime(year, 1, 4))


def week_number(cal: Calendar, wall: dt.datetime) -> tuple[int, int]:
    """(year, week) of the week holding ``wall``: the year of its fourth day."""
    start = cal.start("week", wall)
    year = (start + dt.timedelta(days=3)).year
    return year, (start - first_week(cal, year)).days // 7 + 1


def in_period(cal: Calendar, period: Period, at: dt.datetime) -> bool:
    start = period.since if period.since is not None else cal.instant(period.start)
    end = end_instant(cal, period)
    return start <= at <= end if period.closed else start <= at < end


def before_end(cal: Calendar, period: Period, at: dt.datetime) -> bool:
    end = end_instant(cal, period)
    return at <= end if period.closed else at < end


# -- aggregations with the gap rules -------------------------------------------------------------
def aggregate(cal: Calendar, rows: list[tuple[dt.datetime, float]], agg: str, period: Period) -> float | None:
    inside = [v for at, v in rows if in_period(cal, period, at)]
    upto = [v for at, v in rows if before_end(cal, period, at)]
    if agg in ("sum", "count"):
        if not upto:
            return None
        return float(sum(inside)) if agg == "sum" else float(len(inside))
    if agg == "last":
        return upto[-1] if upto else None
    if agg == "gauge_mean":  # the mean of a gauge: its readings' mean, else the carried value
        if inside:
            return sum(inside) / len(inside)
        return upto[-1] if upto else None
    if not inside:
        return None
    if agg == "mean":
        return sum(inside) / len(inside)
    if agg == "min":
        return min(inside)
    if agg == "max":
        return max(inside)
    if agg.startswith("p"):
        return quantile(sorted(inside), float(agg[1:]) / 100)
    raise ValueError(agg)


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, polars' 'linear')."""
    pos = (len(values) - 1) * q
    low = math.floor(pos)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (pos - low)


# -- targets ---------------------------------------------------------------------------------------
def score(kind: str, value: float, target: dict[str, float]) -> float:
    def clip(x: float) -> float:
        return max(0.0, min(1.0, x))

    if kind == "reach":
        base = target.get("baseline", 0.0)
        return clip((value - base) / (target["value"] - base))
    if kind == "above":
        if value >= target["value"]:
            return 1.0
        base = target.get("baseline", 0.0)
        return clip((value - base) / (target["value"] - base))
    if kind == "below":
        limit = target["value"]
        if value <= limit:
            return 1.0
        base = target.get("baseline", 2 * limit if limit else limit + 1)
        return clip((base - value) / (base - limit))
    low, high = target["low"], target["high"]
    if low <= value <= high:
        return 1.0
    width = high - low
    off = low - value if value < low else value - high
    return clip(1 - off / width)


def status(score_: float | None, on_track: float = 0.7, at_risk: float = 0.4, undefined: bool = False) -> str:
    if score_ is None:
        return "undefined" if undefined else "no_data"
    return "on_track" if score_ >= on_track else "at_risk" if score_ >= at_risk else "off_track"


def elapsed_fraction(period: Period, unit_end: dt.datetime) -> float:
    """Wall-clock share of the period [start, unit_end) that has passed by period.end."""
    return (period.end - period.start) / (unit_end - period.start)


def close(a: float | None, b: float | None, tol: float = 1e-6) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


# -- KPIs, by hand -------------------------------------------------------------------------------------
GAUGE_MEAN = {"last": "gauge_mean"}  # the mean formula over a gauge is its carried value when it has no reading


@dataclass
class Book:
    """The history by metric, each metric's aggregation, and the calendar: what a KPI needs."""

    cal: Calendar
    rows: dict[str, list[tuple[dt.datetime, float]]]
    aggs: dict[str, str]

    def metric(self, name: str, period: Period, agg: str | None = None) -> float | None:
        return aggregate(self.cal, self.rows.get(name, []), agg or self.aggs[name], period)

    def first(self, name: str) -> dt.datetime | None:
        got = self.rows.get(name)
        return got[0][0] if got else None


def safe_div(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def kpi_value(book: Book, spec: dict, period: Period, previous: Period | None = None) -> float | None:
    """One built-in formula over one period, by the rules of docs/kpis.md."""
    f = spec["formula"]
    m = book.metric
    if f == "sum":
        vals = [m(x, period) for x in spec["metrics"]]
        return None if all(v is None for v in vals) else sum(v or 0.0 for v in vals)
    if f == "difference":
        first, *rest = [m(x, period) for x in spec["metrics"]]
        return None if first is None else first - sum(v or 0.0 for v in rest)
    if f == "mean":
        names = spec["metrics"]
        if len(names) == 1:
            return m(names[0], period, GAUGE_MEAN.get(book.aggs[names[0]], "mean"))
        vals = [v for v in (m(x, period) for x in names) if v is not None]
        return sum(vals) / len(vals) if vals else None
    if f == "ratio":
        value = safe_div(m(spec["numerator"], period), m(spec["denominator"], period))
        return None if value is None else value * (100 if spec.get("percent") else 1)
    if f == "weighted_sum":
        vals = {x: m(x, period) for x in spec["weights"]}
        if all(v is None for v in vals.values()):
            return None
        return sum(w * (vals[x] or 0.0) for x, w in spec["weights"].items())
    if f == "weighted_mean":
        have = {x: v for x, v in ((x, m(x, period)) for x in spec["weights"]) if v is not None}
        if not have:
            return None
        return sum(spec["weights"][x] * v for x, v in have.items()) / sum(spec["weights"][x] for x in have)
    if f == "cumulative":
        return m(spec["of"], period)
    if f == "funnel":
        value = safe_div(m(spec["steps"][-1], period), m(spec["steps"][0], period))
        return None if value is None else value * (100 if spec.get("percent") else 1)
    if f == "percentile":
        return m(spec["of"], period, f"p{spec.get('p', 90)}")
    if f == "growth":
        assert previous is not None
        cur, prev = m(spec["of"], period), m(spec["of"], previous)
        if cur is None or prev is None:
            return None
        if spec.get("mode") == "absolute":
            return cur - prev
        return None if prev == 0 else (cur - prev) / abs(prev) * 100
    if f == "expression":
        return spec["python"]({x: m(x, period) for x in spec["names"]})
    raise ValueError(f)


def kpi_undefined(book: Book, spec: dict, period: Period, previous: Period | None = None) -> bool:
    """docs/kpis.md: the KPI is *undefined* (not *no data*) when its formula gives no number while every input
    has data over the period: a ratio or funnel ÷ 0, a growth from 0, an expression dividing by 0."""
    if spec["formula"] in ("cumulative", "percentile") or (spec["formula"] == "mean" and len(spec["metrics"]) == 1):
        return False  # the value is the input itself: none only without data
    if kpi_value(book, spec, period, previous) is not None:
        return False
    if spec["formula"] == "growth":
        assert previous is not None
        return book.metric(spec["of"], period) is not None and book.metric(spec["of"], previous) is not None
    return all(book.metric(x, period) is not None for x in kpi_inputs(spec))


def kpi_inputs(spec: dict) -> list[str]:
    for key in ("metrics", "steps", "names"):
        if key in spec:
            return list(spec[key])
    if "weights" in spec:
        return list(spec["weights"])
    if "numerator" in spec:
        return [spec["numerator"], spec["denominator"]]
    return [spec["of"]]


# -- the access log, by a regular expression (what grep and awk would do) ------------------------------
COMBINED = r'^(\S+) \S+ \S+ \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"$'


def log_lines(path: Path, max_line_length: int = 65536) -> tuple[list[dict], int]:
    """The combined-format lines of a log as dicts (client, at, method, path, status, agent), and how many
    lines were skipped (too long, not the format, a timestamp that is no date)."""
    import re

    pattern = re.compile(COMBINED)
    out, skipped = [], 0
    for raw in path.read_bytes().split(b"\n")[:-1]:
        match = pattern.match(raw.decode("utf-8", "replace")) if len(raw) <= max_line_length else None
        if match is None:
            skipped += 1
            continue
        try:
            at = dt.datetime.strptime(match[2], "%d/%b/%Y:%H:%M:%S %z").astimezone(UTC)
        except ValueError:
            skipped += 1
            continue
        target = match[4]
        out.append(
            {
                "client": match[1],
                "at": at,
                "method": match[3],
                "path": target.split("?", 1)[0],
                "status": int(match[6]),
                "agent": match[9],
            }
        )
    return out, skipped


def log_buckets(
    cal: Calendar, lines: list[dict], bucket: str, keep, distinct: bool = False
) -> dict[dt.datetime, float]:
    """Per local hour or day bucket (as the instant it starts), the lines ``keep`` accepts (or their distinct
    clients); a bucket with traffic but no match is 0, as the source stores it."""
    counts: dict[dt.datetime, set | float] = {}
    for line in lines:
        wall = cal.local(line["at"])
        if bucket == "hour":
            start = line["at"] - dt.timedelta(minutes=wall.minute, seconds=wall.second)
        else:
            start = cal.instant(dt.datetime(wall.year, wall.month, wall.day))
        if distinct:
            seen = counts.setdefault(start, set())
            if keep(line):
                seen.add(line["client"])  # type: ignore[union-attr]
        else:
            counts[start] = counts.get(start, 0.0) + bool(keep(line))  # type: ignore[operator]
    return {k: float(len(v)) if isinstance(v, set) else v for k, v in counts.items()}
