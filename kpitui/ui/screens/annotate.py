"""The annotate form: a dated note ("Launched the webinar ads") about everything, a KPI or a metric.

What ``kpitui annotate`` does, from the TUI: the note is kept in the history
(:mod:`kpitui.annotations`) and marked on the detail chart. Bad input shows an
inline error and keeps the form open; the write runs in a worker.
"""

from __future__ import annotations

import datetime as dt

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ...annotations import Annotation, AnnotationError
from ...config import Config
from .. import bindings
from .add_reading import FormError, parse_time

ALL = "all"


class AnnotateScreen(ModalScreen[Annotation | None]):
    BINDINGS = [b for b in bindings.FORM if b.id != "form_delete"]

    def __init__(
        self, config: Config, kpi_id: str | None = None, metric_id: str | None = None, now: dt.datetime | None = None
    ) -> None:
        super().__init__()
        self.config = config
        self.now = now
        if metric_id in config.metrics:
            self.about = f"metric:{metric_id}"
        elif kpi_id in config.kpis:
            self.about = f"kpi:{kpi_id}"
        else:
            self.about = ALL

    def compose(self) -> ComposeResult:
        options = [("Everything", ALL)]
        options += [(f"KPI {k.name} ({k.id})", f"kpi:{k.id}") for k in self.config.kpis.values()]
        options += [(f"Metric {m.name} ({m.id})", f"metric:{m.id}") for m in self.config.metrics.values()]
        with Vertical(id="form") as form:
            form.border_title = "Annotate"
            form.border_subtitle = "ctrl+s saves · esc cancels"
            yield Label("What happened")
            yield Input(placeholder="e.g. Launched the webinar ads", id="note-text", compact=True)
            yield Label(f"When (optional, ISO; default now; {self.config.settings.timezone})")
            yield Input(placeholder="e.g. 2026-03-15 14:30", id="note-at", compact=True)
            yield Label("About")
            yield Select(
                options, value=self.about, allow_blank=False, id="note-about", type_to_search=True, compact=True
            )
            yield Static("", id="form-error", markup=False)
            with Horizontal(id="form-buttons"):
                yield Button("Save", variant="primary", id="save", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#note-text", Input).focus()

    def _error(self, message: str) -> None:
        error = self.query_one("#form-error", Static)
        error.update(message)
        error.set_class(bool(message), "-shown")

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#save")
    @on(Input.Submitted)
    def action_save(self) -> None:
        text = self.query_one("#note-text", Input).value
        if not text.strip():
            self._error("type what happened, e.g. Launched the webinar ads")
            return
        now = self.now or dt.datetime.now(dt.timezone.utc)
        try:
            at = parse_time(self.query_one("#note-at", Input).value, self.config.settings.timezone, now)
        except FormError as exc:
            self._error(f"time: {exc}")
            return
        about = str(self.query_one("#note-about", Select).value)
        kind, _, ident = about.partition(":")
        self._error("")
        self._save(text, at, ident if kind == "kpi" else None, ident if kind == "metric" else None)

    @work(thread=True, exclusive=True, group="annotate", exit_on_error=False, description="annotate")
    def _save(self, text: str, at: dt.datetime, kpi: str | None, metric: str | None) -> None:
        from ...annotations import AnnotationStore

        try:
            with AnnotationStore(self.config.storage.path) as store:
                note = store.add(text, at, kpi=kpi, metric=metric)
        except AnnotationError as exc:
            self.app.call_from_thread(self._error, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a full disk or a locked file: say so, keep the form
            self.app.call_from_thread(self._error, f"could not save: {exc}")
            return
        self.app.call_from_thread(self.dismiss, note)
