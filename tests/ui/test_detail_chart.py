"""The detail chart: what its lines mean."""

from __future__ import annotations

from ui_helpers import make_app, wait_ready


async def test_the_detail_chart_marks_the_bucket_in_progress(config):
    app = make_app(config)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_ready(pilot)
        await pilot.press("enter")
        await wait_ready(pilot)
        chart = app.screen.query_one("#chart")
        assert chart.spec.partial == "18 Mar to 15:30"  # NOW is 15:30 on 18 March: today's bucket is not over
        await pilot.press("left_square_bracket")  # February: every bucket is whole
        await wait_ready(pilot)
        assert app.screen.query_one("#chart").spec.partial is None


async def test_the_detail_chart_says_what_its_y_axis_measures(config):
    """The tick labels are bare numbers: the legend names the unit and what each point covers."""
    app = make_app(config)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_ready(pilot)
        await pilot.press("enter")  # Lead generation: a count
        await wait_ready(pilot)
        chart = app.screen.query_one("#chart")
        assert chart.spec.y_axis == "y axis: count, by day"
        assert "y axis: count, by day" in str(chart.render())
        await pilot.press("W")  # by week
        await wait_ready(pilot)
        assert app.screen.query_one("#chart").spec.y_axis == "y axis: count, by week"
        await pilot.press("escape")
        app.open_detail("profit", None)  # Operating profit: money
        await wait_ready(pilot)
        assert "y axis: $, by day" in str(app.screen.query_one("#chart").render())
