"""When a metric's numbers were last brought up to date ("Polled"), as against when its newest reading was taken
("Newest reading"): two different times that every view names apart.

A source's readings stand for buckets (an hour's count is stamped at the hour's start), so the newest reading of a
metric polled seconds ago can be 50 minutes old; and a metric whose source stopped answering keeps its newest
reading while its last poll ages. The TUI's panes show "Polled"; ``kpitui report`` shows both.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable, Mapping

from .config.sources import MANUAL_SOURCE
from .model import Metric, MetricStatus, SourceSpec


def manual_metrics(metrics: Mapping[str, Metric], sources: Mapping[str, SourceSpec]) -> set[str]:
    """The ids of the metrics recorded by hand (a ``manual`` source, or none)."""
    manual = {sid for sid, spec in sources.items() if spec.type == "manual"} | {MANUAL_SOURCE}
    return {mid for mid, m in metrics.items() if (m.source or MANUAL_SOURCE) in manual}


def polled_at(status: MetricStatus, manual: bool) -> dt.datetime | None:
    """When a metric's numbers were last brought up to date: its source's last successful poll, or for a metric
    recorded by hand its newest recorded reading (not a reading's bucket start). ``None``: never."""
    if manual:
        return status.latest_at
    return status.health.last_success if status.health is not None else None


def kpi_polled_at(statuses: Iterable[MetricStatus], manual: set[str]) -> dt.datetime | None:
    """A KPI is as up to date as its least recently polled metric (``None``: one never was)."""
    times = [polled_at(s, s.metric.id in manual) for s in statuses]
    known = [t for t in times if t is not None]
    return min(known) if times and len(known) == len(times) else None
