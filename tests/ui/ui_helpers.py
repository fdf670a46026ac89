"""Helpers for the UI tests: the test config, known readings, a fixed clock, waiting on the app."""

from __future__ import annotations

import datetime as dt
from typing import Callable

from kpitui.config import Config

#: A Wednesday afternoon: month_to_date is 18 days old, the quarter started in January.
NOW = dt.datetime(2026, 3, 18, 15, 30, tzinfo=dt.timezone.utc)

CONFIG = """\
[kpitui]
timezone = "UTC"
currency = "$"

[storage]
path = "{storage}"

[sources.demo]
type = "demo"
history_days = 0
{extra_sources}
[metrics.signups]
name = "Newsletter sign-ups"
unit = "count"
aggregation = "sum"
trigger = "A visitor viewed /newsletter/thank-you"

[metrics.requests]
name = "Retainer requests"
unit = "count"
aggregation = "sum"
trigger = "A visitor POSTed the retainer form"

[metrics.revenue]
name = "Revenue"
unit = "currency"
aggregation = "sum"
source = "demo"
trigger = "A payment was received"

[metrics.expenses]
name = "Expenses"
unit = "currency"
aggregation = "sum"
source = "demo"

[metrics.onboarding_time]
name = "Onboarding time"
unit = "duration"
aggregation = "mean"
{extra_metrics}
[kpis.leads]
name = "Lead generation"
description = "Sign-ups + retainer requests"
formula = "sum"
metrics = ["signups", "requests"]
window = "month_to_date"
unit = "count"
target = {{ kind = "reach", value = 100 }}

[kpis.profit]
name = "Operating profit"
formula = "difference"
metrics = ["revenue", "expenses"]
window = "month_to_date"
unit = "currency"
target = {{ kind = "reach", value = 5000 }}

[kpis.onboarding]
name = "Onboarding time"
formula = "mean"
metrics = ["onboarding_time"]
window = "quarter_to_date"
unit = "duration"
target = {{ kind = "below", value = 604800, baseline = 1209600 }}

[objectives.leads]
title = "Increase lead generation"
kpis = ["leads"]

[objectives.profit]
title = "Grow operating profit"
kpis = ["profit"]

[objectives.clients]
title = "Delight new clients"
kpis = ["onboarding"]
{extra}"""


def known_readings(now: dt.datetime = NOW, days: int = 120) -> list[tuple[str, dt.datetime, float]]:
    """One reading per metric per day at noon for ``days`` days before ``now``: fixed, known values."""
    rows = []
    start = (now - dt.timedelta(days=days)).replace(hour=12, minute=0, second=0, microsecond=0)
    for i in range(days):
        at = start + dt.timedelta(days=i)
        if at >= now:
            break
        rows.append(("signups", at, float(3 + i % 5 + i // 20)))
        if i % 3 == 0:
            rows.append(("requests", at, 1.0))
        rows.append(("revenue", at, 500.0 + 10 * (i % 7) + 2 * i))
        rows.append(("expenses", at, 300.0))
        if i % 4 == 0:
            rows.append(("onboarding_time", at, 864000.0 - 2000.0 * i))
    return rows


def fixed_now() -> dt.datetime:
    return NOW


def make_app(config: Config, **kwargs):
    from kpitui.ui.app import KpiApp

    kwargs.setdefault("collect", False)
    kwargs.setdefault("now", fixed_now)
    kwargs.setdefault("watch_config", False)
    return KpiApp(config, **kwargs)


async def wait_for(pilot, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until ``predicate()`` holds."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)


async def wait_ready(pilot) -> None:
    """Until the first snapshot is shown and no worker is busy."""
    from textual.worker import WorkerState

    app = pilot.app
    await wait_for(pilot, lambda: app.snapshot is not None)
    await wait_for(
        pilot,
        lambda: (
            not any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in app.workers if w.group != "poll")
        ),
    )
    await pilot.pause()


def pane_keys(app, pane_id: str) -> list[str]:
    pane = app.screen.query_one(f"#{pane_id}")
    return [row.key for row in pane._rows]


def pane_text(app, pane_id: str) -> str:
    """Every cell of a pane as plain text, one row per line."""
    pane = app.screen.query_one(f"#{pane_id}")
    lines = []
    for row_index in range(pane.row_count):
        lines.append(" | ".join(str(c) for c in pane.get_row_at(row_index)))
    return "\n".join(lines)
