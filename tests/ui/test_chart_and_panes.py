"""The chart and the pane row functions are pure: state in, text out."""

from __future__ import annotations

import datetime as dt

import pytest
from rich.text import Text

from kpitui.model import Target
from kpitui.ui.palette import Palette
from kpitui.ui.panes.base import Column, fit, fit_columns
from kpitui.ui.view import score_bar, target_text
from kpitui.ui.widgets.chart import ChartSpec, draw_chart, nice_step, target_levels

COLOURS = Palette(good="green", warn="yellow", bad="red", accent="blue", muted="grey50", text="white")
START = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)


def spec(values, previous=None, target=None, unit="count", **kw) -> ChartSpec:
    previous = previous or [None] * len(values)
    points = [(START + dt.timedelta(days=i), v, p) for i, (v, p) in enumerate(zip(values, previous))]
    return ChartSpec(name="Leads", points=points, label=lambda at: f"{at:%d %b}", target=target, unit=unit, **kw)


def plain(lines: list[Text]) -> list[str]:
    return [line.plain for line in lines]


def test_chart_has_axes_labels_series_and_legend():
    lines = draw_chart(
        spec([1, 5, 3, 8, 6, 10], previous=[2, 2, 4, 4, 5, 5], target=Target(kind="reach", value=9)), 60, 16, COLOURS
    )
    text = plain(lines)
    assert len(lines) == 16
    assert all(len(line) <= 60 for line in text)
    legend = text[0]
    assert "Leads" in legend and "previous period" in legend and "target 9" in legend
    assert any(line.rstrip().endswith("┤") or "┤" in line for line in text)  # y ticks
    assert any("10┤" in line for line in text) and any(" 0┤" in line for line in text)
    assert "└" in text[-2] and "┬" in text[-2]  # x axis with ticks
    assert "06 Mar" in text[-1]  # the latest bucket is labelled
    braille = "".join(text[1:-2])
    assert any(0x2800 < ord(ch) <= 0x28FF for ch in braille)


def test_chart_colours_series_target_and_previous_differently():
    lines = draw_chart(spec([1, 5, 3, 8], previous=[6, 6, 6, 6], target=Target(kind="above", value=4)), 40, 12, COLOURS)
    styles = {str(span.style) for line in lines[1:-2] for span in line.spans}
    assert {"blue", "yellow", "grey50"} <= styles


def test_target_far_off_scale_is_noted_not_drawn():
    text = plain(draw_chart(spec([1, 2, 3, 2], target=Target(kind="reach", value=900)), 50, 12, COLOURS))
    assert "target 900 (off scale)" in text[1]  # the legend's second line: the first is full
    assert not any("900" in line for line in text[2:])


def test_within_target_draws_two_levels():
    assert target_levels(Target(kind="within", low=2, high=4)) == [2, 4]
    text = plain(draw_chart(spec([1, 3, 5, 3], target=Target(kind="within", low=2, high=4)), 50, 12, COLOURS))
    assert "target 2–4" in text[0]


def test_gaps_and_no_data():
    text = plain(draw_chart(spec([1, None, None, 4]), 40, 10, COLOURS))
    assert len(text) == 10
    empty = plain(draw_chart(spec([None, None]), 40, 10, COLOURS))
    assert empty[0] == "no data in this range"


@pytest.mark.parametrize("size", [(10, 3), (19, 20), (40, 5)])
def test_too_small_never_raises(size):
    lines = draw_chart(spec([1, 2, 3]), *size, COLOURS)
    assert lines and "too small" in lines[0].plain


def test_single_point_and_flat_series():
    assert len(draw_chart(spec([5]), 40, 10, COLOURS)) == 10
    assert len(draw_chart(spec([5, 5, 5]), 40, 10, COLOURS)) == 10


def test_nice_steps():
    assert nice_step(100, 5) == 20
    assert nice_step(7, 4) == 2
    assert nice_step(0.03, 3) == 0.01
    assert nice_step(86400 * 6, 3, unit="duration") == 172800  # two days, not 1.728e5
    assert nice_step(0, 4) == 1.0


def test_durations_axis_reads_as_durations():
    text = plain(draw_chart(spec([7 * 86400, 9 * 86400, 8 * 86400], unit="duration"), 50, 12, COLOURS))
    assert any("d┤" in line for line in text)


# -- panes -------------------------------------------------------------------------------


COLUMNS = (
    Column("name", "Name", 10, grow=1, max=30),
    Column("value", "Value", 8, right=True),
    Column("extra", "Extra", 8, drop=2),
    Column("more", "More", 8, drop=1),
)


def test_columns_fit_and_drop_in_order():
    wide = fit_columns(COLUMNS, 100)
    assert [c.key for c, _ in wide] == ["name", "value", "extra", "more"]
    assert dict((c.key, w) for c, w in wide)["name"] == 30
    narrow = fit_columns(COLUMNS, 38)
    assert [c.key for c, _ in narrow] == ["name", "value", "more"]  # extra (drop=2) goes first
    tiny = fit_columns(COLUMNS, 10)
    assert [c.key for c, _ in tiny] == ["name", "value"]


def test_fit_truncates_and_right_aligns():
    assert fit("abcdefghij", 5).plain == "abcd…"
    assert fit("42", 5, right=True).plain == "   42"
    assert fit(lambda w: Text("x" * w), 3).plain == "xxx"


def test_score_bar_and_targets():
    bar = score_bar(0.5, 10, "green", "grey")
    assert bar.plain.endswith(" 50%") and len(bar.plain) == 10
    assert score_bar(None, 10, "green", "grey").plain == "—"
    assert score_bar(1.0, 10, "green", "grey").plain.startswith("█████")

    from kpitui.model import Kpi

    def kpi(target):
        return Kpi(id="k", name="K", formula="sum", params=None, unit="count", target=target)

    assert target_text(kpi(Target(kind="reach", value=680)), "$") == "680"
    assert target_text(kpi(Target(kind="above", value=5000)), "$") == "≥ 5,000"
    assert target_text(kpi(Target(kind="below", value=7)), "$") == "≤ 7"
    assert target_text(kpi(Target(kind="below", value=5, baseline=12)), "$") == "≤ 5 from 12"  # its score's 0
    assert target_text(kpi(Target(kind="within", low=1, high=2)), "$") == "1–2"
    assert target_text(kpi(Target(kind="within", low=-30000, high=-10000)), "$") == "-30,000 to -10,000"  # check12
    from kpitui.formatting import range_text  # the detail chart's legend writes a target range the same way

    assert range_text("-2,500", "-833.33") == "-2,500 to -833.33" and range_text("1", "2") == "1–2"
    assert target_text(kpi(None), "$") == ""


def test_a_bucket_in_progress_is_drawn_apart_and_named_so_far():
    whole = draw_chart(spec([8, 9, 10, 9, 8, 1]), 60, 14, COLOURS)
    partial = draw_chart(spec([8, 9, 10, 9, 8, 1], partial="06 Mar to 09:00"), 60, 14, COLOURS)
    assert "06 Mar to 09:00 so far" in partial[0].plain and "so far" not in whole[0].plain

    def cells(lines, style):
        return {
            (y, x)
            for y, line in enumerate(lines[1:-2])
            for span in line.spans
            if str(span.style) == style
            for x in range(span.start, span.end)
        }

    # the drop to the bucket in progress is not drawn as the series: fewer solid cells, the rest dotted and dim
    assert cells(partial, "blue") < cells(whole, "blue")
    assert cells(partial, "grey50")
    assert max(x for _, x in cells(partial, "blue")) < max(x for _, x in cells(partial, "grey50"))


def test_a_long_legend_takes_a_second_line_never_a_wrapped_word():
    lines = draw_chart(
        spec(
            [8, 9, 10],
            target=Target(kind="reach", value=9),
            partial="W12 2026 to 15:30",
            previous_name="a month earlier",
        ),
        50,
        14,
        COLOURS,
    )
    text = plain(lines)
    assert len(lines) == 14 and all(len(line) <= 50 for line in text)
    assert text[0].startswith("━━ Leads") and "━━ a month earlier" in text[0]
    assert "⠒⠒ W12 2026 to 15:30 so far" in text[1] and "╌╌ target 9" in text[1]
    assert "└" in text[-2]  # the axis is still there
