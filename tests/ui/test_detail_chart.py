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
