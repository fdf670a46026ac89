"""A time-series chart drawn with Unicode braille: axes with labels, the KPI series,
the previous period as a dim second series, a dashed target line and a legend.

:func:`draw_chart` is a pure function (spec + size + colours -> lines of Rich
``Text``) so it can be tested without a running app; :class:`Chart` is the
widget that draws it at its current size.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ...formatting import format_value, range_text
from ...model import Target
from ..palette import Palette, palette_of

Point = tuple[dt.datetime, float | None, float | None]

# braille dot bits, indexed [x][y] within one 2x4 cell
_BRAILLE = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
_OFF_SCALE = 3.0  # a target this many times beyond the data is noted, not drawn


@dataclass(frozen=True)
class ChartSpec:
    """What to draw. ``label`` turns a bucket start into an x-axis label."""

    name: str
    points: Sequence[Point]
    label: Callable[[dt.datetime], str]
    target: Target | None = None
    unit: str = "number"
    decimals: int | None = None
    currency: str = "$"
    previous_name: str = "previous period"
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: the last point is a bucket still in progress: drawn dotted, named in the legend (e.g. ``18 Mar to 15:30``)
    partial: str | None = None
    #: annotations: (time, text) marked ▲ under the x axis at their time, with a dotted line up the plot
    markers: tuple[tuple[dt.datetime, str], ...] = ()
    #: what the y axis measures, first in the legend: ``y axis: count, by day``
    y_axis: str = ""
    #: what the chart says when no bucket has a number
    empty: str = "no data in this range"

    def fmt(self, value: float) -> str:
        return format_value(value, self.unit, self.decimals, self.currency)


_DURATION_STEPS = (
    1,
    5,
    10,
    15,
    30,
    60,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
    172800,
    604800,
    1209600,
    2592000,
)


def nice_step(span: float, count: int, unit: str = "number") -> float:
    """A round step (1, 2, 2.5, 5 × 10^n; whole hours and days for durations) giving about ``count`` intervals."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(count, 1)
    if unit == "duration" and raw <= _DURATION_STEPS[-1]:
        return float(next(s for s in _DURATION_STEPS if s >= raw))
    power = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * power:
            return mult * power
    return 10 * power


def target_levels(target: Target | None) -> list[float]:
    if target is None:
        return []
    if target.kind == "within":
        return [v for v in (target.low, target.high) if v is not None]
    return [target.value] if target.value is not None else []


def _line(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    """Bresenham: every dot from (x0, y0) to (x1, y1)."""
    dots = []
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    while True:
        dots.append((x0, y0))
        if x0 == x1 and y0 == y1:
            return dots
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


def draw_chart(spec: ChartSpec, width: int, height: int, colours: Palette) -> list[Text]:
    """``height`` lines of at most ``width`` cells."""
    lines: list[Text] = []
    if width < 20 or height < 6:
        return [Text("(too small for a chart)", style=colours.muted)]
    points = list(spec.points)
    current = [p[1] for p in points]
    previous = [p[2] for p in points]
    data = [v for v in (*current, *previous) if v is not None and math.isfinite(v)]
    if not data:
        lines.append(Text(spec.empty, style=colours.muted))
        return lines + [Text("")] * (height - 1)

    # y range: the data, the target when it is on the same scale, zero for non-negative data
    lo, hi = min(data), max(data)
    drawn_targets, off_scale = [], []
    for level in target_levels(spec.target):
        reach = max(abs(hi), abs(lo), 1e-12)
        if abs(level) > _OFF_SCALE * reach or (lo > 0 and level < lo / _OFF_SCALE):
            off_scale.append(level)
        else:
            drawn_targets.append(level)
            lo, hi = min(lo, level), max(hi, level)
    if lo >= 0 and lo <= 0.4 * hi:
        lo = 0.0
    if hi == lo:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad

    legend = legend_lines(spec, width, colours, off_scale=bool(off_scale))
    legend_rows, axis_rows = len(legend), 2
    plot_h = height - legend_rows - axis_rows
    step = nice_step(hi - lo, max(2, min(6, plot_h // 2)), spec.unit)
    y_lo, y_hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    if y_hi == y_lo:
        y_hi = y_lo + step
    ticks = []
    t = y_lo
    while t <= y_hi + step / 2:
        ticks.append(t)
        t += step
    labels = [spec.fmt(t) for t in ticks]
    y_w = max(len(s) for s in labels)
    plot_w = width - y_w - 1
    if plot_w < 10 or plot_h < 3:
        return [Text("(too small for a chart)", style=colours.muted)]

    dots_w, dots_h = plot_w * 2, plot_h * 4
    span = y_hi - y_lo

    def ydot(value: float) -> int:
        return max(0, min(dots_h - 1, round((y_hi - value) / span * (dots_h - 1))))

    n = len(points)

    def xdot(i: int) -> int:
        return dots_w // 2 if n == 1 else round(i * (dots_w - 1) / (n - 1))

    def series_dots(values: list[float | None]) -> set[tuple[int, int]]:
        out: set[tuple[int, int]] = set()
        last: tuple[int, int] | None = None
        for i, v in enumerate(values):
            if v is None or not math.isfinite(v):
                last = None
                continue
            here = (xdot(i), ydot(v))
            if last is None:
                out.add(here)
            else:
                out.update(_line(*last, *here))
            last = here
        return out

    if spec.partial and n > 1:
        # the bucket in progress is not a drop: its segment is dotted (every other dot), apart from the whole buckets
        whole = series_dots(current[:-1])
        tail = series_dots([None] * (n - 2) + current[-2:]) - whole
        layers: list[tuple[set[tuple[int, int]], str]] = [
            (whole, colours.accent),
            ({d for d in tail if d[0] % 2 == 0}, colours.muted),
        ]
    else:
        layers = [(series_dots(current), colours.accent)]
    target_dots: set[tuple[int, int]] = set()
    for level in drawn_targets:
        y = ydot(level)
        target_dots.update((x, y) for x in range(dots_w) if (x // 2) % 2 == 0)  # dashed
    layers.append((target_dots, colours.warn))
    layers.append((series_dots(previous), colours.muted))
    marker_cols = sorted({c for c in (_marker_col(points, at, xdot) for at, _ in spec.markers) if c is not None})
    layers.append(({(c * 2, y) for c in marker_cols for y in range(0, dots_h, 3)}, colours.warn))

    cells: dict[tuple[int, int], tuple[int, str]] = {}
    for dots, colour in layers:
        bits: dict[tuple[int, int], int] = {}
        for x, y in dots:
            key = (x // 2, y // 4)
            bits[key] = bits.get(key, 0) | _BRAILLE[x % 2][y % 4]
        for key, value in bits.items():
            cells.setdefault(key, (value, colour))  # earlier layers win a shared cell

    tick_rows: dict[int, str] = {}
    for t, s in zip(ticks, labels):
        tick_rows.setdefault(ydot(t) // 4, s)

    for row in range(plot_h):
        line = Text(no_wrap=True, overflow="crop")
        if row in tick_rows:
            line.append(tick_rows[row].rjust(y_w) + "┤", style=colours.muted)
        else:
            line.append(" " * y_w + "│", style=colours.muted)
        for col in range(plot_w):
            cell = cells.get((col, row))
            if cell is None:
                line.append(" ")
            else:
                line.append(chr(0x2800 + cell[0]), style=cell[1])
        lines.append(line)

    # x axis: ticks under the labelled buckets, labels that do not overlap
    texts = [spec.label(p[0]) for p in points]
    longest = max((len(s) for s in texts), default=1)
    cells_per_point = plot_w / max(n - 1, 1)
    every = max(1, math.ceil((longest + 2) / max(cells_per_point, 0.01)))
    axis = ["─"] * plot_w
    label_line = [" "] * (plot_w + longest)
    chosen = list(range(n - 1, -1, -every))  # anchor on the latest bucket
    for i in sorted(chosen):
        col = min(plot_w - 1, xdot(i) // 2)
        axis[col] = "┬"
        start = max(0, min(col - len(texts[i]) // 2, plot_w - len(texts[i])))
        if all(c == " " for c in label_line[max(0, start - 1) : start + len(texts[i]) + 1]):
            label_line[start : start + len(texts[i])] = list(texts[i])
    axis_line = Text(" " * y_w + "└" + "".join(axis), style=colours.muted, no_wrap=True, overflow="crop")
    for c in marker_cols:  # an annotation: ▲ on the axis at its time
        if c < plot_w:
            axis_line.stylize(colours.warn, y_w + 1 + c, y_w + 2 + c)
            axis_line = axis_line[: y_w + 1 + c] + Text("▲", style=colours.warn) + axis_line[y_w + 2 + c :]
    lines.append(axis_line)
    lines.append(
        Text(" " * (y_w + 1) + "".join(label_line)[:plot_w], style=colours.muted, no_wrap=True, overflow="crop")
    )

    lines[0:0] = legend
    return lines[:height]


def _marker_col(points: Sequence[Point], at: dt.datetime, xdot: Callable[[int], int]) -> int | None:
    """The plot column of time ``at``: within its bucket, between that bucket's point and the next; ``None`` outside."""
    n = len(points)
    if not n or at < points[0][0]:
        return None
    for i in range(n):
        start = points[i][0]
        end = points[i + 1][0] if i + 1 < n else None
        if end is None or at < end:
            if end is None:
                return xdot(i) // 2
            share = (at - start) / (end - start) if end > start else 0.0
            return round(xdot(i) + share * (xdot(i + 1) - xdot(i))) // 2
    return None


def legend_lines(spec: ChartSpec, width: int, colours: Palette, off_scale: bool = False, most: int = 2) -> list[Text]:
    """What each line means, packed into at most ``most`` lines of ``width`` cells (an entry is never split;
    what does not fit ends the last line with an ellipsis)."""
    items = [Text(spec.y_axis, style=colours.muted)] if spec.y_axis else []
    items += [
        Text.assemble(("━━ ", colours.accent), spec.name),
        Text.assemble(("━━ ", colours.muted), (spec.previous_name, colours.muted)),
    ]
    if spec.partial:
        items.append(Text.assemble(("⠒⠒ ", colours.muted), (f"{spec.partial} so far", colours.muted)))
    levels = target_levels(spec.target)
    if levels:
        text = range_text(*(spec.fmt(v) for v in levels)) if len(levels) == 2 else spec.fmt(levels[0])
        items.append(
            Text.assemble(
                ("╌╌ ", colours.warn), (f"target {text}" + (" (off scale)" if off_scale else ""), colours.warn)
            )
        )
    items.extend(Text(note, style=colours.muted) for note in spec.notes)
    lines = [Text(no_wrap=True, overflow="ellipsis")]
    for item in items:
        line = lines[-1]
        if line.cell_len and line.cell_len + 3 + item.cell_len > width and len(lines) < most:
            lines.append(Text(no_wrap=True, overflow="ellipsis"))
            line = lines[-1]
        if line.cell_len:
            line.append("   ")
        line.append_text(item)
    for line in lines:
        line.truncate(width, overflow="ellipsis")
    return lines


class Chart(Widget):
    """Draws a :class:`ChartSpec` at the widget's size; ``spec = None`` shows ``message``."""

    DEFAULT_CSS = """
    Chart { height: 1fr; min-height: 8; }
    """

    spec: reactive[ChartSpec | None] = reactive(None)
    message: reactive[str] = reactive("loading…")

    def render(self) -> Text:
        colours = palette_of(self.app)
        if self.spec is None:
            return Text(self.message, style=colours.muted)
        width, height = self.content_size.width, self.content_size.height
        text = Text("\n").join(draw_chart(self.spec, width, height, colours))
        text.no_wrap, text.overflow = True, "ellipsis"
        return text
