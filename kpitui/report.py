"""``kpitui report``: a snapshot as a text table, JSON or CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from typing import AbstractSet, Any

from .formatting import (
    PACE_MARK,
    STATUS_SYMBOL,
    format_age,
    format_change,
    format_progress,
    format_projection,
    format_score,
    format_target,
    format_value,
    json_number,
    sparkline,
    status_words,
    target_baseline,
)
from .model import NO_NUMBER, KpiResult, Snapshot, Status, Target
from .polled import polled_at
from .textfit import Fit, fit_table, wrap


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _num(value: float | None) -> float | None:
    return json_number(value)


#: The version of every JSON document kpitui prints (report, series, plugins): see docs/json.md.
#: It changes only when a field is removed or changes meaning; new fields may appear within a version.
JSON_SCHEMA = 1


def _target_dict(target: Target | None) -> dict[str, Any] | None:
    if target is None:
        return None
    fields = {
        "kind": target.kind,
        "value": _num(target.value),
        "baseline": _num(target.baseline),
        "low": _num(target.low),
        "high": _num(target.high),
        "due": target.due.isoformat() if target.due else None,
    }
    return {k: v for k, v in fields.items() if v is not None}


def kpi_dict(r: KpiResult, explanations: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    extra = {"explanation": explanations.get(r.kpi.id)} if explanations is not None else {}
    return {
        "id": r.kpi.id,
        "name": r.kpi.name,
        "unit": r.kpi.unit,
        "window": r.kpi.window,
        "period": {"start": _iso(r.period.start), "end": _iso(r.period.end), "label": r.period.label},
        "previous_period": {
            "start": _iso(r.previous_period.start),
            "end": _iso(r.previous_period.end),
            "label": r.previous_period.label,
        },
        "value": _num(r.value),
        "previous": _num(r.previous),
        "last_year": _num(r.last_year),
        "change": _num(r.change),
        "change_pct": _num(r.change_pct),
        "partial_history": r.partial_history,
        "partial_last_year": r.partial_last_year,
        "target": _target_dict(r.kpi.target),  # as configured, for the KPI's own window
        "target_basis": r.target_basis,  # own | prorated | kept (see docs/kpis.md)
        "applied_target": _target_dict(r.target),  # the target for the period shown
        "progress": _num(r.progress),
        "projection": _num(r.projection),
        "on_pace": r.on_pace,
        "projected_to": _iso(r.projected_to),
        "score": _num(r.score),
        "status": r.status.value,
        "undefined": r.undefined,  # why the value is none while the inputs have data (status "undefined")
        "freshness": _iso(r.freshness),
        "parts": {k: _num(v) for k, v in r.parts.items()},
        "series": [[_iso(at), _num(v)] for at, v in r.series],
        "error": r.error,
        **extra,
    }


def to_json(
    snapshot: Snapshot,
    explanations: dict[str, dict[str, Any]] | None = None,
    annotations: list[dict[str, Any]] | None = None,
    manual: AbstractSet[str] = frozenset(),
) -> str:
    """The report as JSON (docs/json.md); ``explanations``: each KPI's ``explanation`` (``report --explain``);
    ``annotations``: the annotations over the span shown (``kpitui.commands.annotations.report_annotations``);
    ``manual``: the ids of the metrics recorded by hand (their ``polled_at`` is their newest reading's time)."""
    data = {
        "schema": JSON_SCHEMA,
        "at": _iso(snapshot.at),
        "objectives": [
            {
                "id": o.objective.id,
                "title": o.objective.title,
                "description": o.objective.description,
                "score": _num(o.score),
                "status": o.status.value,
                "kpis": [kpi_dict(r, explanations) for r in o.kpis],
            }
            for o in snapshot.objectives
        ],
        "kpis": [kpi_dict(r, explanations) for r in snapshot.kpis.values()],
        "metrics": [
            {
                "id": m.metric.id,
                "name": m.metric.name,
                "unit": m.metric.unit,
                "key": m.metric.is_key,
                "trigger": m.metric.trigger.text if m.metric.trigger else None,
                "source": m.metric.source,
                "latest": _num(m.latest),
                "latest_at": _iso(m.latest_at),
                "polled_at": _iso(polled_at(m, m.metric.id in manual)),
                "error": m.health.error if m.health else None,
            }
            for m in snapshot.metrics.values()
        ],
    }
    if annotations is not None:
        data["annotations"] = annotations
    return json.dumps(data, indent=2, ensure_ascii=False)


CSV_COLUMNS = [
    "objective",
    "kpi",
    "name",
    "unit",
    "period_start",
    "period_end",
    "value",
    "previous",
    "change",
    "change_pct",
    "target",
    "score",
    "status",
    "freshness",
    "projection",
    "on_pace",
    "target_basis",
    "progress",
    "partial_history",
    "target_baseline",
    "undefined",  # why the value is empty while the inputs have data (status undefined): "÷ 0: ad_views is 0"
    "target_kind",
    "target_low",
    "target_high",
]


def to_csv(snapshot: Snapshot) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    owners = {r.kpi.id: o.objective.id for o in snapshot.objectives for r in o.kpis}
    for r in snapshot.kpis.values():
        writer.writerow(
            [
                _text(owners.get(r.kpi.id, "")),
                _text(r.kpi.id),
                _text(r.kpi.name),
                _text(r.kpi.unit),
                _iso(r.period.start),
                _iso(r.period.end),
                _blank(r.value),
                _blank(r.previous),
                _blank(r.change),
                _blank(r.change_pct),
                _blank(r.target_value),
                _blank(r.score),
                r.status.value,
                _iso(r.freshness) or "",
                _blank(r.projection),
                "" if r.on_pace is None else str(r.on_pace).lower(),
                r.target_basis or "",
                _blank(r.progress),
                str(r.partial_history).lower(),
                _blank(target_baseline(r.target) if r.target is not None else None),
                _text(r.undefined or ""),
                r.target.kind if r.target is not None else "",  # the score's rule (docs/kpis.md)
                _blank(r.target.low if r.target is not None else None),  # a within target's range
                _blank(r.target.high if r.target is not None else None),
            ]
        )
    return out.getvalue()


def _text(value: str) -> str:
    """A CSV cell of the config's text (an id, a name): one that a spreadsheet would run as a formula
    (``=HYPERLINK(...)``, ``+``, ``-``, ``@``, a tab or carriage return first) is written with a ``'`` before it,
    as OWASP advises: the sheet shows the text, never its result."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _blank(value: float | None) -> str:
    """A CSV cell: the number as the JSON has it (:func:`~kpitui.formatting.json_number`), written out in full
    (1234567.89, 0.000012, 0.00000474002, 52), never cut to 6 significant digits (27036.02 was 27036, a million
    1.23457e+06) nor in an exponent."""
    if value is None:
        return ""
    rounded = _num(value) or 0.0  # -0.0 -> 0
    text = format(Decimal(repr(rounded)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _pace(r: KpiResult, currency: str) -> str:
    """``28 ✓``: the value projected to the period's end (or the goal's due date), ✓ when it meets the target."""
    if r.projection is None:
        return "—"
    return format_projection(r, currency) + PACE_MARK[r.on_pace]


#: the legend's line for the Newest reading column (the TUI's Polled is another time: kpitui.polled)
NEWEST_NOTE = (
    "Newest reading: how long ago the newest reading of the KPI's metrics (or the metric's) was taken (a reading "
    "stands for its bucket: an hour's count is stamped at the hour's start); a complete period's value (yesterday, "
    "last month) counts none after the period's end; not when its source was last polled."
)
#: what the Trend column's bars are: the sparkline's buckets (kpitui.engine.planning: SPARK_POINTS of the KPI's
#: grain, else periods.default_grain of its window)
TREND_BUCKETS = (
    "Trend: the KPI per bucket, the last 14, oldest first: buckets of its grain when it sets one, else an hour over "
    "a one-day window, a day up to a month, a week up to a quarter, a month up to two years, else a quarter; a gap: "
    "no number"
)
#: What the KPI table's columns mean, one paragraph per column (README "Reading a report" says the same at length);
#: a report shows the paragraphs of the columns it shows.
LEGEND = {
    "Target": (
        'Target: for the period shown; ≥ stay at or above, ≤ stay at or under; "from B": the baseline Score (and '
        "Progress, but for a ≤ limit) counts from; a target marked (prorated) is an additive KPI's, scaled from its "
        "own window to this one."
    ),
    "Progress": (
        "Progress: value ÷ target now, counted from the target's baseline when it has one: (value − baseline) ÷ "
        "(target − baseline); for a ≤ limit: share of the limit used."
    ),
    "On pace for": (
        "On pace for: the value projected to the period's end (or due date) at the current rate, ✓ = meets the target."
    ),
    "Score": (
        "Score 0–100%: toward the target, on the projection when there is one; it sets the status (on track from 70%, "
        "at risk from 40%, unless the config sets other thresholds)."
    ),
    "vs previous": (
        "vs previous: against the period before, cut at the same elapsed time (partial history: that period starts "
        "before the first reading)."
    ),
    "Trend": TREND_BUCKETS + ".",
    "Newest reading": NEWEST_NOTE,
}
#: the legend's Trend line when a bar is an annotation's mark
TREND_NOTE = TREND_BUCKETS + "; ▲ in it marks one holding an annotation (kpitui annotations list)."
#: the legend's line when a KPI is undefined, followed by each one's reason
UNDEFINED_NOTE = (
    "⊘ undefined: the inputs have data over the period but the formula gives no number (÷ 0, or an overflow"
    " beyond the largest number), not missing data"
)
#: in the Trend column: this bucket holds an annotation (the TUI's and the detail chart's marker)
ANNOTATED = "▲"


def _trend(r: KpiResult, marked: frozenset[int]) -> str:
    """The KPI's sparkline, ▲ instead of the bar of each bucket holding an annotation about it."""
    bars = sparkline([v for _, v in r.series])
    return "".join(ANNOTATED if i in marked else bar for i, bar in enumerate(bars))


#: How each column gives way in a narrow terminal (kpitui.textfit): ``drop`` higher goes sooner, as the
#: TUI's panes drop theirs; ``shrink``: shortened with … down to that width. A column not listed stays.
FITS = {
    "KPI": Fit(shrink=14, soft=26),
    "Period": Fit(drop=1, shrink=10),
    "Value": Fit(right=True),
    "Target": Fit(drop=2, right=True),
    "Progress": Fit(drop=5, right=True),
    "vs previous": Fit(drop=4),
    "On pace for": Fit(drop=6, right=True),
    "Score": Fit(drop=7, right=True),
    "Status": Fit(shrink=12, soft=24),
    "Trend": Fit(drop=9),
    "Newest reading": Fit(drop=8),
    "Metric": Fit(shrink=14, soft=28),
    "Newest": Fit(right=True),
    "Polled": Fit(drop=3),
    "Source": Fit(drop=2, shrink=8),
    "Trigger": Fit(drop=1, shrink=12, soft=36),
    "Previous": Fit(right=True),
}


#: The metrics table's own order: a newest value keeps its age (Newest reading) longest, then the Trigger.
METRIC_FITS = {
    **FITS,
    "Newest reading": Fit(drop=1),
    "Trigger": Fit(drop=2, shrink=12, soft=36),
    "Polled": Fit(drop=3),
    "Source": Fit(drop=4, shrink=8),
}


def _table(
    headers: list[str],
    rows: list[list[str]],
    width: int | None = None,
    left_out: set[str] | None = None,
    fits: dict[str, Fit] = FITS,
) -> list[str]:
    lines, dropped = fit_table(headers, rows, [fits.get(h, Fit()) for h in headers], width)
    if left_out is not None:
        left_out.update(dropped)
    return lines


def to_table(
    snapshot: Snapshot,
    currency: str = "$",
    title: str = "",
    width: int | None = None,
    manual: AbstractSet[str] | None = None,
) -> str:
    """The report as text; ``width``: fit every line in that many columns (None: no limit). ``manual``: the ids of
    the metrics recorded by hand, to show each metric's Polled (:func:`kpitui.polled.polled_at`); None: no Polled
    column (a report ``--at`` another time, when the last poll says nothing of the numbers shown)."""
    now = snapshot.at
    kpis_left_out: set[str] = set()  # the columns each table left out to fit the width
    lines = [*wrap(title or f"KPIs as of {now:%Y-%m-%d %H:%M %Z}", width, "  "), ""]
    listed: set[str] = set()
    groups: list[tuple[str, float | None, Status | None, tuple[KpiResult, ...]]] = [
        (o.objective.title, o.score, o.status, o.kpis) for o in snapshot.objectives
    ]
    others = tuple(
        r for k, r in snapshot.kpis.items() if k not in {r.kpi.id for o in snapshot.objectives for r in o.kpis}
    )
    if others:
        groups.append(("Other KPIs", None, None, others))
    sections: list[tuple[list[str], list[list[str]]]] = []  # each objective's heading and rows: one table fit for all
    for title_, score, status, kpis in groups:
        head = title_
        if status is not None:
            head += f"  — score {format_score(score)}, {STATUS_SYMBOL[status]} {status.label}"
        rows: list[list[str]] = []
        sections.append((wrap(head, width, "  "), rows))
        for r in kpis:
            listed.add(r.kpi.id)
            k, applied = r.kpi, r.target
            target = "—"
            if applied is not None:
                target = format_target(applied, k.unit, k.decimals, currency)
                if r.target_basis == "prorated":
                    target += " (prorated)"
            rows.append(
                [
                    k.name,
                    r.period.label,
                    format_value(r.value, k.unit, k.decimals, currency),
                    target,
                    format_progress(r.progress),
                    "partial history"
                    if r.partial_history
                    else format_change(r.change, r.change_pct, k.unit, k.decimals, currency),
                    _pace(r, currency),
                    format_score(r.score),
                    status_words(r),
                    _trend(r, snapshot.annotated.get(r.kpi.id, frozenset())),
                    format_age(r.freshness, now),
                ]
            )
    table = _table(
        [
            "KPI",
            "Period",
            "Value",
            "Target",
            "Progress",
            "vs previous",
            "On pace for",
            "Score",
            "Status",
            "Trend",
            "Newest reading",
        ],
        [r for _, rows in sections for r in rows],
        width,
        kpis_left_out,
    )
    header, body = table[0], iter(table[1:])
    for heading, rows in sections:
        lines += [*heading, header, *(next(body) for _ in rows), ""]
    metric_rows = []
    for m in snapshot.metrics.values():
        state = f"error: {m.health.error}" if m.health and m.health.error else ""
        polled = [] if manual is None else [format_age(polled_at(m, m.metric.id in manual), now)]
        metric_rows.append(
            [
                ("★ " if m.metric.is_key else "  ") + m.metric.name,
                format_value(m.latest, m.metric.unit, m.metric.decimals, currency),
                format_age(m.latest_at, now),
                *polled,
                m.metric.source or "",
                (m.metric.trigger.text if m.metric.trigger else "") or state,
            ]
        )
    metrics_heading = "Metrics (★ key metric" + (
        ")" if manual is None else "; Polled: the source's last successful poll, or when last recorded by hand)"
    )
    headers = ["Metric", "Newest", "Newest reading", *([] if manual is None else ["Polled"]), "Source", "Trigger"]
    metrics_left_out: set[str] = set()
    metrics_table = _table(headers, metric_rows, width, metrics_left_out, METRIC_FITS)
    shown = [  # the paragraphs of the columns shown (Newest reading: in either table)
        text
        for column, text in LEGEND.items()
        if column not in kpis_left_out or (column in headers and column not in metrics_left_out)
    ]
    if "Trend" not in kpis_left_out and any(snapshot.annotated.get(k) for k in listed):
        shown[shown.index(LEGEND["Trend"])] = TREND_NOTE
    undefined = [r for r in snapshot.kpis.values() if r.status is Status.UNDEFINED]
    if undefined:  # each one's reason in full: the Status column may cut it
        reasons = "; ".join(f"{r.kpi.name}: {r.undefined or NO_NUMBER}" for r in undefined)
        shown.append(f"{UNDEFINED_NOTE}: {reasons}.")
    for paragraph in shown:  # one per column, each wrapped on its own (to a pipe: a line each)
        lines += wrap(paragraph, width, "  ")
    lines += ["", *wrap(metrics_heading, width), *metrics_table]
    if kpis_left_out or metrics_left_out:
        tables = [("KPIs", kpis_left_out), ("metrics", metrics_left_out)]
        said = "; ".join(f"{name}: {', '.join(h for h in FITS if h in out)}" for name, out in tables if out)
        lines += ["", *wrap(f"Left out to fit {width} columns: {said} (--width 0 shows every column).", width)]
    return "\n".join(lines).rstrip() + "\n"
