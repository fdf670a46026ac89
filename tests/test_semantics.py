"""KPI evaluation semantics (issue 11): targets over other windows, progress, partial history,
the start of a period, comparison series, and the rules docs/kpis.md settles. Hand-computed values,
through the real console script where the issue says so."""

from __future__ import annotations

import datetime as dt

from kpitui.config import load_config
from kpitui.engine import Engine
from kpitui.formatting import STATUS_SYMBOL
from kpitui.model import Status


def test_not_yet_status_has_a_label_and_a_symbol():
    assert Status.NOT_YET.value == "not_yet"
    assert Status.NOT_YET.label == "not yet scored"
    assert Status.OFF_TRACK.label == "off track"
    assert STATUS_SYMBOL[Status.NOT_YET]


def test_partial_bucket_is_the_running_one_only(write_config):
    path = write_config(
        """
        [metrics.leads]
        name = "Leads"
        [kpis.lead_kpi]
        name = "Leads"
        formula = "sum"
        metrics = ["leads"]
        window = "month_to_date"
        """
    )
    engine = Engine(load_config(path))
    now = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.timezone.utc)
    bucket = engine.partial_bucket("lead_kpi", now=now, grain="month")
    assert bucket is not None and bucket.start == dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc) and bucket.end == now
    assert engine.partial_bucket("lead_kpi", now=now, grain="month", window="last_month") is None
    assert engine.partial_bucket("lead_kpi", now=now, grain="month", offset=1) is None
    assert engine.partial_bucket("lead_kpi", now=dt.datetime(2026, 12, 2, tzinfo=dt.timezone.utc), grain="day") is None
