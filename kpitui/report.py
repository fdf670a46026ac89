"""``kpitui report``: a snapshot as a text table, JSON or CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from typing import Any

from .formatting import STATUS_SYMBOL, format_age, format_change, format_score, format_value, sparkline
from .model import KpiResult, Snapshot, Target


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _num(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


#: The version of every JSON document kpitui prints (report, series, plugins): see docs/json.md.
#: It changes only when a field is removed or changes meaning; new fields may appear within a version.
JSON_SCHEMA = 1


def _target_dict(target: Target | None) -> dict[str, Any] | None:
    if target is None:
        return None
    fields = {"kind": target.kind, "value": _num(target.value), "baseline": _num(target.baseline), "low": _num(target.low), "high": _num(target.high), "due": target.due.isoformat() if target.due else None}
    return {k: v for k, v in fields.items() if v is not None}


def kpi_dict(r: KpiResult) -> dict[str, Any]:
    return {
        "id": r.kpi.id,
        "name": r.kpi.name,
        "unit": r.kpi.unit,
        "window": r.kpi.window,
        "period": {"start": _iso(r.period.start), "end": _iso(r.period.end), "label": r.period.label},
        "value": _num(r.value),
        "previous": _num(r.previous),
        "last_year": _num(r.last_year),
        "change": _num(r.change),
        "change_pct": _num(r.change_pct),
        "partial_history": r.partial_history,
        "target": _target_dict(r.kpi.target),  # as configured, for the KPI's own window
        "target_basis": r.target_basis,  # own | prorated | kept (see docs/kpis.md)
        "applied_target": _target_dict(r.target),  # the target for the period shown
        "progress": _num(r.progress),
        "projection": _num(r.projection),
        "on_pace": r.on_pace,
        "projected_to": _iso(r.projected_to),
        "score": _num(r.score),
        "status": r.status.value,
        "freshness": _iso(r.freshness),
        "parts": {k: _num(v) for k, v in r.parts.items()},
        "series": [[_iso(at), _num(v)] for at, v in r.series],
        "error": r.error,
    }


def to_json(snapshot: Snapshot) -> str:
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
                "kpis": [kpi_dict(r) for r in o.kpis],
            }
            for o in snapshot.objectives
        ],
        "kpis": [kpi_dict(r) for r in snapshot.kpis.values()],
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
                "error": m.health.error if m.health else None,
            }
            for m in snapshot.metrics.values()
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False)


CSV_COLUMNS = [
    "objective", "kpi", "name", "unit", "period_start", "period_end", "value", "previous", "change", "change_pct",
    "target", "score", "status", "freshness", "projection", "on_pace", "target_basis", "progress", "partial_history",
]


def to_csv(snapshot: Snapshot) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    owners = {r.kpi.id: o.objective.id for o in snapshot.objectives for r in o.kpis}
    for r in snapshot.kpis.values():
        writer.writerow(
            [
                owners.get(r.kpi.id, ""), r.kpi.id, r.kpi.name, r.kpi.unit, _iso(r.period.start), _iso(r.period.end),
                _blank(r.value), _blank(r.previous), _blank(r.change), _blank(r.change_pct),
                _blank(r.target_value), _blank(r.score), r.status.value, _iso(r.freshness) or "",
                _blank(r.projection), "" if r.on_pace is None else str(r.on_pace).lower(),
                r.target_basis or "", _blank(r.progress), str(r.partial_history).lower(),
            ]
        )
    return out.getvalue()


def _blank(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _pace(r: KpiResult, currency: str) -> str:
    """``28 ✓``: the value projected to the period's end (or the goal's due date), and whether it meets the target."""
    if r.projection is None:
        return "—"
    mark = {True: " ✓", False: " ✗", None: ""}[r.on_pace]
    return format_value(r.projection, r.kpi.unit, r.kpi.decimals, currency) + mark


def format_progress(progress: float | None) -> str:
    """``23%``: how far the value (as it is) has come toward the target."""
    return "—" if progress is None else f"{math.floor(progress * 100 + 1e-9):.0f}%"


#: What the KPI table's columns mean (README "Reading a report" says the same at length).
LEGEND = [
    "Target: for the period shown ((prorated): an additive KPI's target scaled from its own window to this one).",
    "Progress: value ÷ target now (for a ≤ limit: share of the limit used). On pace for: the value projected to",
    "the period's end (or due date) at the current rate, ✓/✗ = meets the target. Score 0–1: toward the target,",
    "on the projection when there is one; it sets the status. vs previous: against the period before, cut at",
    "the same elapsed time (partial history: that period starts before the first reading).",
]


def _table(headers: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    right = {i for i, h in enumerate(headers) if h in ("Value", "Target", "Progress", "On pace for", "Score", "Latest", "Previous")}

    def line(cells: list[str]) -> str:
        return indent + "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(headers), *(line(r) for r in rows)]


def to_table(snapshot: Snapshot, currency: str = "$", title: str = "") -> str:
    now = snapshot.at
    lines = [title or f"KPIs as of {now:%Y-%m-%d %H:%M %Z}", ""]
    listed: set[str] = set()
    groups = [(o.objective.title, o.score, o.status, o.kpis) for o in snapshot.objectives]
    others = tuple(r for k, r in snapshot.kpis.items() if k not in {r.kpi.id for o in snapshot.objectives for r in o.kpis})
    if others:
        groups.append(("Other KPIs", None, None, others))
    for title_, score, status, kpis in groups:
        head = title_
        if status is not None:
            head += f"  — score {format_score(score)}, {STATUS_SYMBOL[status]} {status.label}"
        lines.append(head)
        rows = []
        for r in kpis:
            listed.add(r.kpi.id)
            k, applied = r.kpi, r.target
            target = "—"
            if applied is not None:
                target = (
                    f"{format_value(applied.low, k.unit, k.decimals, currency)}–{format_value(applied.high, k.unit, k.decimals, currency)}"
                    if applied.kind == "within"
                    else ("≤ " if applied.kind == "below" else "") + format_value(applied.value, k.unit, k.decimals, currency)
                )
                if r.target_basis == "prorated":
                    target += " (prorated)"
            rows.append(
                [
                    k.name,
                    r.period.label,
                    format_value(r.value, k.unit, k.decimals, currency),
                    target,
                    format_progress(r.progress),
                    "partial history" if r.partial_history else format_change(r.change, r.change_pct, k.unit, k.decimals, currency),
                    _pace(r, currency),
                    format_score(r.score),
                    f"{STATUS_SYMBOL[r.status]} {r.status.label}" + (f" ({r.error})" if r.error else ""),
                    sparkline([v for _, v in r.series]),
                    format_age(r.freshness, now),
                ]
            )
        lines += _table(["KPI", "Period", "Value", "Target", "Progress", "vs previous", "On pace for", "Score", "Status", "Trend", "Updated"], rows)
        lines.append("")
    lines += [*LEGEND, ""]
    metric_rows = []
    for m in snapshot.metrics.values():
        state = f"error: {m.health.error}" if m.health and m.health.error else ""
        metric_rows.append(
            [
                ("★ " if m.metric.is_key else "  ") + m.metric.name,
                format_value(m.latest, m.metric.unit, m.metric.decimals, currency),
                format_age(m.latest_at, now),
                m.metric.source or "",
                (m.metric.trigger.text if m.metric.trigger else "") or state,
            ]
        )
    lines.append("Metrics (★ key metric)")
    lines += _table(["Metric", "Latest", "Updated", "Source", "Trigger"], metric_rows)
    return "\n".join(lines).rstrip() + "\n"
