"""The detail view of one KPI, or of one metric behind a KPI: the chart at a chosen grain
(with the target and the previous period), and what the numbers are."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Header, Static
from textual.worker import get_current_worker

from ... import periods
from ...model import KpiResult
from .. import bindings
from ..palette import palette_of
from ..state import ViewSettings
from ..widgets.chart import Chart, ChartSpec
from ..widgets.footer import KeysFooter
from ..widgets.matches import ConditionMatches
from ..widgets.why import DrillDown, WhyMoved
from .base import SnapshotScreen
from .detail_text import (
    annotation_notes,
    axis_label,
    controls,
    kpi_summary,
    metric_summary,
    partial_bucket,
    y_axis,
    year_difference,
)

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
            yield ConditionMatches(id="detail-matches")
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
            self.query_one("#detail-summary", Static).update(
                Text(f"KPI {self.kpi_id!r} is no longer in the config (escape goes back)")
            )
            self.query_one(Chart).spec = None
            self.query_one(Chart).message = ""
            return
        if self.grain is None:
            self.grain = self.default_grain()
        if self.metric_id is not None:
            self._metric()
            self.query_one(ConditionMatches).load(self.metric_id, self.window, self.app.offset, self.app.view.instance)
        else:
            self._summary()
            self._explain()
        self.load()

    def load(self) -> None:
        runtime = self.app.runtime
        if runtime is None or self.app.snapshot is None:
            return
        self.request += 1
        self._series(
            runtime, self.kpi_id, self.metric_id, self.grain or "day", self.window, self.app.view, self.request
        )

    @work(thread=True, exclusive=True, group="series", exit_on_error=False, description="series")
    def _series(
        self, runtime, kpi_id: str, metric_id: str | None, grain: str, window: str, view: ViewSettings, request: int
    ) -> None:
        worker = get_current_worker()
        started = time.perf_counter()
        points = POINTS.get(grain, 30)
        offset, shown = view.offset, {"compare": self.compare, "instance": view.instance}
        try:
            if metric_id is not None:
                points = runtime.metric_series(
                    metric_id, grain=grain, window=window, offset=offset, points=points, **shown
                )
            else:
                points = runtime.series(kpi_id, grain=grain, window=window, offset=offset, points=points, **shown)
        except Exception as exc:  # noqa: BLE001 - shown in the chart area, the app keeps running
            self.post_message(SeriesFailed(f"{type(exc).__name__}: {exc}", request))
            return
        notes = chart_annotations(runtime, kpi_id, metric_id, points, grain)
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
        earlier = periods.earlier_text(win, message.grain)
        compare_notes: tuple[str, ...] = ()
        if self.compare == "last_year":
            earlier = "a year earlier"
            compare_notes = year_difference(
                self._result() if self.metric_id is None else None, config.settings.currency
            )
        self.points = message.points
        self.shown = (message.grain, message.window, message.offset)
        metric = config.metrics.get(self.metric_id) if self.metric_id else None
        subject = metric or kpi
        chart = self.query_one(Chart)
        # buckets whose value is none while the inputs have data (÷ 0): said, not drawn as missing data
        undefined: frozenset[int] = getattr(message.points, "undefined", frozenset())
        why = getattr(message.points, "undefined_reason", "")
        undefined_notes = (
            (f"⊘ undefined in {len(undefined)} of {len(message.points)} buckets ({why}): the inputs have data",)
            if undefined
            else ()
        )
        chart.spec = ChartSpec(
            name=f"{subject.name} by {message.grain}",
            points=message.points,
            label=lambda at, g=message.grain: axis_label(at, g, cal),
            target=None if metric or kpi is None else kpi.target,
            unit=subject.unit,
            decimals=subject.decimals,
            currency=config.settings.currency,
            previous_name=earlier,
            partial=partial_bucket(
                message.points, message.grain, cal, self.app.snapshot.at if self.app.snapshot else None
            ),
            markers=tuple((note.at, note.text) for note in message.annotations),
            notes=compare_notes + annotation_notes(message.annotations, cal) + undefined_notes,
            y_axis=y_axis(subject.unit, message.grain, config.settings.currency),
            empty=f"undefined in this range ({why}): the inputs have data" if undefined else "no data in this range",
        )

    # -- why it moved ------------------------------------------------------------

    def _explain(self) -> None:
        runtime = self.app.runtime
        snapshot = self.app.snapshot
        result = snapshot.kpis.get(self.kpi_id) if snapshot else None
        if runtime is None or result is None:
            return
        self.explain_request += 1
        self._explanation(runtime, snapshot, self.kpi_id, self.app.view, self.explain_request)

    @work(thread=True, exclusive=True, group="explain", exit_on_error=False, description="explain")
    def _explanation(self, runtime, snapshot, kpi_id: str, view: ViewSettings, request: int) -> None:
        try:
            explanation = runtime.explain(
                snapshot, kpi_id, window=view.window, offset=view.offset, instance=view.instance
            )
        except Exception as exc:  # noqa: BLE001 - shown in place of the split; the app keeps running
            from ...explain import Explanation

            result = snapshot.kpis[kpi_id]
            explanation = Explanation(
                kpi_id, result.kpi.formula, result.change, reason=f"cannot be worked out: {type(exc).__name__}: {exc}"
            )
        self.post_message(ExplanationReady(explanation, snapshot.kpis[kpi_id], request))

    @on(ExplanationReady)
    def _explanation_ready(self, message: ExplanationReady) -> None:
        if message.request != self.explain_request or self.metric_id is not None:
            return
        config = self.app.config
        names, units = names_and_units(config)
        why = self.query_one(WhyMoved)
        why.show(
            message.result, message.explanation, names, units, config.settings.currency, palette_of(self.app).muted
        )

    @on(DrillDown)
    def _drill_down(self, message: DrillDown) -> None:
        """An input's chart at the same window (the app's) and grain: a metric behind this KPI, or a KPI."""
        config = self.app.config
        if message.ref in config.kpis:
            self.app.push_screen(DetailScreen(message.ref, grain=self.grain))
        elif message.ref in config.metrics:
            self.app.push_screen(DetailScreen(self.kpi_id, message.ref, grain=self.grain))

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
        text = kpi_summary(self.kpi, self._result(), self.app.config, palette_of(self.app))
        text.append("\n")
        text.append_text(controls(self.window, self.app.offset, self.grain, palette_of(self.app)))
        self.query_one("#detail-summary", Static).update(text)

    def _metric(self) -> None:
        """The summary of a metric opened from a KPI's metrics pane."""
        snapshot, config = self.app.snapshot, self.app.config
        metric = config.metrics.get(self.metric_id or "")
        box = self.query_one("#detail-summary", Static)
        if metric is None:
            box.update(Text(f"metric {self.metric_id!r} is no longer in the config (escape goes back)"))
            return
        status = snapshot.metrics.get(metric.id) if snapshot else None
        colours = palette_of(self.app)
        text = metric_summary(metric, status, self.kpi, config, colours, snapshot.at if snapshot else None)
        text.append("\n")
        text.append_text(controls(self.window, self.app.offset, self.grain, colours))
        box.update(text)

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


def chart_annotations(runtime, kpi_id: str, metric_id: str | None, points: list, grain: str) -> tuple:
    """The annotations about the chart's subject within the span its ``points`` cover (never past now)."""
    if not points:
        return ()
    try:
        cal = periods.Calendar.from_settings(runtime.config.settings)
        end = min(periods.bucket_end(points[-1][0], grain, cal), runtime.clock())
        return tuple(
            n for n in runtime.annotations(kpi_id, metric_id, points[0][0], end) if n.at < end or end == runtime.clock()
        )
    except Exception:  # noqa: BLE001 - annotations are extra: the chart is drawn without them
        return ()


def names_and_units(config) -> tuple[dict[str, str], dict[str, str]]:
    """Every metric's and KPI's display name and unit, by id (what "Why it moved" labels its inputs with)."""
    items = [*config.metrics.items(), *config.kpis.items()]
    return {i: item.name for i, item in items}, {i: item.unit for i, item in items}
