"""An alert "into no_data" does not fire for a ratio ÷ 0 (its inputs have data): that is "undefined", a state
of its own one can alert on."""

from __future__ import annotations

import datetime as dt
import textwrap

from kpitui.alerts.service import AlertService
from kpitui.api import readings_frame
from kpitui.config import load_config
from kpitui.store import Store

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 10, 12, tzinfo=UTC)


def service_for(tmp_path, rows):
    path = tmp_path / "kpitui.toml"
    path.write_text(
        textwrap.dedent(
            f'''
            [storage]
            path = "{tmp_path / "history.sqlite3"}"

            [metrics.signups]
            [metrics.views]

            [kpis.conversion]
            formula = "ratio"
            numerator = "signups"
            denominator = "views"
            window = "month_to_date"

            [notifiers.log]
            type = "command"
            argv = ["true"]

            [alerts.conversion_no_data]
            kpi = "conversion"
            when = "no_data"
            notify = ["log"]

            [alerts.conversion_undefined]
            kpi = "conversion"
            when = "undefined"
            notify = ["log"]
            '''
        )
    )
    config = load_config(path)
    store = Store(config.storage.path)
    store.write(readings_frame(rows), mode="replace")
    return AlertService(config, store).start(), store


def test_a_zero_denominator_fires_undefined_not_no_data(tmp_path):
    # views read in November only: 0 over December to date; 4 sign-ups in December
    rows = [
        ("views", dt.datetime(2026, 11, 20, tzinfo=UTC), 50.0),
        ("signups", dt.datetime(2026, 12, 3, tzinfo=UTC), 4.0),
    ]
    service, store = service_for(tmp_path, rows)
    try:
        fired = service.evaluate(NOW, service.snapshot(NOW))
        assert [n.name for n in fired] == ["conversion_undefined"]
        assert fired[0].fields["status"] == "undefined" and fired[0].fields["undefined"] == "÷ 0: views is 0"
        text = service.alerts.states()["conversion_undefined"].text
        assert "is undefined" in text and "÷ 0: views is 0" in text, text
    finally:
        service.close()
        store.close()


def test_no_readings_fires_no_data_not_undefined(tmp_path):
    rows = [("signups", dt.datetime(2026, 12, 3, tzinfo=UTC), 4.0)]  # views never read: no data
    service, store = service_for(tmp_path, rows)
    try:
        fired = service.evaluate(NOW, service.snapshot(NOW))
        assert [n.name for n in fired] == ["conversion_no_data"]
    finally:
        service.close()
        store.close()
