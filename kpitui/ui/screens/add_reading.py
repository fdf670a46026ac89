"""The add-reading form: pick a metric, type a number and (optionally) a time, save.

Bad input shows an inline error and keeps the form open; the write runs in a
worker and the form closes only once the reading is stored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ... import userinput
from ...config import Config
from .. import bindings

FUTURE_SLACK = dt.timedelta(days=1)


class FormError(ValueError):
    """A message for the inline error line."""


@dataclass(frozen=True)
class NewReading:
    metric: str
    at: dt.datetime
    value: float


def parse_value(text: str, unit: str = "number", currency: str = "$") -> float:
    """The value as typed for a metric of ``unit`` (a duration such as ``4h 30m`` for durations)."""
    try:
        return userinput.parse_value(text, unit, currency=currency)
    except userinput.InputError as exc:
        raise FormError(str(exc)) from None


def parse_time(text: str, timezone: str, now: dt.datetime) -> dt.datetime:
    """Empty: now. ISO date or time; a time without an offset is in the config's time zone."""
    if not text.strip():
        return now
    try:
        value = userinput.parse_time(text, timezone)
    except userinput.InputError as exc:
        raise FormError(str(exc)) from None
    if value > now + FUTURE_SLACK:
        raise FormError("that time is more than a day in the future")
    return value


class AddReadingScreen(ModalScreen[NewReading | None]):
    BINDINGS = bindings.FORM

    def __init__(self, config: Config, metric_id: str | None = None) -> None:
        super().__init__()
        self.config = config
        self.metric_id = metric_id if metric_id in config.metrics else None

    def compose(self) -> ComposeResult:
        metrics = sorted(self.config.metrics.values(), key=lambda m: (m.source != "manual", m.name.lower()))
        options = [(f"{m.name} ({m.id}{'' if m.source == 'manual' else ', ' + str(m.source)})", m.id) for m in metrics]
        tz = self.config.settings.timezone
        with Vertical(id="form") as form:
            form.border_title = "Add a reading"
            form.border_subtitle = "ctrl+s saves · esc cancels"
            yield Label("Metric")
            yield Select(options, value=self.metric_id or Select.NULL, prompt="choose a metric", id="metric", type_to_search=True)
            yield Label("Value (a duration)" if self._unit() == "duration" else "Value", id="value-label")
            yield Input(placeholder=self._hint(), id="value")
            yield Label(f"Time (optional, ISO; default now; {tz})")
            yield Input(placeholder="e.g. 2026-03-15 14:30", id="at")
            yield Static("", id="form-error", markup=False)
            with Horizontal(id="form-buttons"):
                yield Button("Save", variant="primary", id="save", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def _unit(self) -> str:
        metric = self.config.metrics.get(self.metric_id or "")
        return metric.unit if metric else "number"

    def _hint(self) -> str:
        return userinput.value_hint(self._unit())

    @on(Select.Changed, "#metric")
    def _metric_changed(self, event: Select.Changed) -> None:
        self.metric_id = event.value if isinstance(event.value, str) and event.value in self.config.metrics else None
        self.query_one("#value", Input).placeholder = self._hint()
        unit = self._unit()
        self.query_one("#value-label", Label).update("Value (a duration)" if unit == "duration" else "Value")

    def on_mount(self) -> None:
        (self.query_one("#value", Input) if self.metric_id else self.query_one("#metric", Select)).focus()

    # -- validation ------------------------------------------------------------------

    def error(self, message: str) -> None:
        box = self.query_one("#form-error", Static)
        box.update(f"✖ {message}" if message else "")
        box.set_class(bool(message), "-shown")

    def validated(self) -> NewReading:
        metric = self.query_one("#metric", Select).value
        if not isinstance(metric, str) or metric not in self.config.metrics:
            raise FormError("choose a metric")
        unit = self.config.metrics[metric].unit
        value = parse_value(self.query_one("#value", Input).value, unit, self.config.settings.currency)
        now = self.app.now()  # type: ignore[attr-defined]
        at = parse_time(self.query_one("#at", Input).value, self.config.settings.timezone, now)
        return NewReading(metric, at, value)

    # -- actions -------------------------------------------------------------------

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        try:
            reading = self.validated()
        except FormError as exc:
            self.error(str(exc))
            return
        runtime = self.app.runtime  # type: ignore[attr-defined]
        if runtime is None:
            self.error("the history is not open yet; try again in a moment")
            return
        self.error("")
        self.query_one("#save", Button).disabled = True
        self._write(runtime, reading)

    @work(thread=True, exclusive=True, group="save", exit_on_error=False)
    def _write(self, runtime, reading: NewReading) -> None:
        try:
            runtime.record(reading.metric, reading.at, reading.value)
        except Exception as exc:  # noqa: BLE001 - shown in the form, which stays open
            self.app.call_from_thread(self._failed, f"could not save: {exc}")
            return
        self.app.call_from_thread(self.dismiss, reading)

    def _failed(self, message: str) -> None:
        self.query_one("#save", Button).disabled = False
        self.error(message)

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted, "#value")
    def _value_submitted(self) -> None:
        self.set_focus(self.query_one("#at", Input))

    @on(Input.Submitted, "#at")
    def _time_submitted(self) -> None:
        self.action_save()
