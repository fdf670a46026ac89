"""Concrete colours for renderables built in Python (table cells, the chart), taken from the theme.

Styles in ``.tcss`` files use theme variables directly; Rich ``Text`` needs
concrete colours, so they are read from the active theme here and re-read
when the theme changes. Textual down-converts them for 16-colour terminals.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import App

from ..model import Status


@dataclass(frozen=True)
class Palette:
    good: str
    warn: str
    bad: str
    accent: str
    muted: str
    text: str

    def status(self, status: Status) -> str:
        return {
            Status.ON_TRACK: self.good,
            Status.AT_RISK: self.warn,
            Status.OFF_TRACK: self.bad,
        }.get(status, self.muted)


def palette_of(app: App) -> Palette:
    """The colour roles of the app's theme on its terminal: kpitui's legible variables (:mod:`kpitui.ui.legibility`)."""
    v = app.theme_variables
    if "kpi-text" not in v:  # before the first stylesheet pass
        from .legibility import legible_variables

        v = legible_variables(v, app.current_theme.dark, getattr(app.console, "color_system", None) or "truecolor")
    return Palette(
        good=v["kpi-good"],
        warn=v["kpi-warn"],
        bad=v["kpi-bad"],
        accent=v["kpi-accent"],
        muted=v["kpi-muted"],
        text=v["kpi-text"],
    )
