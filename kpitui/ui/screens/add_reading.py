"""The add-reading form: pick a metric, type a value and (optionally) a time, save.

Below the fields, the metric's recent manual readings (by id, newest first):
enter on one loads it into the form to correct it (ctrl+s saves the change),
ctrl+d deletes it. A duration metric takes durations as people type them
(``4h 30m``, ``9d``); a negative count or duration needs the tick box
("a negative value is a correction") or the metric's ``allow_negative``.

Bad input shows an inline error and keeps the form open; every write runs in a
worker and the form closes only once the history has it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from ... import userinput
from ...config import Config
from ...formatting import format_time, format_value
from ...polled import manual_metrics
from .. import bindings
from ..state import KpiNode

if TYPE_CHECKING:
    from ...manual_readings import ManualReading

#: how many of the metric's manual readings the form lists
RECENT = 6
NEGATIVE_HOW = "tick 'a negative value is a correction'"


class FormError(ValueError):
    """A message for the inline error line."""


@dataclass(frozen=True)
class NewReading:
    """What the form did, for the app's notice: ``action`` is recorded, corrected or deleted."""

    metric: str
    at: dt.datetime
    value: float
    action: str = "recorded"
    id: int | None = None


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
    message = userinput.future_refused(value, now, False, "use `kpitui record --allow-future`", timezone)
    if message:
        raise FormError(message)
    return value


class AddReadingScreen(KpiNode, ModalScreen[NewReading | None]):
    BINDINGS = bindings.FORM

    def __init__(self, config: Config, metric_id: str | None = None) -> None:
        super().__init__()
        self.config = config
        #: the metrics recorded by hand (a ``manual`` source, whatever its id): the only ones the form offers
        self.by_hand = manual_metrics(config.metrics, config.sources)
        self.metric_id = metric_id if metric_id in self.by_hand else None
        #: the manual reading being corrected (loaded from the list), or None for a new one
        self.editing: ManualReading | None = None
        self.recent: list[ManualReading] = []
        self._adopted = False

    def compose(self) -> ComposeResult:
        # only metrics fed by hand: a source-fed one is fed by its source (see navigation.open_add_reading)
        metrics = sorted(
            (m for m in self.config.metrics.values() if m.id in self.by_hand), key=lambda m: m.name.lower()
        )
        options = [(f"{m.name} ({m.id})", m.id) for m in metrics]
        tz = self.config.settings.timezone
        with Vertical(id="form") as form:
            form.border_title = "Add a reading"
            form.border_subtitle = "ctrl+s saves · esc cancels"
            yield Label("Metric")
            yield Select(
                options,
                value=self.metric_id or Select.NULL,
                prompt="choose a metric",
                id="metric",
                type_to_search=True,
                compact=True,
            )
            yield Label(self._value_label(), id="value-label")
            yield Input(placeholder=self._hint(), id="value", compact=True)
            yield Label(f"Time (optional, ISO; default now; {tz})")
            yield Input(placeholder="e.g. 2026-03-15 14:30", id="at", compact=True)
            yield Checkbox("a negative value is a correction", id="allow-negative", compact=True)
            yield Static("", id="form-error", markup=False)
            yield Label("", id="recent-label")
            yield OptionList(id="recent", compact=True)
            with Horizontal(id="form-buttons"):
                yield Button("Save", variant="primary", id="save", compact=True)
                yield Button("Delete", variant="error", id="delete", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self._metric_shown()
        (self.query_one("#value", Input) if self.metric_id else self.query_one("#metric", Select)).focus()

    # -- the selected metric --------------------------------------------------------

    def _unit(self) -> str:
        metric = self.config.metrics.get(self.metric_id or "")
        return metric.unit if metric else "number"

    def _hint(self) -> str:
        return userinput.value_hint(self._unit())

    def _value_label(self) -> str:
        return "Value (a duration)" if self._unit() == "duration" else "Value"

    @on(Select.Changed, "#metric")
    def _metric_changed(self, event: Select.Changed) -> None:
        chosen = event.value if isinstance(event.value, str) and event.value in self.config.metrics else None
        if chosen == self.metric_id and self.recent:
            return
        self.metric_id = chosen
        if self.editing is not None and self.editing.metric != chosen:
            self._stop_editing()
        self._metric_shown()

    def _metric_shown(self) -> None:
        self.query_one("#value", Input).placeholder = self._hint()
        self.query_one("#value-label", Label).update(self._value_label())
        metric = self.config.metrics.get(self.metric_id or "")
        self.query_one("#allow-negative", Checkbox).display = metric is not None and not userinput.can_be_negative(
            metric
        )
        self.recent = []
        self._show_recent(self.metric_id, [])
        if self.metric_id is not None:
            self._load_recent(self.metric_id)

    # -- the metric's recent manual readings ----------------------------------------

    @work(thread=True, exclusive=True, group="recent", exit_on_error=False, description="recent")
    def _load_recent(self, metric: str) -> None:
        runtime = getattr(self.app, "runtime", None)
        if runtime is None:
            return
        try:
            if not self._adopted:  # readings of hand-fed metrics stored before they had ids get one
                runtime.writer.adopt_manual(sorted(self.by_hand))
                self._adopted = True
            rows = runtime.writer.manual_readings([metric], limit=RECENT)
        except Exception as exc:  # noqa: BLE001 - the form still records; say why the list is missing
            self.app.call_from_thread(self._recent_failed, str(exc))
            return
        self.app.call_from_thread(self._show_recent, metric, rows)

    def _recent_failed(self, message: str) -> None:
        self.query_one("#recent-label", Label).update(f"recent readings unavailable: {message}")

    def _show_recent(self, metric: str | None, rows: list[ManualReading]) -> None:
        if metric != self.metric_id:
            return
        self.recent = rows
        label = self.query_one("#recent-label", Label)
        listing = self.query_one("#recent", OptionList)
        listing.clear_options()
        tz = self.config.settings.timezone
        spec = self.config.metrics.get(metric or "")
        for r in rows:
            shown = (
                format_value(r.value, spec.unit, spec.decimals, self.config.settings.currency)
                if spec
                else f"{r.value:g}"
            )
            listing.add_option(Option(f"#{r.id:<4} {format_time(r.at, tz)}  {shown:>10}", id=str(r.id)))
        label.update("Recent, by id: enter corrects · ctrl+d deletes" if rows else "")
        label.display = listing.display = bool(rows)

    @on(OptionList.OptionSelected, "#recent")
    def _recent_selected(self, event: OptionList.OptionSelected) -> None:
        reading = next((r for r in self.recent if str(r.id) == event.option.id), None)
        if reading is not None:
            self.start_editing(reading)

    def start_editing(self, reading: ManualReading) -> None:
        """Load a manual reading into the form: ctrl+s saves the correction, ctrl+d deletes it."""
        self.editing = reading
        unit = self._unit()
        local = reading.at.astimezone(ZoneInfo(self.config.settings.timezone))
        self.query_one("#value", Input).value = userinput.typed_text(reading.value, unit)
        self.query_one("#at", Input).value = f"{local:%Y-%m-%d %H:%M}" + (f":{local:%S}" if local.second else "")
        self.query_one("#allow-negative", Checkbox).value = reading.value < 0
        form = self.query_one("#form")
        form.border_title = f"Correct reading {reading.id}"
        form.border_subtitle = "ctrl+s saves · ctrl+d deletes · esc cancels"
        self.query_one("#save", Button).label = "Save changes"
        self.set_class(True, "-editing")
        self.error("")
        self.query_one("#value", Input).focus()

    def _stop_editing(self) -> None:
        self.editing = None
        form = self.query_one("#form")
        form.border_title = "Add a reading"
        form.border_subtitle = "ctrl+s saves · esc cancels"
        self.query_one("#save", Button).label = "Save"
        self.set_class(False, "-editing")

    # -- validation ------------------------------------------------------------------

    def error(self, message: str) -> None:
        box = self.query_one("#form-error", Static)
        box.update(f"✖ {message}" if message else "")
        box.set_class(bool(message), "-shown")

    def validated(self) -> NewReading:
        metric = self.query_one("#metric", Select).value
        if not isinstance(metric, str) or metric not in self.config.metrics:
            raise FormError("choose a metric")
        spec = self.config.metrics[metric]
        value = parse_value(self.query_one("#value", Input).value, spec.unit, self.config.settings.currency)
        refused = userinput.negative_refused(
            spec, value, self.query_one("#allow-negative", Checkbox).value, NEGATIVE_HOW
        )
        if refused:
            raise FormError(refused)
        now = self.app.now()
        at = parse_time(self.query_one("#at", Input).value, self.config.settings.timezone, now)
        return NewReading(metric, at, value)

    # -- actions -------------------------------------------------------------------

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _runtime(self):
        runtime = getattr(self.app, "runtime", None)
        if runtime is None:
            self.error("the history is not open yet; try again in a moment")
        return runtime

    def action_save(self) -> None:
        try:
            reading = self.validated()
        except FormError as exc:
            self.error(str(exc))
            return
        runtime = self._runtime()
        if runtime is None:
            return
        self.error("")
        self.query_one("#save", Button).disabled = True
        self._write(runtime, reading, self.editing)

    def action_delete_reading(self) -> None:
        target = self.editing
        if target is None:
            listing = self.query_one("#recent", OptionList)
            index = listing.highlighted
            target = self.recent[index] if index is not None and index < len(self.recent) else None
        if target is None:
            self.error("choose a reading in the list first (enter loads it), then ctrl+d deletes it")
            return
        runtime = self._runtime()
        if runtime is None:
            return
        self.error("")
        self._delete(runtime, target)

    @work(thread=True, exclusive=True, group="save", exit_on_error=False, description="save")
    def _write(self, runtime, reading: NewReading, editing: ManualReading | None) -> None:
        try:
            if editing is None:
                stored, _ = runtime.writer.record_manual(reading.metric, reading.at, reading.value)
                if stored is None:
                    raise FormError(
                        "that time is in the metric's compacted past ([storage] raw_retention_days); nothing "
                        "was recorded"
                    )
                done = NewReading(reading.metric, reading.at, reading.value, "recorded", stored.id)
            else:
                _, after = runtime.writer.correct_manual(editing.id, value=reading.value, at=reading.at)
                done = NewReading(after.metric, after.at, after.value, "corrected", after.id)
        except Exception as exc:  # noqa: BLE001 - shown in the form, which stays open
            self.app.call_from_thread(self._failed, f"could not save: {exc}")
            return
        self.app.call_from_thread(self.dismiss, done)

    @work(thread=True, exclusive=True, group="save", exit_on_error=False, description="save")
    def _delete(self, runtime, reading: ManualReading) -> None:
        try:
            runtime.writer.delete_manual([reading.id])
        except Exception as exc:  # noqa: BLE001 - shown in the form, which stays open
            self.app.call_from_thread(self._failed, f"could not delete: {exc}")
            return
        self.app.call_from_thread(
            self.dismiss, NewReading(reading.metric, reading.at, reading.value, "deleted", reading.id)
        )

    def _failed(self, message: str) -> None:
        self.query_one("#save", Button).disabled = False
        self.error(message)

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#delete")
    def _delete_pressed(self) -> None:
        self.action_delete_reading()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted, "#value")
    def _value_submitted(self) -> None:
        self.set_focus(self.query_one("#at", Input))

    @on(Input.Submitted, "#at")
    def _time_submitted(self) -> None:
        self.action_save()
