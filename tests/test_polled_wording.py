"""Two times, two names: "Newest reading" (when the newest reading was taken, a bucket's start) and "Polled" (when
the source last answered, or a hand-recorded metric was last recorded). The TUI said "Updated" for the poll and
``kpitui report`` said "Updated" for the newest reading: a collector polling every minute showed "just now" in the
TUI and "50m ago" in the report for the same metric."""

from __future__ import annotations

import datetime as dt
import json

from kpitui.model import Kpi, KpiResult, Metric, MetricStatus, Period, Snapshot, SourceHealth, Status, Trigger
from kpitui.polled import kpi_polled_at, manual_metrics, polled_at
from kpitui.report import to_json, to_table

NOW = dt.datetime(2026, 12, 3, 22, 50, tzinfo=dt.timezone.utc)
HOUR_START = NOW.replace(minute=0)  # the newest reading: the hour's count, stamped at 22:00
POLLED = NOW - dt.timedelta(seconds=12)


def snapshot() -> Snapshot:
    signups = Metric(id="signups", name="Sign-ups", source="web", trigger=Trigger("A visitor signed up"))
    referrals = Metric(id="referrals", name="Referrals", source="manual")
    health = SourceHealth("web", last_success=POLLED)
    kpi = Kpi(id="leads", name="Leads", formula="sum", params=None)
    period = Period(NOW.replace(day=1, hour=0, minute=0), NOW, "Dec 2026 to date")
    series = ((HOUR_START - dt.timedelta(days=1), 20.0), (HOUR_START, 28.0))  # a Trend cell: no cell is blank
    result = KpiResult(
        kpi, period, period, 48.0, None, None, None, None, None, Status.NO_TARGET, HOUR_START, series=series
    )
    return Snapshot(
        at=NOW,
        objectives=(),
        kpis={"leads": result},
        metrics={
            "signups": MetricStatus(signups, 3.0, HOUR_START, health),
            "referrals": MetricStatus(referrals, 2.0, NOW - dt.timedelta(days=2)),
        },
    )


def rows(text: str, first: str) -> dict[str, dict[str, str]]:
    """The table whose header starts with ``first``, as {row's first cell: {header: cell}} (cells split on 2+
    spaces: no cell here holds two spaces)."""
    import re

    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(first + " "))
    headers = re.split(r"\s{2,}", lines[start].strip())
    out = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip().lstrip("★ "))
        out[cells[0]] = dict(zip(headers, cells))
    return out


def test_the_report_names_the_newest_reading_and_the_poll_apart():
    text = to_table(snapshot(), manual={"referrals"})
    assert "Updated" not in text
    assert rows(text, "KPI")["Leads"]["Newest reading"] == "50m ago"
    metrics = rows(text, "Metric")
    assert metrics["Sign-ups"]["Newest"] == "3"
    assert metrics["Sign-ups"]["Newest reading"] == "50m ago"
    assert metrics["Sign-ups"]["Polled"] == "just now"  # the poll 12 s ago, not the reading's bucket start
    assert metrics["Referrals"]["Polled"] == "2d ago"  # recorded by hand: when last recorded
    # the KPI's metrics' newest reading, not one "behind the value": a complete period (last month) counts none after
    # its end, while its metrics' newest reading can be today's (trust16: a churn rate of October, "6h ago")
    assert "Newest reading: how long ago the newest reading of the KPI's metrics (or the metric's) was taken" in text
    assert "a complete period's value (yesterday, last month) counts none after the period's end" in " ".join(
        text.split()
    )
    assert "Polled: the source's last successful poll" in text


def test_a_report_at_another_time_leaves_the_poll_out():
    text = to_table(snapshot())  # what `report --at` passes: the last poll says nothing of that time
    assert "Polled" not in rows(text, "Metric")["Sign-ups"]
    assert rows(text, "Metric")["Sign-ups"]["Newest reading"] == "50m ago"


def test_the_json_carries_both_times():
    metrics = {m["id"]: m for m in json.loads(to_json(snapshot(), manual={"referrals"}))["metrics"]}
    assert metrics["signups"]["latest_at"] == HOUR_START.isoformat()
    assert metrics["signups"]["polled_at"] == POLLED.isoformat()
    assert metrics["referrals"]["polled_at"] == (NOW - dt.timedelta(days=2)).isoformat()


def test_polled_at_of_a_metric_and_of_a_kpi():
    snap = snapshot()
    manual = manual_metrics({m.metric.id: m.metric for m in snap.metrics.values()}, {})
    assert manual == {"referrals"}
    assert polled_at(snap.metrics["signups"], False) == POLLED
    assert polled_at(snap.metrics["referrals"], True) == NOW - dt.timedelta(days=2)
    # a KPI is as up to date as its least recently polled metric; one never polled: never
    assert kpi_polled_at(snap.metrics.values(), manual) == NOW - dt.timedelta(days=2)
    never = MetricStatus(Metric(id="x", name="X", source="web"), None, None)
    assert kpi_polled_at([snap.metrics["signups"], never], manual) is None


def test_the_scorecard_says_how_old_the_newest_reading_is():
    from kpitui.scorecard import to_html, to_markdown

    markdown = to_markdown(snapshot())
    header = next(line for line in markdown.splitlines() if line.startswith("| KPI"))
    leads = next(line for line in markdown.splitlines() if line.startswith("| Leads"))
    cells = dict(zip(header.strip("| ").split(" | "), leads.strip("| ").split(" | ")))
    assert cells["Newest reading"] == "50m ago"
    assert "Newest reading: how long before the time above the newest reading of the KPI's metrics" in markdown
    assert "a complete period's value, such as last month's, counts none after its end" in markdown
    assert "Trend: the KPI per bucket, the last 14, oldest first" in markdown  # what the sparkline's bars are
    page = to_html(snapshot())
    assert ">Newest reading</th>" in page and ">50m ago</td>" in page
