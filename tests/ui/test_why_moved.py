"""The detail view says why a KPI moved (its change split by input) and enter opens an input's chart
at the same window and grain (issue 17)."""

from __future__ import annotations

import datetime as dt

import pytest
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
        assert (
            why.border_title
            == f"Why it moved vs {app.snapshot.kpis['leads'].previous_period.label}: Lead generation {total:+.0f} ="
        )
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


def thank_you_config(make_config):
    """A config with an access-log source ``web`` (access.log) and a metric ``thanks`` counting its thank-you views."""
    return make_config(
        extra_sources='[sources.web]\ntype = "access_log"\npath = "access.log"\n',
        extra_metrics='[metrics.thanks]\nname = "Thank-you views"\nsource = "web"\n'
        'trigger = "A visitor viewed the thank-you page"\ncondition = "path == \'/thank-you\' and status < 400"\n',
    )


@pytest.mark.slow
async def test_a_metric_from_a_source_says_which_source_and_condition_count_it(make_config):
    config = thank_you_config(make_config)
    app = make_app(config)
    async with app.run_test(size=(110, 40)) as pilot:
        await wait_ready(pilot)
        app.open_detail(None, "thanks")
        await wait_ready(pilot)
        summary = str(app.screen.query_one("#detail-summary").render())
        assert "counted by source web (access_log) when: A visitor viewed the thank-you page" in summary
        assert "condition: path == '/thank-you' and status < 400" in summary


async def test_annotations_are_marked_on_the_detail_chart(config):
    from kpitui.annotations import AnnotationStore
    from kpitui.ui.palette import palette_of
    from kpitui.ui.widgets.chart import draw_chart

    with AnnotationStore(config.storage.path) as notes:
        notes.add("Launched the webinar ads", dt.datetime(2026, 3, 4, 9, tzinfo=dt.timezone.utc), kpi="leads")
        notes.add(
            "Revenue only", dt.datetime(2026, 3, 5, 9, tzinfo=dt.timezone.utc), metric="revenue"
        )  # not behind leads
        notes.add("Long before", dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc))  # before the chart
    app = make_app(config)
    async with app.run_test(size=(110, 40)) as pilot:
        await wait_ready(pilot)
        await pilot.press("enter")
        await wait_ready(pilot)
        spec = app.screen.query_one("#chart").spec
        assert [text for _, text in spec.markers] == ["Launched the webinar ads"]
        assert "▲ 04 Mar 09:00 Launched the webinar ads" in spec.notes
        lines = [line.plain for line in draw_chart(spec, 100, 20, palette_of(app))]
        axis = next(line for line in lines if "└" in line)
        assert axis.count("▲") == 1
        # daily buckets from 16 Feb: 4 Mar 09:00 is 16.375 buckets in, so its ▲ sits between 4 and 5 Mar
        assert any("Launched the webinar ads" in line for line in lines[:2])


@pytest.mark.slow
async def test_n_adds_an_annotation_about_the_kpi_on_screen_and_the_chart_marks_it(config):
    from kpitui.annotations import read
    from kpitui.ui.screens.annotate import AnnotateScreen

    app = make_app(config)
    async with app.run_test(size=(110, 40)) as pilot:
        await wait_ready(pilot)
        await pilot.press("enter")  # the Lead generation detail
        await wait_ready(pilot)
        await pilot.press("n")
        assert isinstance(app.screen, AnnotateScreen)
        await pilot.press("ctrl+s")  # no text: an inline error, the form stays
        assert isinstance(app.screen, AnnotateScreen)
        assert "type what happened" in str(app.screen.query_one("#form-error").render())
        for key in "Ads on":
            await pilot.press("space" if key == " " else key)
        await pilot.press("tab")
        for key in "2026-03-10 08:00":
            await pilot.press({" ": "space", "-": "minus", ":": "colon"}.get(key, key))
        await pilot.press("ctrl+s")
        await wait_ready(pilot)
        assert isinstance(app.screen, DetailScreen)
        notes = read(config.storage.path)
        assert [(n.text, n.kpi, n.metric, n.at) for n in notes] == [
            ("Ads on", "leads", None, dt.datetime(2026, 3, 10, 8, tzinfo=dt.timezone.utc))
        ]
        assert [text for _, text in app.screen.query_one("#chart").spec.markers] == ["Ads on"]


def test_the_annotate_key_is_in_help_and_the_palette():
    from kpitui.ui import bindings

    found = [b for s in bindings.SECTIONS for b in s.bindings if b.id == "annotate"]
    assert found and found[0].key == "n" and "annotate" not in bindings.NOT_IN_PALETTE


async def test_an_access_log_metric_shows_the_top_paths_its_condition_matched(make_config, tmp_path):
    def line(when: str, target: str, status: int, referrer: str) -> str:
        return f'1.1.1.1 - - [{when} +0000] "GET {target} HTTP/1.1" {status} 12 "{referrer}" "Mozilla/5.0"\n'

    (tmp_path / "access.log").write_text(
        line("10/Mar/2026:10:00:00", "/thank-you", 200, "https://google.com/")
        + line("11/Mar/2026:10:00:00", "/thank-you?x=1", 200, "https://google.com/")
        + line("12/Mar/2026:10:00:00", "/thank-you", 200, "https://bing.com/")
        + line("12/Mar/2026:11:00:00", "/thank-you", 500, "https://bing.com/")  # an error: not counted
        + line("20/Feb/2026:10:00:00", "/thank-you", 200, "https://old.com/")  # last month
    )
    config = thank_you_config(make_config)
    app = make_app(config)
    async with app.run_test(size=(110, 40)) as pilot:
        await wait_ready(pilot)
        app.open_detail(None, "thanks")
        await wait_ready(pilot)
        shown = str(app.screen.query_one("#detail-matches").render())
        assert "matched in Mar 2026 to date: 3 lines" in shown
        assert "top paths 3× /thank-you" in shown
        assert "top referrers 2× https://google.com/, 1× https://bing.com/" in shown


@pytest.mark.slow
async def test_c_compares_the_chart_with_the_same_period_a_year_earlier(make_config):
    from kpitui.api import readings_frame
    from kpitui.store import Store

    config = make_config()
    # March 2025 (a year before NOW's March 2026): 2 sign-ups a day at noon on the 1st-18th; the history of
    # both metrics starts in February 2025, so the year-earlier March is wholly covered (not partial history)
    with Store(config.storage.path) as store:
        store.write(
            readings_frame(
                [("signups", dt.datetime(2025, 3, d, 12, tzinfo=dt.timezone.utc), 2.0) for d in range(1, 19)]
                + [(m, dt.datetime(2025, 2, 20, 12, tzinfo=dt.timezone.utc), 1.0) for m in ("signups", "requests")]
            )
        )
    app = make_app(config)
    async with app.run_test(size=(110, 40)) as pilot:
        await wait_ready(pilot)
        await pilot.press("enter")
        await wait_ready(pilot)
        screen = app.screen
        before = screen.query_one("#chart").spec
        assert before.previous_name == "a month earlier"
        await pilot.press("c")
        await wait_ready(pilot)
        spec = screen.query_one("#chart").spec
        assert spec.previous_name == "a year earlier"
        by_day = {at.date(): (v, p) for at, v, p in spec.points}
        assert by_day[dt.date(2026, 3, 10)][1] == 2.0  # the same day of March 2025: 2 sign-ups, no retainer requests
        result = app.snapshot.kpis["leads"]
        assert result.last_year == 36.0  # 18 days x 2
        assert any(
            note.startswith(f"Mar 2026 to date {result.value:,.0f} vs 36 a year earlier: +") for note in spec.notes
        )
        await pilot.press("c")
        await wait_ready(pilot)
        assert screen.query_one("#chart").spec.previous_name == "a month earlier"


async def test_the_trend_marks_the_buckets_that_hold_an_annotation(config):
    from kpitui.annotations import AnnotationStore
    from kpitui.ui.screens.help import COLUMNS

    with AnnotationStore(config.storage.path) as notes:
        notes.add("Launched the webinar ads", dt.datetime(2026, 3, 10, 9, tzinfo=dt.timezone.utc), kpi="leads")
        notes.add(
            "Price change", dt.datetime(2026, 3, 14, 12, tzinfo=dt.timezone.utc), metric="revenue"
        )  # profit's, not leads'
    app = make_app(config)
    async with app.run_test(size=(220, 40)) as pilot:
        await wait_ready(pilot)
        starts = {kid: [at for at, _ in r.series] for kid, r in app.snapshot.kpis.items()}
        assert app.snapshot.annotated["leads"] == {
            starts["leads"].index(dt.datetime(2026, 3, 10, tzinfo=dt.timezone.utc))
        }
        assert app.snapshot.annotated["profit"] == {
            starts["profit"].index(dt.datetime(2026, 3, 14, tzinfo=dt.timezone.utc))
        }
        assert "onboarding" not in app.snapshot.annotated
        pane = app.screen.query_one("#kpis")
        column = next(i for i, (c, _) in enumerate(pane._layout) if c.key == "trend")
        row = next(i for i, r in enumerate(pane._rows) if r.key == "leads")
        cell = pane.get_row_at(row)[column].plain.rstrip()
        # the 10 March bucket, counted from the right edge of the cell (the cell shows the newest buckets)
        at = len(cell) - (
            len(starts["leads"]) - starts["leads"].index(dt.datetime(2026, 3, 10, tzinfo=dt.timezone.utc))
        )
        assert [i for i, ch in enumerate(cell) if ch == "▲"] == [at]
    assert any(name == "Trend" and "annotation" in meaning for name, meaning in COLUMNS)


async def test_c_says_a_year_earlier_only_partly_covered_by_history_is_partial(make_config):
    """The history starts mid-way through March 2025: no year-over-year percentage against part of a month."""
    from kpitui.api import readings_frame
    from kpitui.store import Store

    config = make_config()
    with Store(config.storage.path) as store:
        store.write(
            readings_frame(
                [("signups", dt.datetime(2025, 3, d, 12, tzinfo=dt.timezone.utc), 2.0) for d in range(10, 19)]
            )
        )
    app = make_app(config)
    async with app.run_test(size=(110, 40)) as pilot:
        await wait_ready(pilot)
        await pilot.press("enter")
        await wait_ready(pilot)
        await pilot.press("c")
        await wait_ready(pilot)
        screen = app.screen
        assert screen.query_one("#chart").spec.notes[0] == (
            "Mar 2026 to date vs a year earlier: partial history (it starts before the first reading)"
        )
        assert app.snapshot.kpis["leads"].partial_last_year
        summary = str(screen.query_one("#detail-summary").render())
        assert "a year ago 18 (partial history)" in summary
