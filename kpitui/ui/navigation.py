"""Opening kpitui's other screens from the app's actions: help, alerts, a detail, the forms.

The screens are imported when first opened (the first frame does not show
them). A form's result comes back as a message (:class:`ReadingSaved`) that
the app handles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..formatting import format_time, format_value
from .messages import ReadingSaved

if TYPE_CHECKING:
    from .app import KpiApp
    from .screens.add_reading import NewReading

READ_ONLY_NOTE = (
    "This session is read-only: adding readings or annotations is off (`kpitui serve --allow-write` turns it on)."
)


def open_help(app: KpiApp) -> None:
    from .screens.help import HelpScreen

    if not isinstance(app.screen, HelpScreen):
        app.push_screen(HelpScreen())


def open_alerts(app: KpiApp) -> None:
    from .screens.alerts import AlertsScreen

    if not isinstance(app.screen, AlertsScreen):
        app.push_screen(AlertsScreen())


def open_detail(app: KpiApp, kpi_id: str | None, metric_id: str | None = None) -> None:
    """A KPI's detail, or a metric's (behind ``kpi_id``, or behind no KPI)."""
    from .screens.detail import DetailScreen

    if kpi_id in app.config.kpis or (kpi_id is None and metric_id in app.config.metrics):
        app.push_screen(DetailScreen(kpi_id, metric_id))


def _refused(app: KpiApp) -> bool:
    if app.read_only:
        app.notify(READ_ONLY_NOTE, title="Read-only", severity="warning", timeout=6)
    return app.read_only


def source_fed_note(app: KpiApp, metric_id: str) -> str | None:
    """Why ``metric_id`` takes no reading typed by hand (``None``: it is a manual metric)."""
    from ..polled import manual_metrics

    metric = app.config.metrics.get(metric_id)
    if metric is None or metric_id in manual_metrics(app.config.metrics, app.config.sources):
        return None
    return (
        f"{metric.name} is fed by the source {metric.source}: its readings come from there, and one typed by hand "
        "would be mixed into what the source counts. Manual readings are for metrics without a source."
    )


def open_add_reading(app: KpiApp) -> None:
    """The add-reading form, for the metric on screen (a detail's manual metric first). The form offers only
    manual metrics: on a metric fed by a source it says why and opens without one (or not at all when the config
    has no manual metric)."""
    from ..polled import manual_metrics
    from .screens.add_reading import AddReadingScreen
    from .screens.dashboard import DashboardScreen
    from .screens.detail import DetailScreen

    if _refused(app) or isinstance(app.screen, AddReadingScreen):
        return
    screen, metric = app.screen, None
    by_hand = manual_metrics(app.config.metrics, app.config.sources)
    if isinstance(screen, DetailScreen):
        metric = screen.metric_id
        if metric is None and app.runtime is not None:
            behind = sorted(app.runtime.engine.metrics_of(screen.kpi_id))
            manual = [m for m in behind if m in by_hand]
            metric = (manual or behind or [None])[0]
    elif isinstance(screen, DashboardScreen):
        metric = screen.metric_id
    note = source_fed_note(app, metric) if metric is not None else None
    if note is not None:
        metric = None
        if not by_hand:
            app.notify(note + " This config has no manual metric.", title="No manual reading", timeout=10)
            return
        app.notify(note, title="Not a manual metric", severity="warning", timeout=10)

    def added(reading: NewReading | None) -> None:
        if reading is not None:
            app.post_message(ReadingSaved(reading.metric, reading.at, reading.value, reading.action, reading.id))

    app.push_screen(AddReadingScreen(app.config, metric), added)


def reading_saved_note(app: KpiApp, message: ReadingSaved) -> str:
    """``added Webinar sign-ups = 12 at 2026-03-18 10:00 UTC (reading 7)``: the time as ``kpitui record`` echoes it
    (a reading typed for another time than now says which)."""
    metric = app.config.metrics.get(message.metric)
    name = metric.name if metric else message.metric
    if metric is not None:
        shown = format_value(message.value, metric.unit, metric.decimals, app.config.settings.currency)
    else:
        shown = f"{message.value:g}"
    when = format_time(message.at, app.config.settings.timezone)
    return f"{message.action} {name} = {shown} at {when}" + (f" (reading {message.id})" if message.id else "")


def open_annotate(app: KpiApp) -> None:
    """The annotate form, about the KPI or metric on screen (else everything)."""
    from .screens.annotate import AnnotateScreen
    from .screens.detail import DetailScreen

    if _refused(app) or isinstance(app.screen, AnnotateScreen):
        return
    kpi = metric = None
    if isinstance(app.screen, DetailScreen):
        kpi, metric = app.screen.kpi_id, app.screen.metric_id

    def annotated(note) -> None:
        if note is None:
            return
        app.notify(f"annotation {note.id}: {note.text}", timeout=3)
        for screen in app.screen_stack:
            if isinstance(screen, DetailScreen) and screen.ready:
                screen.load()

    app.push_screen(AnnotateScreen(app.config, kpi, metric, now=app.now()), annotated)
