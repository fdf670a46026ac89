"""The app's key actions (each a binding in :mod:`kpitui.ui.bindings`, also in the palette).

Mixed into :class:`~kpitui.ui.app.KpiApp`: a view key sets the app's ``view``
(the app and the screens watching it do the rest); the other keys open a screen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import ModalScreen, SystemModalScreen

from . import navigation
from .state import ViewSettings
from .status import instance_words

if TYPE_CHECKING:
    from .app import KpiApp

#: app actions that must not fire behind a form or the help (their keys are typed or close the modal there)
BLOCKED_IN_MODALS = frozenset({"quit", "help", "refresh", "add_reading", "set_window", "step_period", "cycle_instance"})
NO_INSTANCES = (
    "This history has one instance: it is an SQLite file written by one collector. "
    "Several collectors' readings are kept apart in a PostgreSQL history ([storage] url, [storage] instance)."
)

LOADING_INSTANCES = "The history is still loading; its collector instances can be chosen once it is in."
NO_WRITERS_YET = "No collector has written to this PostgreSQL history yet, so there is no instance to choose."


class AppActions:
    def check_action(self: KpiApp, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in BLOCKED_IN_MODALS and self._in_modal():
            return False
        return True

    def _in_modal(self: KpiApp) -> bool:
        """A form or the help is on top (kpitui's modal screens, not Textual's command palette)."""
        return isinstance(self.screen, ModalScreen) and not isinstance(self.screen, SystemModalScreen)

    def action_help(self: KpiApp) -> None:
        navigation.open_help(self)

    def action_alerts(self: KpiApp) -> None:
        navigation.open_alerts(self)

    def action_refresh(self: KpiApp) -> None:
        if self.runtime is None:
            return
        for source in self.runtime.sources:
            self.poller.start(source)
        self.update_status()
        self.request_evaluate(force=True)
        self.notify("refreshing…" if self.collect and self.runtime.sources else "re-reading the history…", timeout=2)

    def action_set_window(self: KpiApp, window: str) -> None:
        self.view = ViewSettings(window, 0, self.view.instance)

    def action_step_period(self: KpiApp, step: int) -> None:
        offset = max(0, self.view.offset + step)
        if offset == self.view.offset:
            self.notify("already at the current period", timeout=2)
            return
        self.view = ViewSettings(self.view.window, offset, self.view.instance)

    def action_cycle_instance(self: KpiApp) -> None:
        """All instances, then each collector instance of a shared history in turn."""
        if self.runtime is None:  # a shared history is still being opened: its instances are not known yet
            self.notify(LOADING_INSTANCES, title="Instances", timeout=4, markup=False)
            return
        names = self.runtime.instances
        if not names:
            shared = self.config.storage.url is not None
            self.notify(NO_WRITERS_YET if shared else NO_INSTANCES, title="Instances", timeout=6, markup=False)
            return
        choices: list[str | None] = [None, *names]
        at = choices.index(self.view.instance) if self.view.instance in choices else 0
        instance = choices[(at + 1) % len(choices)]
        self.view = ViewSettings(self.view.window, self.view.offset, instance)
        self.notify(f"showing {instance_words(self)}", timeout=2)

    def action_toggle_theme(self: KpiApp) -> None:
        self.theme = self.light_theme if self.current_theme.dark else self.dark_theme

    def action_add_reading(self: KpiApp) -> None:
        navigation.open_add_reading(self)

    def action_annotate(self: KpiApp) -> None:
        navigation.open_annotate(self)

    def open_detail(self: KpiApp, kpi_id: str | None, metric_id: str | None = None) -> None:
        navigation.open_detail(self, kpi_id, metric_id)

    def show_objective(self: KpiApp, objective_id: str) -> None:
        from .screens.dashboard import DashboardScreen

        if isinstance(self.screen, DashboardScreen):
            self.screen.show_objective(objective_id)

    async def action_quit(self: KpiApp) -> None:
        self.exit(0)
