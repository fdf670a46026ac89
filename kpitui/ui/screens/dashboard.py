"""The main screen: objectives, the selected objective's KPIs, the selected KPI's metrics.

State flows down (the app's snapshot and view settings, this screen's
selection and filter); events flow up (row highlights and selections).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.widgets import DataTable, Header, Input, Static

from ...model import MetricStatus, Snapshot
from ...polled import kpi_polled_at
from .. import bindings
from ..literal import literal
from ..palette import palette_of
from ..panes.base import MESSAGE_KEY, Pane, Row
from ..panes.kpis import KpiPane, rows as kpi_rows
from ..panes.metrics import MetricsPane, rows as metric_rows
from ..panes.objectives import ObjectivesPane, rows as objective_rows
from ..view import Context
from ..widgets.footer import KeysFooter
from .base import SnapshotScreen, breakpoint_classes
from .listing import LOOSE_METRICS, UNASSIGNED, Listing, kpi_info, metric_info

if TYPE_CHECKING:
    from ...config import Config
    from ...engine import Engine


class DashboardScreen(SnapshotScreen):
    BINDINGS = bindings.DASHBOARD

    def __init__(self) -> None:
        super().__init__(id="dashboard")
        self.objective_id: str | None = None
        self.kpi_id: str | None = None
        self.metric_id: str | None = None
        self.filter_text = ""
        self.ready = False  # composed and mounted: safe to query children
        #: the listing of the snapshot on screen, with the snapshot, config, engine and filter it was made for
        self._listing: tuple[Listing, Snapshot | None, Config, Engine | None, str] | None = None
        #: the engine and the metrics each KPI reads (:meth:`_metrics_of`)
        self._reads: tuple[Engine, dict[str, frozenset[str]]] | None = None

    def compose(self) -> ComposeResult:
        # the breakpoint classes for the terminal's size before the first layout: Textual sets them on the screen's
        # first Resize, after laying it out, so the first frame was the narrow (stacked) one and every pane was laid
        # out, rebuilt and drawn a second time once the classes applied
        self.update_classes(breakpoint_classes(self.app, self.app.size), animate=False)
        yield Header(show_clock=False, icon="◎")
        yield Static(id="banner", markup=False)
        with Container(id="panes"):
            yield ObjectivesPane(id="objectives")
            with Vertical(id="right"):
                yield KpiPane(id="kpis")
                yield Static(id="kpi-info", classes="info", markup=False)
                yield MetricsPane(id="metrics")
                yield Static(id="metric-info", classes="info", markup=False)
        yield Input(placeholder="filter KPIs and metrics by name — enter keeps it, escape clears", id="filter")
        yield Static(id="status", markup=False)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.ready = True
        self.query_one("#kpis", KpiPane).focus()
        self.watch_app(
            snapshot=self.refresh_view,
            problems=self._banner,
            loading_message=self._loading,
            status=self.refresh_status,
            theme=self.refresh_view,
        )
        self.refresh_view()

    def _loading(self) -> None:
        if self.app.snapshot is None:
            self.refresh_view()

    def show_objective(self, objective_id: str) -> None:
        """The palette's "objective: …": that objective's KPIs, focused."""
        self.objective_id = objective_id
        self.kpi_id = None
        self.refresh_view()
        self.set_focus(self.query_one("#kpis"))

    # -- panes -----------------------------------------------------------------

    @property
    def panes(self) -> list[Pane]:
        return [self.query_one("#objectives", Pane), self.query_one("#kpis", Pane), self.query_one("#metrics", Pane)]

    def action_next_pane(self) -> None:
        self._step_focus(1)

    def action_previous_pane(self) -> None:
        self._step_focus(-1)

    def _step_focus(self, step: int) -> None:
        panes = self.panes
        current = self.focused
        index = panes.index(current) if isinstance(current, Pane) and current in panes else (0 if step > 0 else 1)
        self.set_focus(panes[(index + step) % len(panes)])  # at once: the next key goes to the new pane

    # -- filter ----------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.value = self.filter_text
        self.set_focus(box)

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        if self.filter_text:
            self.filter_text = ""
            self.refresh_view()
        self.set_focus(self.query_one("#kpis", Pane))

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self.refresh_view()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        box = self.query_one("#filter", Input)
        if not self.filter_text:
            box.display = False
        self.set_focus(self.query_one("#kpis", Pane))

    # -- rendering ---------------------------------------------------------------

    def listing(self) -> Listing:
        """What the panes list from the snapshot on screen, for this filter: one listing for the panes, the info
        lines and the highlights until the snapshot, the config, the engine or the filter changes."""
        app, runtime = self.app, self.app.runtime
        engine = runtime.engine if runtime else None
        made = self._listing
        if (
            made is not None
            and made[1] is app.snapshot
            and made[2] is app.config
            and made[3] is engine
            and made[4] == self.filter_text
        ):
            return made[0]
        listing = Listing(app.snapshot, app.config, self._metrics_of(engine), self.filter_text)
        self._listing = (listing, app.snapshot, app.config, engine, self.filter_text)
        return listing

    def _metrics_of(self, engine: Engine | None) -> Callable[[str], frozenset[str]] | None:
        """``engine.metrics_of`` (a walk through the KPIs a KPI reads), each KPI's answer kept while the engine lasts:
        the objectives pane asks for every KPI's at each refresh (the metrics no KPI reads)."""
        if engine is None:
            return None
        if self._reads is None or self._reads[0] is not engine:
            self._reads = (engine, {})
        kept = self._reads[1]

        def metrics_of(kpi_id: str) -> frozenset[str]:
            found = kept.get(kpi_id)
            if found is None:
                found = kept[kpi_id] = frozenset(engine.metrics_of(kpi_id))
            return found

        return metrics_of

    def context(self, snapshot: Snapshot) -> Context:
        settings = self.app.config.settings
        return Context(
            now=snapshot.at,
            currency=settings.currency,
            colours=palette_of(self.app),
            timezone=settings.timezone,
            annotated=snapshot.annotated,
        )

    def refresh_view(self) -> None:
        """Re-render every pane from the app's snapshot, keeping the selection."""
        if not self.ready:
            return
        app = self.app
        snapshot: Snapshot | None = app.snapshot
        self._banner()
        self._status()
        if snapshot is None:
            message = app.loading_message
            for pane in self.panes:
                pane.show([], message)
            self.query_one("#kpi-info", Static).update("")
            self.query_one("#metric-info", Static).update("")
            return
        ctx = self.context(snapshot)
        listing = self.listing()
        objectives = objective_list(snapshot, ctx, listing)
        keys = [r.key for r in objectives]
        if self.objective_id not in keys:
            self.objective_id = keys[0] if keys else None
        self.query_one("#objectives", ObjectivesPane).show(
            objectives, "no objectives and no metrics in the config", select=self.objective_id
        )
        self._show_kpis()

    def _show_kpis(self) -> None:
        snapshot: Snapshot = self.app.snapshot
        pane = self.query_one("#kpis", KpiPane)
        listing = self.listing()
        results = listing.kpis(self.objective_id)
        title, message = kpi_pane_text(snapshot, self.objective_id, self.filter_text.strip())
        pane.border_title = literal(title)  # an objective's title or the filter typed may hold "[/x]"
        keys = [r.kpi.id for r in results]
        if self.kpi_id not in keys:
            self.kpi_id = keys[0] if keys else None
        polled = {r.kpi.id: kpi_polled_at(listing.statuses_of(r.kpi.id), listing.manual) for r in results}
        pane.show(kpi_rows(results, self.context(snapshot), polled), message, select=self.kpi_id)
        self._kpi_info()
        self._show_metrics()

    def _show_metrics(self) -> None:
        snapshot: Snapshot = self.app.snapshot
        pane = self.query_one("#metrics", MetricsPane)
        listing = self.listing()
        statuses = listing.metrics(self.objective_id, self.kpi_id)
        keys = [s.metric.id for s in statuses]
        if self.metric_id not in keys:
            self.metric_id = keys[0] if keys else None
        result = snapshot.kpis.get(self.kpi_id or "")
        pane.border_title = literal(
            f"Metrics · {result.kpi.name}"
            if result
            else ("Metrics · read by no KPI" if self.objective_id == LOOSE_METRICS else "Metrics")
        )
        doing = self._doing(statuses)
        pane.show(
            metric_rows(statuses, self.context(snapshot), listing.manual, doing),
            "no KPI selected" if self.kpi_id is None else "this KPI reads no metrics",
            select=self.metric_id,
        )
        self._metric_info()

    def _doing(self, statuses: list[MetricStatus]) -> dict[str, list[str]]:
        """The shown metrics' sources with work in progress (a backlog), as :meth:`kpitui.progress.Tracker.parts`."""
        tracker = self.app.poller.progress
        found = {}
        for source in {s.metric.source for s in statuses if s.metric.source}:
            parts = tracker.parts(source)
            if parts is not None:
                found[source] = parts
        return found

    def _kpi_info(self) -> None:
        snapshot: Snapshot = self.app.snapshot
        self.query_one("#kpi-info", Static).update(
            kpi_info(snapshot.kpis.get(self.kpi_id or ""), self.context(snapshot))
        )

    def _metric_info(self) -> None:
        snapshot: Snapshot = self.app.snapshot
        self.query_one("#metric-info", Static).update(
            metric_info(snapshot.metrics.get(self.metric_id or ""), self.context(snapshot))
        )

    def _banner(self) -> None:
        problems = self.app.problems
        banner = self.query_one("#banner", Static)
        banner.display = bool(problems)
        banner.update(Text("\n".join(f"⚠ {p}" for p in problems.values())))

    def _status(self) -> None:
        self.query_one("#status", Static).update(self.app.status)

    def refresh_status(self) -> None:
        """A poll or a source's progress moved on: the status line and the metrics pane's rows of that source."""
        if not self.ready:
            return
        self._status()
        if self.app.snapshot is not None:
            self._show_metrics()

    # -- events --------------------------------------------------------------------

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        key, table = self._row_of(event), event.data_table
        if key is None:
            return
        if table.id == "objectives" and key != self.objective_id:
            self.objective_id = key
            self.kpi_id = None
            self._show_kpis()
        elif table.id == "kpis" and key != self.kpi_id:
            self.kpi_id = key
            self._kpi_info()
            self._show_metrics()
        elif table.id == "metrics" and key != self.metric_id:
            self.metric_id = key
            self._metric_info()

    def _row_of(self, event: DataTable.RowHighlighted | DataTable.RowSelected) -> str | None:
        """The key of the row an event is about; ``None`` for the message row, before the first
        snapshot, or when the pane no longer shows that row."""
        key = event.row_key.value
        if key == MESSAGE_KEY or self.app.snapshot is None or not _shows(event.data_table, key):
            return None
        return key

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        key, table = self._row_of(event), event.data_table
        if key is None:
            return
        if table.id == "objectives":
            self.set_focus(self.query_one("#metrics" if key == LOOSE_METRICS else "#kpis", Pane))
        elif table.id == "kpis":
            self.app.open_detail(key)
        elif table.id == "metrics":
            self.app.open_detail(self.kpi_id, metric_id=key)


def _shows(table: DataTable, key: str | None) -> bool:
    """Does the pane still show ``key``? A highlight posted before the pane was re-filled is stale."""
    return isinstance(table, Pane) and any(row.key == key for row in table._rows)


def objective_list(snapshot: Snapshot, ctx: Context, listing: Listing) -> list[Row]:
    """The objectives pane's rows: each objective, then KPIs without one and metrics no KPI reads, if any."""
    objectives = objective_rows(snapshot, ctx, listing.kpi_matches if listing.query else None)
    if listing.unassigned():
        objectives.append(Row(UNASSIGNED, {"title": Text("  KPIs without an objective", style="italic")}))
    loose = listing.loose()
    if loose:
        objectives.append(Row(LOOSE_METRICS, {"title": Text(f"  Metrics no KPI reads ({len(loose)})", style="italic")}))
    return objectives


def kpi_pane_text(snapshot: Snapshot, objective_id: str | None, query: str) -> tuple[str, str]:
    """The KPI pane's title and what it says when it lists no KPI, for the objective (or filter) shown."""
    if objective_id == LOOSE_METRICS:
        if snapshot.kpis:
            return "KPIs", "no KPI reads these metrics: they are listed under Metrics"
        return "KPIs", "no KPIs in the config: its metrics are listed under Metrics"
    if query:
        return f"KPIs matching “{query}”", f"no KPI matches “{query}” (escape clears the filter)"
    title = next((o.objective.title for o in snapshot.objectives if o.objective.id == objective_id), "")
    return (f"KPIs · {title}" if title else "KPIs"), "this objective has no KPIs"
