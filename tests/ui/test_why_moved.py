"""The detail view says why a KPI moved (its change split by input) and enter opens an input's chart
at the same window and grain (issue 17)."""

from __future__ import annotations

import datetime as dt

from ui_helpers import NOW, known_readings, make_app, wait_ready

from kpitui.ui.screens.detail import DetailScreen
from kpitui.ui.widgets.why import WhyMoved


def _total(metric: str, start: dt.datetime, end: dt.datetime) -> float:
    return sum(v for m, at, v in known_readings() if m == metric and start <= at <= end)


def _lines(why: WhyMoved) -> list[str]:
    return [str(why.get_option_at_index(i).prompt) for i in range(why.option_count)]


async def test_detail_splits_the_change_and_enter_opens_the_inputs_chart(config):
    utc = dt.timezone.utc
    # month to date against the same 17.6 days of February, summed by hand from the known readings
    now_start, before_start = dt.datetime(2026, 3, 1, tzinfo=utc), dt.datetime(2026, 2, 1, tzinfo=utc)
    before_end = dt.datetime(2026, 2, 18, 15, 30, tzinfo=utc)
    signups = _total("signups", now_start, NOW) - _total("signups", before_start, before_end)
    requests = _total("requests", now_start, NOW) - _total("requests", before_start, before_end)
    app = make_app(config)
    async with app.run_test(size=(110, 40)) as pilot:
        await wait_ready(pilot)
        await pilot.press("enter")
        await wait_ready(pilot)
        screen = app.screen
        assert isinstance(screen, DetailScreen) and screen.kpi_id == "leads"
        why = screen.query_one(WhyMoved)
        total = signups + requests
        assert why.border_title == f"Why it moved vs {app.snapshot.kpis['leads'].previous_period.label}: Lead generation {total:+.0f} ="
        lines = _lines(why)
        assert lines[0].startswith(f"Newsletter sign-ups {signups:+.0f}  (")
        assert lines[1].startswith(f"Retainer requests {requests:+.0f}  (")
        await pilot.press("W")  # a weekly chart, then drill down into the first input
        await wait_ready(pilot)
        assert app.focused is why and why.highlighted == 0
        await pilot.press("enter")
        await wait_ready(pilot)
        metric_screen = app.screen
        assert isinstance(metric_screen, DetailScreen) and metric_screen is not screen
        assert (metric_screen.kpi_id, metric_screen.metric_id) == ("leads", "signups")
        assert metric_screen.shown == ("week", "month_to_date", 0)  # same window and grain
        assert metric_screen.query_one("#chart").spec.name == "Newsletter sign-ups by week"
        summary = str(metric_screen.query_one("#detail-summary").render())
        assert "counted by readings recorded by hand when: A visitor viewed /newsletter/thank-you" in summary
        await pilot.press("escape")
        assert app.screen is screen


async def test_a_metric_from_a_source_says_which_source_and_condition_count_it(make_config):
    config = make_config(
        extra_sources='[sources.web]\ntype = "access_log"\npath = "access.log"\n',
        extra_metrics='[metrics.thanks]\nname = "Thank-you views"\nsource = "web"\n'
        'trigger = "A visitor viewed the thank-you page"\ncondition = "path == \'/thank-you\' and status < 400"\n',
    )
    app = make_app(config)
    async with app.run_test(size=(110, 40)) as pilot:
        await wait_ready(pilot)
        app.open_detail(None, "thanks")
        await wait_ready(pilot)
        summary = str(app.screen.query_one("#detail-summary").render())
        assert "counted by source web (access_log) when: A visitor viewed the thank-you page" in summary
        assert "condition: path == '/thank-you' and status < 400" in summary
