"""Compare kpitui's report and series JSON with the oracle, figure by figure.

Each check returns how many figures it compared and the mismatches, so a test
can say both: a comparison that compared nothing is a failure too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .oracle import (
    UTC,
    Book,
    Period,
    close,
    elapsed_fraction,
    end_instant,
    kpi_inputs,
    kpi_undefined,
    kpi_value,
    last_year,
    periods,
    score,
    shifted,
    status,
    window_unit,
)


@dataclass
class Tally:
    compared: int = 0
    mismatches: list[tuple[Any, ...]] = field(default_factory=list)

    def check(self, *where: Any, got: Any, expected: Any) -> None:
        self.compared += 1

        def number(x: Any) -> bool:
            return x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))

        numbers = number(got) and number(expected)
        if not (close(got, expected) if numbers else got == expected):
            self.mismatches.append((*where, got, expected))


def _growth_periods(book: Book, spec: dict, now: dt.datetime, back: int) -> tuple[Period, Period]:
    return shifted(book.cal, spec["window"], now, back), shifted(book.cal, spec["window"], now, back + 1)


def compare_report(book: Book, specs: dict[str, dict], report: dict, tally: Tally) -> None:
    """Every KPI of ``report`` (``kpitui report --format json``) against the oracle."""
    cal = book.cal
    now = dt.datetime.fromisoformat(report["at"]).astimezone(UTC)

    def iso(period: Period, end: bool) -> str:
        instant = end_instant(cal, period) if end else cal.instant(period.start)
        return instant.astimezone(cal.tz).isoformat()

    assert {k["id"] for k in report["kpis"]} == set(specs)
    for k in report["kpis"]:
        kid, spec = k["id"], specs[k["id"]]
        check = tally.check
        cur, prev = periods(cal, spec["window"], now)
        kind, units, unit = window_unit(spec["window"])
        check(kid, "period.start", got=k["period"]["start"], expected=iso(cur, False))
        check(kid, "period.end", got=k["period"]["end"], expected=iso(cur, True))
        check(kid, "previous_period.start", got=k["previous_period"]["start"], expected=iso(prev, False))
        check(kid, "previous_period.end", got=k["previous_period"]["end"], expected=iso(prev, True))
        check(kid, "unit", got=k["unit"], expected=spec["unit"])
        firsts = [t for t in (book.first(x) for x in kpi_inputs(spec)) if t is not None and t <= now]
        partial = bool(firsts) and cal.instant(prev.start) < max(firsts)
        check(kid, "partial_history", got=k["partial_history"], expected=partial)
        if spec["formula"] == "growth":
            value = kpi_value(book, spec, *_growth_periods(book, spec, now, 0))
            undefined = kpi_undefined(book, spec, *_growth_periods(book, spec, now, 0))
            previous = kpi_value(book, spec, *_growth_periods(book, spec, now, 1))
            if partial:  # docs/json.md: a growth whose earlier period the history only partly covers: no value
                value, undefined = None, False
        else:
            value, previous = kpi_value(book, spec, cur), kpi_value(book, spec, prev)
            undefined = kpi_undefined(book, spec, cur)
        check(kid, "value", got=k["value"], expected=value)
        check(kid, "undefined", got=k["undefined"] is not None, expected=undefined)
        check(kid, "previous", got=k["previous"], expected=previous)
        ly = last_year(cal, spec["window"], cur)
        earlier = None
        if spec["formula"] == "growth":
            begin = cal.add(unit, ly.start, -units)
            earlier = (
                Period(begin, ly.start, False)
                if kind == "complete"
                else Period(begin, begin + (ly.end - ly.start), True)
            )
        check(kid, "last_year", got=k["last_year"], expected=kpi_value(book, spec, ly, earlier))
        partial_ly = bool(firsts) and cal.instant(ly.start) < max(firsts)
        check(kid, "partial_last_year", got=k["partial_last_year"], expected=partial_ly)
        change = None if partial or value is None or previous is None else value - previous
        check(kid, "change", got=k["change"], expected=change)
        pct = None if change is None or not previous else change / abs(previous) * 100
        check(kid, "change_pct", got=k["change_pct"], expected=pct)
        target = spec.get("target")
        if target is None:
            expected = ("undefined" if undefined else "no_data") if value is None else "no_target"
            check(kid, "status", got=k["status"], expected=expected)
            continue
        if kind == "to_date" and cur.end == cur.start:  # the exact start of the period: not yet scored
            for name in ("score", "progress", "projection"):
                check(kid, name, got=k[name], expected=None)
            check(kid, "status", got=k["status"], expected="not_yet")
            continue
        projection = None
        if spec.get("additive") and kind == "to_date" and value is not None:
            end = cal.add(unit, cur.start, 1)
            if "due" in target:  # a one-off target: projected to the end of its due day, never after it
                end = dt.datetime.fromisoformat(target["due"]) + dt.timedelta(days=1)
            if end > cur.end:
                projection = value / elapsed_fraction(cur, end)
                check(kid, "projected_to", got=k["projected_to"], expected=cal.instant(end).isoformat())
                check(kid, "on_pace", got=k["on_pace"], expected=score(target["kind"], projection, target) >= 1)
            else:
                check(kid, "projected_to", got=k["projected_to"], expected=None)
                check(kid, "on_pace", got=k["on_pace"], expected=None)
        check(kid, "projection", got=k["projection"], expected=projection)
        judged = value if projection is None else projection
        got_score = None if judged is None else score(target["kind"], judged, target)
        check(kid, "score", got=k["score"], expected=got_score)
        check(kid, "status", got=k["status"], expected=status(got_score, undefined=undefined))
        progress = None
        if value is not None and target["kind"] in ("reach", "above"):
            base = target.get("baseline", 0.0)
            progress = max(0.0, (value - base) / (target["value"] - base))
        elif value is not None and target["kind"] == "below":
            progress = value / target["value"]
        check(kid, "progress", got=k["progress"], expected=progress)


def bucket_starts(book: Book, grain: str, now: dt.datetime, points: int) -> list[tuple[dt.datetime, dt.datetime]]:
    """The ``points`` buckets of ``grain`` ending with the one holding ``now``, as instants [start, end)."""
    cal = book.cal
    if grain == "hour":  # whole-hour buckets on the wall clock: the local hour holding now, then back by real hours
        wall = cal.local(now)
        top = now - dt.timedelta(minutes=wall.minute, seconds=wall.second, microseconds=wall.microsecond)
        return [(top - dt.timedelta(hours=i), top - dt.timedelta(hours=i - 1)) for i in range(points - 1, -1, -1)]
    here = cal.start(grain, cal.local(now))
    out = []
    for i in range(points - 1, -1, -1):
        start = cal.add(grain, here, -i)
        out.append((cal.instant(start), cal.instant(cal.add(grain, start, 1))))
    return out


def compare_series(
    book: Book, specs: dict[str, dict], ident: str, grain: str, doc: dict, now: dt.datetime, tally: Tally
) -> None:
    """``kpitui series ID --format json``: bucket starts and values. A metric's series ends with the bucket
    holding ``now``, cut there; a KPI over a complete window (``last_week``) ends with its period's last
    bucket, cut at the period's end."""
    cal = book.cal
    end_open = False
    upto = now
    if ident in specs and window_unit(specs[ident]["window"])[0] == "complete":
        cur, _ = periods(cal, specs[ident]["window"], now)
        upto, end_open = cal.instant(cur.end) - dt.timedelta(microseconds=1), True
    expected = bucket_starts(book, grain, upto, len(doc["points"]))
    tally.check(ident, grain, "unit", got=doc["unit"], expected=specs[ident]["unit"] if ident in specs else doc["unit"])
    for (start, end), point in zip(expected, doc["points"]):
        tally.check(ident, grain, "start", got=dt.datetime.fromisoformat(point["start"]), expected=start)
        if end_open and end > upto:
            period = Period(cal.local(start), cal.local(end), False, upto + dt.timedelta(microseconds=1), start)
        elif end > upto:
            period = Period(cal.local(start), cal.local(upto), True, upto, start)
        else:
            period = Period(cal.local(start), cal.local(end), False, end, start)
        spec = specs.get(ident)
        if spec is not None and spec["formula"] == "cumulative":  # from the window period's start to the bucket's end
            kind, units, unit = window_unit(spec["window"])
            assert kind == "to_date", "only to-date cumulative series are worked out here"
            begin = cal.start(unit, cal.local(start))
            period = Period(begin, period.end, period.closed, period.until, cal.instant(begin))
        value = book.metric(ident, period) if spec is None else kpi_value(book, spec, period)
        tally.check(ident, grain, point["start"], got=point["value"], expected=value)


def compare_rollups(book: Book, objectives: dict[str, list[str]], report: dict, tally: Tally) -> None:
    """Each objective's score, the mean of its KPIs' scores (weight 1; KPIs without a score left out), its
    status from the default bands; each metric's latest reading and its time (the newest at or before ``at``)."""
    now = dt.datetime.fromisoformat(report["at"]).astimezone(UTC)
    scores = {k["id"]: k["score"] for k in report["kpis"]}
    statuses = {k["id"]: k["status"] for k in report["kpis"]}
    for objective in report["objectives"]:
        kids = objectives[objective["id"]]
        tally.check(objective["id"], "kpis", got=[k["id"] for k in objective["kpis"]], expected=kids)
        have = [scores[k] for k in kids if scores[k] is not None]
        expected = sum(have) / len(have) if have else None
        tally.check(objective["id"], "score", got=objective["score"], expected=expected)
        if expected is not None:
            tally.check(objective["id"], "status", got=objective["status"], expected=status(expected))
        elif any(statuses[k] == "not_yet" for k in kids):
            tally.check(objective["id"], "status", got=objective["status"], expected="not_yet")
    for metric in report["metrics"]:
        upto = [(at, v) for at, v in book.rows.get(metric["id"], []) if at <= now]
        tally.check(metric["id"], "latest", got=metric["latest"], expected=upto[-1][1] if upto else None)
        latest_at = dt.datetime.fromisoformat(metric["latest_at"]) if metric["latest_at"] else None
        tally.check(metric["id"], "latest_at", got=latest_at, expected=upto[-1][0] if upto else None)


def compare_explanations(book: Book, specs: dict[str, dict], report: dict, tally: Tally) -> None:
    """``report --explain``: the parts add up to the change; a sum's, difference's and weighted sum's parts are
    each input's change (times its sign or weight), with the input's values over both periods."""
    now = dt.datetime.fromisoformat(report["at"]).astimezone(UTC)
    for k in report["kpis"]:
        kid, spec, explanation = k["id"], specs[k["id"]], k["explanation"]
        tally.check(kid, "explanation.change", got=explanation["change"], expected=k["change"])
        if not explanation["decomposed"]:
            continue
        total = sum(part["amount"] for part in explanation["contributions"])
        tally.check(kid, "parts add up", got=round(total, 4), expected=round(k["change"], 4))
        if spec["formula"] not in ("sum", "difference", "weighted_sum"):
            continue
        cur, prev = periods(book.cal, spec["window"], now)
        names = list(spec["weights"]) if "weights" in spec else spec["metrics"]
        for i, name in enumerate(names):
            part = next(p for p in explanation["contributions"] if p["label"] == name)
            now_value, then_value = book.metric(name, cur), book.metric(name, prev)
            tally.check(kid, name, "current", got=part["current"], expected=now_value)
            tally.check(kid, name, "previous", got=part["previous"], expected=then_value)
            if now_value is None or then_value is None:
                continue
            factor = (
                spec["weights"][name] if "weights" in spec else (-1 if spec["formula"] == "difference" and i else 1)
            )
            tally.check(kid, name, "amount", got=part["amount"], expected=factor * (now_value - then_value))


def compare_series_previous(
    book: Book, specs: dict[str, dict], ident: str, grain: str, doc: dict, now: dt.datetime, tally: Tally
) -> None:
    """``series --compare previous``: each bucket against the whole ``grain`` bucket holding the moment one
    window before its start (a metric's window is a day; a to-date KPI's its unit), the running bucket
    against as much of that one as has elapsed on the wall clock (docs/kpis.md, the comparison line)."""
    cal = book.cal
    unit = "day" if ident in book.aggs else window_unit(specs[ident]["window"])[2]
    assert ident in book.aggs or window_unit(specs[ident]["window"])[0] == "to_date"
    for point in doc["points"]:
        start = dt.datetime.fromisoformat(point["start"]).astimezone(UTC)
        wall = cal.local(start)
        then = cal.add(unit, wall, -1)
        begin = cal.start(grain, then) if grain != "hour" else then.replace(minute=0)
        whole_end = cal.add(grain, begin, 1) if grain != "hour" else begin + dt.timedelta(hours=1)
        running = (cal.add(grain, wall, 1) if grain != "hour" else wall + dt.timedelta(hours=1)) > cal.local(now)
        if running:
            cut = begin + (cal.local(now) - wall)
            period = Period(begin, whole_end, False) if cut >= whole_end else Period(begin, cut, True)
        else:
            period = Period(begin, whole_end, False)
        expected = book.metric(ident, period) if ident in book.aggs else kpi_value(book, specs[ident], period)
        tally.check(ident, grain, point["start"], "compare", got=point["compare"], expected=expected)
        difference = None if point["value"] is None or expected is None else point["value"] - expected
        tally.check(ident, grain, point["start"], "difference", got=point["difference"], expected=difference)
