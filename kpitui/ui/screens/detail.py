"""The detail view of one KPI, or of one metric behind a KPI: the chart at a chosen grain
(with the target and the previous period), and what the numbers are."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Header, Static
from textual.worker import get_current_worker

from ... import periods
from ...formatting import STATUS_SYMBOL, format_age, format_time, format_value
from ...model import KpiResult
from .. import bindings
from ..palette import palette_of
from ..view import applied_target_text, basis_text, change_text, pace_text, value_text
from ..widgets.chart import Chart, ChartSpec
from ..widgets.footer import KeysFooter
from ..widgets.why import DrillDown, WhyMoved
from ..state import ViewSettings
from .base import SnapshotScreen

if TYPE_CHECKING:
    from ...explain import Explanation

#: how many buckets the chart shows at each grain
POINTS = {"hour": 48, "day": 31, "week": 26, "month": 24, "quarter": 12, "year": 8}


@dataclass
class SeriesReady(Message):
    points: list
    grain: str
    window: str
    offset: int
    request: int
    seconds: float
    annotations: tuple = ()  # kpitui.annotations.Annotation, about what the chart shows, in its span


@dataclass
class SeriesFailed(Message):
    error: str
    request: int


@dataclass
class ExplanationReady(Message):
    explanation: Explanation | None
    result: KpiResult  # the result it explains
    request: int


def _matches_text(tops: dict[str, list[tuple[str, int]]], label: str) -> str:
    """``matched in Mar 2026 to date: 4 lines`` then a line per field, counts first so a cut line keeps
    them: ``top referrers 3× https://google.com/, 1× https://bing.com/``."""
    tops = dict(tops)
    lines = tops.pop("lines", [("", 0)])[0][1]
    parts = [f"matched in {label}: {lines:,} line{'s' if lines != 1 else ''}"]
    for field, values in tops.items():
        if values:
            parts.append(f"top {field}s " + ", ".join(f"{count:,}× {_clip(value)}" for value, count in values))
    return "\n".join(parts)


def _clip(value: str, most: int = 48) -> str:
    return value if len(value) <= most else value[: most - 1] + "…"


def _annotation_notes(notes, cal: periods.Calendar, most: int = 2) -> tuple[str, ...]:
    """Legend entries for the newest annotations on the chart: ``▲ 04 Mar Launched the webinar ads``."""
    shown = [f"▲ {note.at.astimezone(cal.tz):%d %b %H:%M} {note.text}" for note in list(notes)[-most:]]
    if len(notes) > most:
        shown.insert(0, f"▲ {len(notes) - most} earlier")
    return tuple(shown)


def axis_label(at, grain: str, cal: periods.Calendar) -> str:
    """Short x-axis labels: days as ``25 Oct``; other grains as the core labels them."""
    if grain == "day":
        return f"{at.astimezone(cal.tz):%d %b}"
    return periods.bucket_label(at, grain, cal)


class DetailScreen(SnapshotScreen):
    BINDINGS = bindings.DETAIL

    def __init__(self, kpi_id: str | None, metric_id: str | None = None, grain: str | None = None) -> None:
        super().__init__(classes="detail")
        self.kpi_id = kpi_id
        self.metric_id = metric_id
        self.grain: str | None = grain  # None: the KPI's (or window's) default grain
        self.explain_request = 0
        #: the chart's second line: ``previous`` (the period before) or ``last_year`` (the same period a year earlier)
        self.compare = "previous"
        self.request = 0
        self.points: list | None = None
        self.shown: tuple[str, str, int] | None = None  # (grain, window, offset) of the chart on screen
        self.ready = False

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◎")
        yield Static(id="detail-summary", markup=False)
        if self.metric_id is None:
            yield WhyMoved(id="detail-why")
        else:
            yield Static(id="detail-matches", markup=False)
        yield Chart(id="chart")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.ready = True
        self.watch_app(snapshot=self.refresh_view, view=self.refresh_view, theme=self.refresh_view)
        self.refresh_view()

    # -- what is shown -----------------------------------------------------------

    @property
    def kpi(self):
        return self.app.config.kpis.get(self.kpi_id)

    @property
    def window(self) -> str:
        return self.app.window or (self.kpi.window if self.kpi else "month_to_date")

    def default_grain(self) -> str:
        kpi = self.kpi
        if kpi is not None and kpi.grain and not self.app.window:
            return kpi.grain
        return periods.default_grain(self.window)

    def refresh_view(self) -> None:
        """Called on mount and whenever the app has a new snapshot or window/period."""
        if not self.ready:
            return
        if self.kpi is None and (self.kpi_id is not None or self.metric_id is None):
            self.query_one("#detail-summary", Static).update(Text(f"KPI {self.kpi_id!r} is no longer in the config (escape goes back)"))
            self.query_one(Chart).spec = None
            self.query_one(Chart).message = ""
            return
        if self.grain is None:
            self.grain = self.default_grain()
        if self.metric_id is not None:
            self._metric()
            self._load_matches()
        else:
            self._summary()
            self._explain()
        self.load()

    def load(self) -> None:
        runtime = self.app.runtime
        if runtime is None or self.app.snapshot is None:
            return
        self.request += 1
        self._series(runtime, self.kpi_id, self.metric_id, self.grain or "day", self.window, self.app.view, self.request)

    @work(thread=True, exclusive=True, group="series", exit_on_error=False)
    def _series(self, runtime, kpi_id: str, metric_id: str | None, grain: str, window: str, view: ViewSettings, request: int) -> None:
        worker = get_current_worker()
        started = time.perf_counter()
        points = POINTS.get(grain, 30)
        offset, shown = view.offset, {"compare": self.compare, "instance": view.instance}
        try:
            if metric_id is not None:
                points = runtime.metric_series(metric_id, grain=grain, window=window, offset=offset, points=points, **shown)
            else:
                points = runtime.series(kpi_id, grain=grain, window=window, offset=offset, points=points, **shown)
        except Exception as exc:  # noqa: BLE001 - shown in the chart area, the app keeps running
            self.post_message(SeriesFailed(f"{type(exc).__name__}: {exc}", request))
            return
        notes: tuple = ()
        if points:
            try:
                cal = periods.Calendar.from_settings(runtime.config.settings)
                end = min(periods.bucket_end(points[-1][0], grain, cal), runtime.clock())  # the chart's span, never past now
                notes = tuple(n for n in runtime.annotations(kpi_id, metric_id, points[0][0], end) if n.at < end or end == runtime.clock())
            except Exception:  # noqa: BLE001 - annotations are extra: the chart is drawn without them
                notes = ()
        if not worker.is_cancelled:
            self.post_message(SeriesReady(points, grain, window, offset, request, time.perf_counter() - started, notes))

    @on(SeriesReady)
    def _series_ready(self, message: SeriesReady) -> None:
        if message.request != self.request:
            return
        kpi = self.kpi
        config = self.app.config
        if kpi is None and self.metric_id not in config.metrics:
            return
        cal = periods.Calendar.from_settings(config.settings)
        win = periods.parse_window(message.window)
        earlier = f"a {win.unit} earlier" if win.count == 1 else f"{win.count} {win.unit}s earlier"
        compare_notes: tuple[str, ...] = ()
        if self.compare == "last_year":
            earlier = "a year earlier"
            compare_notes = self._year_difference()
        self.points = message.points
        self.shown = (message.grain, message.window, message.offset)
        metric = config.metrics.get(self.metric_id) if self.metric_id else None
        subject = metric or kpi
        chart = self.query_one(Chart)
        chart.spec = ChartSpec(
            name=f"{subject.name} by {message.grain}",
            points=message.points,
            label=lambda at, g=message.grain: axis_label(at, g, cal),
            target=None if metric or kpi is None else kpi.target,
            unit=subject.unit,
            decimals=subject.decimals,
            currency=config.settings.currency,
            previous_name=earlier,
            partial=self._partial(message.points, message.grain, cal),
            markers=tuple((note.at, note.text) for note in message.annotations),
            notes=compare_notes + _annotation_notes(message.annotations, cal),
        )

    def _partial(self, points: list, grain: str, cal: periods.Calendar) -> str | None:
        """``18 Mar to 15:30`` when the last bucket is still in progress (it holds the snapshot's time)."""
        snapshot = self.app.snapshot
        if not points or snapshot is None:
            return None
        start, now = points[-1][0], snapshot.at
        if not start <= now < periods.bucket_end(start, grain, cal):
            return None
        return f"{axis_label(start, grain, cal)} to {now.astimezone(cal.tz):%H:%M}"

    # -- why it moved ------------------------------------------------------------

    def _explain(self) -> None:
        runtime = self.app.runtime
        snapshot = self.app.snapshot
        result = snapshot.kpis.get(self.kpi_id) if snapshot else None
        if runtime is None or result is None:
            return
        self.explain_request += 1
        self._explanation(runtime, snapshot, self.kpi_id, self.app.view, self.explain_request)

    @work(thread=True, exclusive=True, group="explain", exit_on_error=False)
    def _explanation(self, runtime, snapshot, kpi_id: str, view: ViewSettings, request: int) -> None:
        try:
            explanation = runtime.explain(snapshot, kpi_id, window=view.window, offset=view.offset, instance=view.instance)
        except Exception as exc:  # noqa: BLE001 - shown in place of the split; the app keeps running
            from ...explain import Explanation

            result = snapshot.kpis[kpi_id]
            explanation = Explanation(kpi_id, result.kpi.formula, result.change, reason=f"cannot be worked out: {type(exc).__name__}: {exc}")
        self.post_message(ExplanationReady(explanation, snapshot.kpis[kpi_id], request))

    @on(ExplanationReady)
    def _explanation_ready(self, message: ExplanationReady) -> None:
        if message.request != self.explain_request or self.metric_id is not None:
            return
        config = self.app.config
        names = {**{m: metric.name for m, metric in config.metrics.items()}, **{k: kpi.name for k, kpi in config.kpis.items()}}
        units = {**{m: metric.unit for m, metric in config.metrics.items()}, **{k: kpi.unit for k, kpi in config.kpis.items()}}
        why = self.query_one(WhyMoved)
        why.show(message.result, message.explanation, names, units, config.settings.currency, palette_of(self.app).muted)

    @on(DrillDown)
    def _drill_down(self, message: DrillDown) -> None:
        """An input's chart at the same window (the app's) and grain: a metric behind this KPI, or a KPI."""
        config = self.app.config
        if message.ref in config.kpis:
            self.app.push_screen(DetailScreen(message.ref, grain=self.grain))
        elif message.ref in config.metrics:
            self.app.push_screen(DetailScreen(self.kpi_id, message.ref, grain=self.grain))

    def _year_difference(self) -> tuple[str, ...]:
        """``Mar 2026 to date 178 vs 160 a year earlier: +18 (+11.2%)`` for a KPI (its window's values)."""
        result = self._result() if self.metric_id is None else None
        if result is None or result.value is None or result.last_year is None:
            return ()
        from ...formatting import format_change

        currency = self.app.config.settings.currency
        change = result.value - result.last_year
        pct = change / abs(result.last_year) * 100 if result.last_year else None
        now, then = value_text(result.kpi, result.value, currency), value_text(result.kpi, result.last_year, currency)
        return (f"{result.period.label} {now} vs {then} a year earlier: {format_change(change, pct, result.kpi.unit, result.kpi.decimals, currency)}",)

    def action_toggle_compare(self) -> None:
        """The chart's second line: the period before, or the same period a year earlier (with their difference)."""
        self.compare = "last_year" if self.compare == "previous" else "previous"
        self.load()

    def action_drill_down(self) -> None:
        why = self.query(WhyMoved)
        ref = why.first().highlighted_ref() if why else None
        if ref is not None:
            self.post_message(DrillDown(ref))

    # -- what a metric's condition matched (an access-log metric) -------------------------

    def _load_matches(self) -> None:
        box = self.query_one("#detail-matches", Static)
        config = self.app.config
        metric = config.metrics.get(self.metric_id)
        spec = config.sources.get(metric.source or "") if metric else None
        runtime = self.app.runtime
        if metric is None or spec is None or runtime is None or not (metric.trigger and metric.trigger.condition):
            box.display = False
            return
        box.display = True
        box.update(Text("what the condition matched: reading the log…", style=palette_of(self.app).muted))
        self._matches(runtime, self.metric_id, self.window, self.app.offset)

    @work(thread=True, exclusive=True, group="matches", exit_on_error=False)
    def _matches(self, runtime, metric_id: str, window: str, offset: int) -> None:
        from ...matches import CannotSay, top_matches

        cal = periods.Calendar.from_settings(runtime.config.settings)
        now = runtime.clock()
        period = periods.resolve(periods.parse_window(window), now, cal, offset)
        end = min(period.end, now + dt.timedelta(microseconds=1))
        listing = False
        try:
            tops = top_matches(runtime.config, metric_id, period.start, end, limit=3)
            text, listing = _matches_text(tops, period.label), True
        except CannotSay as exc:
            text = str(exc)
        except Exception as exc:  # noqa: BLE001 - shown in place; the chart and the app carry on
            text = f"cannot read what the condition matched: {type(exc).__name__}: {exc}"
        self.app.call_from_thread(self._matches_ready, metric_id, text, listing)

    def _matches_ready(self, metric_id: str, text: str, listing: bool = False) -> None:
        """``listing``: one line per field, cut with … at the edge (an explanation wraps instead)."""
        if metric_id == self.metric_id:
            box = self.query_one("#detail-matches", Static)
            box.set_class(listing, "listing")
            box.update(Text(text, style=palette_of(self.app).muted))

    @on(SeriesFailed)
    def _series_failed(self, message: SeriesFailed) -> None:
        if message.request == self.request:
            chart = self.query_one(Chart)
            chart.spec = None
            chart.message = f"cannot draw the chart: {message.error}"

    def _result(self) -> KpiResult | None:
        snapshot = self.app.snapshot
        return snapshot.kpis.get(self.kpi_id) if snapshot else None

    def _summary(self) -> None:
        kpi = self.kpi
        colours = palette_of(self.app)
        currency = self.app.config.settings.currency
        result = self._result()
        text = Text()
        text.append(kpi.name, style="bold")
        if result is None:
            text.append("  loading…", style=colours.muted)
        elif result.error:
            text.append(f"  ✖ {result.error}", style=colours.bad)
        else:
            status = colours.status(result.status)
            text.append(f"  {result.period.label}  ", style=colours.muted)
            text.append(value_text(kpi, result.value, currency), style="bold")
            if result.target is not None:
                text.append(f"  target {applied_target_text(result, currency)}", style=colours.muted)
                if result.progress is not None:
                    text.append(f"  progress {round(result.progress * 100)}%", style=colours.muted)
            text.append(f"  {STATUS_SYMBOL[result.status]} {result.status.label}", style=status)
            if result.score is not None:
                text.append(f" (score {round(result.score * 100)}%)", style=status)
            basis = basis_text(result, currency)
            if basis:
                text.append(f"\n{basis}", style=colours.muted)
            text.append("\n")
            text.append(f"vs {result.previous_period.label or 'previous period'}: ", style=colours.muted)
            text.append_text(change_text(result, currency, colours))
            if result.last_year is not None:
                text.append(f"  · a year ago {value_text(kpi, result.last_year, currency)}", style=colours.muted)
            if result.projection is not None:
                text.append("  · on pace for ", style=colours.muted)
                text.append_text(pace_text(result, currency, colours))
                if result.projected_to is not None:
                    tz = ZoneInfo(self.app.config.settings.timezone)
                    last = (result.projected_to - dt.timedelta(microseconds=1)).astimezone(tz)
                    text.append(f" by the end of {last:%d %b %Y}", style=colours.muted)
            parts = "  ".join(f"{name} {format_value(v, 'number')}" for name, v in result.parts.items())
            if parts:
                text.append(f"  · {parts}", style=colours.muted)
            tz = self.app.config.settings.timezone
            newest = f"newest reading at {format_time(result.freshness, tz)}" if result.freshness else "no reading yet"
            text.append(f"\n{newest}", style=colours.muted)
        text.append("\n")
        text.append_text(self._controls())
        self.query_one("#detail-summary", Static).update(text)

    def _controls(self) -> Text:
        colours = palette_of(self.app)
        text = Text()
        grains = "  ".join(("▸" if g == self.grain else " ") + g for g in bindings.GRAINS)
        text.append(f"window {self.window}", style=colours.accent)
        if self.app.offset:
            text.append(f" ({self.app.offset} back)", style=colours.accent)
        text.append(f"   grain {grains}", style=colours.muted)
        text.append("  (H D W M, g)", style=colours.muted)
        return text

    def _metric(self) -> None:
        """The summary of a metric opened from a KPI's metrics pane."""
        snapshot = self.app.snapshot
        config = self.app.config
        colours = palette_of(self.app)
        metric = config.metrics.get(self.metric_id)
        box = self.query_one("#detail-summary", Static)
        if metric is None:
            box.update(Text(f"metric {self.metric_id!r} is no longer in the config (escape goes back)"))
            return
        status = snapshot.metrics.get(self.metric_id) if snapshot else None
        text = Text()
        text.append(("★ " if metric.is_key else "") + metric.name, style="bold")
        behind = f"behind {self.kpi.name}" if self.kpi is not None else "read by no KPI"
        text.append(f"  {metric.aggregation} of {metric.unit} readings · {behind}", style=colours.muted)
        if status is not None:
            text.append("\n")
            text.append_text(self._freshness(status.latest, metric, status))
        health = status.health if status else None
        if health is not None and health.error:
            tz = ZoneInfo(config.settings.timezone)
            text.append(f"\n✖ {health.error}", style=colours.bad)
            text.append(f"  ({health.failures} failure{'s' if health.failures != 1 else ''}", style=colours.muted)
            if health.next_attempt:
                text.append(f", next try {health.next_attempt.astimezone(tz):%H:%M:%S}", style=colours.muted)
            text.append(")", style=colours.muted)
        if metric.trigger is not None:
            spec = config.sources.get(metric.source or "")
            origin = f"source {spec.id} ({spec.type})" if spec is not None and spec.type != "manual" else "readings recorded by hand"
            text.append(f"\ncounted by {origin} when: {metric.trigger.text}", style=colours.muted)
            if metric.trigger.condition:
                text.append(f"\ncondition: {metric.trigger.condition}", style=colours.muted)
        elif metric.description and not (health is not None and health.error):
            text.append(f"\n{metric.description}", style=colours.muted)
        text.append("\n")
        text.append_text(self._controls())
        box.update(text)

    def _freshness(self, latest: float | None, metric, status) -> Text:
        """``newest reading 6,052 at 2026-12-01 23:00 EST · source demo last polled 2m ago``."""
        config = self.app.config
        snapshot = self.app.snapshot
        colours = palette_of(self.app)
        tz = config.settings.timezone
        text = Text()
        if status.latest_at is None:
            text.append("no reading yet", style=colours.muted)
        else:
            value = format_value(latest, metric.unit, metric.decimals, config.settings.currency)
            text.append(f"newest reading {value} at {format_time(status.latest_at, tz)}", style=colours.muted)
        spec = config.sources.get(metric.source or "")
        if spec is None or spec.type == "manual":
            text.append(" · recorded by hand", style=colours.muted)
        else:
            polled = status.health.last_success if status.health else None
            text.append(f" · source {metric.source} last polled {format_age(polled, snapshot.at)}", style=colours.muted)
        return text

    def _redraw_summary(self) -> None:
        """Re-draw the summary line that shows the grain."""
        if self.metric_id is not None:
            self._metric()
        else:
            self._summary()

    # -- actions -----------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_set_grain(self, grain: str) -> None:
        if grain != self.grain:
            self.grain = grain
            self._redraw_summary()
            self.load()

    def action_cycle_grain(self) -> None:
        grains = bindings.GRAINS
        index = grains.index(self.grain) if self.grain in grains else -1
        self.action_set_grain(grains[(index + 1) % len(grains)])
