"""An alert condition never judges a comparison the history only partly covers.

The report and the TUI show "partial history" instead of a change when the comparison period starts before
the KPI's metrics' first reading; a condition over ``previous``, ``change``, ``change_pct`` or
``last_year`` saw the partial figure (180 for six days of a ten-day period) and fired as if it were whole.
"""

from __future__ import annotations

import datetime as dt
import textwrap

from kpitui.alerts.service import AlertService
from kpitui.api import readings_frame
from kpitui.config import load_config
from kpitui.store import Store

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 10, 12, tzinfo=UTC)  # December to date: Dec 1..10 at noon, 10 readings of 30


def daily(metric: str, first: dt.date, last: dt.date, value: float = 30.0):
    day = first
    while day <= last:
        yield (metric, dt.datetime(day.year, day.month, day.day, 12, tzinfo=UTC), value)
        day += dt.timedelta(days=1)


def service_for(tmp_path):
    path = tmp_path / "kpitui.toml"
    path.write_text(
        textwrap.dedent(
            f'''
            [storage]
            path = "{tmp_path / "history.sqlite3"}"

            [metrics.old]
            unit = "count"
            [metrics.new]
            unit = "count"

            [kpis.old_sum]
            name = "Old leads"
            formula = "sum"
            metrics = ["old"]
            window = "month_to_date"

            [kpis.new_sum]
            name = "New leads"
            formula = "sum"
            metrics = ["new"]
            window = "month_to_date"

            [notifiers.log]
            type = "command"
            argv = ["true"]

            [alerts.new_beats_previous]
            kpi = "new_sum"
            when = "value > previous"
            notify = ["log"]

            [alerts.new_fell]
            kpi = "new_sum"
            when = "change_pct < 500"
            notify = ["log"]

            [alerts.old_vs_last_year]
            kpi = "old_sum"
            when = "value > 1.5 * last_year"
            notify = ["log"]

            [alerts.old_holds_previous]
            kpi = "old_sum"
            when = "value >= previous"
            notify = ["log"]
            '''
        )
    )
    config = load_config(path)
    store = Store(config.storage.path)
    rows = [
        *daily("old", dt.date(2025, 12, 5), dt.date(2026, 12, 10)),  # last year's Dec 1..10: only Dec 5..10
        *daily("new", dt.date(2026, 11, 5), dt.date(2026, 12, 10)),  # the previous Nov 1..10: only Nov 5..10
    ]
    store.write(readings_frame(rows), mode="replace")
    return AlertService(config, store).start(), store


def test_a_condition_on_a_partial_comparison_is_not_judged_and_says_so(tmp_path):
    service, store = service_for(tmp_path)
    try:
        snapshot = service.snapshot(NOW)
        new, old = snapshot.kpis["new_sum"], snapshot.kpis["old_sum"]
        # what a condition would have seen: 300 against the six days of the previous period history holds
        assert new.value == 300 and new.previous == 180 and new.partial_history
        assert old.value == 300 and old.last_year == 180 and old.partial_last_year and not old.partial_history
        fired = service.evaluate(NOW, snapshot)
        # the whole comparison (Nov 1..10 fully covered: 300 >= 300) fires; the partial ones do not
        assert [n.name for n in fired] == ["old_holds_previous"]
        assert fired[0].fields["partial_history"] is False
        states = service.alerts.states()
        for alert, period in (
            ("new_beats_previous", "Nov 2026"),
            ("new_fell", "Nov 2026"),
            ("old_vs_last_year", "the same period last year"),
        ):
            state = states[alert]
            assert not state.firing
            assert "not judged — partial history" in state.text and period in state.text, state.text
    finally:
        service.close()
        store.close()
