"""``kpitui report --format markdown|html``: the scorecard for chat and e-mail (and digests).

The HTML is one self-contained document for mail clients: tables and inline
styles only (no scripts, no external images or style sheets); each KPI's
sparkline is a row of small bars drawn with table cells.
"""

from __future__ import annotations

import datetime as dt
import html
from zoneinfo import ZoneInfo

from .formatting import (
    PACE_MARK,
    STATUS_SYMBOL,
    format_age,
    format_change,
    format_projection,
    format_score,
    format_target,
    format_value,
    sparkline,
    status_words,
)
from .model import KpiResult, Snapshot, Status

STATUS_COLOUR = {
    Status.ON_TRACK: "#1a7f37",
    Status.AT_RISK: "#9a6700",
    Status.OFF_TRACK: "#cf222e",
    Status.NO_DATA: "#6e7781",
    Status.NO_TARGET: "#6e7781",
    Status.NOT_YET: "#6e7781",
    Status.UNDEFINED: "#6e7781",
}


def _groups(snapshot: Snapshot) -> list[tuple[str, float | None, Status | None, tuple[KpiResult, ...]]]:
    groups: list[tuple[str, float | None, Status | None, tuple[KpiResult, ...]]] = [
        (o.objective.title, o.score, o.status, o.kpis) for o in snapshot.objectives
    ]
    listed = {r.kpi.id for o in snapshot.objectives for r in o.kpis}
    others = tuple(r for k, r in snapshot.kpis.items() if k not in listed)
    if others:
        groups.append(("Other KPIs", None, None, others))
    return groups


def _target(r: KpiResult, currency: str) -> str:
    """The target for the period shown (``KpiResult.target``, prorated over another window), as the report has it."""
    t, k = r.target, r.kpi
    if t is None:
        return "—"
    return format_target(t, k.unit, k.decimals, currency) + (" (prorated)" if r.target_basis == "prorated" else "")


def _row(r: KpiResult, currency: str, at: dt.datetime) -> dict[str, str]:
    """A KPI's cells; ``at``: the evaluation's time, that the newest reading's age counts to."""
    k = r.kpi
    return {
        "name": k.name,
        "period": r.period.label,
        "value": format_value(r.value, k.unit, k.decimals, currency),
        "target": _target(r, currency),
        "change": "partial history"
        if r.partial_history
        else format_change(r.change, r.change_pct, k.unit, k.decimals, currency),
        # the projection a to-date score is on (56% for 222 of 666 is 378 on pace): shown, as the report does
        "pace": "—" if r.projection is None else format_projection(r, currency) + PACE_MARK[r.on_pace],
        "score": format_score(r.score),
        "status": status_words(r),
        "trend": sparkline([v for _, v in r.series]),
        "newest": format_age(r.freshness, at),
    }


#: what the scorecard's figures are (the report's legend, short): under the tables of both renderings
NOTE = (
    "On pace for: the value projected to the period's end (or due date) at the current rate, ✓ = meets the target. "
    "Score: 0–100% toward the target, on the projection when there is one; it sets the status. "
    "Target: for the period shown; ≥ stay at or above, ≤ stay at or under; “from B”: the baseline the score "
    "counts from. vs previous: against the period before, cut at the same elapsed time. Newest reading: how long "
    "before the time above the newest reading of the KPI's metrics was taken (an hour's count is stamped at the "
    "hour's start; a complete period's value, such as last month's, counts none after its end), not when a source "
    "was last polled. Trend: the KPI per bucket, the last 14, oldest first (its grain, else a day up to a month, a "
    "week up to a quarter, a month beyond; an hour over a day)."
)


def title_of(snapshot: Snapshot, name: str, timezone: str) -> str:
    return f"{name} — KPIs as of {snapshot.at.astimezone(ZoneInfo(timezone)):%Y-%m-%d %H:%M %Z}"


#: CommonMark's backslash escapes for what could turn a name into markup: emphasis, code, links, HTML, cells, strikes
_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]|<>&~"})


def markdown_text(text: str) -> str:
    """Config text (a KPI's name, an objective's title) as one line of literal Markdown.

    A digest's Markdown goes to chat webhooks that render it: a line end in a name would end the table row or start
    a heading of its own, ``|`` a cell, ``[..](..)`` a link, ``<`` inline HTML. Line ends and other control
    characters become spaces; Markdown's punctuation is backslash-escaped, so the text reads as written.
    """
    one_line = "".join(" " if ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" else c for c in text)
    return one_line.translate(_MARKDOWN_SPECIAL)


def to_markdown(snapshot: Snapshot, currency: str = "$", title: str = "") -> str:
    lines = [f"# {markdown_text(title or 'KPIs')}", ""]
    for name, score, status, kpis in _groups(snapshot):
        head = f"## {markdown_text(name)}"
        if status is not None:
            head += f" — score {format_score(score)}, {STATUS_SYMBOL[status]} {status.label}"
        lines += [
            head,
            "",
            "| KPI | Period | Value | Target | vs previous | On pace for | Score | Status | Trend | Newest reading |",
            "|---|---|---:|---:|---:|---:|---:|---|---|---|",
        ]
        for r in kpis:
            row = _row(r, currency, snapshot.at)
            cells = [
                markdown_text(row[c])
                for c in ("name", "period", "value", "target", "change", "pace", "score", "status", "trend", "newest")
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(f"_{NOTE}_")
    return "\n".join(lines).rstrip() + "\n"


def _bars(r: KpiResult) -> str:
    values = [v for _, v in r.series]
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = min(min(known), 0.0), max(known)
    span = (high - low) or 1.0
    colour = STATUS_COLOUR[r.status]
    cells = []
    for v in values:
        height = 1 if v is None else max(1, int(round((v - low) / span * 20)))
        fill = "#d0d7de" if v is None else colour
        cells.append(
            f'<td style="vertical-align:bottom;padding:0 1px 0 0;"><div style="width:4px;height:{height}px;'
            f'background:{fill};font-size:0;line-height:0;">&nbsp;</div></td>'
        )
    return (
        '<table role="presentation" cellpadding="0" cellspacing="0" style="border-collapse:collapse;height:22px;"><tr>'
        + "".join(cells)
        + "</tr></table>"
    )


def to_html(snapshot: Snapshot, currency: str = "$", title: str = "") -> str:
    e = html.escape
    cell = "padding:6px 10px;border-bottom:1px solid #d8dee4;font-size:14px;"
    head = "padding:6px 10px;border-bottom:2px solid #8c959f;font-size:12px;color:#57606a;text-align:left;"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">',
        f"<title>{e(title or 'KPIs')}</title></head>",
        '<body style="margin:0;padding:16px;background:#ffffff;color:#1f2328;font-family:Arial,Helvetica,sans-serif;">',
        f'<h1 style="font-size:20px;margin:0 0 12px 0;">{e(title or "KPIs")}</h1>',
    ]
    for name, score, status, kpis in _groups(snapshot):
        badge = ""
        if status is not None:
            badge = (
                f' <span style="font-size:13px;color:{STATUS_COLOUR[status]};">score {e(format_score(score))}, '
                f"{e(STATUS_SYMBOL[status])} {e(status.label)}</span>"
            )
        parts.append(f'<h2 style="font-size:16px;margin:18px 0 6px 0;">{e(name)}{badge}</h2>')
        parts.append(
            '<table role="presentation" cellpadding="0" cellspacing="0" '
            'style="border-collapse:collapse;width:100%;max-width:900px;">'
        )
        numeric = ("Value", "Target", "vs previous", "On pace for", "Score")
        parts.append(
            "<tr>"
            + "".join(
                f'<th style="{head}{"text-align:right;" if h in numeric else ""}">{h}</th>'
                for h in (
                    "KPI",
                    "Period",
                    "Value",
                    "Target",
                    "vs previous",
                    "On pace for",
                    "Score",
                    "Status",
                    "Trend",
                    "Newest reading",
                )
            )
            + "</tr>"
        )
        for r in kpis:
            row = _row(r, currency, snapshot.at)
            colour = STATUS_COLOUR[r.status]
            parts.append(
                "<tr>"
                f'<td style="{cell}font-weight:bold;">{e(row["name"])}</td>'
                f'<td style="{cell}color:#57606a;">{e(row["period"])}</td>'
                f'<td style="{cell}text-align:right;">{e(row["value"])}</td>'
                f'<td style="{cell}text-align:right;color:#57606a;">{e(row["target"])}</td>'
                f'<td style="{cell}text-align:right;">{e(row["change"])}</td>'
                f'<td style="{cell}text-align:right;">{e(row["pace"])}</td>'
                f'<td style="{cell}text-align:right;">{e(row["score"])}</td>'
                f'<td style="{cell}color:{colour};font-weight:bold;">{e(row["status"])}</td>'
                f'<td style="{cell}">{_bars(r)}</td>'
                f'<td style="{cell}color:#57606a;">{e(row["newest"])}</td>'
                "</tr>"
            )
        parts.append("</table>")
    generated = snapshot.at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(
        f'<p style="font-size:12px;color:#6e7781;margin-top:18px;">{e(NOTE)}<br>Sent by kpitui · evaluated '
        f"{e(generated)}</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
