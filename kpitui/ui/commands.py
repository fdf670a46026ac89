"""The command palette: every action of the current screen as "category: action",
plus a command per KPI ("kpi: open …") and per objective ("objective: show …").

Generated from :mod:`kpitui.ui.bindings`, like the help screen.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Iterator

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.markup import escape

from ..periods import WINDOW_NAMES
from . import bindings
from .screens.help import key_text


def commands(app: Any, screen: Any) -> Iterator[tuple[str, str, Callable[[], Any]]]:
    """(title, help, callback) for everything that can run on ``screen``."""
    from .screens.dashboard import DashboardScreen
    from .screens.detail import DetailScreen

    scopes: dict[str, Any] = {"app": app}
    if isinstance(screen, DashboardScreen):
        scopes["dashboard"] = screen
    elif isinstance(screen, DetailScreen):
        scopes["detail"] = screen
    for section in bindings.SECTIONS:
        namespace = scopes.get(section.scope)
        if namespace is None:
            continue
        for binding in section.bindings:
            if binding.id in bindings.NOT_IN_PALETTE:
                continue
            title = f"{bindings.CATEGORY[binding.id]}: {binding.description}"
            help_text = f"key {key_text(app, binding)}   ·   id {binding.id}"
            yield title, help_text, partial(app.run_action, binding.action, namespace)
    bound = {b.action for b in bindings.APP}
    for name in WINDOW_NAMES:  # every other window, without a key of its own
        action = f"set_window({name!r})"
        if action not in bound:
            yield (
                f"window: {name.replace('_', ' ').capitalize()}",
                f"evaluate every KPI over {name}",
                partial(app.run_action, action, app),
            )
    snapshot = getattr(app, "snapshot", None)
    if snapshot is not None:
        for kid, result in snapshot.kpis.items():
            yield f"kpi: Open {result.kpi.name}", f"the chart and details of {kid}", partial(app.open_detail, kid)
        if isinstance(screen, DashboardScreen):
            for objective in snapshot.objectives:
                yield (
                    f"objective: Show {objective.objective.title}",
                    objective.objective.description or objective.objective.id,
                    partial(app.show_objective, objective.objective.id),
                )


class ActionsProvider(Provider):
    """Every kpitui action, searchable."""

    async def discover(self) -> Hits:
        for title, help_text, callback in commands(self.app, self.screen):
            yield DiscoveryHit(escape(title), callback, help=escape(help_text))  # a name or key is no markup

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in commands(self.app, self.screen):
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(escape(title)), callback, help=escape(help_text))
