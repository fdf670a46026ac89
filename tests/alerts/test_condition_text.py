"""An alert on a condition says the figures its condition names, not only the value: "Sales: change_pct > 100 —
382.19" (check12) read as if the change were 382.19; it was +183.2%."""

from __future__ import annotations

import datetime as dt
import textwrap

from kpitui.alerts.service import AlertService
from kpitui.api import readings_frame
from kpitui.config import load_config
from kpitui.store import Store

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 10, 12, tzinfo=UTC)  # December to date: Dec 1..10 at noon


def test_a_condition_alert_shows_the_figures_it_names(tmp_path):
    path = tmp_path / "kpitui.toml"
    path.write_text(
        textwrap.dedent(
            f'''
            [kpitui]
            timezone = "UTC"
            [storage]
            path = "{tmp_path / "history.sqlite3"}"
            [metrics.sales]
            unit = "count"
            [kpis.sales_mtd]
            name = "Sales"
            formula = "sum"
            metrics = ["sales"]
            window = "month_to_date"
            target = {{ kind = "reach", value = 1000 }}
            [notifiers.log]
            type = "command"
            argv = ["true"]
            [alerts.jump]
            kpi = "sales_mtd"
            when = "change_pct > 100 and projection > 500"
            notify = ["log"]
            [alerts.low]
            kpi = "sales_mtd"
            when = "value < 1000"
            notify = ["log"]
            '''
        )
    )
    config = load_config(path)
    store = Store(config.storage.path)
    try:
        rows = [("sales", dt.datetime(2026, 10, 31, 12, tzinfo=UTC), 10.0)]  # a whole previous period
        rows += [("sales", dt.datetime(2026, 11, d, 12, tzinfo=UTC), 10.0) for d in range(1, 31)]
        rows += [("sales", dt.datetime(2026, 12, d, 12, tzinfo=UTC), 30.0) for d in range(1, 11)]
        store.write(readings_frame(rows), mode="replace")
        service = AlertService(config, store).start()
        fired = {n.name: n for n in service.evaluate(NOW, service.snapshot(NOW))}
        # by hand: Dec 1..10 noon = 300; Nov 1..10 noon = 100 (+200%); 300 over 9.5 of 31 days -> 978.9
        assert fired["jump"].text == (
            "FIRING jump: Sales: change_pct > 100 and projection > 500 — change_pct +200.0%, projection 979; "
            "value 300 (Dec 2026 to date), target 1,000"
        )
        assert fired["low"].text == "FIRING low: Sales: value < 1000 — 300 (Dec 2026 to date), target 1,000"
    finally:
        store.close()
